//! What `berth update` needs: runc's update flags (or its `-r resources.json`) turned into
//! the `LinuxResources` to apply, and the merge of that partial update into the resources the
//! container was created with (so state keeps the whole picture, as runc's does).
//!
//! Values are taken as typed, so errors can name the flag: memory sizes accept runc's forms
//! (`1073741824`, `512m`, `1.5g`, `64KiB`; `-1` for unlimited where runc allows it).

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxPids, LinuxResources};

/// A flag value that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    /// The value does not parse.
    #[error("update: --{flag} {value:?}: {reason}")]
    BadFlag {
        /// The flag, without dashes.
        flag: &'static str,
        /// The value given.
        value: String,
        /// Why.
        reason: &'static str,
    },
    /// The -r file (or stdin) is not a valid LinuxResources document.
    #[error("update: -r {source_name}: {source}")]
    BadResources {
        /// The file name, or "-" for stdin.
        source_name: String,
        /// The JSON error, with the line and field.
        source: serde_json::Error,
    },
}

/// runc update's flags as typed (None when not given).
#[derive(Clone, Debug, Default)]
pub struct UpdateFlags {
    /// --blkio-weight (10..1000)
    pub blkio_weight: Option<String>,
    /// --cpu-period
    pub cpu_period: Option<String>,
    /// --cpu-quota
    pub cpu_quota: Option<String>,
    /// --cpu-share (runc's spelling; the issue's --cpu-shares maps here too)
    pub cpu_share: Option<String>,
    /// --cpu-rt-period
    pub cpu_rt_period: Option<String>,
    /// --cpu-rt-runtime
    pub cpu_rt_runtime: Option<String>,
    /// --cpu-idle (0 or 1)
    pub cpu_idle: Option<String>,
    /// --cpuset-cpus
    pub cpuset_cpus: Option<String>,
    /// --cpuset-mems
    pub cpuset_mems: Option<String>,
    /// --memory
    pub memory: Option<String>,
    /// --memory-reservation
    pub memory_reservation: Option<String>,
    /// --memory-swap (memory+swap; -1 unlimited)
    pub memory_swap: Option<String>,
    /// --pids-limit
    pub pids_limit: Option<String>,
}

/// Parse `-r` input (a LinuxResources JSON document); `source_name` is shown in errors.
pub fn resources_from_json(json: &str, source_name: &str) -> Result<LinuxResources, UpdateError> {
    serde_json::from_str(json).map_err(|source| UpdateError::BadResources {
        source_name: source_name.to_owned(),
        source,
    })
}

/// Turn the flags into the partial resources to apply (only the fields given are set).
pub fn resources_from_flags(flags: &UpdateFlags) -> Result<LinuxResources, UpdateError> {
    let mut r = LinuxResources::default();

    let mut memory = LinuxMemory::default();
    let mut memory_set = false;
    if let Some(v) = &flags.memory {
        memory.set_limit(Some(parse_bytes("memory", v, true)?));
        memory_set = true;
    }
    if let Some(v) = &flags.memory_reservation {
        memory.set_reservation(Some(parse_bytes("memory-reservation", v, true)?));
        memory_set = true;
    }
    if let Some(v) = &flags.memory_swap {
        memory.set_swap(Some(parse_bytes("memory-swap", v, true)?));
        memory_set = true;
    }
    if memory_set {
        r.set_memory(Some(memory));
    }

    let mut cpu = LinuxCpu::default();
    let mut cpu_set = false;
    if let Some(v) = &flags.cpu_share {
        cpu.set_shares(Some(parse_num("cpu-share", v)?));
        cpu_set = true;
    }
    if let Some(v) = &flags.cpu_quota {
        cpu.set_quota(Some(parse_num("cpu-quota", v)?));
        cpu_set = true;
    }
    if let Some(v) = &flags.cpu_period {
        cpu.set_period(Some(parse_num("cpu-period", v)?));
        cpu_set = true;
    }
    if let Some(v) = &flags.cpu_rt_period {
        cpu.set_realtime_period(Some(parse_num("cpu-rt-period", v)?));
        cpu_set = true;
    }
    if let Some(v) = &flags.cpu_rt_runtime {
        cpu.set_realtime_runtime(Some(parse_num("cpu-rt-runtime", v)?));
        cpu_set = true;
    }
    if let Some(v) = &flags.cpu_idle {
        let idle: i64 = parse_num("cpu-idle", v)?;
        if idle != 0 && idle != 1 {
            return Err(bad("cpu-idle", v, "must be 0 or 1"));
        }
        cpu.set_idle(Some(idle));
        cpu_set = true;
    }
    if let Some(v) = &flags.cpuset_cpus {
        cpu.set_cpus(Some(v.clone()));
        cpu_set = true;
    }
    if let Some(v) = &flags.cpuset_mems {
        cpu.set_mems(Some(v.clone()));
        cpu_set = true;
    }
    if cpu_set {
        r.set_cpu(Some(cpu));
    }

    if let Some(v) = &flags.pids_limit {
        let mut pids = LinuxPids::default();
        pids.set_limit(parse_num("pids-limit", v)?);
        r.set_pids(Some(pids));
    }
    if let Some(v) = &flags.blkio_weight {
        let weight: u16 = parse_num("blkio-weight", v)?;
        if weight != 0 && !(10..=1000).contains(&weight) {
            return Err(bad("blkio-weight", v, "must be between 10 and 1000"));
        }
        let mut io = LinuxBlockIo::default();
        io.set_weight(Some(weight));
        r.set_block_io(Some(io));
    }
    Ok(r)
}

/// Merge an update into the resources the container has: every field the update sets
/// replaces the old one; the rest stay.
///
/// Apply the merged result (not the bare update) and store it: on v2, memory.swap.max is
/// computed from swap and limit together, so `update --memory-swap` alone needs the stored
/// limit, as runc's merge into its saved config provides.
pub fn merge(base: &LinuxResources, update: &LinuxResources) -> LinuxResources {
    // Serialized, an unset field is absent, so a JSON object merge is exactly "set fields win".
    let mut merged = serde_json::to_value(base).unwrap_or_default();
    let patch = serde_json::to_value(update).unwrap_or_default();
    merge_json(&mut merged, &patch);
    // An unlimited memory limit with a finite memory+swap limit is a state the kernel refuses
    // (memory <= memsw): `update --memory -1` lifts the swap limit too unless it names one,
    // as runc does.
    let unlimited = patch.pointer("/memory/limit").and_then(|v| v.as_i64()) == Some(-1);
    let swap_given = patch.pointer("/memory/swap").is_some();
    if unlimited && !swap_given {
        if let Some(swap) = merged.pointer_mut("/memory/swap") {
            *swap = serde_json::json!(-1);
        }
    }
    serde_json::from_value(merged).unwrap_or_else(|_| update.clone())
}

fn merge_json(base: &mut serde_json::Value, patch: &serde_json::Value) {
    match (base, patch) {
        (serde_json::Value::Object(b), serde_json::Value::Object(p)) => {
            for (key, value) in p {
                match b.get_mut(key) {
                    Some(existing) if existing.is_object() && value.is_object() => merge_json(existing, value),
                    _ => {
                        b.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (b, p) => *b = p.clone(),
    }
}

fn bad(flag: &'static str, value: &str, reason: &'static str) -> UpdateError {
    UpdateError::BadFlag {
        flag,
        value: value.to_owned(),
        reason,
    }
}

fn parse_num<T: std::str::FromStr>(flag: &'static str, value: &str) -> Result<T, UpdateError> {
    value.trim().parse().map_err(|_| bad(flag, value, "not a number in range"))
}

/// runc's RAMInBytes: a number with an optional binary unit (k, m, g, t, p; "b", "ib"
/// suffixes allowed, case-insensitive), fractions allowed with a unit; `-1` if allowed.
fn parse_bytes(flag: &'static str, value: &str, allow_unlimited: bool) -> Result<i64, UpdateError> {
    let v = value.trim();
    if v == "-1" && allow_unlimited {
        return Ok(-1);
    }
    let lower = v.to_ascii_lowercase();
    let number_end = lower.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(lower.len());
    let (number, unit) = lower.split_at(number_end);
    let unit = unit.trim_start();
    let unit = unit.strip_suffix('b').unwrap_or(unit);
    let unit = unit.strip_suffix('i').unwrap_or(unit);
    let multiplier: f64 = match unit {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024f64.powi(2),
        "g" => 1024f64.powi(3),
        "t" => 1024f64.powi(4),
        "p" => 1024f64.powi(5),
        _ => return Err(bad(flag, value, "unknown unit (use k, m, g, t or p)")),
    };
    let n: f64 = number.parse().map_err(|_| bad(flag, value, "not a size"))?;
    let bytes = n * multiplier;
    if !bytes.is_finite() || bytes < 0.0 || bytes > i64::MAX as f64 {
        return Err(bad(flag, value, "out of range"));
    }
    Ok(bytes as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_like_runc() {
        assert_eq!(parse_bytes("memory", "1073741824", true).unwrap(), 1 << 30);
        assert_eq!(parse_bytes("memory", "512m", true).unwrap(), 512 << 20);
        assert_eq!(parse_bytes("memory", "1.5G", true).unwrap(), 3 << 29);
        assert_eq!(parse_bytes("memory", "64KiB", true).unwrap(), 64 << 10);
        assert_eq!(parse_bytes("memory-swap", "-1", true).unwrap(), -1);
        let err = parse_bytes("memory", "12q", true).unwrap_err();
        assert!(err.to_string().contains("--memory \"12q\""), "{err}");
    }

    #[test]
    fn flags_set_only_what_was_given() {
        let flags = UpdateFlags {
            memory: Some("256m".into()),
            cpu_share: Some("512".into()),
            pids_limit: Some("40".into()),
            ..Default::default()
        };
        let r = resources_from_flags(&flags).unwrap();
        assert_eq!(r.memory().as_ref().unwrap().limit(), Some(256 << 20));
        assert_eq!(r.memory().as_ref().unwrap().swap(), None);
        assert_eq!(r.cpu().as_ref().unwrap().shares(), Some(512));
        assert_eq!(r.pids().as_ref().unwrap().limit(), 40);
        assert!(r.block_io().is_none());
        let err = resources_from_flags(&UpdateFlags {
            blkio_weight: Some("5".into()),
            ..Default::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("--blkio-weight"), "{err}");
    }

    #[test]
    fn merge_keeps_what_the_update_does_not_set() {
        let base = resources_from_json(r#"{"memory":{"limit":100,"swap":200},"pids":{"limit":5}}"#, "base").unwrap();
        let update = resources_from_json(r#"{"memory":{"limit":150}}"#, "-").unwrap();
        let merged = merge(&base, &update);
        assert_eq!(merged.memory().as_ref().unwrap().limit(), Some(150));
        assert_eq!(merged.memory().as_ref().unwrap().swap(), Some(200));
        assert_eq!(merged.pids().as_ref().unwrap().limit(), 5);
    }

    #[test]
    fn unlimited_memory_lifts_the_swap_limit_unless_given() {
        let base = resources_from_json(r#"{"memory":{"limit":100,"swap":200}}"#, "base").unwrap();
        let lifted = merge(&base, &resources_from_json(r#"{"memory":{"limit":-1}}"#, "-").unwrap());
        let memory = lifted.memory().as_ref().unwrap();
        assert_eq!((memory.limit(), memory.swap()), (Some(-1), Some(-1)));
        let kept = merge(&base, &resources_from_json(r#"{"memory":{"limit":-1,"swap":300}}"#, "-").unwrap());
        assert_eq!(kept.memory().as_ref().unwrap().swap(), Some(300));
    }

    #[test]
    fn bad_resources_json_names_the_source() {
        let err = resources_from_json(r#"{"memory":{"limit":"x"}}"#, "res.json").unwrap_err();
        assert!(err.to_string().starts_with("update: -r res.json:"), "{err}");
    }
}
