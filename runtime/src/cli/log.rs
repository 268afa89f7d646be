//! `--log`, `--log-format` and `--debug`: records where managers look for them.
//!
//! containerd reads the last JSON record of the --log file to learn why runc failed, so with
//! `--log-format json` each record is one line of {"level","msg","time"} as runc writes it.
//! The library reports warnings and debug records through the `log` facade; this is the
//! binary's backend for it. Without --log, records go to stderr, as runc's do; a fatal error
//! goes to the file and, plainly, to stderr.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

// Messages quote config values, paths and ids as they came: a control character or newline
// in one must not split the line or reach a terminal raw (the JSON and text records escape
// them themselves).
use berth_runtime::quote::escape_controls;

/// Where log records go.
pub struct Log {
    file: Option<Mutex<File>>,
    json: bool,
    level: log::LevelFilter,
}

/// The log file could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("open --log {path}: {source}")]
pub struct LogError {
    path: String,
    source: std::io::Error,
}

impl Log {
    /// Open (append to) the --log file, if one was given; `debug` also keeps debug records.
    pub fn open(path: Option<&Path>, json: bool, debug: bool) -> Result<Log, LogError> {
        let file = match path {
            None => None,
            Some(path) => Some(Mutex::new(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|source| LogError { path: path.display().to_string(), source })?,
            )),
        };
        let level = if debug { log::LevelFilter::Debug } else { log::LevelFilter::Warn };
        Ok(Log { file, json, level })
    }

    /// A log that writes nowhere but stderr.
    pub fn stderr_only() -> Log {
        Log { file: None, json: false, level: log::LevelFilter::Warn }
    }

    /// Make this the backend of the `log` facade for the rest of the process.
    pub fn install(self) -> &'static Log {
        let log: &'static Log = Box::leak(Box::new(self));
        // Only fails if a logger is installed already, which main does once.
        let _ = log::set_logger(log);
        log::set_max_level(log.level);
        log
    }

    /// Record the error that ends the command: to the --log file in its format, and plainly
    /// to stderr.
    pub fn fatal(&self, message: &str) {
        if self.file.is_some() {
            self.record(log::Level::Error, message);
        }
        let _ = writeln!(std::io::stderr(), "{}", escape_controls(message));
    }

    fn record(&self, level: log::Level, message: &str) {
        // logrus's names, which runc's records carry.
        let level = match level {
            log::Level::Error => "error",
            log::Level::Warn => "warning",
            log::Level::Info => "info",
            log::Level::Debug => "debug",
            log::Level::Trace => "trace",
        };
        let Some(file) = &self.file else {
            let _ = writeln!(std::io::stderr(), "{level}: {}", escape_controls(message));
            return;
        };
        let time = berth_runtime::state::rfc3339_now();
        // runc's records carry whole seconds.
        let time = format!("{}Z", &time[..19]);
        let line = if self.json {
            serde_json::json!({ "level": level, "msg": message, "time": time }).to_string()
        } else {
            format!("time={time:?} level={level} msg={message:?}")
        };
        let mut file = file.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let _ = writeln!(file, "{line}");
    }
}

impl log::Log for Log {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= self.level
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            self.record(record.level(), &record.args().to_string());
        }
    }

    fn flush(&self) {}
}
