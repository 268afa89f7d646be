//! The serving shim, the long-lived process `start` spawns: the ttrpc server with the Task
//! service under both names containerd uses for it, the SIGCHLD reaper, and shutdown.
//!
//! containerd 1.x calls the Task service `containerd.task.v2.Task`; containerd 2 calls the same
//! messages `containerd.task.v3.Task` (its shim API v3). The containerd-shim crate (0.11) builds
//! its ttrpc server inside `run` and registers the service under the v2 name only, with no hook
//! for another, so this module does that part itself: what the crate's serve path does (signals
//! first, subreaper, logger, listener, reaper thread, wait, shutdown), with the Task methods
//! registered twice. `start` and `delete` stay the crate's (see [`super::main`]).

use super::shim::Shim;
use containerd_shim::monitor::monitor_notify_by_pid;
use containerd_shim::protos::shim::shim_ttrpc::create_task;
use containerd_shim::protos::ttrpc::{self, MethodHandler};
use containerd_shim::publisher::RemotePublisher;
use containerd_shim::{Config, Flags, Shim as _, Task};
use nix::errno::Errno;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use signal_hook::consts::{SIGCHLD, SIGINT, SIGPIPE, SIGTERM};
use signal_hook::iterator::Signals;
use std::collections::HashMap;
use std::os::fd::IntoRawFd;
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The ttrpc service names of the Task API: containerd 1.x's, and containerd 2's.
pub const TASK_V2: &str = "containerd.task.v2.Task";
pub const TASK_V3: &str = "containerd.task.v3.Task";

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("flag -{0} is required to serve")]
    MissingFlag(&'static str),
    #[error("environment variable TTRPC_ADDRESS: {0}")]
    TtrpcAddress(std::env::VarError),
    #[error("signal handlers: {0}")]
    Signals(std::io::Error),
    #[error("become subreaper: {0}")]
    Subreaper(Errno),
    #[error("listen on {path}: {source}")]
    Listen { path: PathBuf, source: std::io::Error },
    #[error("remove stale socket {path}: {source}")]
    RemoveSocket { path: PathBuf, source: std::io::Error },
    #[error("ttrpc server on {path}: {source}")]
    Server { path: PathBuf, source: ttrpc::Error },
    #[error("{step}: {source}")]
    Shim { step: &'static str, source: containerd_shim::Error },
    #[error("hand stdout back to stderr: {0}")]
    ReleaseStdout(Errno),
}

fn shim_error(step: &'static str) -> impl FnOnce(containerd_shim::Error) -> ServeError {
    move |source| ServeError::Shim { step, source }
}

/// Serve the shim at `flags.socket` until containerd asks it to shut down.
pub fn serve(runtime_id: &str, flags: Flags) -> Result<(), ServeError> {
    if flags.namespace.is_empty() {
        return Err(ServeError::MissingFlag("namespace"));
    }
    if flags.socket.is_empty() {
        return Err(ServeError::MissingFlag("socket"));
    }
    let ttrpc_address = std::env::var("TTRPC_ADDRESS").map_err(ServeError::TtrpcAddress)?;
    // 1. Signals before any thread or child exists: SIGCHLD drives the reaper, and a SIGPIPE
    //    from a reader that went away must not end the shim.
    let signals = Signals::new([SIGTERM, SIGINT, SIGPIPE, SIGCHLD]).map_err(ServeError::Signals)?;
    // One malloc arena for the threads to come: an idle shim per container is mostly pages.
    crate::sys::one_malloc_arena();
    // 2. Adopt the containers' inits, which the runtime forks and leaves.
    crate::reaper::become_subreaper().map_err(ServeError::Subreaper)?;
    let mut config = Config::default();
    let mut shim = Shim::new(runtime_id, &flags, &mut config);
    containerd_shim::logger::init(flags.debug, &config.default_log_level, &flags.namespace, &flags.id).map_err(shim_error("logger"))?;
    // 3. The Task service, answering under both names.
    let publisher = RemotePublisher::new(&ttrpc_address).map_err(shim_error("event publisher"))?;
    let service: Arc<dyn Task + Send + Sync> = Arc::new(shim.create_task_service(publisher));
    let socket = socket_path(&flags.socket);
    let Some(listener) = listen(&flags.socket)? else {
        // Another shim of the task's group already serves this socket; `start` prints its address.
        return release_stdout();
    };
    let server_error = |source| ServeError::Server { path: socket.clone(), source };
    // Two waiting threads per connection instead of ttrpc's three (the pool still grows to
    // five for calls that block, such as Wait): each idle thread is stack pages.
    let mut server = ttrpc::Server::new()
        .set_thread_count_default(2)
        .add_listener(listener.into_raw_fd())
        .map_err(server_error)?
        .register_service(task_methods(service));
    server.start().map_err(server_error)?;
    // 4. Tell `start` we are up (it reads our stdout until it closes), then reap until told to stop.
    release_stdout()?;
    std::thread::spawn(move || reap_on_sigchld(signals));
    // Start-up code is not needed again: let its pages go (see sys::release_clean_text_pages).
    crate::sys::release_clean_text_pages();
    shim.wait();
    // 5. Stop serving and remove the socket.
    server.shutdown();
    let _ = remove_socket(&socket);
    Ok(())
}

/// The Task service's method table under the v2 name and again under the v3 name, both
/// calling the same service.
pub fn task_methods(service: Arc<dyn Task + Send + Sync>) -> HashMap<String, Box<dyn MethodHandler + Send + Sync>> {
    let v2 = create_task(service.clone());
    let v3_prefix = format!("/{TASK_V3}/");
    let v3 = create_task(service)
        .into_iter()
        .filter_map(|(path, handler)| path.strip_prefix(&format!("/{TASK_V2}/")).map(|method| (format!("{v3_prefix}{method}"), handler)));
    v2.into_iter().chain(v3).collect()
}

/// containerd's socket address (`unix:///run/containerd/s/HASH`) as a path.
fn socket_path(address: &str) -> PathBuf {
    PathBuf::from(address.strip_prefix("unix://").unwrap_or(address))
}

/// Bind the socket; `None` when another shim already answers on it (one shim per pod), after
/// recording its address. A socket nobody answers on is stale and replaced.
fn listen(address: &str) -> Result<Option<UnixListener>, ServeError> {
    let path = socket_path(address);
    let bind = || {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        UnixListener::bind(&path)
    };
    match bind() {
        Ok(listener) => return Ok(Some(listener)),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {}
        Err(source) => return Err(ServeError::Listen { path, source }),
    }
    if answers(address) {
        containerd_shim::util::write_address(address).map_err(shim_error("write address"))?;
        return Ok(None);
    }
    remove_socket(&path)?;
    bind().map(Some).map_err(|source| ServeError::Listen { path, source })
}

/// Does a server answer on `address` within a second?
fn answers(address: &str) -> bool {
    (0..200).any(|_| {
        let up = ttrpc::Client::connect(address).is_ok();
        if !up {
            std::thread::sleep(Duration::from_millis(5));
        }
        up
    })
}

fn remove_socket(path: &Path) -> Result<(), ServeError> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            std::fs::remove_file(path).map_err(|source| ServeError::RemoveSocket { path: path.to_owned(), source })
        }
        _ => Ok(()),
    }
}

/// `start` waits for our stdout to close: point it at stderr (containerd's log).
fn release_stdout() -> Result<(), ServeError> {
    nix::unistd::dup2_stdout(std::io::stderr()).map_err(ServeError::ReleaseStdout)
}

/// On every SIGCHLD, reap every child that ended and publish its exit (128+N for signal N) to
/// the exit monitor, which the service and the runtime client subscribe to.
fn reap_on_sigchld(mut signals: Signals) {
    for signal in signals.forever() {
        if signal != SIGCHLD {
            continue;
        }
        loop {
            let (pid, code) = match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) => (pid, code),
                Ok(WaitStatus::Signaled(pid, signal, _)) => (pid, 128 + signal as i32),
                Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => break,
                Ok(_) | Err(Errno::EINTR) => continue,
                Err(_) => break,
            };
            let _ = monitor_notify_by_pid(pid.as_raw(), code);
        }
    }
}
