use super::Globals;
use berth_runtime::container::{self, CreateOptions};
use super::Error;
use clap::Args;
use std::path::PathBuf;

/// `berth create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    #[command(flatten)]
    pub common: CreateFlags,
    /// Container id.
    pub id: String,
}

/// Flags shared by `create` and `run`.
#[derive(Debug, Args)]
pub struct CreateFlags {
    /// Bundle directory (holding config.json).
    #[arg(short = 'b', long, default_value = ".", value_name = "DIR")]
    pub bundle: PathBuf,
    /// Unix socket that receives the pty master when process.terminal is set.
    #[arg(long, value_name = "PATH")]
    pub console_socket: Option<PathBuf>,
    /// Write the init's host pid here.
    #[arg(long, value_name = "FILE")]
    pub pid_file: Option<PathBuf>,
    /// Use MS_MOVE and chroot instead of pivot_root (for ramfs roots).
    #[arg(long)]
    pub no_pivot: bool,
    /// Accepted for runc compatibility: berth never makes a session keyring.
    #[arg(long)]
    pub no_new_keyring: bool,
    /// Pass fds 3 .. 3+N through to the container's process.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub preserve_fds: i32,
}

impl CreateFlags {
    /// The library's options for container `id`.
    pub fn options(&self, id: &str, globals: &Globals) -> CreateOptions {
        CreateOptions {
            id: id.to_owned(),
            bundle: self.bundle.clone(),
            pid_file: self.pid_file.clone(),
            console_socket: self.console_socket.clone(),
            no_pivot: self.no_pivot,
            preserve_fds: self.preserve_fds,
            systemd_cgroup: globals.systemd_cgroup,
        }
    }
}

impl CreateArgs {
    pub fn run(&self, globals: &Globals) -> Result<i32, Error> {
        container::create(&globals.root, &self.common.options(&self.id, globals))?;
        Ok(0)
    }
}
