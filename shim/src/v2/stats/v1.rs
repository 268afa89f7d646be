//! Metrics on cgroup v1 (and hybrid): the runtime's `events --stats` sample (runc's JSON
//! shape) as containerd's cgroup v1 Metrics message.

use containerd_shim::protos::cgroups::metrics::{
    CPUStat, CPUUsage, MemoryEntry, MemoryStat, Metrics, PidsStat, Throttle,
};
use containerd_shim::protos::protobuf::MessageField;
use serde_json::Value;

/// The type URL containerd's typeurl registry knows the v1 metrics by.
pub const TYPE_URL: &str = "io.containerd.cgroups.v1.Metrics";

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

fn memory_entry(v: &Value) -> MessageField<MemoryEntry> {
    MessageField::some(MemoryEntry {
        limit: n(&v["limit"]),
        usage: n(&v["usage"]),
        max: n(&v["max"]),
        failcnt: n(&v["failcnt"]),
        ..Default::default()
    })
}

/// Convert the "data" object of one stats sample.
pub fn metrics(data: &Value) -> Metrics {
    let cpu = &data["cpu"];
    let memory = &data["memory"];
    let raw = &memory["raw"];
    let per_cpu = cpu["usage"]["percpu"].as_array().map(|a| a.iter().map(n).collect()).unwrap_or_default();
    Metrics {
        cpu: MessageField::some(CPUStat {
            usage: MessageField::some(CPUUsage {
                total: n(&cpu["usage"]["total"]),
                kernel: n(&cpu["usage"]["kernel"]),
                user: n(&cpu["usage"]["user"]),
                per_cpu,
                ..Default::default()
            }),
            throttling: MessageField::some(Throttle {
                periods: n(&cpu["throttling"]["periods"]),
                throttled_periods: n(&cpu["throttling"]["throttledPeriods"]),
                throttled_time: n(&cpu["throttling"]["throttledTime"]),
                ..Default::default()
            }),
            ..Default::default()
        }),
        memory: MessageField::some(MemoryStat {
            cache: n(&memory["cache"]),
            rss: n(&raw["rss"]),
            rss_huge: n(&raw["rss_huge"]),
            mapped_file: n(&raw["mapped_file"]),
            dirty: n(&raw["dirty"]),
            writeback: n(&raw["writeback"]),
            pg_fault: n(&raw["pgfault"]),
            pg_maj_fault: n(&raw["pgmajfault"]),
            inactive_anon: n(&raw["inactive_anon"]),
            active_anon: n(&raw["active_anon"]),
            inactive_file: n(&raw["inactive_file"]),
            active_file: n(&raw["active_file"]),
            unevictable: n(&raw["unevictable"]),
            hierarchical_memory_limit: n(&raw["hierarchical_memory_limit"]),
            total_cache: n(&raw["total_cache"]),
            total_rss: n(&raw["total_rss"]),
            total_inactive_file: n(&raw["total_inactive_file"]),
            usage: memory_entry(&memory["usage"]),
            swap: memory_entry(&memory["swap"]),
            kernel: memory_entry(&memory["kernel"]),
            kernel_tcp: memory_entry(&memory["kernelTCP"]),
            ..Default::default()
        }),
        pids: MessageField::some(PidsStat {
            current: n(&data["pids"]["current"]),
            limit: n(&data["pids"]["limit"]),
            ..Default::default()
        }),
        ..Default::default()
    }
}
