//! The keeper's errors: each names the container, path or step at fault, in one line.

use std::path::PathBuf;

/// What went wrong running or reaching a kept container.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("container id {id:?}: {reason}")]
    InvalidId { id: String, reason: &'static str },
    #[error("bundle {path}: {reason}")]
    Bundle { path: PathBuf, reason: String },
    #[error("runtime {path}: {reason}")]
    RuntimeBinary { path: PathBuf, reason: &'static str },
    #[error("no runtime: berth is neither next to {shim} nor on PATH; pass --runtime")]
    NoRuntime { shim: PathBuf },
    #[error("{flag} {path}: directory {dir} does not exist")]
    NoParentDir { flag: &'static str, path: PathBuf, dir: PathBuf },
    #[error("container {id} already exists ({path})")]
    AlreadyExists { id: String, path: PathBuf },
    #[error("container {id} does not exist (no {path})")]
    NotFound { id: String, path: PathBuf },
    #[error("{path}: {op}: {source}")]
    Io { path: PathBuf, op: &'static str, source: std::io::Error },
    #[error("{op}: {source}")]
    Sys { op: &'static str, source: nix::Error },
    #[error("{program}: {step}: {source}")]
    Spawn { program: PathBuf, step: &'static str, source: std::io::Error },
    #[error("runtime {step} of {id} failed: {message}")]
    Runtime { id: String, step: &'static str, message: String },
    #[error(transparent)]
    Console(#[from] crate::console::Error),
    #[error(transparent)]
    Log(#[from] crate::container_log::Error),
    #[error("keeper of {id}: {message}")]
    Keeper { id: String, message: String },
    #[error("keeper of {id} is gone and left no exit code ({path}): {problem}")]
    KeeperGone { id: String, path: PathBuf, problem: String },
    #[error("container {id} is not running")]
    NotRunning { id: String },
    #[error("container {id} is still running: kill it first or pass --force")]
    StillRunning { id: String },
    #[error("container {id} has no log (started with --log-format none)")]
    NoLog { id: String },
    #[error("--since {value:?}: not an RFC 3339 time or a duration like 10m, 90s, 2h")]
    BadSince { value: String },
    #[error("{path}: {reason}")]
    BadState { path: PathBuf, reason: String },
}

impl Error {
    /// An I/O error on `path` during `op`.
    pub fn io(path: impl Into<PathBuf>, op: &'static str) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, op, source }
    }

    /// A failed syscall `op` with no path of its own.
    pub fn sys(op: &'static str) -> impl FnOnce(nix::Error) -> Error {
        move |source| Error::Sys { op, source }
    }
}
