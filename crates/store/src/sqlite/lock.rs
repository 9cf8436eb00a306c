//! The writer lock: one writing store per SQLite file, across processes.
//!
//! The writer keeps the log head, stream revisions and seen event ids in memory; a second
//! writer on the same file would make both stale (wrong exact expected revisions, duplicate
//! idempotent appends). So a store that opens for writing first takes an exclusive OS lock
//! (`flock`, through `File::try_lock`) on `<database file>.lock` and holds it until its writer
//! thread has stopped. The OS drops the lock when the process dies, however it dies (SIGKILL
//! included), so a stale lock file is harmless and never needs cleaning up. The holder's pid
//! is written into the file for the error message only; correctness never depends on it.

use std::ffi::OsString;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use crate::StoreError;

/// An exclusive lock on a database file's lock file; released when dropped.
#[derive(Debug)]
pub(crate) struct WriterLock {
    /// The open lock file: the lock belongs to this open file description.
    _file: File,
}

/// `<database file>.lock`, beside the database. A symbolic link to the database is
/// followed first (SQLite follows it too, to the same database and WAL), so that every name
/// of one file finds the same lock file.
pub(crate) fn lock_path(database: &Path) -> PathBuf {
    let database = database_file(database);
    let mut name = OsString::from(database.as_os_str());
    name.push(".lock");
    PathBuf::from(name)
}

/// The file SQLite opens for `path`: symbolic links to it followed, also to a file that does
/// not exist yet (SQLite creates the database at the end of the chain). `canonicalize` alone
/// fails on such a link, and the link's own name would then be used.
pub(crate) fn database_file(path: &Path) -> PathBuf {
    let mut path = path.to_owned();
    // As many links as the system itself follows in one path.
    for _ in 0..40 {
        let Ok(target) = std::fs::read_link(&path) else { break };
        path = match path.parent() {
            Some(dir) => dir.join(target),
            None => target,
        };
    }
    std::fs::canonicalize(&path).unwrap_or(path)
}

impl WriterLock {
    /// Takes the writer lock of `database` at once, or fails with [`StoreError::Locked`].
    pub(crate) fn acquire(database: &Path) -> Result<WriterLock, StoreError> {
        let path = lock_path(database);
        let backend =
            |e: std::io::Error| StoreError::Backend(Box::new(LockFileError { path: path.clone(), source: e }));
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(backend)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(StoreError::Locked { path: database.to_owned(), pid: holder_pid(&mut file) });
            }
            Err(TryLockError::Error(e)) => return Err(backend(e)),
        }
        // Best effort: only the error message of a second writer reads it.
        let pid = format!("{}\n", std::process::id());
        if let Err(error) = file.set_len(0).and_then(|()| file.write_all(pid.as_bytes())) {
            tracing::debug!(%error, path = %path.display(), "could not write the pid into the lock file");
        }
        Ok(WriterLock { _file: file })
    }
}

/// The pid the holder wrote, if the file holds one.
fn holder_pid(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.take(32).read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

/// The lock file could not be opened or locked (not: it is held by someone else).
#[derive(Debug, thiserror::Error)]
#[error("cannot use the writer lock file {}", .path.display())]
struct LockFileError {
    path: PathBuf,
    #[source]
    source: std::io::Error,
}
