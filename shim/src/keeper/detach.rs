//! Leaving the caller behind: the keeper of a detached container is a grandchild in a session
//! of its own, with /dev/null as stdio, so neither the caller's exit nor its terminal's hangup
//! reaches it. The caller waits on a pipe for the keeper's report (started, or why not).

use std::io::{Read, Write};
use std::os::fd::OwnedFd;

use nix::fcntl::OFlag;
use nix::sys::wait::waitpid;
use nix::unistd::{pipe2, setsid, Pid};

use super::error::Error;
use crate::sys::{self, Forked};

/// Which process we are after [`detach`].
pub enum Side {
    /// The caller: the keeper's report, once it has one (Ok: the container started).
    Caller(Result<(), String>),
    /// The keeper, with the pipe to report on.
    Keeper(Report),
}

/// The keeper's end of the report pipe.
pub struct Report(OwnedFd);

impl Report {
    /// Tells the caller the container started (or why it did not) and lets it go.
    pub fn send(self, outcome: Result<(), &Error>) {
        let text = match outcome {
            Ok(()) => "ok".to_owned(),
            Err(e) => format!("error {e}"),
        };
        // A caller killed meanwhile no longer listens; nothing to do then.
        let _ = std::fs::File::from(self.0).write_all(text.as_bytes());
    }
}

/// Forks the keeper off (double fork and setsid). Call it single-threaded.
pub fn detach() -> Result<Side, Error> {
    let (read, write) = pipe2(OFlag::O_CLOEXEC).map_err(Error::sys("pipe2"))?;
    match sys::fork_single_threaded().map_err(|e| Error::Sys { op: "fork", source: errno(e) })? {
        Forked::Parent(child) => {
            drop(write);
            // The middle process exits at once; reap it so it is no zombie of ours.
            let _ = waitpid(Pid::from_raw(child), None);
            let mut text = String::new();
            let _ = std::fs::File::from(read).read_to_string(&mut text);
            Ok(Side::Caller(match text.strip_prefix("error ") {
                _ if text == "ok" => Ok(()),
                Some(message) => Err(message.to_owned()),
                None => Err("the keeper ended before the container started".to_owned()),
            }))
        }
        Forked::Child => {
            drop(read);
            // A session of its own: no controlling terminal, no job-control signals.
            let _ = setsid();
            match sys::fork_single_threaded() {
                Ok(Forked::Child) => {}
                // The middle process: its exit makes the keeper an orphan of the caller's.
                _ => sys::exit_immediately(0),
            }
            to_dev_null();
            let _ = std::env::set_current_dir("/");
            Ok(Side::Keeper(Report(write)))
        }
    }
}

/// Points stdin, stdout and stderr at /dev/null.
fn to_dev_null() {
    if let Ok(null) = std::fs::OpenOptions::new().read(true).write(true).open("/dev/null") {
        let _ = nix::unistd::dup2_stdin(&null);
        let _ = nix::unistd::dup2_stdout(&null);
        let _ = nix::unistd::dup2_stderr(&null);
    }
}

fn errno(e: std::io::Error) -> nix::Error {
    nix::Error::from_raw(e.raw_os_error().unwrap_or(0))
}
