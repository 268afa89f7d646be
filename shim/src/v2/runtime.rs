//! The runtime client: berth, or any runc-compatible binary named by the runtime options'
//! BinaryName, with its errors typed and naming the step.
//!
//! With berth itself (no BinaryName), the verbs that make no process run in this process
//! through berth's library: start, kill, delete, pause, resume, ps and stats each save the
//! fork and exec of a second binary. create and exec stay berth processes, for three reasons:
//! - berth's init (and exec helper) is a clone of the process that creates it. A clone of this
//!   multi-threaded shim keeps only the calling thread, and any lock another thread held (the
//!   allocator's, the logger's) stays held forever, while the init runs ordinary Rust until it
//!   execs the container's program.
//! - The init's PR_SET_PDEATHSIG handshake ties it to the creating *thread*, and the ttrpc
//!   server's worker threads come and go.
//! - The container side must run from a sealed view of berth's binary (CVE-2019-5736, see
//!   berth_runtime::seal), which takes an exec anyway: a fork from here would save nothing.
//!
//! Hooks are processes too: start (poststart hooks) and delete (poststop hooks) of a container
//! that has such hooks go through the binary, since the library waits for each hook as its
//! child and the shim's reaper (below) would take the hook's exit first.
//!
//! A runtime binary is never waited for directly: the shim is a subreaper whose SIGCHLD thread
//! (v2/serve.rs) reaps every child with waitpid(-1), so we subscribe to the exit fan-out before
//! spawning and pick our pid's exit out of it. The library verbs wait for no child of ours:
//! `delete` of a container whose init still runs kills it and may reap it, but the shim only
//! force-deletes an init it never started, whose exit it does not report.

use berth_runtime::container;
use berth_runtime::plan::Stage;
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
    #[error("{step}: berth: {source}")]
    Library { step: &'static str, source: berth_runtime::container::ContainerError },
}

/// A library call's error, named by its step.
fn library<T>(step: &'static str, result: Result<T, berth_runtime::container::ContainerError>) -> Result<T, RuntimeError> {
    result.map_err(|source| RuntimeError::Library { step, source })
}

/// How to run the runtime: the binary, its state root and cgroup driver.
#[derive(Debug, Clone)]
pub struct Runtime {
    pub binary: PathBuf,
    pub root: PathBuf,
    pub systemd_cgroup: bool,
    /// Directory for the runtime's per-command JSON logs (the bundle).
    pub log_dir: PathBuf,
    /// The runtime is berth itself: the verbs that make no process run in this process.
    pub in_process: bool,
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
        let in_process = options.binary_name.is_empty();
        Runtime { binary, root, systemd_cgroup: options.systemd_cgroup, log_dir: log_dir.to_owned(), in_process }
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

/// The verbs that make no process of their own: in this process with berth, else the binary.
impl Runtime {
    /// Release a created container's init (and run its poststart hooks).
    pub fn start(&self, id: &str) -> Result<(), RuntimeError> {
        if self.in_process_without(Stage::Poststart, id) {
            return library("start", container::start(&self.root, id));
        }
        self.simple("start", &["start", id])
    }

    /// Signal the init, or with `all` every process of the container's cgroup.
    pub fn kill(&self, id: &str, signal: u32, all: bool) -> Result<(), RuntimeError> {
        if self.in_process {
            return library("kill", container::kill(&self.root, id, signal as i32, all));
        }
        let signal = signal.to_string();
        let mut args = vec!["kill"];
        if all {
            args.push("--all");
        }
        args.extend([id, signal.as_str()]);
        self.simple("kill", &args)
    }

    /// Delete the container (`force`: even a running one, and no error if it is unknown).
    pub fn delete(&self, id: &str, force: bool) -> Result<(), RuntimeError> {
        if self.in_process_without(Stage::Poststop, id) {
            return library("delete", container::delete(&self.root, id, force));
        }
        let args: &[&str] = if force { &["delete", "--force", id] } else { &["delete", id] };
        self.simple("delete", args)
    }

    pub fn pause(&self, id: &str) -> Result<(), RuntimeError> {
        if self.in_process {
            return library("pause", container::pause(&self.root, id));
        }
        self.simple("pause", &["pause", id])
    }

    pub fn resume(&self, id: &str) -> Result<(), RuntimeError> {
        if self.in_process {
            return library("resume", container::resume(&self.root, id));
        }
        self.simple("resume", &["resume", id])
    }

    /// Pids of every process in the container's cgroup.
    pub fn pids(&self, id: &str) -> Result<Vec<u32>, RuntimeError> {
        if self.in_process {
            return Ok(library("ps", container::pids(&self.root, id))?.into_iter().map(|pid| pid as u32).collect());
        }
        let list = self.json("ps", &["ps", "--format", "json", id])?;
        Ok(list.as_array().map(|a| a.iter().filter_map(|p| p.as_u64()).map(|p| p as u32).collect()).unwrap_or_default())
    }

    /// One stats sample of the container's cgroup, as the "data" of `events --stats`.
    pub fn stats(&self, id: &str) -> Result<serde_json::Value, RuntimeError> {
        if self.in_process {
            let stats = library("stats", container::stats(&self.root, id))?;
            return Ok(serde_json::to_value(stats).expect("plain data serializes"));
        }
        let mut sample = self.json("stats", &["events", "--stats", id])?;
        Ok(sample["data"].take())
    }

    /// Whether berth's library may do a verb that runs the container's `stage` hooks here: only
    /// if it has none (a hook is a child process the reaper would take from the library).
    fn in_process_without(&self, stage: Stage, id: &str) -> bool {
        // A container that cannot be loaded runs no hooks; the library reports why.
        self.in_process
            && container::load(&self.root, id).map_or(true, |(state, _, _)| state.hooks.as_ref().is_none_or(|hooks| stage.of(hooks).is_empty()))
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
