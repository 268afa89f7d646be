//! Conversions between v1-style values (what the OCI spec and runc's flags speak) and the
//! v2 interface files, done the way runc 1.1 and crun 1.8 (the versions on this machine) do.

use crate::error::{Error, Result};

/// cpu.shares (2..=262144) to cpu.weight (1..=10000), linearly: 2 -> 1, 262144 -> 10000,
/// 1024 -> 39. runc 1.1 and crun 1.8 use this formula. (Later runc and crun releases
/// switched to a curve mapping 1024 to 100; berth matches the runtimes installed here, so a
/// container gets the same weight from berth as from them.) 0 means unset.
pub(crate) fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    let shares = shares.clamp(2, 262_144);
    1 + ((shares - 2) * 9999) / 262_142
}

/// blkio.weight (10..=1000) to io.weight (1..=10000), linearly, as runc does.
pub(crate) fn blkio_weight_to_io_weight(weight: u16) -> u64 {
    if weight == 0 {
        return 0;
    }
    let w = u64::from(weight.clamp(10, 1000));
    1 + (w - 10) * 9999 / 990
}

/// The OCI swap value (memory+swap, v1 semantics) to memory.swap.max (swap alone).
/// Returns None when nothing is to be written.
pub(crate) fn swap_to_v2(swap: Option<i64>, limit: Option<i64>) -> Result<Option<String>> {
    let invalid = |reason: &str| Error::InvalidValue {
        field: "linux.resources.memory.swap".into(),
        reason: reason.into(),
    };
    let limit = limit.unwrap_or(0);
    match swap.unwrap_or(0) {
        // Unlimited memory with swap unset: make swap unlimited too, as v1 would.
        0 if limit == -1 => Ok(Some("max".into())),
        0 => Ok(None),
        -1 => Ok(Some("max".into())),
        swap if swap < -1 => Err(invalid("must be -1 (unlimited) or a positive byte count")),
        _ if limit == 0 || limit == -1 => Err(invalid("a swap limit needs a memory limit")),
        swap if swap < limit => Err(invalid("memory+swap must be at least memory.limit")),
        swap => Ok(Some((swap - limit).to_string())),
    }
}

/// A byte limit where -1 (and any negative) means "max" on v2.
pub(crate) fn v2_limit(value: i64) -> String {
    if value < 0 {
        "max".into()
    } else {
        value.to_string()
    }
}

/// pids.limit to pids.max: zero or negative means no limit.
pub(crate) fn pids_max(limit: i64) -> String {
    if limit > 0 {
        limit.to_string()
    } else {
        "max".into()
    }
}

/// One rdma.max line ("mlx4_0 hca_handle=2 hca_object=2000"), same on v1 and v2.
pub(crate) fn rdma_line(device: &str, limit: &oci_spec::runtime::LinuxRdma) -> Result<String> {
    check_token("linux.resources.rdma (device name)", device)?;
    let mut line = device.to_owned();
    if let Some(h) = limit.hca_handles() {
        line.push_str(&format!(" hca_handle={h}"));
    }
    if let Some(o) = limit.hca_objects() {
        line.push_str(&format!(" hca_object={o}"));
    }
    Ok(line)
}

/// A hugepage size as the spec and the file names write it ("2MB", "1GB", "64KB"); refuse
/// anything else, since it becomes part of a file name.
pub(crate) fn check_page_size(size: &str) -> Result<()> {
    let digits = size.trim_end_matches(['K', 'M', 'G', 'B']);
    let unit = &size[digits.len()..];
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) && matches!(unit, "KB" | "MB" | "GB") {
        Ok(())
    } else {
        Err(Error::InvalidValue {
            field: "linux.resources.hugepageLimits[].pageSize".into(),
            reason: format!("{size:?} is not a page size like 2MB or 1GB"),
        })
    }
}

/// A name that goes into a one-line cgroup file value (interface, rdma device): no spaces.
pub(crate) fn check_token(field: &str, value: &str) -> Result<()> {
    if value.is_empty() || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::InvalidValue {
            field: field.into(),
            reason: format!("{value:?} must be non-empty and contain no whitespace"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_convert_like_runc_1_1() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(shares_to_weight(0), 0);
    }

    #[test]
    fn blkio_weight_converts_like_runc() {
        assert_eq!(blkio_weight_to_io_weight(10), 1);
        assert_eq!(blkio_weight_to_io_weight(1000), 10_000);
        assert_eq!(blkio_weight_to_io_weight(500), 4950);
    }

    #[test]
    fn swap_is_memory_plus_swap_in_the_spec() {
        assert_eq!(swap_to_v2(Some(300), Some(100)).unwrap().as_deref(), Some("200"));
        assert_eq!(swap_to_v2(None, Some(-1)).unwrap().as_deref(), Some("max"));
        assert_eq!(swap_to_v2(Some(-1), Some(100)).unwrap().as_deref(), Some("max"));
        assert_eq!(swap_to_v2(None, Some(100)).unwrap(), None);
        assert!(swap_to_v2(Some(50), Some(100)).is_err());
        assert!(swap_to_v2(Some(50), None).is_err());
    }

    #[test]
    fn page_sizes_are_checked() {
        assert!(check_page_size("2MB").is_ok());
        assert!(check_page_size("1GB").is_ok());
        assert!(check_page_size("../x").is_err());
        assert!(check_page_size("MB").is_err());
    }
}
