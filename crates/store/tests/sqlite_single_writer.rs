//! One writer per SQLite file, enforced by the writer lock, and read-only stores beside it:
//! a second writer is refused while the first is open and let in once it is gone; a
//! read-only store sees what the writer commits (also later), refuses writes, and never
//! creates a store where there was none.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use packhooks_store::sqlite::SqliteStore;
use packhooks_store::{
    AllPosition, Direction, EventData, EventStore, ExpectedRevision, StoreError, StreamPosition, SubscribeFrom,
};
use uuid::Uuid;

fn event() -> EventData {
    EventData::json(Uuid::new_v4(), "Tested", r#"{"n":1}"#, "{}")
}

fn lock_file(path: &Path) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    name.into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_writer_is_refused_while_the_first_is_open_and_let_in_after_a_drop() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.sqlite");
    let first = SqliteStore::open(&path).unwrap();
    first.append("pack-1", ExpectedRevision::NoStream, vec![event()]).await.unwrap();

    let second = SqliteStore::open(&path);
    let Err(error) = second else { panic!("a second writer opened the same file") };
    match &error {
        StoreError::Locked { path: locked, pid } => {
            assert_eq!(locked, &path);
            assert_eq!(*pid, Some(std::process::id()), "the holder's pid is read from the lock file");
        }
        other => panic!("expected Locked, got {other:?}"),
    }
    let message = error.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains("another process") && message.contains("is writing to it"), "{message}");
    assert!(message.contains(&format!("pid {}", std::process::id())), "{message}");
    // The first writer is untouched by the refused open.
    first.append("pack-1", ExpectedRevision::Exact(0), vec![event()]).await.unwrap();

    drop(first);
    let second = SqliteStore::open(&path).expect("the lock is free once the first store is dropped");
    let read = second.read_stream("pack-1", StreamPosition::Start, Direction::Forwards, 10).await.unwrap();
    assert_eq!(read.len(), 2);
    let appended = second.append("pack-1", ExpectedRevision::Exact(1), vec![event()]).await.unwrap();
    assert_eq!(appended.position.commit, 3, "the new writer knows the head");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_writer_through_a_symbolic_link_to_the_file_is_refused_too() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.sqlite");
    let first = SqliteStore::open(&path).unwrap();
    first.append("pack-1", ExpectedRevision::NoStream, vec![event()]).await.unwrap();
    // Another name for the same file (SQLite follows the link: one database, one WAL).
    let alias = dir.path().join("alias.sqlite");
    std::os::unix::fs::symlink(&path, &alias).unwrap();

    let second = SqliteStore::open(&alias);
    assert!(
        matches!(second, Err(StoreError::Locked { .. })),
        "a second writer opened the file under another name: {:?}",
        second.as_ref().map(|_| "opened")
    );
    first.append("pack-1", ExpectedRevision::Exact(0), vec![event()]).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_the_writer_frees_the_file_even_while_a_clone_is_alive() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.sqlite");
    let first = SqliteStore::open(&path).unwrap();
    let clone = first.clone();
    first.close().await.unwrap();
    let second = SqliteStore::open(&path).expect("the lock is free once the first store is closed");
    assert!(matches!(clone.append("pack-1", ExpectedRevision::Any, vec![event()]).await, Err(StoreError::Closed)));
    second.append("pack-1", ExpectedRevision::NoStream, vec![event()]).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lock_file_is_owner_only_and_names_the_holder() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.sqlite");
    let store = SqliteStore::open(&path).unwrap();
    let lock = lock_file(&path);
    let mode = std::fs::metadata(&lock).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "mode {:o}", mode & 0o777);
    assert_eq!(std::fs::read_to_string(&lock).unwrap().trim(), std::process::id().to_string());
    store.close().await.unwrap();
    // A lock file left behind is harmless: the lock is the OS's, not the file's existence.
    assert!(lock.exists());
    SqliteStore::open(&path).expect("opens with the old lock file in place");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_store_sees_what_the_open_writer_commits_and_refuses_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.sqlite");
    let writer = SqliteStore::open(&path).unwrap();
    writer.append("pack-1", ExpectedRevision::NoStream, vec![event(), event()]).await.unwrap();

    let reader = SqliteStore::open_read_only(&path).expect("opens beside the writer");
    assert!(reader.is_read_only() && !writer.is_read_only());
    assert_eq!(reader.head().await.unwrap().map(|p| p.commit), Some(2));
    let read = reader.read_stream("pack-1", StreamPosition::Start, Direction::Forwards, 10).await.unwrap();
    assert_eq!(read.len(), 2);

    // Committed after the read-only store opened: seen too, head included.
    let later = writer.append("pack-2", ExpectedRevision::NoStream, vec![event()]).await.unwrap();
    assert_eq!(reader.head().await.unwrap(), Some(later.position));
    let all = reader.read_all(AllPosition::Start, Direction::Forwards, 100).await.unwrap();
    assert_eq!(all.iter().map(|e| e.position.commit).collect::<Vec<_>>(), vec![1, 2, 3]);
    let back = reader.read_all(AllPosition::End, Direction::Backwards, 1).await.unwrap();
    assert_eq!(back[0].stream, "pack-2");
    assert!(matches!(
        reader.read_stream("pack-9", StreamPosition::Start, Direction::Forwards, 1).await,
        Err(StoreError::StreamNotFound(_))
    ));

    // Every write is refused with the clear error, and nothing reaches the file.
    let append = reader.append("pack-1", ExpectedRevision::Any, vec![event()]).await;
    match &append {
        Err(error @ StoreError::ReadOnly { path: at, .. }) => {
            assert_eq!(at, &path);
            assert!(error.to_string().contains("read-only"), "{error}");
        }
        other => panic!("expected ReadOnly, got {other:?}"),
    }
    assert!(matches!(reader.delete_stream("pack-1", ExpectedRevision::Any).await, Err(StoreError::ReadOnly { .. })));
    assert!(matches!(reader.tombstone_stream("pack-1", ExpectedRevision::Any).await, Err(StoreError::ReadOnly { .. })));
    assert!(matches!(reader.subscribe_to_all(SubscribeFrom::Start, None).await, Err(StoreError::ReadOnly { .. })));
    assert_eq!(writer.head().await.unwrap(), Some(later.position));
    assert_eq!(reader.stats(), Default::default(), "a read-only store has no writer");

    // The writer goes on; closing the reader changes nothing for it.
    reader.close().await.unwrap();
    writer.append("pack-1", ExpectedRevision::Exact(1), vec![event()]).await.unwrap();
    writer.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_store_takes_no_lock_and_reads_a_stopped_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.sqlite");
    {
        let writer = SqliteStore::open(&path).unwrap();
        writer.append("pack-1", ExpectedRevision::NoStream, vec![event()]).await.unwrap();
        writer.close().await.unwrap();
    }
    let reader = SqliteStore::open_read_only(&path).expect("reads a store no writer has open");
    assert_eq!(reader.read_all(AllPosition::Start, Direction::Forwards, 10).await.unwrap().len(), 1);
    // A writer opens while the reader is open: the reader holds no lock.
    let writer = SqliteStore::open(&path).expect("a read-only store does not keep writers out");
    writer.append("pack-1", ExpectedRevision::Exact(0), vec![event()]).await.unwrap();
    assert_eq!(reader.head().await.unwrap().map(|p| p.commit), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opening_read_only_where_there_is_no_store_fails_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.sqlite");
    let error = SqliteStore::open_read_only(&path).err().expect("no store to open");
    assert!(matches!(&error, StoreError::NoStore { path: at } if at == &path), "got {error:?}");
    assert_eq!(error.to_string(), format!("no event store at {}", path.display()));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "nothing was created");

    // In a directory that does not exist either: not created.
    let nested = dir.path().join("missing").join("events.sqlite");
    assert!(matches!(SqliteStore::open_read_only(&nested), Err(StoreError::NoStore { .. })));
    assert!(!dir.path().join("missing").exists());

    // An empty file is no store either (and stays empty).
    std::fs::write(&path, b"").unwrap();
    assert!(matches!(SqliteStore::open_read_only(&path), Err(StoreError::NoStore { .. })));
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_to_a_database_not_created_yet_leads_to_the_same_lock_and_an_owner_only_file() {
    let dir = tempfile::tempdir().unwrap();
    // The data directory holds a link to where the database is to be (a volume), made before
    // the first start.
    let path = dir.path().join("volume").join("events.sqlite");
    std::fs::create_dir(path.parent().unwrap()).unwrap();
    let alias = dir.path().join("events.sqlite");
    std::os::unix::fs::symlink(&path, &alias).unwrap();

    let first = SqliteStore::open(&alias).unwrap();
    first.append("pack-1", ExpectedRevision::NoStream, vec![event()]).await.unwrap();
    assert!(path.is_file(), "SQLite follows the link and creates the database at its target");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o077, 0, "the database made through the link is open to others: {mode:o}");

    let second = SqliteStore::open(&path);
    assert!(
        matches!(second, Err(StoreError::Locked { .. })),
        "a second writer opened the file under its own name: {:?}",
        second.as_ref().map(|_| "opened")
    );
    first.append("pack-1", ExpectedRevision::Exact(0), vec![event()]).await.unwrap();
}
