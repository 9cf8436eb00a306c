//! Helpers every benchmark shares: repeated runs with a median, and a scratch directory on
//! a real disk (never tmpfs, where fsync costs nothing and durability numbers would lie).

use std::path::{Path, PathBuf};
use std::time::Duration;

/// The median of some measurements (the mean of the middle two for an even count).
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// A rate in events per second.
pub fn rate(events: u64, elapsed: Duration) -> f64 {
    events as f64 / elapsed.as_secs_f64()
}

/// Formats runs as `a, b, c` rounded to whole numbers.
pub fn runs(values: &[f64]) -> String {
    values.iter().map(|v| format!("{v:.0}")).collect::<Vec<_>>().join(", ")
}

/// The filesystem type that holds `path` (from /proc/self/mounts; "unknown" elsewhere).
pub fn filesystem_of(path: &Path) -> String {
    let Ok(mounts) = std::fs::read_to_string("/proc/self/mounts") else { return "unknown".into() };
    let path = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    mounts
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (_, mount, fstype) = (fields.next()?, fields.next()?, fields.next()?);
            path.starts_with(mount).then(|| (mount.len(), fstype.to_owned()))
        })
        .max_by_key(|(len, _)| *len)
        .map_or_else(|| "unknown".into(), |(_, fstype)| fstype)
}

fn in_memory(fstype: &str) -> bool {
    matches!(fstype, "tmpfs" | "ramfs")
}

/// Where scratch directories go: `requested`, else the system temp dir unless it is in
/// memory, else `target/bench-tmp` next to this binary.
pub fn scratch_root(requested: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(dir) = requested {
        std::fs::create_dir_all(&dir)?;
        return Ok(dir);
    }
    let tmp = std::env::temp_dir();
    if !in_memory(&filesystem_of(&tmp)) {
        return Ok(tmp);
    }
    // target/release/packhooks-bench → target/bench-tmp
    let exe = std::env::current_exe()?;
    let target =
        exe.parent().and_then(Path::parent).ok_or_else(|| anyhow::anyhow!("no target dir above {}", exe.display()))?;
    let dir = target.join("bench-tmp");
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// CPU time (user + system) used so far by this process's threads whose name starts with
/// `name` (Linux only; thread names are cut to 15 bytes).
pub fn thread_cpu(name: &str) -> Option<Duration> {
    let ticks_per_second = 100.0; // USER_HZ on Linux
    let mut total = 0u64;
    let mut found = false;
    for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if !comm.trim_end().starts_with(name) {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("stat")).ok()?;
        // Fields after the parenthesised command: state is field 3; utime 14, stime 15.
        let rest = &stat[stat.rfind(')')? + 2..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        total += fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        found = true;
    }
    found.then(|| Duration::from_secs_f64(total as f64 / ticks_per_second))
}
