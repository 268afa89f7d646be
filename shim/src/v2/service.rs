//! The Task service: containerd's RPCs mapped onto the shim's containers. Only the RPC
//! surface lives here (lookups, locking, events, error codes); the recipes are in `container`.
//!
//! One lock guards every container of the shim (a pod's containers share one shim). It is held
//! across runtime commands that make processes (create, exec), so the exit of a process that
//! dies at once is matched to it only after its pid is known.

use super::container::{Container, ContainerError};
use super::events::Events;
use super::process::{Exit, Status};
use super::stdio::StdioSpec;
use containerd_shim::api::*;
use containerd_shim::monitor::{monitor_subscribe, Subject, Topic};
use containerd_shim::protos::events::task::{
    TaskCreate, TaskDelete, TaskExecAdded, TaskExecStarted, TaskExit, TaskIO, TaskPaused, TaskResumed, TaskStart,
};
use containerd_shim::protos::protobuf::MessageField;
use containerd_shim::protos::topics::*;
use containerd_shim::protos::ttrpc::{self, Code};
use containerd_shim::protos::types::task::ProcessInfo;
use containerd_shim::{ExitSignal, Task, TtrpcContext, TtrpcResult};
use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

/// How long an exit report waits for the process's output to be copied out.
const DRAIN_LIMIT: Duration = Duration::from_secs(2);

#[derive(Clone)]
pub struct Service {
    inner: Arc<Inner>,
}

struct Inner {
    namespace: String,
    containers: Mutex<HashMap<String, Container>>,
    /// Signalled whenever a process exits, for Wait.
    exited: Condvar,
    events: Events,
    shutdown: Arc<ExitSignal>,
}

type Containers<'a> = MutexGuard<'a, HashMap<String, Container>>;

fn rpc_error(e: ContainerError) -> ttrpc::Error {
    let code = match &e {
        ContainerError::NoExec { .. } | ContainerError::Finished { .. } => Code::NOT_FOUND,
        ContainerError::ExecExists { .. } => Code::ALREADY_EXISTS,
        ContainerError::WrongStatus { .. } => Code::FAILED_PRECONDITION,
        _ => Code::UNKNOWN,
    };
    ttrpc::error::get_rpc_status(code, e.to_string())
}

fn not_found(id: &str) -> ttrpc::Error {
    ttrpc::error::get_rpc_status(Code::NOT_FOUND, format!("container {id}: not found"))
}

impl Service {
    pub fn new(namespace: String, events: Events, shutdown: Arc<ExitSignal>) -> Service {
        let inner = Arc::new(Inner {
            namespace,
            containers: Mutex::new(HashMap::new()),
            exited: Condvar::new(),
            events,
            shutdown,
        });
        let watcher = inner.clone();
        // Subscribe here, before any container exists, so no exit is missed.
        let exits = monitor_subscribe(Topic::Pid).expect("the exit monitor always accepts subscribers");
        std::thread::spawn(move || {
            for event in exits.rx.iter() {
                if let Subject::Pid(pid) = event.subject {
                    watcher.process_exited(pid as u32, event.exit_code as u32, SystemTime::now());
                }
            }
        });
        Service { inner }
    }

    fn lock(&self) -> Containers<'_> {
        self.inner.containers.lock().unwrap()
    }

    fn with_container<T>(&self, id: &str, f: impl FnOnce(&mut Container) -> Result<T, ContainerError>) -> TtrpcResult<T> {
        let mut containers = self.lock();
        let container = containers.get_mut(id).ok_or_else(|| not_found(id))?;
        f(container).map_err(rpc_error)
    }
}

impl Inner {
    /// The reaper saw `pid` end: drain its output, record the exit, tell containerd.
    fn process_exited(&self, pid: u32, code: u32, at: SystemTime) {
        let mut containers = self.containers.lock().unwrap();
        let found = containers.values_mut().find_map(|c| {
            let id = c.id.clone();
            std::iter::once(&mut c.init)
                .chain(c.execs.values_mut())
                .find(|p| p.pid == pid && p.exit.is_none() && p.status != Status::Created)
                .map(|p| (id, p.exec_id.clone(), p.io.take()))
        });
        // Not ours: a runtime command, a logging binary, or an orphan the container left.
        let Some((id, exec_id, mut io)) = found else { return };
        // 1. Let the output reach its reader first, without holding up other RPCs.
        drop(containers);
        if let Some(io) = io.as_mut() {
            io.wait_drained(DRAIN_LIMIT);
        }
        // 2. Record the exit and queue TaskExit while holding the lock, so it is ordered.
        containers = self.containers.lock().unwrap();
        if let Some(process) = containers.get_mut(&id).and_then(|c| c.process_mut(&exec_id).ok()) {
            process.io = io;
            let exit = Exit { code, at };
            process.set_exited(exit);
            self.events.send(
                TASK_EXIT_EVENT_TOPIC,
                TaskExit {
                    container_id: id.clone(),
                    id: if exec_id.is_empty() { id.clone() } else { exec_id },
                    pid,
                    exit_status: code,
                    exited_at: exit.timestamp(),
                    ..Default::default()
                },
            );
        }
        self.exited.notify_all();
    }
}

impl Task for Service {
    fn state(&self, _ctx: &TtrpcContext, req: StateRequest) -> TtrpcResult<StateResponse> {
        self.with_container(&req.id, |c| {
            let bundle = c.bundle.to_string_lossy().into_owned();
            let p = c.process(&req.exec_id)?;
            let (exit_status, exited_at) = p.exit_fields();
            Ok(StateResponse {
                id: req.id.clone(),
                exec_id: req.exec_id.clone(),
                bundle,
                pid: p.pid,
                status: p.status.as_task_status().into(),
                stdin: p.stdio.stdin.clone(),
                stdout: p.stdio.stdout.clone(),
                stderr: p.stdio.stderr.clone(),
                terminal: p.stdio.terminal,
                exit_status,
                exited_at,
                ..Default::default()
            })
        })
    }

    fn create(&self, _ctx: &TtrpcContext, req: CreateTaskRequest) -> TtrpcResult<CreateTaskResponse> {
        let mut containers = self.lock();
        if containers.contains_key(&req.id) {
            return Err(ttrpc::error::get_rpc_status(Code::ALREADY_EXISTS, format!("container {}: already exists", req.id)));
        }
        let container = Container::create(&req, &self.inner.namespace).map_err(rpc_error)?;
        let pid = container.init.pid;
        self.inner.events.send(
            TASK_CREATE_EVENT_TOPIC,
            TaskCreate {
                container_id: req.id.clone(),
                bundle: req.bundle.clone(),
                rootfs: req.rootfs.clone(),
                io: MessageField::some(TaskIO {
                    stdin: req.stdin.clone(),
                    stdout: req.stdout.clone(),
                    stderr: req.stderr.clone(),
                    terminal: req.terminal,
                    ..Default::default()
                }),
                checkpoint: req.checkpoint.clone(),
                pid,
                ..Default::default()
            },
        );
        // The OOM watcher needs the init's cgroup, which exists from create on.
        super::oom::watch(&req.id, container.cgroup.as_ref(), &self.inner.events);
        containers.insert(req.id.clone(), container);
        Ok(CreateTaskResponse { pid, ..Default::default() })
    }

    fn start(&self, _ctx: &TtrpcContext, req: StartRequest) -> TtrpcResult<StartResponse> {
        let namespace = self.inner.namespace.clone();
        let events = self.inner.events.clone();
        let pid = self.with_container(&req.id, |c| {
            if req.exec_id.is_empty() {
                let pid = c.start_init()?;
                events.send(TASK_START_EVENT_TOPIC, TaskStart { container_id: req.id.clone(), pid, ..Default::default() });
                Ok(pid)
            } else {
                let pid = c.start_exec(&req.exec_id, &namespace)?;
                events.send(
                    TASK_EXEC_STARTED_EVENT_TOPIC,
                    TaskExecStarted { container_id: req.id.clone(), exec_id: req.exec_id.clone(), pid, ..Default::default() },
                );
                Ok(pid)
            }
        })?;
        // A started task mostly waits from here: drop the code pages its start faulted in.
        crate::sys::release_clean_text_pages();
        Ok(StartResponse { pid, ..Default::default() })
    }

    fn delete(&self, _ctx: &TtrpcContext, req: DeleteRequest) -> TtrpcResult<DeleteResponse> {
        let mut containers = self.lock();
        let container = containers.get_mut(&req.id).ok_or_else(|| not_found(&req.id))?;
        if !req.exec_id.is_empty() {
            let process = container.process(&req.exec_id).map_err(rpc_error)?;
            if process.status == Status::Running {
                return Err(rpc_error(ContainerError::WrongStatus { id: req.exec_id.clone(), verb: "delete", status: process.status }));
            }
            let (exit_status, exited_at) = process.exit_fields();
            let pid = process.pid;
            container.execs.remove(&req.exec_id);
            return Ok(DeleteResponse { pid, exit_status, exited_at, ..Default::default() });
        }
        container.delete_init().map_err(rpc_error)?;
        let (exit_status, exited_at) = container.init.exit_fields();
        let pid = container.init.pid;
        self.inner.events.send(
            TASK_DELETE_EVENT_TOPIC,
            TaskDelete { container_id: req.id.clone(), pid, exit_status, exited_at: exited_at.clone(), ..Default::default() },
        );
        containers.remove(&req.id);
        Ok(DeleteResponse { pid, exit_status, exited_at, ..Default::default() })
    }

    fn pids(&self, _ctx: &TtrpcContext, req: PidsRequest) -> TtrpcResult<PidsResponse> {
        let pids = self.with_container(&req.id, |c| c.pids())?;
        let processes = pids.into_iter().map(|pid| ProcessInfo { pid, ..Default::default() }).collect();
        Ok(PidsResponse { processes, ..Default::default() })
    }

    fn pause(&self, _ctx: &TtrpcContext, req: PauseRequest) -> TtrpcResult<Empty> {
        let events = self.inner.events.clone();
        self.with_container(&req.id, |c| {
            c.pause()?;
            events.send(TASK_PAUSED_EVENT_TOPIC, TaskPaused { container_id: req.id.clone(), ..Default::default() });
            Ok(Empty::new())
        })
    }

    fn resume(&self, _ctx: &TtrpcContext, req: ResumeRequest) -> TtrpcResult<Empty> {
        let events = self.inner.events.clone();
        self.with_container(&req.id, |c| {
            c.resume()?;
            events.send(TASK_RESUMED_EVENT_TOPIC, TaskResumed { container_id: req.id.clone(), ..Default::default() });
            Ok(Empty::new())
        })
    }

    fn kill(&self, _ctx: &TtrpcContext, req: KillRequest) -> TtrpcResult<Empty> {
        self.with_container(&req.id, |c| c.kill(&req.exec_id, req.signal, req.all))?;
        Ok(Empty::new())
    }

    fn exec(&self, _ctx: &TtrpcContext, req: ExecProcessRequest) -> TtrpcResult<Empty> {
        let events = self.inner.events.clone();
        self.with_container(&req.id, |c| {
            let stdio = StdioSpec { stdin: req.stdin.clone(), stdout: req.stdout.clone(), stderr: req.stderr.clone(), terminal: req.terminal };
            let spec = req.spec.as_ref().map(|any| any.value.clone()).unwrap_or_default();
            c.add_exec(&req.exec_id, stdio, spec)?;
            events.send(
                TASK_EXEC_ADDED_EVENT_TOPIC,
                TaskExecAdded { container_id: req.id.clone(), exec_id: req.exec_id.clone(), ..Default::default() },
            );
            Ok(Empty::new())
        })
    }

    fn resize_pty(&self, _ctx: &TtrpcContext, req: ResizePtyRequest) -> TtrpcResult<Empty> {
        self.with_container(&req.id, |c| {
            let process = c.process(&req.exec_id)?;
            if let Some(io) = &process.io {
                let _ = io.resize(req.height as u16, req.width as u16);
            }
            Ok(Empty::new())
        })
    }

    fn close_io(&self, _ctx: &TtrpcContext, req: CloseIORequest) -> TtrpcResult<Empty> {
        self.with_container(&req.id, |c| {
            if let Some(io) = &c.process(&req.exec_id)?.io {
                io.close_stdin();
            }
            Ok(Empty::new())
        })
    }

    fn update(&self, _ctx: &TtrpcContext, req: UpdateTaskRequest) -> TtrpcResult<Empty> {
        let resources = req.resources.as_ref().map(|any| any.value.clone()).unwrap_or_default();
        self.with_container(&req.id, |c| c.update(&resources))?;
        Ok(Empty::new())
    }

    fn wait(&self, _ctx: &TtrpcContext, req: WaitRequest) -> TtrpcResult<WaitResponse> {
        let mut containers = self.lock();
        loop {
            let container = containers.get(&req.id).ok_or_else(|| not_found(&req.id))?;
            let process = container.process(&req.exec_id).map_err(rpc_error)?;
            if process.exit.is_some() {
                let (exit_status, exited_at) = process.exit_fields();
                return Ok(WaitResponse { exit_status, exited_at, ..Default::default() });
            }
            containers = self.inner.exited.wait(containers).unwrap();
        }
    }

    fn stats(&self, _ctx: &TtrpcContext, req: StatsRequest) -> TtrpcResult<StatsResponse> {
        let metrics = self.with_container(&req.id, |c| c.metrics())?;
        Ok(StatsResponse { stats: MessageField::some(metrics), ..Default::default() })
    }

    fn connect(&self, _ctx: &TtrpcContext, req: ConnectRequest) -> TtrpcResult<ConnectResponse> {
        let task_pid = self.lock().get(&req.id).map(|c| c.init.pid).unwrap_or(0);
        Ok(ConnectResponse { shim_pid: std::process::id(), task_pid, version: "2".to_owned(), ..Default::default() })
    }

    fn shutdown(&self, _ctx: &TtrpcContext, _req: ShutdownRequest) -> TtrpcResult<Empty> {
        // A pod's shim stays while any of its containers is left.
        if self.lock().is_empty() {
            self.inner.shutdown.signal();
        }
        Ok(Empty::new())
    }
}
