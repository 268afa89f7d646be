//! Reading and writing cgroupfs files, with errors that name the file and the config field.

use std::fs;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// Write `value` to `dir/file` in one write(2), as cgroupfs wants; `field` names the config
/// field that asked for it, for the error message.
pub(crate) fn write(dir: &Path, file: &str, value: &str, field: &'static str) -> Result<()> {
    let path = dir.join(file);
    let result = fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .and_then(|mut f| f.write_all(value.as_bytes()));
    result.map_err(|source| Error::Write {
        path,
        value: value.to_owned(),
        field,
        source,
    })
}

/// Write each of `values` to `dir/file`, one write(2) apiece on one open file: cgroupfs takes
/// each write as a record of its own (a devices.allow rule), so a list needs no reopening.
pub(crate) fn write_each<I>(dir: &Path, file: &str, values: I, field: &'static str) -> Result<()>
where
    I: IntoIterator<Item = String>,
{
    let path = dir.join(file);
    let mut values = values.into_iter().peekable();
    let Some(first) = values.peek() else { return Ok(()) };
    let failed = |value: &str, source| Error::Write { path: path.clone(), value: value.to_owned(), field, source };
    let mut opened = fs::OpenOptions::new().write(true).open(&path).map_err(|e| failed(first, e))?;
    for value in values {
        opened.write_all(value.as_bytes()).map_err(|e| failed(&value, e))?;
    }
    Ok(())
}

/// Read `dir/file` as a trimmed string.
pub(crate) fn read(dir: &Path, file: &str) -> Result<String> {
    let path = dir.join(file);
    match fs::read_to_string(&path) {
        Ok(s) => Ok(s.trim_end().to_owned()),
        Err(source) => Err(Error::Read { path, source }),
    }
}

/// Read `dir/file` if it exists; `Ok(None)` when the kernel does not provide it.
pub(crate) fn read_optional(dir: &Path, file: &str) -> Result<Option<String>> {
    match read(dir, file) {
        Err(Error::Read { source, .. }) if source.kind() == ErrorKind::NotFound => Ok(None),
        other => other.map(Some),
    }
}

/// Parse a number, where "max" (v2) means u64::MAX.
pub(crate) fn parse_u64(path: &Path, text: &str) -> Result<u64> {
    let text = text.trim();
    if text == "max" {
        return Ok(u64::MAX);
    }
    text.parse().map_err(|_| Error::Parse {
        path: path.to_owned(),
        content: text.to_owned(),
    })
}

/// Read a single-number file (absent file reads as 0, as stats do for missing controllers).
pub(crate) fn read_u64(dir: &Path, file: &str) -> Result<u64> {
    match read_optional(dir, file)? {
        Some(text) => parse_u64(&dir.join(file), &text),
        None => Ok(0),
    }
}

/// Parse a flat keyed file ("key value" per line: memory.stat, cpu.stat, memory.events).
pub(crate) fn read_keyed(dir: &Path, file: &str) -> Result<Vec<(String, u64)>> {
    let Some(text) = read_optional(dir, file)? else {
        return Ok(Vec::new());
    };
    let path = dir.join(file);
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let mut parts = line.split_whitespace();
            match (parts.next(), parts.next(), parts.next()) {
                (Some(k), Some(v), None) => Ok((k.to_owned(), parse_u64(&path, v)?)),
                _ => Err(Error::Parse {
                    path: path.clone(),
                    content: line.to_owned(),
                }),
            }
        })
        .collect()
}

/// Look up one key of a keyed file's parsed content (0 when absent).
pub(crate) fn keyed(entries: &[(String, u64)], key: &str) -> u64 {
    entries
        .iter()
        .find(|(k, _)| k == key)
        .map_or(0, |(_, v)| *v)
}

/// Does `dir/file` exist?
pub(crate) fn exists(dir: &Path, file: &str) -> bool {
    dir.join(file).exists()
}

/// The pids listed in `dir/cgroup.procs` and in every descendant cgroup (a sub-cgroup made
/// by `exec --cgroup` still belongs to the container).
pub(crate) fn pids_recursive(dir: &Path) -> Result<Vec<i32>> {
    let mut pids = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(d) = pending.pop() {
        let procs = match read_optional(&d, "cgroup.procs")? {
            Some(text) => text,
            None if d == dir => return Err(Error::Read {
                path: d.join("cgroup.procs"),
                source: ErrorKind::NotFound.into(),
            }),
            None => continue, // removed while we walked
        };
        for line in procs.lines().filter(|l| !l.is_empty()) {
            let pid = line.parse().map_err(|_| Error::Parse {
                path: d.join("cgroup.procs"),
                content: line.to_owned(),
            })?;
            pids.push(pid);
        }
        pending.extend(subdirectories(&d));
    }
    Ok(pids)
}

/// Child cgroup directories of `dir` (an unreadable directory has none).
pub(crate) fn subdirectories(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect()
}

/// mkdir every missing component from `base` down to `dir`; returns the directories made,
/// outermost first, so a failure later can remove exactly those.
pub(crate) fn mkdir_all(base: &Path, dir: &Path) -> Result<Vec<PathBuf>> {
    let mut made = Vec::new();
    let rel = dir.strip_prefix(base).unwrap_or(Path::new(""));
    let mut current = base.to_owned();
    for component in rel.components() {
        current.push(component);
        match fs::create_dir(&current) {
            Ok(()) => made.push(current.clone()),
            // An interface file of that name is no cgroup to join.
            Err(e) if e.kind() == ErrorKind::AlreadyExists && current.is_dir() => {}
            Err(source) => {
                remove_dirs(&made);
                return Err(Error::Mkdir {
                    path: current,
                    source,
                });
            }
        }
    }
    Ok(made)
}

/// rmdir one cgroup directory and its child cgroups (deepest first), retrying EBUSY for a
/// short while because a killed process leaves its cgroup only once it has been reaped.
/// A directory that is already gone is fine.
///
/// The directory itself is tried first: a container's cgroup rarely has child cgroups, and
/// listing it costs more than the rmdir. The kernel refuses a cgroup that still has children
/// or processes with EBUSY; then the children go first and the rmdir is tried again.
pub(crate) fn rmdir_tree(dir: &Path) -> Result<()> {
    let deadline = Instant::now() + Duration::from_millis(2000);
    let mut delay = Duration::from_millis(1);
    let mut children_removed = false;
    loop {
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && !children_removed => {
                for child in subdirectories(dir) {
                    rmdir_tree(&child)?;
                }
                children_removed = true;
            }
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                std::thread::sleep(delay);
                delay = (delay * 2).min(Duration::from_millis(50));
            }
            Err(source) => {
                return Err(Error::Rmdir {
                    path: dir.to_owned(),
                    source,
                })
            }
        }
    }
}

/// Best-effort removal of directories we made (innermost first); used when a later step
/// fails and the error to report is that step's, not the cleanup's.
pub(crate) fn remove_dirs(made: &[PathBuf]) {
    for dir in made.iter().rev() {
        let _ = fs::remove_dir(dir);
    }
}

/// Poll `check` until it returns true or `timeout` passes.
pub(crate) fn wait_until(timeout: Duration, mut check: impl FnMut() -> Result<bool>) -> Result<bool> {
    let deadline = Instant::now() + timeout;
    let mut delay = Duration::from_micros(200);
    loop {
        if check()? {
            return Ok(true);
        }
        if Instant::now() >= deadline {
            return Ok(false);
        }
        std::thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_millis(20));
    }
}
