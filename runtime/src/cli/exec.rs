use super::Globals;
use berth_runtime::container::{self, CommandOverrides, ExecOptions, ExecProcess};
use super::Error;
use clap::Args;
use std::path::PathBuf;

/// `berth exec`: run a process in a running container.
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// An OCI process object (JSON) to run instead of the command line.
    #[arg(short = 'p', long, value_name = "FILE")]
    pub process: Option<PathBuf>,
    /// Unix socket that receives the pty master with --tty.
    #[arg(long, value_name = "PATH")]
    pub console_socket: Option<PathBuf>,
    /// Write the process's host pid here.
    #[arg(long, value_name = "FILE")]
    pub pid_file: Option<PathBuf>,
    /// Return once the process runs instead of waiting for it.
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Give the process a terminal.
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Working directory inside the container.
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// Add or replace an environment variable (NAME=value).
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// uid[:gid] to run as.
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Supplementary group ids.
    #[arg(short = 'g', long = "additional-gids", value_delimiter = ',')]
    pub additional_gids: Vec<u32>,
    /// Add a capability to every set (CAP_NET_ADMIN).
    #[arg(short = 'c', long = "cap")]
    pub caps: Vec<String>,
    /// Set no_new_privs for the process.
    #[arg(long)]
    pub no_new_privs: bool,
    /// Put the process in this sub-cgroup of the container's (`path`, or on v1
    /// `controller[,controller]:path`); it must exist.
    #[arg(long = "cgroup", value_name = "SPEC")]
    pub cgroup: Option<String>,
    /// Exec even if the container is paused (the process starts frozen until resume).
    #[arg(long)]
    pub ignore_paused: bool,
    /// Pass fds 3 .. 3+N through to the process.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub preserve_fds: i32,
    /// Container id.
    pub id: String,
    /// The command and its arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

impl ExecArgs {
    pub fn run(&self, globals: &Globals) -> Result<i32, Error> {
        let process = match &self.process {
            Some(path) => ExecProcess::Spec(Box::new(read_process(path)?)),
            None => {
                let (uid, gid) = parse_user(self.user.as_deref())?;
                ExecProcess::Command(CommandOverrides {
                    args: self.command.clone(),
                    env: self.env.clone(),
                    cwd: self.cwd.clone(),
                    uid,
                    gid,
                    additional_gids: self.additional_gids.clone(),
                    terminal: self.tty,
                    no_new_privileges: self.no_new_privs,
                    caps: self.caps.clone(),
                })
            }
        };
        let options = ExecOptions {
            process,
            detach: self.detach,
            pid_file: self.pid_file.clone(),
            console_socket: self.console_socket.clone(),
            preserve_fds: self.preserve_fds,
            sub_cgroup: self.cgroup.clone(),
            ignore_paused: self.ignore_paused,
        };
        Ok(container::exec(&globals.root, &self.id, options)?)
    }
}

fn read_process(path: &PathBuf) -> Result<oci_spec::runtime::Process, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read { path: path.clone(), source })?;
    let bad_json = |e: serde_path_to_error::Error<serde_json::Error>| Error::BadJson {
        path: path.clone(),
        field: e.path().to_string(),
        message: e.into_inner().to_string(),
    };
    let mut de = serde_json::Deserializer::from_str(&text);
    let mut value: serde_json::Value = serde_path_to_error::deserialize(&mut de).map_err(bad_json)?;
    // runc runs a process without "user" as uid 0, gid 0; the OCI type requires the field.
    if let Some(object) = value.as_object_mut() {
        object.entry("user").or_insert_with(|| serde_json::json!({ "uid": 0, "gid": 0 }));
    }
    serde_path_to_error::deserialize(value).map_err(bad_json)
}

/// "uid" or "uid:gid", numeric as runc takes them.
fn parse_user(user: Option<&str>) -> Result<(Option<u32>, Option<u32>), Error> {
    let Some(user) = user else { return Ok((None, None)) };
    let bad = || Error::BadFlag { flag: "--user", value: user.to_owned(), expected: "uid or uid:gid (numbers)" };
    let (uid, gid) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let uid = uid.parse().map_err(|_| bad())?;
    let gid = gid.map(|g| g.parse().map_err(|_| bad())).transpose()?;
    Ok((Some(uid), gid))
}
