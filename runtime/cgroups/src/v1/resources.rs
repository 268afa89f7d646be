//! linux.resources on cgroup v1 (and hybrid): each field to its controller's file.

use std::path::Path;

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxNetwork, LinuxResources};

use super::V1Manager;
use crate::convert;
use crate::devices::{DeviceRules, Exception};
use crate::error::{Error, Result};
use crate::files;

/// Apply every field of `r` that is set.
pub(super) fn apply(m: &V1Manager, r: &LinuxResources) -> Result<()> {
    if let Some(memory) = r.memory() {
        apply_memory(m, memory)?;
    }
    if let Some(cpu) = r.cpu() {
        apply_cpu(m, cpu)?;
    }
    if let Some(pids) = r.pids() {
        let dir = m.require("pids", "linux.resources.pids.limit")?;
        files::write(dir, "pids.max", &convert::pids_max(pids.limit()), "linux.resources.pids.limit")?;
    }
    if let Some(io) = r.block_io() {
        apply_blkio(m, io)?;
    }
    for limit in r.hugepage_limits().iter().flatten() {
        apply_hugetlb(m, limit.page_size(), limit.limit())?;
    }
    if let Some(network) = r.network() {
        apply_network(m, network)?;
    }
    for (device, limit) in r.rdma().iter().flatten() {
        let dir = m.require("rdma", "linux.resources.rdma")?;
        let value = convert::rdma_line(device, limit)?;
        files::write(dir, "rdma.max", &value, "linux.resources.rdma")?;
    }
    if r.unified().as_ref().is_some_and(|u| !u.is_empty()) {
        return Err(Error::Unsupported {
            field: "linux.resources.unified",
            version: "v1",
            reason: "unified keys name cgroup v2 files",
        });
    }
    if let Some(rules) = r.devices() {
        apply_devices(m, &DeviceRules::fold(rules)?)?;
    }
    Ok(())
}

fn apply_memory(m: &V1Manager, memory: &LinuxMemory) -> Result<()> {
    let set = memory.limit().is_some()
        || memory.reservation().is_some()
        || memory.swap().is_some()
        || memory.kernel().is_some()
        || memory.kernel_tcp().is_some()
        || memory.swappiness().is_some()
        || memory.disable_oom_killer().is_some()
        || memory.use_hierarchy().is_some();
    if !set {
        return Ok(());
    }
    let dir = m.require("memory", "linux.resources.memory")?;
    let limit = memory.limit().unwrap_or(0);
    // Unlimited memory with swap unset means unlimited swap too, as runc does.
    let swap = match memory.swap() {
        None | Some(0) if limit == -1 => -1,
        other => other.unwrap_or(0),
    };
    if memory.check_before_update() == Some(true) && limit > 0 {
        let usage = files::read_u64(dir, "memory.usage_in_bytes")?;
        if usage > limit as u64 {
            return Err(Error::InvalidValue {
                field: "linux.resources.memory.limit".into(),
                reason: format!("{limit} is below the current usage {usage} (checkBeforeUpdate)"),
            });
        }
    }
    let write_limit = || files::write(dir, "memory.limit_in_bytes", &limit.to_string(), "linux.resources.memory.limit");
    let write_swap = || {
        if !files::exists(dir, "memory.memsw.limit_in_bytes") {
            return Err(Error::MissingController {
                field: "linux.resources.memory.swap",
                controller: "memory",
                detail: format!("{} is missing: swap accounting is off", dir.join("memory.memsw.limit_in_bytes").display()),
            });
        }
        files::write(dir, "memory.memsw.limit_in_bytes", &swap.to_string(), "linux.resources.memory.swap")
    };
    match (limit != 0, swap != 0) {
        (true, true) => {
            // memory <= memsw must hold after each write: raise memsw first when growing.
            let current = files::read_u64(dir, "memory.limit_in_bytes")?;
            if swap == -1 || current < swap as u64 {
                write_swap()?;
                write_limit()?;
            } else {
                write_limit()?;
                write_swap()?;
            }
        }
        (true, false) => write_limit()?,
        (false, true) => write_swap()?,
        (false, false) => {}
    }
    if let Some(reservation) = memory.reservation() {
        files::write(dir, "memory.soft_limit_in_bytes", &reservation.to_string(), "linux.resources.memory.reservation")?;
    }
    if let Some(kernel) = memory.kernel() {
        files::write(dir, "memory.kmem.limit_in_bytes", &kernel.to_string(), "linux.resources.memory.kernel")?;
    }
    if let Some(tcp) = memory.kernel_tcp() {
        files::write(dir, "memory.kmem.tcp.limit_in_bytes", &tcp.to_string(), "linux.resources.memory.kernelTCP")?;
    }
    if let Some(swappiness) = memory.swappiness() {
        if swappiness > 100 {
            return Err(Error::InvalidValue {
                field: "linux.resources.memory.swappiness".into(),
                reason: format!("{swappiness} is above 100"),
            });
        }
        files::write(dir, "memory.swappiness", &swappiness.to_string(), "linux.resources.memory.swappiness")?;
    }
    if memory.disable_oom_killer() == Some(true) {
        files::write(dir, "memory.oom_control", "1", "linux.resources.memory.disableOOMKiller")?;
    }
    if let Some(hierarchy) = memory.use_hierarchy() {
        files::write(dir, "memory.use_hierarchy", if hierarchy { "1" } else { "0" }, "linux.resources.memory.useHierarchy")?;
    }
    Ok(())
}

fn apply_cpu(m: &V1Manager, cpu: &LinuxCpu) -> Result<()> {
    if let Some(shares) = cpu.shares().filter(|s| *s != 0) {
        let dir = m.require("cpu", "linux.resources.cpu.shares")?;
        files::write(dir, "cpu.shares", &shares.to_string(), "linux.resources.cpu.shares")?;
        // The kernel clamps silently; say so instead, as runc does.
        let got = files::read_u64(dir, "cpu.shares")?;
        if got != shares {
            return Err(Error::InvalidValue {
                field: "linux.resources.cpu.shares".into(),
                reason: format!("the kernel clamped {shares} to {got} (allowed: 2 to 262144)"),
            });
        }
    }
    let period = cpu.period().filter(|p| *p != 0);
    let quota = cpu.quota().filter(|q| *q != 0);
    if period.is_some() || quota.is_some() {
        let dir = m.require("cpu", "linux.resources.cpu.quota")?;
        let write_period = || match period {
            Some(p) => files::write(dir, "cpu.cfs_period_us", &p.to_string(), "linux.resources.cpu.period"),
            None => Ok(()),
        };
        let write_quota = || match quota {
            Some(q) => files::write(dir, "cpu.cfs_quota_us", &q.to_string(), "linux.resources.cpu.quota"),
            None => Ok(()),
        };
        // A shorter period can be refused while the old quota exceeds it: then quota first.
        if write_period().is_err() {
            write_quota()?;
            write_period()?;
        } else {
            write_quota()?;
        }
    }
    if let Some(burst) = cpu.burst() {
        let dir = m.require("cpu", "linux.resources.cpu.burst")?;
        files::write(dir, "cpu.cfs_burst_us", &burst.to_string(), "linux.resources.cpu.burst")?;
    }
    // The realtime period must be set before a runtime that fits it.
    if let Some(period) = cpu.realtime_period().filter(|p| *p != 0) {
        let dir = m.require("cpu", "linux.resources.cpu.realtimePeriod")?;
        files::write(dir, "cpu.rt_period_us", &period.to_string(), "linux.resources.cpu.realtimePeriod")?;
    }
    if let Some(runtime) = cpu.realtime_runtime().filter(|r| *r != 0) {
        let dir = m.require("cpu", "linux.resources.cpu.realtimeRuntime")?;
        files::write(dir, "cpu.rt_runtime_us", &runtime.to_string(), "linux.resources.cpu.realtimeRuntime")?;
    }
    if let Some(idle) = cpu.idle() {
        let dir = m.require("cpu", "linux.resources.cpu.idle")?;
        files::write(dir, "cpu.idle", &idle.to_string(), "linux.resources.cpu.idle")?;
    }
    if let Some(cpus) = cpu.cpus().as_deref().filter(|c| !c.is_empty()) {
        let dir = m.require("cpuset", "linux.resources.cpu.cpus")?;
        files::write(dir, "cpuset.cpus", cpus, "linux.resources.cpu.cpus")?;
    }
    if let Some(mems) = cpu.mems().as_deref().filter(|c| !c.is_empty()) {
        let dir = m.require("cpuset", "linux.resources.cpu.mems")?;
        files::write(dir, "cpuset.mems", mems, "linux.resources.cpu.mems")?;
    }
    Ok(())
}

/// The blkio file for a weight: CFQ's blkio.weight where it exists, else BFQ's.
fn weight_file(dir: &Path, cfq: &'static str, bfq: &'static str, field: &'static str) -> Result<&'static str> {
    if files::exists(dir, cfq) {
        Ok(cfq)
    } else if files::exists(dir, bfq) {
        Ok(bfq)
    } else {
        Err(Error::MissingController {
            field,
            controller: "blkio",
            detail: format!("neither {cfq} nor {bfq} exists: no proportional-weight I/O scheduler (CFQ or BFQ) is active"),
        })
    }
}

fn apply_blkio(m: &V1Manager, io: &LinuxBlockIo) -> Result<()> {
    let dir = || m.require("blkio", "linux.resources.blockIO");
    if let Some(weight) = io.weight().filter(|w| *w != 0) {
        let dir = dir()?;
        let file = weight_file(dir, "blkio.weight", "blkio.bfq.weight", "linux.resources.blockIO.weight")?;
        files::write(dir, file, &weight.to_string(), "linux.resources.blockIO.weight")?;
    }
    if let Some(leaf) = io.leaf_weight().filter(|w| *w != 0) {
        let dir = dir()?;
        let file = weight_file(dir, "blkio.leaf_weight", "blkio.leaf_weight", "linux.resources.blockIO.leafWeight")?;
        files::write(dir, file, &leaf.to_string(), "linux.resources.blockIO.leafWeight")?;
    }
    for device in io.weight_device().iter().flatten() {
        let dir = dir()?;
        if let Some(weight) = device.weight() {
            let field = "linux.resources.blockIO.weightDevice";
            // BFQ keeps per-device weights in a file of their own (runc writes there too).
            let file = weight_file(dir, "blkio.weight_device", "blkio.bfq.weight_device", field)?;
            files::write(dir, file, &format!("{}:{} {weight}", device.major(), device.minor()), field)?;
        }
        if let Some(leaf) = device.leaf_weight() {
            let field = "linux.resources.blockIO.weightDevice[].leafWeight";
            let file = weight_file(dir, "blkio.leaf_weight_device", "blkio.leaf_weight_device", field)?;
            files::write(dir, file, &format!("{}:{} {leaf}", device.major(), device.minor()), field)?;
        }
    }
    let throttles = [
        (io.throttle_read_bps_device(), "blkio.throttle.read_bps_device", "linux.resources.blockIO.throttleReadBpsDevice"),
        (io.throttle_write_bps_device(), "blkio.throttle.write_bps_device", "linux.resources.blockIO.throttleWriteBpsDevice"),
        (io.throttle_read_iops_device(), "blkio.throttle.read_iops_device", "linux.resources.blockIO.throttleReadIOPSDevice"),
        (io.throttle_write_iops_device(), "blkio.throttle.write_iops_device", "linux.resources.blockIO.throttleWriteIOPSDevice"),
    ];
    for (devices, file, field) in throttles {
        for device in devices.iter().flatten() {
            let dir = m.require("blkio", field)?;
            files::write(dir, file, &format!("{}:{} {}", device.major(), device.minor(), device.rate()), field)?;
        }
    }
    Ok(())
}

/// v1 hugetlb where mounted; on a hybrid host whose cgroup2 hierarchy offers hugetlb to the
/// container's cgroup (as on this machine's unified mount, if its parent enabled it), there.
fn apply_hugetlb(m: &V1Manager, size: &str, limit: i64) -> Result<()> {
    let field = "linux.resources.hugepageLimits";
    convert::check_page_size(size)?;
    if let Some(dir) = m.dir_of("hugetlb") {
        return files::write(dir, &format!("hugetlb.{size}.limit_in_bytes"), &limit.to_string(), field);
    }
    if let Some(dir) = m.unified_dir() {
        let controllers = files::read(dir, "cgroup.controllers")?;
        if controllers.split_whitespace().any(|c| c == "hugetlb") {
            return files::write(dir, &format!("hugetlb.{size}.max"), &convert::v2_limit(limit), field);
        }
        return Err(Error::MissingController {
            field,
            controller: "hugetlb",
            detail: format!(
                "not mounted as v1, and {} lists {controllers:?} (the parent's cgroup.subtree_control does not enable it)",
                dir.join("cgroup.controllers").display()
            ),
        });
    }
    m.require("hugetlb", field).map(drop)
}

fn apply_network(m: &V1Manager, network: &LinuxNetwork) -> Result<()> {
    if let Some(class_id) = network.class_id() {
        let field = "linux.resources.network.classID";
        let dir = m.require("net_cls", field)?;
        files::write(dir, "net_cls.classid", &class_id.to_string(), field)?;
    }
    for priority in network.priorities().iter().flatten() {
        let field = "linux.resources.network.priorities";
        let dir = m.require("net_prio", field)?;
        convert::check_token("linux.resources.network.priorities[].name", priority.name())?;
        files::write(dir, "net_prio.ifpriomap", &format!("{} {}", priority.name(), priority.priority()), field)?;
    }
    Ok(())
}

/// Write the rules to devices.allow/deny. When the cgroup already has a deny-by-default list
/// (an update of a running container) and the new rules are one too, only the difference is
/// written, revocations first, so devices that stay allowed are never denied in between.
/// Otherwise: reset to the fold's default, then write each exception (the fold starts from
/// deny-all, which `a` in devices.deny gives a v1 cgroup).
fn apply_devices(m: &V1Manager, rules: &DeviceRules) -> Result<()> {
    let field = "linux.resources.devices";
    let dir = m.require("devices", field)?;
    if !rules.default_allow {
        if let Some(current) = current_whitelist(dir)? {
            let changes = whitelist_changes(&current, &rules.exceptions);
            for file in ["devices.deny", "devices.allow"] {
                let lines = changes.iter().filter(|(to, _)| *to == file).map(|(_, exception)| exception.v1_line());
                files::write_each(dir, file, lines, field)?;
            }
            return Ok(());
        }
    }
    let (reset, exception_file) = if rules.default_allow {
        ("devices.allow", "devices.deny")
    } else {
        ("devices.deny", "devices.allow")
    };
    files::write(dir, reset, "a", field)?;
    files::write_each(dir, exception_file, rules.exceptions.iter().map(Exception::v1_line), field)
}

/// The exceptions of a deny-by-default cgroup, from devices.list; None when it allows all
/// (the kernel then lists only "a *:* rwm", hiding any deny exceptions).
fn current_whitelist(dir: &Path) -> Result<Option<Vec<Exception>>> {
    let list = files::read(dir, "devices.list")?;
    if list.lines().any(|l| l.starts_with('a')) {
        return Ok(None);
    }
    Ok(list.lines().map(Exception::from_v1_line).collect())
}

/// The writes that turn whitelist `current` into `wanted`: access bits to revoke
/// (devices.deny) first, then bits to grant (devices.allow).
fn whitelist_changes(current: &[Exception], wanted: &[Exception]) -> Vec<(&'static str, Exception)> {
    let bits_in = |list: &[Exception], e: &Exception| {
        list.iter().filter(|x| x.same_device(e)).fold(0u8, |acc, x| acc | x.access)
    };
    let mut changes = Vec::new();
    for old in current {
        let revoke = old.access & !bits_in(wanted, old);
        if revoke != 0 {
            changes.push(("devices.deny", old.with_access(revoke)));
        }
    }
    for new in wanted {
        let grant = new.access & !bits_in(current, new);
        if grant != 0 {
            changes.push(("devices.allow", new.with_access(grant)));
        }
    }
    changes
}
