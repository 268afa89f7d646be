use std::path::{Path, PathBuf};

use berth_shim::container_log::Format;
use berth_shim::keeper::{self, Error, RunOptions};
use clap::{Args, ValueEnum};

/// `berth-shim run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The bundle directory (holds config.json and the rootfs).
    #[arg(short, long, default_value = ".", value_name = "DIR")]
    pub bundle: PathBuf,
    /// Return once the container has started; the keeper stays behind.
    #[arg(short, long)]
    pub detach: bool,
    /// Give the container a terminal (its config.json must set process.terminal).
    #[arg(short, long)]
    pub tty: bool,
    /// Keep the container's stdin open (and relay ours to it in the foreground).
    #[arg(short = 'i', long = "stdin")]
    pub stdin: bool,
    /// The log file [default: container.log in the state directory].
    #[arg(long, value_name = "PATH")]
    pub log: Option<PathBuf>,
    /// The log's format: CRI (kubelet's), JSON lines (Docker's json-file) or none.
    #[arg(long, value_enum, default_value_t = LogFormat::Cri)]
    pub log_format: LogFormat,
    /// Rotate the log before it grows past this size (bytes, or with k, m, g).
    #[arg(long, value_parser = parse_size, value_name = "SIZE")]
    pub log_max_size: Option<u64>,
    /// How many log files to keep with --log-max-size, the current one included.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..), value_name = "N", requires = "log_max_size")]
    pub log_max_files: Option<u32>,
    /// Write the exit code (128+N for signal N) here once the log is flushed.
    #[arg(long, value_name = "FILE")]
    pub exit_file: Option<PathBuf>,
    /// Write the container's init pid here.
    #[arg(long, value_name = "FILE")]
    pub pid_file: Option<PathBuf>,
    /// The runc-compatible runtime [default: berth next to berth-shim, else on PATH].
    #[arg(long, value_name = "PATH")]
    pub runtime: Option<PathBuf>,
    /// The runtime's --root.
    #[arg(long, value_name = "DIR")]
    pub runtime_root: Option<PathBuf>,
    /// Remove the container's state once it has ended (like `berth run`).
    #[arg(long)]
    pub rm: bool,
    /// Container id.
    pub id: String,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Cri,
    Json,
    None,
}

impl RunArgs {
    pub fn run(self, root: &Path) -> Result<i32, Error> {
        keeper::run(&RunOptions {
            id: self.id,
            bundle: self.bundle,
            root: root.to_owned(),
            detach: self.detach,
            tty: self.tty,
            stdin: self.stdin,
            log: self.log,
            log_format: match self.log_format {
                LogFormat::Cri => Some(Format::Cri),
                LogFormat::Json => Some(Format::Json),
                LogFormat::None => None,
            },
            log_max_size: self.log_max_size,
            log_max_files: self.log_max_files,
            exit_file: self.exit_file,
            pid_file: self.pid_file,
            runtime: self.runtime,
            runtime_root: self.runtime_root,
            remove: self.rm,
        })
    }
}

/// `10485760`, `100k`, `10m`, `1g` (powers of 1024).
fn parse_size(text: &str) -> Result<u64, String> {
    let lower = text.trim().to_ascii_lowercase();
    let lower = lower.strip_suffix('b').unwrap_or(&lower);
    let (digits, unit) = match lower.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((at, _)) => lower.split_at(at),
        None => (lower, ""),
    };
    let shift = match unit {
        "" => 0,
        "k" | "ki" => 10,
        "m" | "mi" => 20,
        "g" | "gi" => 30,
        _ => return Err(format!("{text:?}: unknown unit {unit:?} (use k, m or g)")),
    };
    let n: u64 = digits.parse().map_err(|_| format!("{text:?} is not a size"))?;
    match n.checked_shl(shift).filter(|&size| size >> shift == n && size > 0) {
        Some(size) => Ok(size),
        None => Err(format!("{text:?} must be above zero and fit in 64 bits")),
    }
}
