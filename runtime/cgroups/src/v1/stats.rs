//! Stats from the v1 controller files, in runc's shape.

use std::path::Path;

use super::V1Manager;
use crate::error::Result;
use crate::files::{self, keyed};
use crate::stats::{self, Hugetlb, MemoryEntry, Stats};

/// cpuacct.stat counts in USER_HZ ticks, which is 100 on Linux.
const NANOS_PER_TICK: u64 = 1_000_000_000 / 100;

/// Read every stat the mounted controllers provide (absent files read as zero).
pub(super) fn read(m: &V1Manager) -> Result<Stats> {
    let mut s = Stats::default();
    if let Some(dir) = m.dir_of("cpuacct") {
        s.cpu.usage.total = files::read_u64(dir, "cpuacct.usage")?;
        if let Some(percpu) = files::read_optional(dir, "cpuacct.usage_percpu")? {
            s.cpu.usage.percpu = percpu.split_whitespace().filter_map(|v| v.parse().ok()).collect();
        }
        let ticks = files::read_keyed(dir, "cpuacct.stat")?;
        s.cpu.usage.user = keyed(&ticks, "user") * NANOS_PER_TICK;
        s.cpu.usage.kernel = keyed(&ticks, "system") * NANOS_PER_TICK;
    }
    if let Some(dir) = m.dir_of("cpu") {
        let cpu = files::read_keyed(dir, "cpu.stat")?;
        s.cpu.throttling.periods = keyed(&cpu, "nr_periods");
        s.cpu.throttling.throttled_periods = keyed(&cpu, "nr_throttled");
        s.cpu.throttling.throttled_time = keyed(&cpu, "throttled_time");
    }
    if let Some(dir) = m.dir_of("memory") {
        let raw = files::read_keyed(dir, "memory.stat")?;
        s.memory.cache = keyed(&raw, "cache");
        s.memory.usage = memory_entry(dir, "memory")?;
        s.memory.swap = memory_entry(dir, "memory.memsw")?;
        s.memory.kernel = memory_entry(dir, "memory.kmem")?;
        s.memory.kernel_tcp = memory_entry(dir, "memory.kmem.tcp")?;
        s.memory.raw = raw.into_iter().collect();
    }
    if let Some(dir) = m.dir_of("pids") {
        s.pids.current = files::read_u64(dir, "pids.current")?;
        let max = files::read_u64(dir, "pids.max")?;
        s.pids.limit = if max == u64::MAX { 0 } else { max };
    }
    if let Some(dir) = m.dir_of("blkio") {
        if let Some(bytes) = files::read_optional(dir, "blkio.throttle.io_service_bytes_recursive")? {
            s.blkio.io_service_bytes_recursive = stats::parse_v1_blkio(&bytes);
        }
        if let Some(ops) = files::read_optional(dir, "blkio.throttle.io_serviced_recursive")? {
            s.blkio.io_serviced_recursive = stats::parse_v1_blkio(&ops);
        }
    }
    if let Some(dir) = m.dir_of("hugetlb") {
        for size in hugetlb_sizes(dir, ".limit_in_bytes") {
            s.hugetlb.insert(
                size.clone(),
                Hugetlb {
                    usage: files::read_u64(dir, &format!("hugetlb.{size}.usage_in_bytes"))?,
                    max: files::read_u64(dir, &format!("hugetlb.{size}.max_usage_in_bytes"))?,
                    failcnt: files::read_u64(dir, &format!("hugetlb.{size}.failcnt"))?,
                },
            );
        }
    }
    // Hybrid: hugetlb may live in the unified hierarchy instead.
    if let (None, Some(dir)) = (m.dir_of("hugetlb"), m.unified_dir()) {
        s.hugetlb = crate::v2::stats::read_hugetlb(dir)?;
    }
    Ok(s)
}

/// usage, max usage, limit and failcnt of one v1 memory counter family.
fn memory_entry(dir: &Path, prefix: &str) -> Result<MemoryEntry> {
    Ok(MemoryEntry {
        limit: files::read_u64(dir, &format!("{prefix}.limit_in_bytes"))?,
        usage: files::read_u64(dir, &format!("{prefix}.usage_in_bytes"))?,
        max: files::read_u64(dir, &format!("{prefix}.max_usage_in_bytes"))?,
        failcnt: files::read_u64(dir, &format!("{prefix}.failcnt"))?,
    })
}

/// The page sizes a hugetlb directory has files for ("hugetlb.2MB<suffix>").
fn hugetlb_sizes(dir: &Path, suffix: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let size = name.strip_prefix("hugetlb.")?.strip_suffix(suffix)?;
            (!size.contains('.')).then(|| size.to_owned())
        })
        .collect()
}
