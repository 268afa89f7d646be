//! Driving a runc-compatible runtime binary: `create`, `start`, `delete`.
//!
//! The runtime reports its errors as JSON records in the file named by its global `--log`
//! (`{"level":"error","msg":…}`, runc's format, which berth writes too); the keeper reads the
//! last error from there to say why a step failed.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::error::Error;

/// A runtime binary with its state root and the file it logs to.
#[derive(Debug, Clone)]
pub struct RuntimeCli {
    pub program: PathBuf,
    pub root: Option<PathBuf>,
    pub log: PathBuf,
}

/// The container's stdio as handed to `create` (which passes it on to the init).
#[derive(Debug)]
pub struct CreateStdio {
    pub stdin: Stdio,
    pub stdout: Stdio,
    pub stderr: Stdio,
}

impl RuntimeCli {
    fn command(&self, verb: &str) -> Command {
        let mut command = Command::new(&self.program);
        if let Some(root) = &self.root {
            command.arg("--root").arg(root);
        }
        command.arg("--log").arg(&self.log).arg("--log-format").arg("json").arg(verb);
        command
    }

    /// Starts `create --bundle B --pid-file P [--console-socket S] ID`; the caller waits.
    pub fn spawn_create(
        &self,
        id: &str,
        bundle: &Path,
        pid_file: &Path,
        console_socket: Option<&Path>,
        stdio: CreateStdio,
    ) -> Result<Child, Error> {
        let mut command = self.command("create");
        command.arg("--bundle").arg(bundle).arg("--pid-file").arg(pid_file);
        if let Some(socket) = console_socket {
            command.arg("--console-socket").arg(socket);
        }
        command.arg(id).stdin(stdio.stdin).stdout(stdio.stdout).stderr(stdio.stderr);
        command.spawn().map_err(|source| Error::Spawn {
            program: self.program.clone(),
            step: "create",
            source,
        })
    }

    /// Waits for a step's process and turns a failure into an error naming the step.
    pub fn finish(&self, id: &str, step: &'static str, mut child: Child) -> Result<(), Error> {
        let status = child
            .wait()
            .map_err(|source| Error::Spawn { program: self.program.clone(), step, source })?;
        if status.success() {
            return Ok(());
        }
        let message = self.last_error().unwrap_or_else(|| format!("{} exited with {status}", self.program.display()));
        Err(Error::Runtime { id: id.to_owned(), step, message })
    }

    /// `start ID`.
    pub fn start(&self, id: &str) -> Result<(), Error> {
        let child = self
            .command("start")
            .arg(id)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|source| Error::Spawn { program: self.program.clone(), step: "start", source })?;
        self.finish(id, "start", child)
    }

    /// `delete --force ID`, best effort: the container may already be gone.
    pub fn delete(&self, id: &str) {
        let _ = self
            .command("delete")
            .arg("--force")
            .arg(id)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }

    /// The message of the runtime's last error record.
    fn last_error(&self) -> Option<String> {
        let text = std::fs::read_to_string(&self.log).ok()?;
        text.lines().rev().find_map(|line| {
            let record: serde_json::Value = serde_json::from_str(line).ok()?;
            (record["level"] == "error").then(|| record["msg"].as_str().map(str::to_owned))?
        })
    }
}

/// The runtime to use when none is named: `berth` next to this executable, else on PATH.
pub fn default_runtime() -> Result<PathBuf, Error> {
    let shim = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("berth-shim"));
    if let Some(beside) = shim.parent().map(|dir| dir.join("berth")).filter(|p| p.is_file()) {
        return Ok(beside);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("berth"))
        .find(|candidate| candidate.is_file())
        .ok_or(Error::NoRuntime { shim })
}
