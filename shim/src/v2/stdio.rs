//! A task's stdio as containerd describes it, and the plumbing that serves it.
//!
//! containerd names stdin, stdout and stderr by URI: a fifo path it reads or writes itself,
//! `file:///path` (the shim appends to the file), `binary:///path?args` (a logging binary that
//! gets the output pipes as fds 3 and 4) or nothing (null). The container's own ends are
//! pipes the shim owns, so CloseIO can close stdin and the shim can drain the output before it
//! reports an exit; a tty task gets the pty master from the console socket instead.

use crate::sys;
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum StdioError {
    #[error("stdio: pipe2: {0}")]
    Pipe(nix::Error),
    #[error("stdio: {uri}: cannot start logging binary {binary}: {source}")]
    LoggingBinary { uri: String, binary: PathBuf, source: io::Error },
    #[error("stdio: {uri}: logging binary {binary} exited before it was ready")]
    LoggingBinaryNotReady { uri: String, binary: PathBuf },
    #[error("stdio: {uri}: unsupported scheme (fifo path, file://, binary:// or empty)")]
    Scheme { uri: String },
    #[error("stdio: duplicate pty master: {0}")]
    DupMaster(io::Error),
}

/// The three stdio URIs of a process and whether it has a terminal.
#[derive(Debug, Clone, Default)]
pub struct StdioSpec {
    pub stdin: String,
    pub stdout: String,
    pub stderr: String,
    pub terminal: bool,
}

/// Where one output stream goes.
enum Sink {
    Fifo(PathBuf),
    File(PathBuf),
}

/// The shim's side of a running process's stdio.
pub struct ProcessIo {
    /// Where stdin bytes are written; dropping it is CloseIO.
    stdin: Arc<Mutex<Option<File>>>,
    /// The pty master of a tty process, for ResizePty.
    console: Option<File>,
    /// One message per output copier when it has drained its stream.
    drained: Receiver<()>,
    copiers: usize,
    /// The stdin fifo, to unblock a copier still waiting for a writer at delete.
    stdin_fifo: Option<PathBuf>,
}

/// The container's ends, given to the runtime command as its stdio (a tty process gets none).
pub struct ContainerEnds {
    pub stdin: Stdio,
    pub stdout: Stdio,
    pub stderr: Stdio,
}

/// Set up pipes for a process without a terminal: copiers start now, the container's ends
/// are returned for the runtime command.
pub fn pipes(spec: &StdioSpec, namespace: &str, id: &str) -> Result<(ProcessIo, ContainerEnds), StdioError> {
    let (done, drained) = channel();
    let stdin_slot = Arc::new(Mutex::new(None));
    let mut copiers = 0;
    // 1. stdin: the container reads a pipe that we fill from the fifo.
    let stdin_end = if spec.stdin.is_empty() {
        Stdio::null()
    } else {
        let (read, write) = pipe()?;
        *stdin_slot.lock().unwrap() = Some(File::from(write));
        spawn_stdin_copier(PathBuf::from(&spec.stdin), stdin_slot.clone());
        Stdio::from(read)
    };
    // 2. stdout and stderr: a logging binary takes both pipes; otherwise a copier each.
    let (stdout_end, stderr_end) = if let Some(binary) = spec.stdout.strip_prefix("binary://") {
        let (out_read, out_write) = pipe()?;
        let (err_read, err_write) = pipe()?;
        start_logging_binary(&spec.stdout, binary, namespace, id, out_read, err_read)?;
        (Stdio::from(out_write), Stdio::from(err_write))
    } else {
        let mut output = |uri: &str| -> Result<Stdio, StdioError> {
            let Some(sink) = sink(uri)? else { return Ok(Stdio::null()) };
            let (read, write) = pipe()?;
            copiers += 1;
            spawn_output_copier(File::from(read), sink, done.clone());
            Ok(Stdio::from(write))
        };
        (output(&spec.stdout)?, output(&spec.stderr)?)
    };
    let io = ProcessIo {
        stdin: stdin_slot,
        console: None,
        drained,
        copiers,
        stdin_fifo: (!spec.stdin.is_empty()).then(|| PathBuf::from(&spec.stdin)),
    };
    Ok((io, ContainerEnds { stdin: stdin_end, stdout: stdout_end, stderr: stderr_end }))
}

/// Serve a tty process through the pty master the runtime sent: stdin into the master, the
/// master out to stdout (a terminal has one output stream).
pub fn console(spec: &StdioSpec, master: OwnedFd) -> Result<ProcessIo, StdioError> {
    let master = File::from(master);
    let (done, drained) = channel();
    let stdin_slot = Arc::new(Mutex::new(None));
    if !spec.stdin.is_empty() {
        *stdin_slot.lock().unwrap() = Some(master.try_clone().map_err(StdioError::DupMaster)?);
        spawn_stdin_copier(PathBuf::from(&spec.stdin), stdin_slot.clone());
    }
    let mut copiers = 0;
    if let Some(sink) = sink(&spec.stdout)? {
        copiers += 1;
        spawn_output_copier(master.try_clone().map_err(StdioError::DupMaster)?, sink, done);
    }
    Ok(ProcessIo {
        stdin: stdin_slot,
        console: Some(master),
        drained,
        copiers,
        stdin_fifo: (!spec.stdin.is_empty()).then(|| PathBuf::from(&spec.stdin)),
    })
}

impl ProcessIo {
    /// CloseIO: the process reads end-of-file on stdin.
    pub fn close_stdin(&self) {
        self.stdin.lock().unwrap().take();
    }

    pub fn resize(&self, rows: u16, cols: u16) -> io::Result<()> {
        use std::os::fd::AsFd;
        match &self.console {
            Some(master) => sys::set_window_size(master.as_fd(), sys::WindowSize { rows, cols }),
            None => Ok(()),
        }
    }

    /// Wait (at most `limit`) until every output stream has been copied out, so a client
    /// that reads the exit has all the output before it.
    pub fn wait_drained(&mut self, limit: Duration) {
        let deadline = Instant::now() + limit;
        while self.copiers > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if self.drained.recv_timeout(left).is_err() {
                return;
            }
            self.copiers -= 1;
        }
    }
}

impl Drop for ProcessIo {
    fn drop(&mut self) {
        self.close_stdin();
        // A stdin copier may still be blocked opening a fifo nobody ever wrote to: open it
        // as a writer for a moment so its open returns and it sees end-of-file.
        if let Some(fifo) = &self.stdin_fifo {
            let _ = OpenOptions::new().write(true).custom_flags(libc::O_NONBLOCK).open(fifo);
        }
    }
}

fn pipe() -> Result<(OwnedFd, OwnedFd), StdioError> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(StdioError::Pipe)
}

fn sink(uri: &str) -> Result<Option<Sink>, StdioError> {
    if uri.is_empty() {
        return Ok(None);
    }
    if let Some(path) = uri.strip_prefix("file://") {
        return Ok(Some(Sink::File(PathBuf::from(path))));
    }
    if uri.contains("://") {
        return Err(StdioError::Scheme { uri: uri.to_owned() });
    }
    Ok(Some(Sink::Fifo(PathBuf::from(uri))))
}

/// Copy the stdin fifo into the process until the client closes it or CloseIO comes.
fn spawn_stdin_copier(fifo: PathBuf, target: Arc<Mutex<Option<File>>>) {
    std::thread::spawn(move || {
        // Blocks until the client opens the fifo for writing.
        let Ok(mut source) = File::open(&fifo) else { return };
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            let n = match source.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let mut slot = target.lock().unwrap();
            let Some(writer) = slot.as_mut() else { break };
            if writer.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        target.lock().unwrap().take();
    });
}

/// Copy one output stream into its sink until every writer has closed it. If the sink goes
/// away (the client stopped reading), keep draining so the container never blocks.
fn spawn_output_copier(mut source: File, sink: Sink, done: Sender<()>) {
    std::thread::spawn(move || {
        let mut target = match &sink {
            Sink::Fifo(path) => OpenOptions::new().write(true).open(path).ok(),
            Sink::File(path) => {
                OpenOptions::new().append(true).create(true).mode(0o640).open(path).ok()
            }
        };
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            let n = match source.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // EIO from a pty master once the last slave closed.
                Err(_) => break,
            };
            if let Some(writer) = target.as_mut() {
                if writer.write_all(&buf[..n]).is_err() {
                    target = None;
                }
            }
        }
        drop(target);
        let _ = done.send(());
    });
}

/// Start a `binary://` logging binary (as containerd-shim-runc-v2 does): stdout and stderr
/// pipes at fds 3 and 4, and fd 5 a pipe it closes once it is ready to read.
fn start_logging_binary(
    uri: &str,
    rest: &str,
    namespace: &str,
    id: &str,
    stdout: OwnedFd,
    stderr: OwnedFd,
) -> Result<(), StdioError> {
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let binary = PathBuf::from(path);
    let failed = |source| StdioError::LoggingBinary { uri: uri.to_owned(), binary: binary.clone(), source };
    let mut command = Command::new(&binary);
    // The query's key=value pairs become `-key value` arguments, as in the Go shim.
    let args: HashMap<String, String> = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k.to_owned(), v.to_owned())
        })
        .collect();
    for (key, value) in &args {
        command.arg(key);
        if !value.is_empty() {
            command.arg(value);
        }
    }
    command.env("CONTAINER_ID", id).env("CONTAINER_NAMESPACE", namespace);
    command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    let (ready_read, ready_write) = pipe()?;
    sys::map_fds_on_exec(&mut command, vec![(stdout, 3), (stderr, 4), (ready_write, 5)]).map_err(failed)?;
    // Its exit is reaped by the shim's reaper; we only wait for the ready pipe.
    command.spawn().map_err(failed)?;
    drop(command);
    let mut ready = File::from(ready_read);
    // It closes fd 5 when ready (or by exiting); we read until end-of-file.
    match ready.read_to_end(&mut Vec::new()) {
        Ok(_) => Ok(()),
        Err(_) => Err(StdioError::LoggingBinaryNotReady { uri: uri.to_owned(), binary: Path::new(path).to_owned() }),
    }
}
