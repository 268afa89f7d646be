//! Metrics on pure cgroup v2: containerd's io.containerd.cgroups.v2.Metrics, filled from the
//! container's cgroup files with the fields containerd-shim-runc-v2 fills (pids, cpu.stat,
//! memory.stat with usage and limits, memory.events, io.stat, rdma, hugetlb per page size). A file
//! whose controller is not enabled leaves its fields zero, as there.

use super::super::cgroup::{self, CgroupError};
use containerd_shim::protos::cgroups_v2::metrics::{
    CPUStat, HugeTlbStat, IOEntry, IOStat, MemoryEvents, MemoryStat, Metrics, PidsStat, RdmaEntry, RdmaStat,
};
use containerd_shim::protos::protobuf::MessageField;
use std::collections::HashMap;
use std::path::Path;

/// The type URL containerd's typeurl registry knows the v2 metrics by.
pub const TYPE_URL: &str = "io.containerd.cgroups.v2.Metrics";

type Keyed = HashMap<String, u64>;

fn get(keyed: &Keyed, key: &str) -> u64 {
    keyed.get(key).copied().unwrap_or(0)
}

/// Read one sample of the cgroup at `dir`.
pub fn metrics(dir: &Path) -> Result<Metrics, CgroupError> {
    let value = |file: &str| cgroup::read_value(dir, file).map(Option::unwrap_or_default);
    let memory_events = cgroup::read_keyed(dir, "memory.events")?;
    Ok(Metrics {
        pids: MessageField::some(PidsStat { current: value("pids.current")?, limit: value("pids.max")?, ..Default::default() }),
        cpu: MessageField::some(cpu(&cgroup::read_keyed(dir, "cpu.stat")?)),
        memory: MessageField::some(memory(dir)?),
        memory_events: if memory_events.is_empty() { MessageField::none() } else { MessageField::some(events(&memory_events)) },
        io: MessageField::some(IOStat { usage: io(&cgroup::read_optional(dir, "io.stat")?.unwrap_or_default()), ..Default::default() }),
        rdma: MessageField::some(RdmaStat {
            current: rdma(&cgroup::read_optional(dir, "rdma.current")?.unwrap_or_default()),
            limit: rdma(&cgroup::read_optional(dir, "rdma.max")?.unwrap_or_default()),
            ..Default::default()
        }),
        hugetlb: hugetlb(dir)?,
        ..Default::default()
    })
}

fn cpu(stat: &Keyed) -> CPUStat {
    CPUStat {
        usage_usec: get(stat, "usage_usec"),
        user_usec: get(stat, "user_usec"),
        system_usec: get(stat, "system_usec"),
        nr_periods: get(stat, "nr_periods"),
        nr_throttled: get(stat, "nr_throttled"),
        throttled_usec: get(stat, "throttled_usec"),
        nr_bursts: get(stat, "nr_bursts"),
        burst_usec: get(stat, "burst_usec"),
        ..Default::default()
    }
}

/// memory.stat by name, with usage, peak and limits from their own files.
fn memory(dir: &Path) -> Result<MemoryStat, CgroupError> {
    let value = |file: &str| cgroup::read_value(dir, file).map(Option::unwrap_or_default);
    let mut m = MemoryStat {
        usage: value("memory.current")?,
        usage_limit: value("memory.max")?,
        swap_usage: value("memory.swap.current")?,
        swap_limit: value("memory.swap.max")?,
        max_usage: value("memory.peak")?,
        swap_max_usage: value("memory.swap.peak")?,
        ..Default::default()
    };
    for (key, value) in cgroup::read_keyed(dir, "memory.stat")? {
        let field = match key.as_str() {
            "anon" => &mut m.anon,
            "file" => &mut m.file,
            "kernel_stack" => &mut m.kernel_stack,
            "slab" => &mut m.slab,
            "sock" => &mut m.sock,
            "shmem" => &mut m.shmem,
            "file_mapped" => &mut m.file_mapped,
            "file_dirty" => &mut m.file_dirty,
            "file_writeback" => &mut m.file_writeback,
            "anon_thp" => &mut m.anon_thp,
            "inactive_anon" => &mut m.inactive_anon,
            "active_anon" => &mut m.active_anon,
            "inactive_file" => &mut m.inactive_file,
            "active_file" => &mut m.active_file,
            "unevictable" => &mut m.unevictable,
            "slab_reclaimable" => &mut m.slab_reclaimable,
            "slab_unreclaimable" => &mut m.slab_unreclaimable,
            "pgfault" => &mut m.pgfault,
            "pgmajfault" => &mut m.pgmajfault,
            "workingset_refault" => &mut m.workingset_refault,
            "workingset_activate" => &mut m.workingset_activate,
            "workingset_nodereclaim" => &mut m.workingset_nodereclaim,
            "pgrefill" => &mut m.pgrefill,
            "pgscan" => &mut m.pgscan,
            "pgsteal" => &mut m.pgsteal,
            "pgactivate" => &mut m.pgactivate,
            "pgdeactivate" => &mut m.pgdeactivate,
            "pglazyfree" => &mut m.pglazyfree,
            "pglazyfreed" => &mut m.pglazyfreed,
            "thp_fault_alloc" => &mut m.thp_fault_alloc,
            "thp_collapse_alloc" => &mut m.thp_collapse_alloc,
            _ => continue,
        };
        *field = value;
    }
    Ok(m)
}

fn events(events: &Keyed) -> MemoryEvents {
    MemoryEvents {
        low: get(events, "low"),
        high: get(events, "high"),
        max: get(events, "max"),
        oom: get(events, "oom"),
        oom_kill: get(events, "oom_kill"),
        oom_group_kill: get(events, "oom_group_kill"),
        ..Default::default()
    }
}

/// io.stat: "MAJ:MIN rbytes=N wbytes=N rios=N wios=N dbytes=N dios=N" per device.
fn io(stat: &str) -> Vec<IOEntry> {
    stat.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (major, minor) = fields.next()?.split_once(':')?;
            let mut entry = IOEntry { major: major.parse().ok()?, minor: minor.parse().ok()?, ..Default::default() };
            for (key, value) in fields.filter_map(|kv| kv.split_once('=')) {
                let field = match key {
                    "rbytes" => &mut entry.rbytes,
                    "wbytes" => &mut entry.wbytes,
                    "rios" => &mut entry.rios,
                    "wios" => &mut entry.wios,
                    _ => continue,
                };
                *field = value.parse().unwrap_or(0);
            }
            Some(entry)
        })
        .collect()
}

/// rdma.current and rdma.max: "DEVICE hca_handle=N hca_object=N" per device, "max" being
/// u32::MAX as containerd reports it.
fn rdma(text: &str) -> Vec<RdmaEntry> {
    let count = |value: &str| if value == "max" { u32::MAX } else { value.parse().unwrap_or(0) };
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let mut entry = RdmaEntry { device: fields.next()?.to_owned(), ..Default::default() };
            for (key, value) in fields.filter_map(|kv| kv.split_once('=')) {
                match key {
                    "hca_handle" => entry.hca_handles = count(value),
                    "hca_object" => entry.hca_objects = count(value),
                    _ => {}
                }
            }
            Some(entry)
        })
        .collect()
}

/// One entry per huge page size the cgroup has files for (hugetlb.2MB.current, ...).
fn hugetlb(dir: &Path) -> Result<Vec<HugeTlbStat>, CgroupError> {
    let entries = std::fs::read_dir(dir).map_err(|source| CgroupError::Read { path: dir.to_owned(), source })?;
    let mut sizes: Vec<String> = entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let size = name.strip_prefix("hugetlb.")?.strip_suffix(".current")?;
            (!size.contains('.')).then(|| size.to_owned())
        })
        .collect();
    sizes.sort();
    sizes
        .into_iter()
        .map(|size| {
            let value = |file: String| cgroup::read_value(dir, &file).map(Option::unwrap_or_default);
            Ok(HugeTlbStat {
                current: value(format!("hugetlb.{size}.current"))?,
                max: value(format!("hugetlb.{size}.max"))?,
                failcnt: get(&cgroup::read_keyed(dir, &format!("hugetlb.{size}.events"))?, "max"),
                pagesize: size,
                ..Default::default()
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_stat_lines_become_entries() {
        let entries = io("8:0 rbytes=4096 wbytes=512 rios=1 wios=2 dbytes=0 dios=0\nbad line\n");
        assert_eq!(entries.len(), 1);
        let e = &entries[0];
        assert_eq!((e.major, e.minor, e.rbytes, e.wbytes, e.rios, e.wios), (8, 0, 4096, 512, 1, 2));
    }

    #[test]
    fn rdma_lines_become_entries() {
        let entries = rdma("mlx4_0 hca_handle=2 hca_object=2000\nocrdma1 hca_handle=3 hca_object=max\n");
        assert_eq!(entries.len(), 2);
        assert_eq!((entries[0].device.as_str(), entries[0].hca_handles, entries[0].hca_objects), ("mlx4_0", 2, 2000));
        assert_eq!(entries[1].hca_objects, u32::MAX);
    }

    #[test]
    fn a_cgroup_directory_becomes_v2_metrics() {
        let dir = std::env::temp_dir().join(format!("berth-shim-metrics-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let files = [
            ("cpu.stat", "usage_usec 100\nuser_usec 60\nsystem_usec 40\nnr_periods 3\nnr_throttled 1\nthrottled_usec 7\n"),
            ("memory.stat", "anon 4096\nfile 8192\npgfault 9\nunknown_new_key 1\n"),
            ("memory.events", "low 0\nhigh 0\nmax 5\noom 2\noom_kill 1\n"),
            ("memory.current", "12288\n"),
            ("memory.max", "max\n"),
            ("pids.current", "2\n"),
            ("pids.max", "20\n"),
            ("hugetlb.2MB.current", "0\n"),
            ("hugetlb.2MB.max", "max\n"),
            ("hugetlb.2MB.rsvd.current", "0\n"),
        ];
        for (name, text) in files {
            std::fs::write(dir.join(name), text).unwrap();
        }
        let m = metrics(&dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!((m.pids.current, m.pids.limit), (2, 20));
        assert_eq!((m.cpu.usage_usec, m.cpu.user_usec, m.cpu.system_usec, m.cpu.throttled_usec), (100, 60, 40, 7));
        assert_eq!((m.memory.usage, m.memory.usage_limit, m.memory.anon, m.memory.file, m.memory.pgfault), (12288, u64::MAX, 4096, 8192, 9));
        assert_eq!((m.memory_events.max, m.memory_events.oom, m.memory_events.oom_kill), (5, 2, 1));
        assert_eq!(m.hugetlb.len(), 1);
        assert_eq!((m.hugetlb[0].pagesize.as_str(), m.hugetlb[0].max), ("2MB", u64::MAX));
        assert!(m.io.usage.is_empty() && m.rdma.current.is_empty());
    }
}
