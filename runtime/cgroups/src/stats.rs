//! Resource usage of a container's cgroup, shaped like the "data" object of runc's
//! `events --stats` so tools that parse runc's output can parse berth's.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// CPU time used, in nanoseconds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuUsage {
    /// Total CPU time.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub total: u64,
    /// Per-CPU total (v1 cpuacct only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub percpu: Vec<u64>,
    /// Time in kernel mode.
    pub kernel: u64,
    /// Time in user mode.
    pub user: u64,
}

/// CFS bandwidth throttling.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Throttling {
    /// Enforcement periods that elapsed.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub periods: u64,
    /// Periods in which the group was throttled.
    #[serde(default, rename = "throttledPeriods", skip_serializing_if = "is_zero")]
    pub throttled_periods: u64,
    /// Time throttled, in nanoseconds.
    #[serde(default, rename = "throttledTime", skip_serializing_if = "is_zero")]
    pub throttled_time: u64,
}

/// CPU statistics.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cpu {
    /// Time used.
    pub usage: CpuUsage,
    /// Bandwidth throttling.
    pub throttling: Throttling,
}

/// One memory counter with its limit.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryEntry {
    /// The limit (u64::MAX when unlimited).
    pub limit: u64,
    /// Current usage in bytes.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub usage: u64,
    /// Peak usage in bytes.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub max: u64,
    /// How often the limit was hit.
    pub failcnt: u64,
}

/// Memory statistics.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Memory {
    /// Page cache in bytes.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cache: u64,
    /// Memory usage.
    pub usage: MemoryEntry,
    /// Swap usage (v1: memory+swap).
    pub swap: MemoryEntry,
    /// Kernel memory (v1 only).
    pub kernel: MemoryEntry,
    /// Kernel TCP buffers (v1 only).
    #[serde(rename = "kernelTCP")]
    pub kernel_tcp: MemoryEntry,
    /// memory.stat as it is, plus memory.events on v2.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub raw: BTreeMap<String, u64>,
}

/// Process counts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pids {
    /// Processes (and threads) in the cgroup.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub current: u64,
    /// pids.max (0 when unlimited, as runc reports).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub limit: u64,
}

/// One block I/O counter of one device.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlkioEntry {
    /// Device major number.
    pub major: u64,
    /// Device minor number.
    pub minor: u64,
    /// The operation: Read, Write, Sync, Async, Discard, Total.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub op: String,
    /// The count (bytes or operations).
    pub value: u64,
}

/// Block I/O statistics.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Blkio {
    /// Bytes transferred per device and operation.
    #[serde(rename = "ioServiceBytesRecursive", default, skip_serializing_if = "Vec::is_empty")]
    pub io_service_bytes_recursive: Vec<BlkioEntry>,
    /// Operations per device and operation.
    #[serde(rename = "ioServicedRecursive", default, skip_serializing_if = "Vec::is_empty")]
    pub io_serviced_recursive: Vec<BlkioEntry>,
}

/// Hugepage usage of one page size.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hugetlb {
    /// Bytes in use.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub usage: u64,
    /// Peak bytes (v1 only).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub max: u64,
    /// Allocations that failed because of the limit.
    pub failcnt: u64,
}

/// Everything `events --stats` reports.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// CPU.
    pub cpu: Cpu,
    /// Memory.
    pub memory: Memory,
    /// Processes.
    pub pids: Pids,
    /// Block I/O.
    pub blkio: Blkio,
    /// Hugepages by page size ("2MB").
    pub hugetlb: BTreeMap<String, Hugetlb>,
}

/// Parse blkio/io lines of the v1 form "MAJ:MIN Op value" (and skip "Total N").
pub(crate) fn parse_v1_blkio(text: &str) -> Vec<BlkioEntry> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.split_whitespace();
            let (dev, op, value) = (parts.next()?, parts.next()?, parts.next()?);
            let (major, minor) = dev.split_once(':')?;
            Some(BlkioEntry {
                major: major.parse().ok()?,
                minor: minor.parse().ok()?,
                op: op.to_owned(),
                value: value.parse().ok()?,
            })
        })
        .collect()
}

/// Parse v2 io.stat ("MAJ:MIN rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0") into runc's
/// v1-shaped entries.
pub(crate) fn parse_v2_io_stat(text: &str) -> Blkio {
    let mut blkio = Blkio::default();
    for line in text.lines() {
        let mut parts = line.split_whitespace();
        let Some((major, minor)) = parts.next().and_then(|d| d.split_once(':')) else {
            continue;
        };
        let (Ok(major), Ok(minor)) = (major.parse(), minor.parse()) else {
            continue;
        };
        for kv in parts {
            let Some((key, value)) = kv.split_once('=') else {
                continue;
            };
            let Ok(value) = value.parse() else { continue };
            let (list, op) = match key {
                "rbytes" => (&mut blkio.io_service_bytes_recursive, "Read"),
                "wbytes" => (&mut blkio.io_service_bytes_recursive, "Write"),
                "dbytes" => (&mut blkio.io_service_bytes_recursive, "Discard"),
                "rios" => (&mut blkio.io_serviced_recursive, "Read"),
                "wios" => (&mut blkio.io_serviced_recursive, "Write"),
                "dios" => (&mut blkio.io_serviced_recursive, "Discard"),
                _ => continue,
            };
            list.push(BlkioEntry {
                major,
                minor,
                op: op.to_owned(),
                value,
            });
        }
    }
    blkio
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_stat_becomes_runc_shaped_entries() {
        let blkio = parse_v2_io_stat("8:0 rbytes=4096 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n");
        assert_eq!(blkio.io_service_bytes_recursive[0].value, 4096);
        assert_eq!(blkio.io_service_bytes_recursive[0].op, "Read");
        assert_eq!(blkio.io_serviced_recursive[0].major, 8);
    }

    #[test]
    fn v1_blkio_lines_parse_and_total_is_skipped() {
        let e = parse_v1_blkio("8:0 Read 512\n8:0 Write 0\nTotal 512\n");
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].value, 512);
    }
}
