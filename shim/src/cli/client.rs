use std::path::Path;

use berth_shim::keeper::client::{self, AttachOptions, Detached};
use berth_shim::keeper::logs::{self, LogsOptions};
use berth_shim::keeper::Error;
use clap::Args;
use nix::sys::signal::Signal;

#[derive(Debug, Args)]
pub struct IdArgs {
    /// Container id.
    pub id: String,
}

/// `ps`.
#[derive(Debug, Args)]
pub struct PsArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

impl PsArgs {
    pub fn run(self, root: &Path) -> Result<i32, Error> {
        let entries = client::ps(root)?;
        if self.json {
            println!("{}", serde_json::to_string_pretty(&entries).expect("entries serialise"));
            return Ok(0);
        }
        println!("{:<24} {:<10} {:>4} {:>8}  BUNDLE", "ID", "STATUS", "EXIT", "PID");
        for entry in entries {
            let dash = || "-".to_owned();
            println!(
                "{:<24} {:<10} {:>4} {:>8}  {}",
                entry.id,
                entry.status,
                entry.exit_code.map_or_else(dash, |c| c.to_string()),
                entry.pid.map_or_else(dash, |p| p.to_string()),
                entry.bundle.map_or_else(dash, |b| b.display().to_string()),
            );
        }
        Ok(0)
    }
}

/// `logs`.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Keep printing new output until the container ends.
    #[arg(short, long)]
    pub follow: bool,
    /// Only lines since this time (RFC 3339) or this long ago (90s, 10m, 2h).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only the last N lines.
    #[arg(short = 'n', long, value_name = "N")]
    pub tail: Option<usize>,
    /// Container id.
    pub id: String,
}

impl LogsArgs {
    pub fn run(self, root: &Path) -> Result<i32, Error> {
        let since = self.since.as_deref().map(logs::parse_since).transpose()?;
        logs::logs(root, &self.id, &LogsOptions { follow: self.follow, since, tail: self.tail })?;
        Ok(0)
    }
}

/// `attach`.
#[derive(Debug, Args)]
pub struct AttachArgs {
    /// Do not send our stdin to the container.
    #[arg(long)]
    pub no_stdin: bool,
    /// The keys that detach, Docker's notation ("" for none).
    #[arg(long, default_value = "ctrl-p,ctrl-q", value_parser = parse_detach_keys, value_name = "KEYS")]
    pub detach_keys: DetachKeys,
    /// Container id.
    pub id: String,
}

impl AttachArgs {
    pub fn run(self, root: &Path) -> Result<i32, Error> {
        let options = AttachOptions { stdin: !self.no_stdin, detach_keys: self.detach_keys.0 };
        Ok(match client::attach(root, &self.id, &options)? {
            Detached::Exited(code) => code,
            Detached::ByKeys => 0,
        })
    }
}

/// The detach key sequence as bytes (one clap value, not a list of them).
#[derive(Debug, Clone)]
pub struct DetachKeys(Vec<u8>);

fn parse_detach_keys(text: &str) -> Result<DetachKeys, String> {
    client::parse_detach_keys(text).map(DetachKeys)
}

/// `kill`.
#[derive(Debug, Args)]
pub struct KillArgs {
    /// Container id.
    pub id: String,
    /// Signal name (TERM, SIGKILL) or number.
    #[arg(default_value = "TERM", value_parser = parse_signal)]
    pub signal: Signal,
}

impl KillArgs {
    pub fn run(self, root: &Path) -> Result<i32, Error> {
        client::kill(root, &self.id, self.signal)?;
        Ok(0)
    }
}

/// `rm`.
#[derive(Debug, Args)]
pub struct RmArgs {
    /// Kill the container first if it is still running.
    #[arg(short, long)]
    pub force: bool,
    /// Container id.
    pub id: String,
}

impl RmArgs {
    pub fn run(self, root: &Path) -> Result<i32, Error> {
        client::rm(root, &self.id, self.force)?;
        Ok(0)
    }
}

pub fn wait(root: &Path, id: &str) -> Result<i32, Error> {
    println!("{}", client::wait(root, id)?);
    Ok(0)
}

fn parse_signal(text: &str) -> Result<Signal, String> {
    if let Ok(number) = text.parse::<i32>() {
        return Signal::try_from(number).map_err(|_| format!("{number} is not a signal number"));
    }
    let upper = text.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") { upper } else { format!("SIG{upper}") };
    name.parse().map_err(|_| format!("{text:?} is not a signal name"))
}
