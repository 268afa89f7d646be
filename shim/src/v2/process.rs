//! The state machine of one process of a task (the container's init or an exec), apart from
//! how it is run: created -> running <-> paused -> stopped, with its exit code and time.

use super::stdio::{ProcessIo, StdioSpec};
use containerd_shim::protos::protobuf::well_known_types::timestamp::Timestamp;
use containerd_shim::protos::protobuf::MessageField;
use containerd_shim::protos::types::task::Status as TaskStatus;
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    pub fn as_task_status(self) -> TaskStatus {
        match self {
            Status::Created => TaskStatus::CREATED,
            Status::Running => TaskStatus::RUNNING,
            Status::Paused => TaskStatus::PAUSED,
            Status::Stopped => TaskStatus::STOPPED,
        }
    }
}

/// How a process ended: its code (128+N for signal N) and when the shim reaped it.
#[derive(Debug, Clone, Copy)]
pub struct Exit {
    pub code: u32,
    pub at: SystemTime,
}

impl Exit {
    pub fn timestamp(&self) -> MessageField<Timestamp> {
        let since = self.at.duration_since(UNIX_EPOCH).unwrap_or_default();
        MessageField::some(Timestamp {
            seconds: since.as_secs() as i64,
            nanos: since.subsec_nanos() as i32,
            ..Default::default()
        })
    }
}

pub struct Process {
    /// Empty for the container's init.
    pub exec_id: String,
    pub pid: u32,
    pub status: Status,
    pub exit: Option<Exit>,
    pub stdio: StdioSpec,
    pub io: Option<ProcessIo>,
    /// The OCI process (JSON) of an exec, until it is started.
    pub spec: Option<Vec<u8>>,
}

impl Process {
    pub fn new(exec_id: &str, stdio: StdioSpec, spec: Option<Vec<u8>>) -> Process {
        Process { exec_id: exec_id.to_owned(), pid: 0, status: Status::Created, exit: None, stdio, io: None, spec }
    }

    /// Record the exit the reaper reported.
    pub fn set_exited(&mut self, exit: Exit) {
        self.status = Status::Stopped;
        self.exit = Some(exit);
    }

    /// Exit code and time for State, Wait and Delete (zero while it runs).
    pub fn exit_fields(&self) -> (u32, MessageField<Timestamp>) {
        match &self.exit {
            Some(exit) => (exit.code, exit.timestamp()),
            None => (0, MessageField::none()),
        }
    }
}
