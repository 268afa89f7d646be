//! `RUN --mount=...` specs (comma-separated, CSV-quoted `key=value` fields),
//! checked as BuildKit checks them.

/// The kind of a RUN mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountKind {
    /// A directory of the context or of another stage/image, read-only by default.
    Bind,
    /// A persistent cache directory, kept between builds.
    Cache,
    /// An empty tmpfs.
    Tmpfs,
    /// A secret file given with `--secret id=...,src=...`.
    Secret,
    /// An SSH agent socket (not supported by berth-img).
    Ssh,
}

/// One RUN mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// The kind.
    pub kind: MountKind,
    /// `from=`: a stage or image (bind, cache).
    pub from: Option<String>,
    /// `source=`: a path in `from` (or the context).
    pub source: Option<String>,
    /// `target=`: where it appears in the container.
    pub target: Option<String>,
    /// Read-only.
    pub read_only: bool,
    /// `id=`: the cache or secret id.
    pub id: Option<String>,
    /// `sharing=shared|private|locked` (cache).
    pub sharing: Option<String>,
    /// `required` (secret, ssh).
    pub required: bool,
    /// `size=` of a tmpfs, in bytes.
    pub size: Option<u64>,
    /// `mode=` (octal).
    pub mode: Option<u32>,
    /// `uid=`.
    pub uid: Option<u32>,
    /// `gid=`.
    pub gid: Option<u32>,
    /// `env=` (secret as an environment variable).
    pub env: Option<String>,
}

/// Fields of a CSV record: commas split unless inside double quotes; `""` is a quote.
fn csv_fields(spec: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = spec.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(std::mem::take(&mut field)),
            _ => field.push(c),
        }
    }
    if quoted {
        return Err(format!(
            "failed to parse csv mounts: unterminated quote in {spec:?}"
        ));
    }
    fields.push(field);
    Ok(fields)
}

/// At parse time: `from=` may not use variables (BuildKit's rule).
pub fn check_from(spec: &str) -> Result<(), String> {
    for field in csv_fields(spec)? {
        if let Some(value) = field.strip_prefix("from=") {
            if value.find('$').is_some_and(|at| at != value.len() - 1) {
                return Err(
                    "'from' doesn't support variable expansion, define alias stage instead".into(),
                );
            }
        }
    }
    Ok(())
}

fn parse_bool(key: &str, value: &str) -> Result<bool, String> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "t" | "true" => Ok(true),
        "0" | "f" | "false" => Ok(false),
        _ => Err(format!("invalid value for {key}: {value}")),
    }
}

/// docker/go-units RAMInBytes: a number with an optional b/k/m/g/t/p suffix (binary).
fn ram_bytes(value: &str) -> Option<u64> {
    let lower = value.trim().to_ascii_lowercase();
    let lower = lower
        .strip_suffix("ib")
        .or_else(|| lower.strip_suffix('b'))
        .unwrap_or(&lower);
    let digits = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    let number: f64 = lower[..digits].parse().ok()?;
    let scale: u64 = match &lower[digits..] {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        "p" => 1 << 50,
        _ => return None,
    };
    Some((number * scale as f64) as u64)
}

/// Parse one (already substituted) mount spec.
pub fn parse_mount(spec: &str) -> Result<Mount, String> {
    let mut mount = Mount {
        kind: MountKind::Bind,
        from: None,
        source: None,
        target: None,
        read_only: false,
        id: None,
        sharing: None,
        required: false,
        size: None,
        mode: None,
        uid: None,
        gid: None,
        env: None,
    };
    let mut read_only: Option<bool> = None;
    for field in csv_fields(spec)? {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k.to_ascii_lowercase(), Some(v.to_string())),
            None => (field.to_ascii_lowercase(), None),
        };
        let Some(value) = value else {
            match key.as_str() {
                "readonly" | "ro" => read_only = Some(true),
                "readwrite" | "rw" => read_only = Some(false),
                "required" if matches!(mount.kind, MountKind::Secret | MountKind::Ssh) => {
                    mount.required = true
                }
                "required" => {
                    return Err(format!(
                        "unexpected key 'required' for mount type '{}'",
                        kind_name(mount.kind)
                    ))
                }
                _ => return Err(format!("invalid field '{field}' must be a key=value pair")),
            }
            continue;
        };
        let number = |radix: u32| {
            u32::from_str_radix(&value, radix)
                .map_err(|_| format!("invalid value {value} for {key}"))
        };
        match key.as_str() {
            "type" => {
                mount.kind = match value.to_ascii_lowercase().as_str() {
                    "bind" => MountKind::Bind,
                    "cache" => MountKind::Cache,
                    "tmpfs" => MountKind::Tmpfs,
                    "secret" => MountKind::Secret,
                    "ssh" => MountKind::Ssh,
                    _ => return Err(format!("unsupported mount type {value:?}")),
                }
            }
            "from" => mount.from = Some(value),
            "source" | "src" => mount.source = Some(value),
            "target" | "dst" | "destination" => mount.target = Some(value),
            "readonly" | "ro" => read_only = Some(parse_bool(&key, &value)?),
            "readwrite" | "rw" => read_only = Some(!parse_bool(&key, &value)?),
            "required" if matches!(mount.kind, MountKind::Secret | MountKind::Ssh) => {
                mount.required = parse_bool(&key, &value)?
            }
            "size" if mount.kind == MountKind::Tmpfs => {
                mount.size = Some(
                    ram_bytes(&value).ok_or_else(|| format!("invalid value for size: {value}"))?,
                )
            }
            "required" | "size" => {
                return Err(format!(
                    "unexpected key '{key}' for mount type '{}'",
                    kind_name(mount.kind)
                ))
            }
            "id" => mount.id = Some(value),
            "sharing" => {
                let v = value.to_ascii_lowercase();
                if !matches!(v.as_str(), "shared" | "private" | "locked") {
                    return Err(format!("unsupported sharing value {value:?}"));
                }
                mount.sharing = Some(v);
            }
            "mode" => mount.mode = Some(number(8)?),
            "uid" => mount.uid = Some(number(10)?),
            "gid" => mount.gid = Some(number(10)?),
            "env" => mount.env = Some(value),
            _ => return Err(format!("unexpected key '{key}' in '{field}'")),
        }
    }
    let file_info = matches!(
        mount.kind,
        MountKind::Secret | MountKind::Ssh | MountKind::Cache
    );
    if !file_info {
        for (set, name) in [
            (mount.mode.is_some(), "mode"),
            (mount.uid.is_some(), "uid"),
            (mount.gid.is_some(), "gid"),
        ] {
            if set {
                return Err(format!(
                    "{name} not allowed for {:?} type mounts",
                    kind_name(mount.kind)
                ));
            }
        }
    }
    mount.read_only =
        read_only.unwrap_or(!matches!(mount.kind, MountKind::Cache | MountKind::Tmpfs));
    if mount.kind == MountKind::Secret {
        if mount.from.is_some() {
            return Err("secret mount should not have a from".into());
        }
        if mount.sharing.is_some() {
            return Err("secret mount should not define sharing".into());
        }
        if mount.source.is_none() && mount.target.is_none() && mount.id.is_none() {
            return Err("invalid secret mount. one of source, target required".into());
        }
        if mount.source.is_some() && mount.id.is_some() {
            return Err("both source and id can't be set".into());
        }
    }
    if mount.sharing.is_some() && mount.kind != MountKind::Cache {
        return Err(format!(
            "invalid cache sharing set for {} mount",
            kind_name(mount.kind)
        ));
    }
    Ok(mount)
}

fn kind_name(kind: MountKind) -> &'static str {
    match kind {
        MountKind::Bind => "bind",
        MountKind::Cache => "cache",
        MountKind::Tmpfs => "tmpfs",
        MountKind::Secret => "secret",
        MountKind::Ssh => "ssh",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_per_kind() {
        let bind = parse_mount("target=/src").unwrap();
        assert_eq!(bind.kind, MountKind::Bind);
        assert!(bind.read_only);
        let cache = parse_mount("type=cache,target=/var/cache/apt,sharing=locked").unwrap();
        assert!(!cache.read_only);
        assert_eq!(cache.sharing.as_deref(), Some("locked"));
        let tmpfs = parse_mount("type=tmpfs,target=/t,size=64m").unwrap();
        assert_eq!(tmpfs.size, Some(64 << 20));
        let secret = parse_mount("type=secret,id=token,required,mode=0400").unwrap();
        assert!(secret.required && secret.read_only);
        assert_eq!(secret.mode, Some(0o400));
        assert!(
            !parse_mount("type=bind,source=a,target=/a,rw")
                .unwrap()
                .read_only
        );
        assert_eq!(
            parse_mount("\"target=/a,b\"").unwrap().target.as_deref(),
            Some("/a,b")
        );
    }

    #[test]
    fn bad_mounts() {
        assert_eq!(
            parse_mount("type=nfs").unwrap_err(),
            "unsupported mount type \"nfs\""
        );
        assert_eq!(
            parse_mount("type=bind,mode=0700").unwrap_err(),
            "mode not allowed for \"bind\" type mounts"
        );
        assert_eq!(
            parse_mount("type=bind,required").unwrap_err(),
            "unexpected key 'required' for mount type 'bind'"
        );
        assert_eq!(
            parse_mount("type=secret").unwrap_err(),
            "invalid secret mount. one of source, target required"
        );
        assert_eq!(
            parse_mount("type=bind,sharing=shared").unwrap_err(),
            "invalid cache sharing set for bind mount"
        );
        assert_eq!(
            parse_mount("type=cache,foo=bar").unwrap_err(),
            "unexpected key 'foo' in 'foo=bar'"
        );
        assert!(check_from("from=$STAGE").is_err());
        assert!(check_from("from=build").is_ok());
    }
}
