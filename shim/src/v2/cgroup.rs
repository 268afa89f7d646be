//! Where a container's cgroup is, as the shim sees it from its init's /proc/PID/cgroup, and
//! the reading of cgroup v2 interface files that OOM watching and metrics share.
//!
//! The shim works under any runc-compatible runtime (BinaryName), so it cannot read the
//! runtime's own state: like containerd-shim-runc-v2 it asks the kernel where the init is.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Where every cgroup hierarchy is mounted.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: cannot parse {line:?} as a cgroup value")]
    Parse { path: PathBuf, line: String },
}

/// The container's cgroup, in the form its OOM events and metrics are read from.
#[derive(Debug, Clone)]
pub enum Cgroup {
    /// v1 or hybrid: the memory controller's directory (events and metrics come from the
    /// runtime's `events --stats`, as before).
    V1Memory(PathBuf),
    /// Pure v2: the container's one directory.
    Unified(PathBuf),
}

impl Cgroup {
    /// The cgroup of process `pid`: its v1 memory controller's directory when one is mounted,
    /// else its `0::` directory when /sys/fs/cgroup is the cgroup2 hierarchy itself. None when
    /// the process is gone or neither applies.
    pub fn of_process(pid: u32) -> Option<Cgroup> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
        let mut unified = None;
        for line in text.lines() {
            let mut fields = line.splitn(3, ':');
            let (Some(_), Some(controllers), Some(path)) = (fields.next(), fields.next(), fields.next()) else { continue };
            let relative = path.trim_start_matches('/');
            if controllers.split(',').any(|c| c == "memory") {
                let dir = Path::new(CGROUP_ROOT).join("memory").join(relative);
                return dir.join("memory.oom_control").exists().then_some(Cgroup::V1Memory(dir));
            }
            if controllers.is_empty() {
                unified = Some(Path::new(CGROUP_ROOT).join(relative));
            }
        }
        // On hybrid hosts the 0:: path lies below /sys/fs/cgroup/unified, and /sys/fs/cgroup
        // (a tmpfs) has no cgroup.controllers: only a pure v2 host passes this check.
        unified.filter(|dir| dir.join("cgroup.controllers").exists()).map(Cgroup::Unified)
    }
}

/// The content of a file of `dir`, or None when it does not exist (its controller is not
/// enabled for the cgroup, or the kernel is older than the file).
pub fn read_optional(dir: &Path, file: &str) -> Result<Option<String>, CgroupError> {
    let path = dir.join(file);
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(CgroupError::Read { path, source }),
    }
}

/// A number in a cgroup file, "max" being u64::MAX as containerd reports it.
fn parse_value(path: &Path, text: &str) -> Result<u64, CgroupError> {
    match text.trim() {
        "max" => Ok(u64::MAX),
        value => value.parse().map_err(|_| CgroupError::Parse { path: path.to_owned(), line: text.trim().to_owned() }),
    }
}

/// A single-value file (memory.current, pids.max); None when it does not exist.
pub fn read_value(dir: &Path, file: &str) -> Result<Option<u64>, CgroupError> {
    let Some(text) = read_optional(dir, file)? else { return Ok(None) };
    parse_value(&dir.join(file), &text).map(Some)
}

/// A flat keyed file ("key value" per line: cpu.stat, memory.stat, memory.events); a file
/// that does not exist reads as empty.
pub fn read_keyed(dir: &Path, file: &str) -> Result<HashMap<String, u64>, CgroupError> {
    let path = dir.join(file);
    let Some(text) = read_optional(dir, file)? else { return Ok(HashMap::new()) };
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| match line.split_once(' ') {
            Some((key, value)) => Ok((key.to_owned(), parse_value(&path, value)?)),
            None => Err(CgroupError::Parse { path: path.clone(), line: line.to_owned() }),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_files_and_max_values_parse() {
        let dir = std::env::temp_dir().join(format!("berth-shim-cgroup-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("memory.events"), "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\n").unwrap();
        std::fs::write(dir.join("pids.max"), "max\n").unwrap();
        std::fs::write(dir.join("bad.stat"), "usage_usec\n").unwrap();
        let events = read_keyed(&dir, "memory.events").unwrap();
        assert_eq!((events["max"], events["oom_kill"]), (12, 1));
        assert_eq!(read_value(&dir, "pids.max").unwrap(), Some(u64::MAX));
        assert_eq!(read_value(&dir, "memory.peak").unwrap(), None);
        assert!(read_keyed(&dir, "absent.stat").unwrap().is_empty());
        let bad = read_keyed(&dir, "bad.stat").unwrap_err().to_string();
        assert!(bad.contains("bad.stat") && bad.contains("usage_usec"), "{bad}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
