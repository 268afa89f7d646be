use super::Globals;
use berth_runtime::container;
use super::Error;
use berth_cgroups::update::{merge, resources_from_flags, resources_from_json, UpdateFlags};
use clap::Args;
use std::path::PathBuf;

/// `berth update`: change a live container's limits, with runc's flags or a resources file.
/// Values are parsed by berth-cgroups (sizes like 512m, -1 for unlimited), which names the
/// flag in its errors.
#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// linux.resources as JSON, from a file or "-" for stdin; flags override it.
    #[arg(short = 'r', long, value_name = "FILE")]
    pub resources: Option<PathBuf>,
    /// Block I/O weight (10-1000).
    #[arg(long)]
    pub blkio_weight: Option<String>,
    /// CPU CFS period in microseconds.
    #[arg(long)]
    pub cpu_period: Option<String>,
    /// CPU CFS quota in microseconds (-1: none).
    #[arg(long, allow_hyphen_values = true)]
    pub cpu_quota: Option<String>,
    /// CPU shares (relative weight).
    #[arg(long, visible_alias = "cpu-shares")]
    pub cpu_share: Option<String>,
    /// Realtime period in microseconds.
    #[arg(long)]
    pub cpu_rt_period: Option<String>,
    /// Realtime runtime in microseconds.
    #[arg(long, allow_hyphen_values = true)]
    pub cpu_rt_runtime: Option<String>,
    /// SCHED_IDLE for the cgroup (0 or 1).
    #[arg(long)]
    pub cpu_idle: Option<String>,
    /// CPUs the container may use (0-3, 0,1).
    #[arg(long)]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes the container may use.
    #[arg(long)]
    pub cpuset_mems: Option<String>,
    /// Memory limit (bytes, or with k/m/g; -1: none).
    #[arg(long, allow_hyphen_values = true)]
    pub memory: Option<String>,
    /// Memory soft limit.
    #[arg(long, allow_hyphen_values = true)]
    pub memory_reservation: Option<String>,
    /// Memory plus swap limit (-1: unlimited swap).
    #[arg(long, allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Maximum number of processes (-1 or 0: none).
    #[arg(long, allow_hyphen_values = true)]
    pub pids_limit: Option<String>,
    /// Container id.
    pub id: String,
}

impl UpdateArgs {
    pub fn run(&self, globals: &Globals) -> Result<i32, Error> {
        let flags = UpdateFlags {
            blkio_weight: self.blkio_weight.clone(),
            cpu_period: self.cpu_period.clone(),
            cpu_quota: self.cpu_quota.clone(),
            cpu_share: self.cpu_share.clone(),
            cpu_rt_period: self.cpu_rt_period.clone(),
            cpu_rt_runtime: self.cpu_rt_runtime.clone(),
            cpu_idle: self.cpu_idle.clone(),
            cpuset_cpus: self.cpuset_cpus.clone(),
            cpuset_mems: self.cpuset_mems.clone(),
            memory: self.memory.clone(),
            memory_reservation: self.memory_reservation.clone(),
            memory_swap: self.memory_swap.clone(),
            pids_limit: self.pids_limit.clone(),
        };
        let from_flags = resources_from_flags(&flags)?;
        let update = match &self.resources {
            None => from_flags,
            Some(path) => merge(&resources_from_json(&read_source(path)?, &path.display().to_string())?, &from_flags),
        };
        container::update(&globals.root, &self.id, &update)?;
        Ok(0)
    }
}

/// The -r document: a file, or stdin for "-".
fn read_source(path: &PathBuf) -> Result<String, Error> {
    let read = if path.as_os_str() == "-" { std::io::read_to_string(std::io::stdin()) } else { std::fs::read_to_string(path) };
    read.map_err(|source| Error::Read { path: path.clone(), source })
}
