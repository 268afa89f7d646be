use super::Globals;
use crate::container;
use crate::error::Error;
use clap::Args;
use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxPids, LinuxResources};
use std::path::PathBuf;

/// `berth update`: change a live container's limits, with runc's flags or a resources file.
#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// linux.resources as JSON, from a file or "-" for stdin; flags override it.
    #[arg(short = 'r', long, value_name = "FILE")]
    pub resources: Option<PathBuf>,
    /// Block I/O weight (10-1000).
    #[arg(long)]
    pub blkio_weight: Option<u16>,
    /// CPU CFS period in microseconds.
    #[arg(long)]
    pub cpu_period: Option<u64>,
    /// CPU CFS quota in microseconds (-1: none).
    #[arg(long, allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// CPU shares (relative weight).
    #[arg(long, visible_alias = "cpu-shares")]
    pub cpu_share: Option<u64>,
    /// Realtime period in microseconds.
    #[arg(long)]
    pub cpu_rt_period: Option<u64>,
    /// Realtime runtime in microseconds.
    #[arg(long, allow_hyphen_values = true)]
    pub cpu_rt_runtime: Option<i64>,
    /// CPUs the container may use (0-3, 0,1).
    #[arg(long)]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes the container may use.
    #[arg(long)]
    pub cpuset_mems: Option<String>,
    /// Memory limit (bytes, or with k/m/g; -1: none).
    #[arg(long, value_parser = parse_bytes, allow_hyphen_values = true)]
    pub memory: Option<i64>,
    /// Memory soft limit.
    #[arg(long, value_parser = parse_bytes, allow_hyphen_values = true)]
    pub memory_reservation: Option<i64>,
    /// Memory plus swap limit (-1: unlimited swap).
    #[arg(long, value_parser = parse_bytes, allow_hyphen_values = true)]
    pub memory_swap: Option<i64>,
    /// Maximum number of processes (-1 or 0: none).
    #[arg(long, allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Container id.
    pub id: String,
}

impl UpdateArgs {
    pub fn run(&self, globals: &Globals) -> Result<i32, Error> {
        let resources = self.resources()?;
        container::update(&globals.root, &self.id, &resources)?;
        Ok(0)
    }

    /// The resources file (if any) with every given flag laid over it.
    fn resources(&self) -> Result<LinuxResources, Error> {
        let mut r = match &self.resources {
            None => LinuxResources::default(),
            Some(path) => read_resources(path)?,
        };
        // Start from nothing, not oci-spec's defaults: only what was asked is written.
        if self.resources.is_none() {
            r.set_devices(None);
        }
        let mut memory = (*r.memory()).unwrap_or_default();
        let mut cpu = r.cpu().clone().unwrap_or_default();
        let mut blkio = r.block_io().clone().unwrap_or_default();
        set(&mut memory, self.memory, LinuxMemory::set_limit);
        set(&mut memory, self.memory_reservation, LinuxMemory::set_reservation);
        set(&mut memory, self.memory_swap, LinuxMemory::set_swap);
        set(&mut cpu, self.cpu_share, LinuxCpu::set_shares);
        set(&mut cpu, self.cpu_quota, LinuxCpu::set_quota);
        set(&mut cpu, self.cpu_period, LinuxCpu::set_period);
        set(&mut cpu, self.cpu_rt_runtime, LinuxCpu::set_realtime_runtime);
        set(&mut cpu, self.cpu_rt_period, LinuxCpu::set_realtime_period);
        set(&mut cpu, self.cpuset_cpus.clone(), LinuxCpu::set_cpus);
        set(&mut cpu, self.cpuset_mems.clone(), LinuxCpu::set_mems);
        set(&mut blkio, self.blkio_weight, LinuxBlockIo::set_weight);
        if memory != LinuxMemory::default() {
            r.set_memory(Some(memory));
        }
        if cpu != LinuxCpu::default() {
            r.set_cpu(Some(cpu));
        }
        if blkio != LinuxBlockIo::default() {
            r.set_block_io(Some(blkio));
        }
        if let Some(limit) = self.pids_limit {
            let mut pids = LinuxPids::default();
            pids.set_limit(limit);
            r.set_pids(Some(pids));
        }
        Ok(r)
    }
}

/// Lay a flag's value over a field when the flag was given.
fn set<S, T>(target: &mut S, value: Option<T>, setter: impl FnOnce(&mut S, Option<T>) -> &mut S) {
    if value.is_some() {
        setter(target, value);
    }
}

fn read_resources(path: &PathBuf) -> Result<LinuxResources, Error> {
    let text = if path.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(path)
    }
    .map_err(|source| Error::Read { path: path.clone(), source })?;
    let mut de = serde_json::Deserializer::from_str(&text);
    serde_path_to_error::deserialize(&mut de).map_err(|e| Error::BadJson {
        path: path.clone(),
        field: e.path().to_string(),
        message: e.into_inner().to_string(),
    })
}

/// Bytes as runc's flags take them: a number with an optional k, m, g, t suffix (binary,
/// case-insensitive, an optional trailing "b"), or -1 for no limit.
fn parse_bytes(text: &str) -> Result<i64, String> {
    if text == "-1" {
        return Ok(-1);
    }
    let lower = text.to_ascii_lowercase();
    let trimmed = lower.strip_suffix('b').unwrap_or(&lower);
    let (digits, shift) = match trimmed.chars().last() {
        Some('k') => (&trimmed[..trimmed.len() - 1], 10),
        Some('m') => (&trimmed[..trimmed.len() - 1], 20),
        Some('g') => (&trimmed[..trimmed.len() - 1], 30),
        Some('t') => (&trimmed[..trimmed.len() - 1], 40),
        _ => (trimmed, 0),
    };
    let value: i64 = digits.trim().parse().map_err(|_| format!("{text:?} is not a size like 512m or 1g"))?;
    value.checked_mul(1 << shift).filter(|v| *v >= 0).ok_or_else(|| format!("{text:?} is out of range"))
}

#[cfg(test)]
mod tests {
    use super::parse_bytes;

    #[test]
    fn sizes_parse_like_runc_flags() {
        assert_eq!(parse_bytes("1024"), Ok(1024));
        assert_eq!(parse_bytes("10m"), Ok(10 << 20));
        assert_eq!(parse_bytes("2G"), Ok(2 << 30));
        assert_eq!(parse_bytes("512kb"), Ok(512 << 10));
        assert_eq!(parse_bytes("-1"), Ok(-1));
        assert!(parse_bytes("ten").is_err());
        assert!(parse_bytes("-5").is_err());
    }
}
