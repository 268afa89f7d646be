//! One container of the shim: its rootfs, its init and execs, and the runtime that runs them.
//! Each verb here is the recipe; `service` maps RPCs onto these and `process` keeps state.

use super::cgroup::{Cgroup, CgroupError};
use super::options::{self, OptionsError};
use super::process::{Process, Status};
use super::runtime::{CommandStdio, Runtime, RuntimeError};
use super::stats;
use super::stdio::{self, ContainerEnds, ProcessIo, StdioError, StdioSpec};
use crate::console::{self, ConsoleSocket};
use containerd_shim::api::CreateTaskRequest;
use containerd_shim::protos::protobuf::well_known_types::any::Any;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error(transparent)]
    Stdio(#[from] StdioError),
    #[error(transparent)]
    Console(#[from] console::Error),
    #[error(transparent)]
    Options(#[from] OptionsError),
    #[error("stats: {0}")]
    Cgroup(#[from] CgroupError),
    #[error("mount rootfs {target}: {message}")]
    Mount { target: PathBuf, message: String },
    #[error("{step}: {path}: {source}")]
    File { step: &'static str, path: PathBuf, source: std::io::Error },
    #[error("{step}: pid file {path} holds no pid")]
    PidFile { step: &'static str, path: PathBuf },
    #[error("exec {exec_id} in {id}: no such process")]
    NoExec { id: String, exec_id: String },
    #[error("exec {exec_id} in {id}: already exists")]
    ExecExists { id: String, exec_id: String },
    #[error("{id}: process already finished")]
    Finished { id: String },
    #[error("{id}: cannot {verb} a process that is {status:?}")]
    WrongStatus { id: String, verb: &'static str, status: Status },
}

pub struct Container {
    pub id: String,
    pub bundle: PathBuf,
    pub runtime: Runtime,
    pub init: Process,
    pub execs: HashMap<String, Process>,
    /// Where OOM events and (on pure v2) metrics are read from; found from the init at create.
    pub cgroup: Option<Cgroup>,
    rootfs_mounted: bool,
}

/// A short, unique console socket path (sun_path holds 108 bytes; bundles can be deeper).
fn console_socket_path() -> PathBuf {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    std::env::temp_dir().join(format!("berth-shim-{}-{}.sock", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed)))
}

fn read_pid(step: &'static str, path: &Path) -> Result<u32, ContainerError> {
    let text = std::fs::read_to_string(path).map_err(|source| ContainerError::File { step, path: path.to_owned(), source })?;
    let _ = std::fs::remove_file(path);
    text.trim().parse().map_err(|_| ContainerError::PidFile { step, path: path.to_owned() })
}

/// Where a process's stdio is served from while the runtime command runs.
enum Wiring {
    Pipes(ProcessIo, ContainerEnds),
    Console(ConsoleSocket),
}

impl Wiring {
    fn new(spec: &StdioSpec, namespace: &str, id: &str) -> Result<Wiring, ContainerError> {
        if spec.terminal {
            return Ok(Wiring::Console(ConsoleSocket::bind(&console_socket_path())?));
        }
        let (io, ends) = stdio::pipes(spec, namespace, id)?;
        Ok(Wiring::Pipes(io, ends))
    }

    /// The runtime's extra flag and stdio, and what stays with us.
    fn split(self) -> (Option<ConsoleSocket>, Option<ProcessIo>, CommandStdio) {
        match self {
            Wiring::Pipes(io, ends) => {
                (None, Some(io), CommandStdio { stdin: ends.stdin, stdout: ends.stdout, stderr: ends.stderr })
            }
            Wiring::Console(socket) => (Some(socket), None, CommandStdio::null()),
        }
    }
}

/// Once the runtime command succeeded: the pipes, or the pty master it sent.
fn finish_wiring(spec: &StdioSpec, socket: Option<ConsoleSocket>, io: Option<ProcessIo>) -> Result<ProcessIo, ContainerError> {
    match (socket, io) {
        (Some(socket), _) => Ok(stdio::console(spec, socket.receive_sent()?)?),
        (None, Some(io)) => Ok(io),
        (None, None) => unreachable!("a wiring is either pipes or a console"),
    }
}

impl Container {
    /// Create: mount the rootfs, wire stdio, run `create`; on any failure undo what was done.
    pub fn create(req: &CreateTaskRequest, namespace: &str) -> Result<Container, ContainerError> {
        let bundle = PathBuf::from(&req.bundle);
        // 1. The runtime from the options, remembered in the bundle for `delete` after a crash.
        let options = options::decode(req.options.as_ref())?;
        let _ = containerd_shim::util::write_options(&req.bundle, &options);
        let runtime = Runtime::from_options(&options, namespace, &bundle);
        let stdio = StdioSpec { stdin: req.stdin.clone(), stdout: req.stdout.clone(), stderr: req.stderr.clone(), terminal: req.terminal };
        let mut container = Container {
            id: req.id.clone(),
            bundle: bundle.clone(),
            runtime,
            init: Process::new("", stdio, None),
            execs: HashMap::new(),
            cgroup: None,
            rootfs_mounted: false,
        };
        // From here a failure drops `container` through `abandon`, which undoes each step.
        match container.create_steps(req, namespace) {
            Ok(()) => Ok(container),
            Err(e) => {
                container.abandon();
                Err(e)
            }
        }
    }

    fn create_steps(&mut self, req: &CreateTaskRequest, namespace: &str) -> Result<(), ContainerError> {
        // 2. The rootfs containerd prepared (an overlay of the snapshot), at <bundle>/rootfs.
        let rootfs = self.bundle.join("rootfs");
        if !req.rootfs.is_empty() {
            std::fs::create_dir_all(&rootfs)
                .map_err(|source| ContainerError::File { step: "create rootfs directory", path: rootfs.clone(), source })?;
        }
        for mount in &req.rootfs {
            containerd_shim::mount::mount_rootfs(Some(&mount.type_), Some(&mount.source), &mount.options, &rootfs)
                .map_err(|e| ContainerError::Mount { target: rootfs.clone(), message: e.to_string() })?;
            self.rootfs_mounted = true;
        }
        // 3. Stdio: pipes we own, or a console socket for the pty master.
        let wiring = Wiring::new(&self.init.stdio, namespace, &self.id)?;
        let (socket, io, command_stdio) = wiring.split();
        // 4. The runtime creates the container; its init waits for `start`.
        let pid_file = self.bundle.join("init.pid");
        let bundle = self.bundle.to_string_lossy().into_owned();
        let pid_arg = pid_file.to_string_lossy().into_owned();
        let socket_arg = socket.as_ref().map(|s| s.path().to_string_lossy().into_owned());
        let mut args = vec!["create", "--bundle", &bundle, "--pid-file", &pid_arg];
        if let Some(path) = &socket_arg {
            args.extend(["--console-socket", path]);
        }
        args.push(&self.id);
        self.runtime.run("create", &args, command_stdio)?;
        // 5. Its pid and the cgroup the runtime put it in, then the pty master if it has a
        //    terminal.
        self.init.pid = read_pid("create", &pid_file)?;
        self.cgroup = Cgroup::of_process(self.init.pid);
        self.init.io = Some(finish_wiring(&self.init.stdio, socket, io)?);
        Ok(())
    }

    /// Undo a create that failed part-way: the runtime's container, then the rootfs mount.
    fn abandon(&mut self) {
        let _ = self.runtime.delete(&self.id, true);
        self.init.io = None;
        self.unmount_rootfs();
    }

    fn unmount_rootfs(&mut self) {
        if self.rootfs_mounted {
            let _ = nix::mount::umount2(&self.bundle.join("rootfs"), nix::mount::MntFlags::MNT_DETACH);
            self.rootfs_mounted = false;
        }
    }

    pub fn start_init(&mut self) -> Result<u32, ContainerError> {
        if self.init.status != Status::Created {
            return Err(ContainerError::WrongStatus { id: self.id.clone(), verb: "start", status: self.init.status });
        }
        self.runtime.start(&self.id)?;
        self.init.status = Status::Running;
        Ok(self.init.pid)
    }

    pub fn add_exec(&mut self, exec_id: &str, stdio: StdioSpec, spec: Vec<u8>) -> Result<(), ContainerError> {
        if self.execs.contains_key(exec_id) {
            return Err(ContainerError::ExecExists { id: self.id.clone(), exec_id: exec_id.to_owned() });
        }
        self.execs.insert(exec_id.to_owned(), Process::new(exec_id, stdio, Some(spec)));
        Ok(())
    }

    /// Start an exec: its OCI process to a file, stdio wired, `exec --detach`.
    pub fn start_exec(&mut self, exec_id: &str, namespace: &str) -> Result<u32, ContainerError> {
        let id = self.id.clone();
        let process = self.execs.get_mut(exec_id).ok_or_else(|| ContainerError::NoExec { id: id.clone(), exec_id: exec_id.to_owned() })?;
        if process.status != Status::Created {
            return Err(ContainerError::WrongStatus { id, verb: "start", status: process.status });
        }
        // 1. The process JSON, where the runtime reads it.
        let spec_file = self.bundle.join(format!(".exec-{exec_id}.json"));
        let spec = process.spec.take().unwrap_or_default();
        std::fs::write(&spec_file, spec).map_err(|source| ContainerError::File { step: "exec", path: spec_file.clone(), source })?;
        // 2. Stdio, as for the init.
        let wiring = Wiring::new(&process.stdio, namespace, &id)?;
        let (socket, io, command_stdio) = wiring.split();
        // 3. The runtime starts it and returns; it is reparented to us (subreaper).
        let pid_file = self.bundle.join(format!(".exec-{exec_id}.pid"));
        let (spec_arg, pid_arg) = (spec_file.to_string_lossy().into_owned(), pid_file.to_string_lossy().into_owned());
        let socket_arg = socket.as_ref().map(|s| s.path().to_string_lossy().into_owned());
        let mut args = vec!["exec", "--detach", "--process", &spec_arg, "--pid-file", &pid_arg];
        if let Some(path) = &socket_arg {
            args.extend(["--console-socket", path]);
        }
        args.push(&id);
        let ran = self.runtime.run("exec", &args, command_stdio);
        let _ = std::fs::remove_file(&spec_file);
        ran?;
        process.pid = read_pid("exec", &pid_file)?;
        process.io = Some(finish_wiring(&process.stdio, socket, io)?);
        process.status = Status::Running;
        Ok(process.pid)
    }

    pub fn process(&self, exec_id: &str) -> Result<&Process, ContainerError> {
        if exec_id.is_empty() {
            return Ok(&self.init);
        }
        self.execs.get(exec_id).ok_or_else(|| ContainerError::NoExec { id: self.id.clone(), exec_id: exec_id.to_owned() })
    }

    pub fn process_mut(&mut self, exec_id: &str) -> Result<&mut Process, ContainerError> {
        if exec_id.is_empty() {
            return Ok(&mut self.init);
        }
        let id = self.id.clone();
        self.execs.get_mut(exec_id).ok_or(ContainerError::NoExec { id, exec_id: exec_id.to_owned() })
    }

    /// Signal the init through the runtime (it knows the cgroup for --all), or an exec by pid.
    pub fn kill(&self, exec_id: &str, signal: u32, all: bool) -> Result<(), ContainerError> {
        let process = self.process(exec_id)?;
        if process.status == Status::Stopped && !all {
            return Err(ContainerError::Finished { id: self.id.clone() });
        }
        if exec_id.is_empty() {
            return Ok(self.runtime.kill(&self.id, signal, all)?);
        }
        // An exec not started yet has no pid (0 would signal the shim's own process group).
        if process.pid == 0 {
            return Err(ContainerError::WrongStatus { id: exec_id.to_owned(), verb: "kill", status: process.status });
        }
        let signal = nix::sys::signal::Signal::try_from(signal as i32).ok();
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(process.pid as i32), signal);
        Ok(())
    }

    /// Delete the init: the runtime's container (forced if it never ran), then the rootfs.
    pub fn delete_init(&mut self) -> Result<(), ContainerError> {
        if matches!(self.init.status, Status::Running | Status::Paused) {
            return Err(ContainerError::WrongStatus { id: self.id.clone(), verb: "delete", status: self.init.status });
        }
        self.runtime.delete(&self.id, self.init.status == Status::Created)?;
        self.init.io = None;
        self.execs.clear();
        self.unmount_rootfs();
        Ok(())
    }

    pub fn pause(&mut self) -> Result<(), ContainerError> {
        self.runtime.pause(&self.id)?;
        self.init.status = Status::Paused;
        Ok(())
    }

    pub fn resume(&mut self) -> Result<(), ContainerError> {
        self.runtime.resume(&self.id)?;
        self.init.status = Status::Running;
        Ok(())
    }

    /// Pids of every process in the container's cgroup.
    pub fn pids(&self) -> Result<Vec<u32>, ContainerError> {
        Ok(self.runtime.pids(&self.id)?)
    }

    /// One metrics sample: read from the cgroup on pure v2, from the runtime's
    /// `events --stats` elsewhere.
    pub fn metrics(&self) -> Result<Any, ContainerError> {
        if let Some(Cgroup::Unified(dir)) = &self.cgroup {
            return Ok(stats::pack(stats::v2::TYPE_URL, &stats::v2::metrics(dir)?));
        }
        let sample = self.runtime.stats(&self.id)?;
        Ok(stats::pack(stats::v1::TYPE_URL, &stats::v1::metrics(&sample)))
    }

    /// Update resources from linux.resources JSON.
    pub fn update(&self, resources: &[u8]) -> Result<(), ContainerError> {
        let file = self.bundle.join(".update-resources.json");
        std::fs::write(&file, resources).map_err(|source| ContainerError::File { step: "update", path: file.clone(), source })?;
        let path = file.to_string_lossy().into_owned();
        let ran = self.runtime.simple("update", &["update", "--resources", &path, &self.id]);
        let _ = std::fs::remove_file(&file);
        Ok(ran?)
    }
}
