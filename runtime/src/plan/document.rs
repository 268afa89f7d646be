//! Checks on config.json as written, which the typed spec cannot make: serde fills a missing
//! `process.user.uid` or `process.rlimits[].soft` with 0, which would run the container as
//! root or with a zero limit, though the runtime spec marks them REQUIRED; and a NUL byte in
//! a string the kernel will see would cut it short or fail late, deep in the init. Every
//! string (and key) is checked here, naming its JSON path; annotations are skipped, as only
//! berth and its managers read them.

use super::SpecError;
use serde_json::Value;

/// Check the document `doc` (config.json parsed as plain JSON).
pub(super) fn check(doc: &Value) -> Result<(), SpecError> {
    if let Some(object) = doc.as_object() {
        for (key, value) in object.iter().filter(|(key, _)| key.as_str() != "annotations") {
            check_nul(key, value)?;
        }
    }
    let process = &doc["process"];
    if let Some(user) = process["user"].as_object() {
        for id in ["uid", "gid"] {
            if !user.contains_key(id) {
                return Err(SpecError::invalid(format!("process.user.{id}"), "missing (the runtime spec requires it)"));
            }
        }
    }
    for (i, limit) in process["rlimits"].as_array().into_iter().flatten().enumerate() {
        for bound in ["soft", "hard"] {
            if limit.get(bound).is_none() {
                return Err(SpecError::invalid(format!("process.rlimits[{i}].{bound}"), "missing (the runtime spec requires it)"));
            }
        }
    }
    Ok(())
}

/// Refuse a NUL byte in any key or string of `value`, found at JSON path `path`.
fn check_nul(path: &str, value: &Value) -> Result<(), SpecError> {
    let refuse = |path: &str| Err(SpecError::invalid(path, "contains a NUL byte"));
    match value {
        Value::String(text) if text.contains('\0') => refuse(path),
        Value::Array(items) => items.iter().enumerate().try_for_each(|(i, item)| check_nul(&format!("{path}[{i}]"), item)),
        Value::Object(fields) => fields.iter().try_for_each(|(key, item)| {
            let path = format!("{path}.{key}");
            if key.contains('\0') {
                return refuse(&path);
            }
            check_nul(&path, item)
        }),
        _ => Ok(()),
    }
}
