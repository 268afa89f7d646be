//! `--log` and `--log-format`: error and debug records where managers look for them.
//!
//! containerd reads the last JSON record of the --log file to learn why runc failed, so with
//! `--log-format json` each record is one line of {"level","msg","time"} as runc writes it.
//! The message also goes to stderr, plain, for people.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

/// Where log records go.
pub struct Log {
    file: Option<File>,
    json: bool,
    debug: bool,
}

/// The log file could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("open --log {path}: {source}")]
pub struct LogError {
    path: String,
    source: std::io::Error,
}

impl Log {
    /// Open (append to) the --log file, if one was given.
    pub fn open(path: Option<&Path>, json: bool, debug: bool) -> Result<Log, LogError> {
        let file = match path {
            None => None,
            Some(path) => Some(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|source| LogError { path: path.display().to_string(), source })?,
            ),
        };
        Ok(Log { file, json, debug })
    }

    /// A log that writes nowhere but stderr.
    pub fn stderr_only() -> Log {
        Log { file: None, json: false, debug: false }
    }

    /// Record an error: to the --log file in its format, and plainly to stderr.
    pub fn error(&mut self, message: &str) {
        self.record("error", message);
        let _ = writeln!(std::io::stderr(), "{message}");
    }

    /// Record a debug message when --debug is on.
    pub fn debug(&mut self, message: &str) {
        if self.debug {
            self.record("debug", message);
            if self.file.is_none() {
                let _ = writeln!(std::io::stderr(), "debug: {message}");
            }
        }
    }

    fn record(&mut self, level: &str, message: &str) {
        let Some(file) = &mut self.file else { return };
        let time = crate::state::rfc3339_now();
        // runc's records carry whole seconds.
        let time = format!("{}Z", &time[..19]);
        let line = if self.json {
            serde_json::json!({ "level": level, "msg": message, "time": time }).to_string()
        } else {
            format!("time={time:?} level={level} msg={message:?}")
        };
        let _ = writeln!(file, "{line}");
    }
}
