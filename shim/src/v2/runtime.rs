//! The runtime client: runs `berth` (or any runc-compatible binary named by the runtime
//! options' BinaryName) and turns its JSON error log into typed errors naming the step.
//!
//! The shim is a subreaper whose SIGCHLD thread (in the containerd-shim crate) reaps every
//! child with waitpid(-1), so a runtime command is never waited for directly: we subscribe to
//! the exit fan-out before spawning and pick our pid's exit out of it.

use containerd_shim::api::Options;
use containerd_shim::monitor::{monitor_subscribe, wait_pid, Topic};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

/// Where containerd-shim-runc-v2 keeps runc's state; ours sits beside it.
const DEFAULT_ROOT: &str = "/run/containerd/berth";

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("{step}: cannot run {binary}: {source}")]
    Spawn { step: &'static str, binary: PathBuf, source: std::io::Error },
    #[error("{step}: {binary} failed (exit status {status}): {message}")]
    Failed { step: &'static str, binary: PathBuf, status: i32, message: String },
    #[error("{step}: {binary} printed output that is not the expected JSON: {source}")]
    BadOutput { step: &'static str, binary: PathBuf, source: serde_json::Error },
}

/// How to run the runtime: the binary, its state root and cgroup driver.
#[derive(Debug, Clone)]
pub struct Runtime {
    pub binary: PathBuf,
    pub root: PathBuf,
    pub systemd_cgroup: bool,
    /// Directory for the runtime's per-command JSON logs (the bundle).
    pub log_dir: PathBuf,
}

/// What a runtime command should be connected to.
pub struct CommandStdio {
    pub stdin: Stdio,
    pub stdout: Stdio,
    pub stderr: Stdio,
}

impl CommandStdio {
    pub fn null() -> CommandStdio {
        CommandStdio { stdin: Stdio::null(), stdout: Stdio::null(), stderr: Stdio::null() }
    }
}

impl Runtime {
    /// The runtime named by containerd's runc-style options (BinaryName, Root, SystemdCgroup),
    /// with berth next to this shim (or on PATH) and /run/containerd/berth/<namespace> as the
    /// defaults.
    pub fn from_options(options: &Options, namespace: &str, log_dir: &Path) -> Runtime {
        let binary = if options.binary_name.is_empty() {
            default_binary()
        } else {
            PathBuf::from(&options.binary_name)
        };
        let root = if options.root.is_empty() {
            Path::new(DEFAULT_ROOT).join(namespace)
        } else {
            Path::new(&options.root).join(namespace)
        };
        Runtime { binary, root, systemd_cgroup: options.systemd_cgroup, log_dir: log_dir.to_owned() }
    }

    /// Run one runtime verb with `args`, wired to `stdio`; returns what it printed on stdout
    /// when `stdio.stdout` is piped.
    pub fn run(&self, step: &'static str, args: &[&str], stdio: CommandStdio) -> Result<Vec<u8>, RuntimeError> {
        static NEXT_LOG: AtomicU64 = AtomicU64::new(0);
        let log = self.log_dir.join(format!(".berth-{step}-{}.json", NEXT_LOG.fetch_add(1, Ordering::Relaxed)));
        let mut command = Command::new(&self.binary);
        command.arg("--root").arg(&self.root).arg("--log").arg(&log).args(["--log-format", "json"]);
        if self.systemd_cgroup {
            command.arg("--systemd-cgroup");
        }
        command.args(args).stdin(stdio.stdin).stdout(stdio.stdout).stderr(stdio.stderr);
        // 1. Subscribe before the child exists, so its exit cannot slip past us.
        let exits = monitor_subscribe(Topic::Pid).expect("the exit monitor always accepts subscribers");
        // 2. Spawn, and drop the command so the container's ends of its stdio close here.
        let spawned = command.spawn();
        drop(command);
        let mut child = spawned.map_err(|source| RuntimeError::Spawn { step, binary: self.binary.clone(), source })?;
        // 3. Read its stdout to the end (when captured), then pick its exit from the fan-out.
        let mut stdout = Vec::new();
        if let Some(mut out) = child.stdout.take() {
            let _ = out.read_to_end(&mut stdout);
        }
        let status = wait_pid(child.id() as i32, exits);
        let message = error_message(&log);
        let _ = std::fs::remove_file(&log);
        if status != 0 {
            let message = message.unwrap_or_else(|| "no error message in its log".to_owned());
            return Err(RuntimeError::Failed { step, binary: self.binary.clone(), status, message });
        }
        Ok(stdout)
    }

    /// Like [`Runtime::run`] with no stdio, for verbs whose output we do not need.
    pub fn simple(&self, step: &'static str, args: &[&str]) -> Result<(), RuntimeError> {
        self.run(step, args, CommandStdio::null()).map(drop)
    }

    /// Run a verb that prints JSON and parse it.
    pub fn json(&self, step: &'static str, args: &[&str]) -> Result<serde_json::Value, RuntimeError> {
        let stdio = CommandStdio { stdin: Stdio::null(), stdout: Stdio::piped(), stderr: Stdio::null() };
        let out = self.run(step, args, stdio)?;
        serde_json::from_slice(&out).map_err(|source| RuntimeError::BadOutput { step, binary: self.binary.clone(), source })
    }
}

/// berth installed next to this shim, else whatever `berth` is on PATH.
fn default_binary() -> PathBuf {
    let beside = std::env::current_exe().ok().and_then(|exe| exe.parent().map(|dir| dir.join("berth")));
    match beside {
        Some(path) if path.is_file() => path,
        _ => PathBuf::from("berth"),
    }
}

/// The last error-level message of a runtime's JSON log (runc's format: one object per line
/// with "level" and "msg").
fn error_message(log: &Path) -> Option<String> {
    let text = std::fs::read_to_string(log).ok()?;
    text.lines()
        .rev()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|record| matches!(record["level"].as_str(), Some("error" | "fatal")))
        .find_map(|record| record["msg"].as_str().map(str::to_owned))
}
