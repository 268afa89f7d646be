//! `run`'s options, checked and resolved into a plan before anything is made.

use std::path::{Path, PathBuf};

use super::error::Error;
use super::runtime::default_runtime;
use super::state::validate_id;
use crate::container_log::{Format, Rotation};

/// What `berth-shim run` was asked to do (the library's view of its flags).
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub id: String,
    pub bundle: PathBuf,
    pub root: PathBuf,
    pub detach: bool,
    pub tty: bool,
    pub stdin: bool,
    /// The log file; None means `container.log` in the state directory.
    pub log: Option<PathBuf>,
    /// None: no log (`--log-format none`).
    pub log_format: Option<Format>,
    pub log_max_size: Option<u64>,
    pub log_max_files: Option<u32>,
    pub exit_file: Option<PathBuf>,
    pub pid_file: Option<PathBuf>,
    pub runtime: Option<PathBuf>,
    pub runtime_root: Option<PathBuf>,
    /// Remove the state directory (and a default log) once the container has ended.
    pub remove: bool,
}

/// The validated plan: absolute paths, a runtime that exists, a tty setting that matches the
/// bundle's config.json.
#[derive(Debug, Clone)]
pub struct Plan {
    pub id: String,
    pub bundle: PathBuf,
    pub root: PathBuf,
    pub detach: bool,
    pub tty: bool,
    pub stdin: bool,
    /// The log file and its format, unless logging is off; `None` for the path means the
    /// default inside the state directory.
    pub log: Option<(Option<PathBuf>, Format)>,
    pub rotation: Option<Rotation>,
    pub exit_file: Option<PathBuf>,
    pub pid_file: Option<PathBuf>,
    pub runtime: PathBuf,
    pub runtime_root: Option<PathBuf>,
    pub remove: bool,
}

impl Plan {
    pub fn new(options: &RunOptions) -> Result<Plan, Error> {
        validate_id(&options.id)?;
        let bundle = absolute(&options.bundle)?;
        let terminal = bundle_terminal(&bundle)?;
        if options.tty && !terminal {
            return Err(Error::Bundle {
                path: bundle.join("config.json"),
                reason: "process.terminal is false but -t asks for a terminal".into(),
            });
        }
        let runtime = match &options.runtime {
            Some(path) => checked_runtime(path)?,
            None => default_runtime()?,
        };
        let log_path = options.log.as_deref().map(|p| file_flag("--log", p)).transpose()?;
        let log = options.log_format.map(|format| (log_path, format));
        let rotation = options.log_max_size.map(|max_size| Rotation {
            max_size,
            max_files: options.log_max_files.unwrap_or(1),
        });
        Ok(Plan {
            id: options.id.clone(),
            bundle,
            root: absolute(&options.root)?,
            detach: options.detach,
            tty: terminal,
            stdin: options.stdin,
            log,
            rotation,
            exit_file: options.exit_file.as_deref().map(|p| file_flag("--exit-file", p)).transpose()?,
            pid_file: options.pid_file.as_deref().map(|p| file_flag("--pid-file", p)).transpose()?,
            runtime,
            runtime_root: options.runtime_root.as_deref().map(absolute).transpose()?,
            remove: options.remove,
        })
    }
}

fn absolute(path: &Path) -> Result<PathBuf, Error> {
    std::path::absolute(path).map_err(Error::io(path, "resolve"))
}

/// A file a flag names: absolute, in a directory that exists.
fn file_flag(flag: &'static str, path: &Path) -> Result<PathBuf, Error> {
    let path = absolute(path)?;
    let dir = path.parent().unwrap_or(Path::new("/")).to_owned();
    if !dir.is_dir() {
        return Err(Error::NoParentDir { flag, path, dir });
    }
    Ok(path)
}

/// Whether the bundle's config.json asks for a terminal; fails on a missing or unreadable one.
fn bundle_terminal(bundle: &Path) -> Result<bool, Error> {
    let config = bundle.join("config.json");
    let text = std::fs::read(&config).map_err(|e| Error::Bundle {
        path: bundle.to_owned(),
        reason: format!("cannot read config.json: {e}"),
    })?;
    let value: serde_json::Value = serde_json::from_slice(&text)
        .map_err(|e| Error::Bundle { path: config.clone(), reason: format!("not JSON: {e}") })?;
    Ok(value["process"]["terminal"].as_bool().unwrap_or(false))
}

fn checked_runtime(path: &Path) -> Result<PathBuf, Error> {
    use std::os::unix::fs::PermissionsExt;
    // A bare name is looked up on PATH, as a shell would.
    let resolved = if path.components().count() == 1 {
        let search = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&search)
            .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
            .map(|dir| dir.join(path))
            .find(|candidate| candidate.is_file())
            .ok_or_else(|| Error::RuntimeBinary { path: path.to_owned(), reason: "not found on PATH" })?
    } else {
        absolute(path)?
    };
    let meta = std::fs::metadata(&resolved)
        .map_err(|_| Error::RuntimeBinary { path: resolved.clone(), reason: "does not exist" })?;
    if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
        return Err(Error::RuntimeBinary { path: resolved, reason: "is not an executable file" });
    }
    Ok(resolved)
}
