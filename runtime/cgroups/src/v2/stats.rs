//! Stats from the v2 interface files, in runc's shape.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::Result;
use crate::files::{self, keyed};
use crate::stats::{self, Hugetlb, MemoryEntry, Stats};

/// Read every stat the cgroup's enabled controllers provide (absent files read as zero).
pub(super) fn read(dir: &Path) -> Result<Stats> {
    let mut s = Stats::default();

    let cpu = files::read_keyed(dir, "cpu.stat")?;
    s.cpu.usage.total = keyed(&cpu, "usage_usec") * 1000;
    s.cpu.usage.user = keyed(&cpu, "user_usec") * 1000;
    s.cpu.usage.kernel = keyed(&cpu, "system_usec") * 1000;
    s.cpu.throttling.periods = keyed(&cpu, "nr_periods");
    s.cpu.throttling.throttled_periods = keyed(&cpu, "nr_throttled");
    s.cpu.throttling.throttled_time = keyed(&cpu, "throttled_usec") * 1000;

    let raw = files::read_keyed(dir, "memory.stat")?;
    let events = files::read_keyed(dir, "memory.events")?;
    s.memory.cache = keyed(&raw, "file");
    let usage = files::read_u64(dir, "memory.current")?;
    let limit = read_limit(dir, "memory.max")?;
    s.memory.usage = MemoryEntry {
        limit,
        usage,
        max: files::read_u64(dir, "memory.peak")?,
        failcnt: keyed(&events, "max"),
    };
    // Like runc, report swap as memory+swap so the numbers mean what they meant on v1.
    let swap_limit = read_limit(dir, "memory.swap.max")?;
    s.memory.swap = MemoryEntry {
        limit: swap_limit.saturating_add(limit),
        usage: files::read_u64(dir, "memory.swap.current")? + usage,
        max: 0,
        failcnt: 0,
    };
    s.memory.raw = raw.into_iter().collect();

    s.pids.current = files::read_u64(dir, "pids.current")?;
    let pids_max = files::read_u64(dir, "pids.max")?;
    s.pids.limit = if pids_max == u64::MAX { 0 } else { pids_max };

    if let Some(io) = files::read_optional(dir, "io.stat")? {
        s.blkio = stats::parse_v2_io_stat(&io);
    }

    s.hugetlb = read_hugetlb(dir)?;
    Ok(s)
}

/// Hugepage usage per page size from the hugetlb.<size>.current and .events files.
pub(crate) fn read_hugetlb(dir: &Path) -> Result<BTreeMap<String, Hugetlb>> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = entry.file_name();
        let Some(size) = name
            .to_str()
            .and_then(|n| n.strip_prefix("hugetlb."))
            .and_then(|n| n.strip_suffix(".current"))
            .filter(|n| !n.contains(".rsvd"))
        else {
            continue;
        };
        let hugetlb_events = files::read_keyed(dir, &format!("hugetlb.{size}.events"))?;
        out.insert(
            size.to_owned(),
            Hugetlb {
                usage: files::read_u64(dir, &format!("hugetlb.{size}.current"))?,
                max: 0,
                failcnt: keyed(&hugetlb_events, "max"),
            },
        );
    }
    Ok(out)
}

/// A limit file where "max" and a missing file both mean unlimited.
fn read_limit(dir: &Path, file: &str) -> Result<u64> {
    Ok(match files::read_optional(dir, file)? {
        Some(text) => files::parse_u64(&dir.join(file), &text)?,
        None => u64::MAX,
    })
}
