//! The keeper's state directory: one per kept container, `<root>/<id>/`.
//!
//! ```text
//! keeper.json    what was asked for (bundle, runtime, log, tty), written before anything runs
//! lock           held (flock) by the keeper for as long as it lives: how clients tell it is alive
//! attach.sock    the keeper's SOCK_SEQPACKET socket for attach, wait and kill
//! pid            the container's init pid (the runtime's --pid-file)
//! exit           the exit code (128+N for signal N), written once the log is flushed
//! container.log  the log, unless --log names another path
//! runtime.log    the runtime's own --log (its error records)
//! console.sock   the runtime's --console-socket while a tty container is created
//! ```
//!
//! Sockets are reached through `/proc/self/fd/<dir fd>/attach.sock`, so a deep root never hits
//! the 108-byte limit of a unix socket path.

use std::fs::{File, OpenOptions};
use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::Error;
use crate::sys;

/// Where state directories live unless `--root` says otherwise.
pub const DEFAULT_ROOT: &str = "/run/berth-shim";

/// keeper.json: what the container was started with.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    pub bundle: PathBuf,
    pub runtime: PathBuf,
    pub runtime_root: Option<PathBuf>,
    /// The log file, or None with `--log-format none`.
    pub log: Option<PathBuf>,
    /// "cri" or "json".
    pub log_format: String,
    pub tty: bool,
    pub stdin: bool,
    /// The keeper's pid (after the detaching forks, the process that stays).
    pub keeper_pid: i32,
    /// When the container was started, RFC 3339.
    pub created: String,
}

/// How a kept container is doing, as `ps` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The keeper is starting it.
    Creating,
    /// Its init is alive.
    Running,
    /// It ended with this code.
    Exited(i32),
    /// The keeper died before the container ended (killed with SIGKILL, say).
    Lost,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Status::Creating => write!(f, "creating"),
            Status::Running => write!(f, "running"),
            Status::Exited(code) => write!(f, "exited ({code})"),
            Status::Lost => write!(f, "lost"),
        }
    }
}

/// An open state directory.
#[derive(Debug)]
pub struct StateDir {
    id: String,
    path: PathBuf,
    dir: File,
}

impl StateDir {
    /// Creates `<root>/<id>/` for a new container and takes its lock, which the caller keeps
    /// for the keeper's whole life. Fails if the id is taken.
    pub fn claim(root: &Path, id: &str) -> Result<(StateDir, File), Error> {
        std::fs::create_dir_all(root).map_err(Error::io(root, "mkdir"))?;
        let path = root.join(id);
        match std::fs::create_dir(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(Error::AlreadyExists { id: id.to_owned(), path })
            }
            Err(e) => return Err(Error::io(&path, "mkdir")(e)),
        }
        let state = StateDir::open(root, id)?;
        let lock_path = state.file("lock");
        let lock = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(Error::io(&lock_path, "create"))?;
        sys::lock_exclusive(lock.as_fd(), true).map_err(Error::io(&lock_path, "flock"))?;
        Ok((state, lock))
    }

    /// Opens the state directory of an existing container.
    pub fn open(root: &Path, id: &str) -> Result<StateDir, Error> {
        validate_id(id)?;
        let path = root.join(id);
        let dir = File::open(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::NotFound { id: id.to_owned(), path: path.clone() },
            _ => Error::io(&path, "open")(e),
        })?;
        Ok(StateDir { id: id.to_owned(), path, dir })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A file in the directory, by its ordinary path.
    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// A file in the directory through this process's descriptor of it: short enough for a
    /// socket address however deep the root is.
    pub fn short_path(&self, name: &str) -> PathBuf {
        PathBuf::from(format!("/proc/self/fd/{}/{name}", self.dir.as_raw_fd()))
    }

    /// The attach socket's address.
    pub fn socket(&self) -> PathBuf {
        self.short_path("attach.sock")
    }

    pub fn write_record(&self, record: &Record) -> Result<(), Error> {
        let text = serde_json::to_vec_pretty(record).expect("a record serialises");
        write_atomic(&self.file("keeper.json"), &text)
    }

    pub fn record(&self) -> Result<Record, Error> {
        let path = self.file("keeper.json");
        let text = std::fs::read(&path).map_err(Error::io(&path, "read"))?;
        serde_json::from_slice(&text)
            .map_err(|e| Error::BadState { path, reason: e.to_string() })
    }

    /// The container's init pid, once the runtime has written it.
    pub fn pid(&self) -> Option<i32> {
        read_number(&self.file("pid"))
    }

    /// The exit code, once the container has ended and its log is flushed.
    pub fn exit_code(&self) -> Option<i32> {
        read_number(&self.file("exit"))
    }

    pub fn write_exit_code(&self, code: i32) -> Result<(), Error> {
        write_atomic(&self.file("exit"), code.to_string().as_bytes())
    }

    /// Whether a keeper holds the lock.
    pub fn keeper_alive(&self) -> Result<bool, Error> {
        let path = self.file("lock");
        let lock = match File::open(&path) {
            Ok(lock) => lock,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(Error::io(&path, "open")(e)),
        };
        let got = sys::lock_exclusive(lock.as_fd(), true).map_err(Error::io(&path, "flock"))?;
        Ok(!got)
    }

    /// Waits (up to `timeout`) for the keeper to let go of the lock.
    pub fn wait_keeper_gone(&self, timeout: std::time::Duration) -> Result<bool, Error> {
        let deadline = std::time::Instant::now() + timeout;
        let mut pause = std::time::Duration::from_millis(1);
        loop {
            if !self.keeper_alive()? {
                return Ok(true);
            }
            if std::time::Instant::now() >= deadline {
                return Ok(false);
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(std::time::Duration::from_millis(20));
        }
    }

    pub fn status(&self) -> Result<Status, Error> {
        if let Some(code) = self.exit_code() {
            return Ok(Status::Exited(code));
        }
        if !self.keeper_alive()? {
            // The exit file is written before the lock goes: look once more.
            return Ok(self.exit_code().map_or(Status::Lost, Status::Exited));
        }
        Ok(if self.pid().is_some() { Status::Running } else { Status::Creating })
    }

    /// Removes the directory and everything in it.
    pub fn remove(&self) -> Result<(), Error> {
        std::fs::remove_dir_all(&self.path).map_err(Error::io(&self.path, "remove"))
    }
}

/// The ids with a state directory under `root`, sorted.
pub fn list(root: &Path) -> Result<Vec<String>, Error> {
    let entries = match std::fs::read_dir(root) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(root, "read directory")(e)),
    };
    let mut ids: Vec<String> = entries
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| validate_id(name).is_ok())
        .collect();
    ids.sort();
    Ok(ids)
}

/// Ids are single path components of letters, digits, `_`, `-` and `.`, like runc's.
pub fn validate_id(id: &str) -> Result<(), Error> {
    let reason = if id.is_empty() {
        "is empty"
    } else if id.len() > 1024 {
        "is longer than 1024 bytes"
    } else if id == "." || id == ".." {
        "is not a file name"
    } else if !id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')) {
        "may hold only letters, digits, '_', '-' and '.'"
    } else {
        return Ok(());
    };
    Err(Error::InvalidId { id: id.to_owned(), reason })
}

fn read_number(path: &Path) -> Option<i32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Writes `path` through a temporary file and a rename, so readers see all of it or nothing.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<(), Error> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, data).map_err(Error::io(&tmp, "write"))?;
    std::fs::rename(&tmp, path).map_err(Error::io(path, "rename"))
}
