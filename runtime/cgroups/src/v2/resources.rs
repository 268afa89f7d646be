//! linux.resources on cgroup v2: each field to its interface file, fields v2 has no
//! equivalent for are errors naming the field.

use std::os::fd::AsFd;
use std::path::Path;

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxResources};

use super::V2Manager;
use crate::convert;
use crate::devices::{ebpf, DeviceRules};
use crate::error::{Error, Result};
use crate::files;
use crate::sys;
use crate::Manager;

/// The controllers enabled for a cgroup (its cgroup.controllers).
struct Controllers {
    list: String,
    dir: std::path::PathBuf,
}

impl Controllers {
    fn read(dir: &Path) -> Result<Controllers> {
        Ok(Controllers {
            list: files::read(dir, "cgroup.controllers")?,
            dir: dir.to_owned(),
        })
    }

    /// Ok if `controller` is enabled, else an error naming `field`.
    fn require(&self, controller: &'static str, field: &'static str) -> Result<()> {
        if self.list.split_whitespace().any(|c| c == controller) {
            Ok(())
        } else {
            Err(Error::MissingController {
                field,
                controller,
                detail: format!(
                    "{} lists {:?}; the parent's cgroup.subtree_control must enable it",
                    self.dir.join("cgroup.controllers").display(),
                    self.list
                ),
            })
        }
    }
}

fn unsupported(field: &'static str, reason: &'static str) -> Error {
    Error::Unsupported {
        field,
        version: "v2",
        reason,
    }
}

/// Apply every field of `r` that is set.
pub(super) fn apply(m: &V2Manager, r: &LinuxResources) -> Result<()> {
    let dir = m.dir();
    let controllers = Controllers::read(dir)?;
    if let Some(memory) = r.memory() {
        apply_memory(dir, &controllers, memory)?;
    }
    if let Some(cpu) = r.cpu() {
        apply_cpu(dir, &controllers, cpu)?;
    }
    if let Some(pids) = r.pids() {
        controllers.require("pids", "linux.resources.pids.limit")?;
        files::write(dir, "pids.max", &convert::pids_max(pids.limit()), "linux.resources.pids.limit")?;
    }
    if let Some(io) = r.block_io() {
        apply_io(dir, &controllers, io)?;
    }
    for limit in r.hugepage_limits().iter().flatten() {
        controllers.require("hugetlb", "linux.resources.hugepageLimits")?;
        convert::check_page_size(limit.page_size())?;
        let value = convert::v2_limit(limit.limit());
        files::write(dir, &format!("hugetlb.{}.max", limit.page_size()), &value, "linux.resources.hugepageLimits")?;
        // Reservations are limited too, where the kernel accounts them, as runc does.
        let rsvd = format!("hugetlb.{}.rsvd.max", limit.page_size());
        if files::exists(dir, &rsvd) {
            files::write(dir, &rsvd, &value, "linux.resources.hugepageLimits")?;
        }
    }
    if let Some(network) = r.network() {
        if network.class_id().is_some() {
            return Err(unsupported("linux.resources.network.classID", "net_cls exists only on v1; use an eBPF or tc classifier"));
        }
        if network.priorities().as_ref().is_some_and(|p| !p.is_empty()) {
            return Err(unsupported("linux.resources.network.priorities", "net_prio exists only on v1"));
        }
    }
    for (device, limit) in r.rdma().iter().flatten() {
        controllers.require("rdma", "linux.resources.rdma")?;
        let value = convert::rdma_line(device, limit)?;
        files::write(dir, "rdma.max", &value, "linux.resources.rdma")?;
    }
    for (key, value) in r.unified().iter().flatten() {
        apply_unified(dir, &controllers, key, value)?;
    }
    if let Some(rules) = r.devices() {
        apply_devices(m, &DeviceRules::fold(rules)?)?;
    }
    Ok(())
}

fn apply_memory(dir: &Path, controllers: &Controllers, memory: &LinuxMemory) -> Result<()> {
    let any = memory.limit().is_some() || memory.reservation().is_some() || memory.swap().is_some();
    if any {
        controllers.require("memory", "linux.resources.memory")?;
    }
    if memory.kernel().is_some() {
        return Err(unsupported("linux.resources.memory.kernel", "kernel memory is accounted with the rest"));
    }
    if memory.kernel_tcp().is_some() {
        return Err(unsupported("linux.resources.memory.kernelTCP", "kernel memory is accounted with the rest"));
    }
    if memory.swappiness().is_some() {
        return Err(unsupported("linux.resources.memory.swappiness", "there is no per-cgroup swappiness"));
    }
    if memory.disable_oom_killer() == Some(true) {
        return Err(unsupported("linux.resources.memory.disableOOMKiller", "the OOM killer cannot be disabled per cgroup"));
    }
    if let Some(limit) = memory.limit() {
        if memory.check_before_update() == Some(true) && limit > 0 {
            let usage = files::read_u64(dir, "memory.current")?;
            if usage > limit as u64 {
                return Err(Error::InvalidValue {
                    field: "linux.resources.memory.limit".into(),
                    reason: format!("{limit} is below the current usage {usage} (checkBeforeUpdate)"),
                });
            }
        }
    }
    // Swap first: memory.swap.max is independent of memory.max on v2, so order does not matter.
    if let Some(swap) = convert::swap_to_v2(memory.swap(), memory.limit())? {
        if !files::exists(dir, "memory.swap.max") {
            return Err(Error::MissingController {
                field: "linux.resources.memory.swap",
                controller: "memory",
                detail: format!("{} is missing: the kernel has no swap accounting", dir.join("memory.swap.max").display()),
            });
        }
        files::write(dir, "memory.swap.max", &swap, "linux.resources.memory.swap")?;
    }
    if let Some(limit) = memory.limit() {
        files::write(dir, "memory.max", &convert::v2_limit(limit), "linux.resources.memory.limit")?;
    }
    if let Some(reservation) = memory.reservation() {
        files::write(dir, "memory.low", &convert::v2_limit(reservation), "linux.resources.memory.reservation")?;
    }
    Ok(())
}

fn apply_cpu(dir: &Path, controllers: &Controllers, cpu: &LinuxCpu) -> Result<()> {
    if cpu.realtime_runtime().is_some_and(|v| v != 0) {
        return Err(unsupported("linux.resources.cpu.realtimeRuntime", "realtime group scheduling is v1 only"));
    }
    if cpu.realtime_period().is_some_and(|v| v != 0) {
        return Err(unsupported("linux.resources.cpu.realtimePeriod", "realtime group scheduling is v1 only"));
    }
    if let Some(shares) = cpu.shares().filter(|s| *s != 0) {
        controllers.require("cpu", "linux.resources.cpu.shares")?;
        if !(2..=262_144).contains(&shares) {
            return Err(Error::InvalidValue {
                field: "linux.resources.cpu.shares".into(),
                reason: format!("{shares} is outside 2 to 262144"),
            });
        }
        let weight = convert::shares_to_weight(shares);
        files::write(dir, "cpu.weight", &weight.to_string(), "linux.resources.cpu.shares")?;
    }
    let quota = cpu.quota().filter(|q| *q != 0);
    let period = cpu.period().filter(|p| *p != 0);
    if quota.is_some() || period.is_some() {
        controllers.require("cpu", "linux.resources.cpu.quota")?;
        let mut value = match quota {
            Some(q) if q > 0 => q.to_string(),
            _ => "max".into(),
        };
        if let Some(p) = period {
            value.push_str(&format!(" {p}"));
        }
        files::write(dir, "cpu.max", &value, "linux.resources.cpu.quota/period")?;
    }
    if let Some(burst) = cpu.burst() {
        controllers.require("cpu", "linux.resources.cpu.burst")?;
        files::write(dir, "cpu.max.burst", &burst.to_string(), "linux.resources.cpu.burst")?;
    }
    if let Some(idle) = cpu.idle() {
        controllers.require("cpu", "linux.resources.cpu.idle")?;
        files::write(dir, "cpu.idle", &idle.to_string(), "linux.resources.cpu.idle")?;
    }
    if let Some(cpus) = cpu.cpus().as_deref().filter(|c| !c.is_empty()) {
        controllers.require("cpuset", "linux.resources.cpu.cpus")?;
        files::write(dir, "cpuset.cpus", cpus, "linux.resources.cpu.cpus")?;
    }
    if let Some(mems) = cpu.mems().as_deref().filter(|m| !m.is_empty()) {
        controllers.require("cpuset", "linux.resources.cpu.mems")?;
        files::write(dir, "cpuset.mems", mems, "linux.resources.cpu.mems")?;
    }
    Ok(())
}

fn apply_io(dir: &Path, controllers: &Controllers, io: &LinuxBlockIo) -> Result<()> {
    // BFQ takes the v1 weight as is; otherwise io.weight takes the converted value.
    let bfq = files::exists(dir, "io.bfq.weight");
    if let Some(weight) = io.weight().filter(|w| *w != 0) {
        controllers.require("io", "linux.resources.blockIO.weight")?;
        if bfq {
            files::write(dir, "io.bfq.weight", &weight.to_string(), "linux.resources.blockIO.weight")?;
        } else {
            let value = format!("default {}", convert::blkio_weight_to_io_weight(weight));
            files::write(dir, "io.weight", &value, "linux.resources.blockIO.weight")?;
        }
    }
    if io.leaf_weight().is_some() {
        return Err(unsupported("linux.resources.blockIO.leafWeight", "v2 has no leaf weights"));
    }
    for device in io.weight_device().iter().flatten() {
        if device.leaf_weight().is_some() {
            return Err(unsupported("linux.resources.blockIO.weightDevice[].leafWeight", "v2 has no leaf weights"));
        }
        let Some(weight) = device.weight() else { continue };
        controllers.require("io", "linux.resources.blockIO.weightDevice")?;
        let (file, value) = if bfq {
            ("io.bfq.weight", u64::from(weight))
        } else {
            ("io.weight", convert::blkio_weight_to_io_weight(weight))
        };
        let line = format!("{}:{} {value}", device.major(), device.minor());
        files::write(dir, file, &line, "linux.resources.blockIO.weightDevice")?;
    }
    let throttles = [
        (io.throttle_read_bps_device(), "rbps", "linux.resources.blockIO.throttleReadBpsDevice"),
        (io.throttle_write_bps_device(), "wbps", "linux.resources.blockIO.throttleWriteBpsDevice"),
        (io.throttle_read_iops_device(), "riops", "linux.resources.blockIO.throttleReadIOPSDevice"),
        (io.throttle_write_iops_device(), "wiops", "linux.resources.blockIO.throttleWriteIOPSDevice"),
    ];
    for (devices, key, field) in throttles {
        for device in devices.iter().flatten() {
            controllers.require("io", field)?;
            let rate = if device.rate() == 0 { "max".to_string() } else { device.rate().to_string() };
            let line = format!("{}:{} {key}={rate}", device.major(), device.minor());
            files::write(dir, "io.max", &line, field)?;
        }
    }
    Ok(())
}

/// cgroup.* files a unified key may set; the others (procs, threads, subtree_control, kill,
/// type, freeze) change membership or state and belong to the runtime.
const UNIFIED_CGROUP_FILES: [&str; 2] = ["cgroup.max.depth", "cgroup.max.descendants"];

/// Validate a linux.resources.unified key so it can only name an interface file of this
/// cgroup, then write it.
fn apply_unified(dir: &Path, controllers: &Controllers, key: &str, value: &str) -> Result<()> {
    let bad = |reason| Error::BadUnifiedKey {
        key: key.to_owned(),
        reason,
    };
    if key.is_empty() || key.contains('/') || key.contains('\0') || key == "." || key == ".." {
        return Err(bad("must be a file name of the cgroup directory, without '/'"));
    }
    let Some((controller, rest)) = key.split_once('.') else {
        return Err(bad("must have the form <controller>.<file>"));
    };
    if rest.is_empty() {
        return Err(bad("must have the form <controller>.<file>"));
    }
    if controller == "cgroup" {
        if !UNIFIED_CGROUP_FILES.contains(&key) {
            return Err(bad("only cgroup.max.depth and cgroup.max.descendants may be set among the cgroup.* files"));
        }
    } else if !controllers.list.split_whitespace().any(|c| c == controller) {
        return Err(Error::MissingController {
            field: "linux.resources.unified",
            controller: "named by the key",
            detail: format!("key {key:?}: controller {controller:?} is not in {:?}", controllers.list),
        });
    }
    if !files::exists(dir, key) {
        return Err(bad("the cgroup has no such interface file"));
    }
    files::write(dir, key, value, "linux.resources.unified")
}

/// Load the device program and attach it, then detach the programs it replaces (attaching
/// first means there is no moment without a device filter).
fn apply_devices(m: &V2Manager, rules: &DeviceRules) -> Result<()> {
    let dir = m.dir();
    let opened;
    let dir_fd = match m.clone_into_fd() {
        Some(fd) => fd,
        None => {
            opened = super::open_dir_path(dir)?;
            opened.as_fd()
        }
    };
    let syscall_error = |syscall, source| Error::Syscall {
        syscall,
        target: dir.display().to_string(),
        source,
    };
    let program = ebpf::program(rules);
    let prog = sys::bpf_load_device_program(&program).map_err(|(source, log)| Error::BpfLoad {
        path: dir.to_owned(),
        source,
        log,
    })?;
    let old = sys::bpf_query_device_programs(dir_fd).map_err(|e| syscall_error("bpf(BPF_PROG_QUERY)", e))?;
    sys::bpf_attach_device_program(dir_fd, prog.as_fd()).map_err(|e| syscall_error("bpf(BPF_PROG_ATTACH)", e))?;
    for id in old {
        let old_prog = sys::bpf_prog_fd_by_id(id).map_err(|e| syscall_error("bpf(BPF_PROG_GET_FD_BY_ID)", e))?;
        sys::bpf_detach_device_program(dir_fd, old_prog.as_fd())
            .map_err(|e| syscall_error("bpf(BPF_PROG_DETACH)", e))?;
    }
    Ok(())
}
