//! The crate's error: every module's error folded in, each message naming what failed.

use std::path::PathBuf;

/// Anything a berth command can fail with. Every variant exits 1, as runc does, except
/// `ExecFailed`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `exec` itself failed (not the process it ran): runc says so and exits 255, which is
    /// how managers tell it from the process's own exit code.
    #[error("exec failed: {0}")]
    ExecFailed(Box<Error>),
    #[error(transparent)]
    Container(#[from] berth_runtime::container::ContainerError),
    #[error(transparent)]
    Log(#[from] super::log::LogError),
    /// `spec` will not overwrite a config.json.
    #[error("{0}: file exists, remove it first")]
    SpecExists(PathBuf),
    /// A file could not be read.
    #[error("read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    /// A JSON file given on the command line (`update -r`, `exec --process`) does not parse.
    #[error("{path}: {field}: {message}")]
    BadJson { path: PathBuf, field: String, message: String },
    /// `update` got a flag value or resources document it cannot use.
    #[error(transparent)]
    Update(#[from] berth_cgroups::update::UpdateError),
    /// A flag's value has the wrong form.
    #[error("{flag} {value:?}: expected {expected}")]
    BadFlag { flag: &'static str, value: String, expected: &'static str },
    /// A helper program could not be run.
    #[error("run {program}: {source}")]
    Run { program: &'static str, source: std::io::Error },
    /// ps(1) printed no PID column.
    #[error("ps: its output has no PID column (pass -o pid,...)")]
    PsNoPidColumn,
    /// Unprivileged, without --root, and $XDG_RUNTIME_DIR unset: nowhere to keep state.
    #[error("--root: an unprivileged user needs --root or $XDG_RUNTIME_DIR (state goes to $XDG_RUNTIME_DIR/berth)")]
    NoStateRoot,
    /// A file could not be written.
    #[error("write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
}

impl Error {
    /// The exit code for this error (runc's).
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::ExecFailed(_) => 255,
            _ => 1,
        }
    }
}
