//! The runtime options containerd hands the shim with Create.
//!
//! Two shapes arrive: runc's `containerd.runc.v1.Options` (BinaryName, Root, SystemdCgroup),
//! which containerd sends for the runc runtime types and ctr for its own flags; and
//! `runtimeoptions.v1.Options { type_url, config_path }`, which containerd 1.6's CRI plugin
//! sends for every other runtime type. For the latter the same three settings are read from
//! the file at ConfigPath, in TOML's `Key = value` form:
//!
//! ```toml
//! BinaryName = "/usr/local/bin/berth"
//! Root = "/run/containerd/berth"
//! SystemdCgroup = false
//! ```

use containerd_shim::api::Options;
use containerd_shim::protos::protobuf::well_known_types::any::Any;
use containerd_shim::protos::protobuf::rt::WireType;
use containerd_shim::protos::protobuf::{CodedInputStream, Message};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum OptionsError {
    #[error("runtime options ({type_url}): {source}")]
    Decode { type_url: String, source: containerd_shim::protos::protobuf::Error },
    #[error("runtime options: ConfigPath {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("runtime options: ConfigPath {path} line {line}: {problem}")]
    Syntax { path: PathBuf, line: usize, problem: &'static str },
}

/// Decode the options of a Create (absent or of another runtime: the defaults).
pub fn decode(any: Option<&Any>) -> Result<Options, OptionsError> {
    let Some(any) = any else { return Ok(Options::default()) };
    let decode_error = |source| OptionsError::Decode { type_url: any.type_url.clone(), source };
    if any.type_url.ends_with("containerd.runc.v1.Options") {
        return Options::parse_from_bytes(&any.value).map_err(decode_error);
    }
    if any.type_url.ends_with("runtimeoptions.v1.Options") {
        return match config_path(&any.value).map_err(decode_error)? {
            Some(path) => from_file(Path::new(&path)),
            None => Ok(Options::default()),
        };
    }
    Ok(Options::default())
}

/// Field 2 (config_path) of runtimeoptions.v1.Options, a message containerd-shim-protos
/// does not carry.
fn config_path(bytes: &[u8]) -> Result<Option<String>, containerd_shim::protos::protobuf::Error> {
    let mut input = CodedInputStream::from_bytes(bytes);
    let mut path = None;
    while let Some(tag) = input.read_raw_tag_or_eof()? {
        if tag == (2 << 3) | 2 {
            path = Some(input.read_string()?);
        } else {
            let wire_type = WireType::new(tag & 7).unwrap_or(WireType::LengthDelimited);
            input.skip_field(wire_type)?;
        }
    }
    Ok(path.filter(|p| !p.is_empty()))
}

/// Read BinaryName, Root and SystemdCgroup from a ConfigPath file.
fn from_file(path: &Path) -> Result<Options, OptionsError> {
    let text = std::fs::read_to_string(path).map_err(|source| OptionsError::Read { path: path.to_owned(), source })?;
    let mut options = Options::default();
    for (index, raw) in text.lines().enumerate() {
        let syntax = |problem| OptionsError::Syntax { path: path.to_owned(), line: index + 1, problem };
        let line = raw.split('#').next().unwrap_or_default().trim();
        if line.is_empty() || line.starts_with('[') {
            continue;
        }
        let (key, value) = line.split_once('=').ok_or_else(|| syntax("expected Key = value"))?;
        let value = value.trim();
        let string = || value.strip_prefix('"').and_then(|v| v.strip_suffix('"')).map(str::to_owned);
        match key.trim() {
            "BinaryName" => options.binary_name = string().ok_or_else(|| syntax("BinaryName must be a quoted string"))?,
            "Root" => options.root = string().ok_or_else(|| syntax("Root must be a quoted string"))?,
            "SystemdCgroup" => {
                options.systemd_cgroup = match value {
                    "true" => true,
                    "false" => false,
                    _ => return Err(syntax("SystemdCgroup must be true or false")),
                }
            }
            _ => return Err(syntax("unknown key (BinaryName, Root, SystemdCgroup)")),
        }
    }
    Ok(options)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_path_is_read_from_runtimeoptions() {
        // type_url = "x" (field 1), config_path = "/etc/b.toml" (field 2)
        let mut bytes = vec![0x0a, 1, b'x', 0x12, 11];
        bytes.extend_from_slice(b"/etc/b.toml");
        assert_eq!(config_path(&bytes).unwrap().as_deref(), Some("/etc/b.toml"));
    }

    #[test]
    fn unknown_keys_are_refused_with_the_line() {
        let dir = std::env::temp_dir().join(format!("berth-shim-options-{}", std::process::id()));
        std::fs::write(&dir, "BinaryName = \"/b\"\nRoot = \"/r\"\nSystemdCgroup = true\nBogus = 1\n").unwrap();
        let err = from_file(&dir).unwrap_err().to_string();
        assert!(err.contains("line 4") && err.contains("unknown key"), "{err}");
        std::fs::write(&dir, "BinaryName = \"/b\"\nRoot = \"/r\"\nSystemdCgroup = true\n").unwrap();
        let options = from_file(&dir).unwrap();
        assert_eq!((options.binary_name.as_str(), options.root.as_str(), options.systemd_cgroup), ("/b", "/r", true));
        let _ = std::fs::remove_file(&dir);
    }
}
