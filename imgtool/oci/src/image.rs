//! The OCI image format's JSON: descriptors, manifests, indexes, platforms
//! and the image configuration (with docker's fields).
//!
//! Own serde types rather than oci-spec's: oci-spec's image types require
//! fields that real images leave out or set to null (docker's `config`
//! `null` values, index entries without `platform`), keep digests as
//! strings, and lack docker's `Healthcheck`/`OnBuild`; here every optional
//! field is optional and digests are validated while parsing.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::media;

/// The annotation naming a manifest in an OCI layout's index (a tag such as
/// `latest`, or a full reference).
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
/// containerd's and Docker's annotation with the full image name.
pub const ANNOTATION_IMAGE_NAME: &str = "io.containerd.image.name";

/// A content descriptor.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// The media type of the referenced content.
    #[serde(default)]
    pub media_type: String,
    /// Its digest.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
    /// The platform of a manifest in an index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

impl Descriptor {
    /// A descriptor without platform or annotations.
    pub fn new(media_type: &str, digest: Digest, size: u64) -> Self {
        Self {
            media_type: media_type.to_string(),
            digest,
            size,
            platform: None,
            annotations: None,
        }
    }

    /// The same content without platform or annotations.
    pub fn bare(&self) -> Self {
        Self::new(&self.media_type, self.digest.clone(), self.size)
    }

    /// The value of annotation `key`.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations.as_ref()?.get(key).map(String::as_str)
    }

    /// This descriptor names an index (OCI or docker manifest list).
    pub fn is_index(&self) -> bool {
        media::is_index(&self.media_type)
    }
}

/// A platform string that is not `OS/ARCH[/VARIANT]`.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("platform {text:?}: expected OS/ARCH or OS/ARCH/VARIANT, e.g. linux/arm64/v8")]
pub struct PlatformError {
    /// The refused text.
    pub text: String,
}

/// An operating system and CPU architecture, as image indexes name them.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, Hash)]
pub struct Platform {
    /// CPU architecture (GOARCH spelling), e.g. `amd64`.
    pub architecture: String,
    /// GOOS-style operating system, e.g. `linux`.
    pub os: String,
    /// Architecture variant, e.g. `v8` for arm64 or `v7` for arm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// This machine's architecture in GOARCH spelling.
pub fn host_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "x86" => "386",
        "aarch64" => "arm64",
        "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
        "loongarch64" => "loong64",
        other => other,
    }
}

impl Platform {
    /// The platform of this machine (e.g. linux/amd64, linux/arm64/v8).
    pub fn host() -> Platform {
        let variant = match std::env::consts::ARCH {
            "aarch64" => Some("v8"),
            "arm" => Some("v7"),
            _ => None,
        };
        Platform {
            os: std::env::consts::OS.to_owned(),
            architecture: host_architecture().to_owned(),
            variant: variant.map(str::to_owned),
        }
    }

    /// Parses `OS/ARCH` or `OS/ARCH/VARIANT`.
    pub fn parse(text: &str) -> Result<Platform, PlatformError> {
        let parts: Vec<&str> = text.split('/').collect();
        if parts.iter().any(|p| p.is_empty()) {
            return Err(PlatformError { text: text.into() });
        }
        let (os, architecture, variant) = match parts.as_slice() {
            [os, arch] => (os, arch, None),
            [os, arch, variant] => (os, arch, Some((*variant).to_owned())),
            _ => return Err(PlatformError { text: text.into() }),
        };
        Ok(Platform {
            os: (*os).into(),
            architecture: (*architecture).into(),
            variant,
        })
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

/// An image manifest.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// Always 2.
    pub schema_version: u32,
    /// The manifest's own media type (optional in OCI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The image configuration.
    pub config: Descriptor,
    /// The layers, base first.
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// No entry of an index runs on the wanted platform.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("no image for platform {platform} (the index has: {available})")]
pub struct NoMatchingPlatform {
    /// The platform wanted.
    pub platform: String,
    /// The platforms the index lists, comma-separated ("nothing" when none).
    pub available: String,
}

/// An image index (or docker manifest list).
#[derive(Clone, Debug, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    /// Always 2.
    pub schema_version: u32,
    /// The index's own media type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The manifests.
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
}

impl Index {
    /// The entry that runs on `wanted`: an entry of its OS and architecture
    /// whose variant equals the wanted one wins; then one without a variant;
    /// then, when no variant is wanted, any variant. An index whose only
    /// image manifests name no platform at all gives its first one.
    pub fn select(&self, wanted: &Platform) -> Result<&Descriptor, NoMatchingPlatform> {
        let candidates: Vec<(&Descriptor, &Platform)> = self
            .manifests
            .iter()
            .filter_map(|entry| entry.platform.as_ref().map(|p| (entry, p)))
            .filter(|(_, p)| p.os == wanted.os && p.architecture == wanted.architecture)
            .collect();
        let chosen = candidates
            .iter()
            .find(|(_, p)| p.variant == wanted.variant)
            .or_else(|| candidates.iter().find(|(_, p)| p.variant.is_none()))
            .or_else(|| candidates.first().filter(|_| wanted.variant.is_none()))
            .map(|(entry, _)| *entry)
            .or_else(|| {
                self.manifests
                    .iter()
                    .find(|m| m.platform.is_none() && !m.is_index())
            });
        chosen.ok_or_else(|| {
            let available: Vec<String> = self
                .manifests
                .iter()
                .filter_map(|e| e.platform.as_ref().map(Platform::to_string))
                .collect();
            NoMatchingPlatform {
                platform: wanted.to_string(),
                available: if available.is_empty() {
                    "nothing".into()
                } else {
                    available.join(", ")
                },
            }
        })
    }

    /// The entry for this machine (see [`Platform::host`]).
    pub fn pick_platform(&self) -> Option<&Descriptor> {
        self.select(&Platform::host()).ok()
    }
}

/// The image configuration.
#[derive(Clone, Debug, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ImageConfig {
    /// CPU architecture.
    #[serde(default)]
    pub architecture: String,
    /// Operating system.
    #[serde(default)]
    pub os: String,
    /// Creation time (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Who made the image (Dockerfile `MAINTAINER`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// How a container runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<ExecConfig>,
    /// The uncompressed layer digests.
    pub rootfs: RootFs,
    /// Build history, one entry per step, base first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<Vec<History>>,
}

impl ImageConfig {
    /// `config`, made present (empty) if the image had none, for editing.
    pub fn exec_mut(&mut self) -> &mut ExecConfig {
        self.config.get_or_insert_with(ExecConfig::default)
    }

    /// The history entries, made present (empty) if the image had none.
    pub fn history_mut(&mut self) -> &mut Vec<History> {
        self.history.get_or_insert_with(Vec::new)
    }

    /// Stamp a config for the layers it now describes: its creation time, `rootfs.diff_ids`,
    /// and that time on every history entry that has none (a build's and a commit's last step).
    pub fn stamp(&mut self, created: &str, diff_ids: Vec<Digest>) {
        self.created = Some(created.to_owned());
        self.rootfs.kind = "layers".into();
        self.rootfs.diff_ids = diff_ids;
        for entry in self.history_mut() {
            if entry.created.is_none() {
                entry.created = Some(created.to_owned());
            }
        }
    }
}

/// One entry of the image configuration's `history`.
#[derive(Clone, Debug, Serialize, Deserialize, Default)]
pub struct History {
    /// When the step ran (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// The instruction that made it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// Who made it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// A free-form note.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// The step changed only the config, so no layer belongs to it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub empty_layer: bool,
}

/// `rootfs` of the image configuration.
#[derive(Clone, Debug, Serialize, Deserialize, Default)]
pub struct RootFs {
    /// Always `layers`.
    #[serde(rename = "type")]
    pub kind: String,
    /// One per layer, base first: the digest of the layer's uncompressed tar.
    #[serde(default)]
    pub diff_ids: Vec<Digest>,
}

/// `config` of the image configuration: how a container of it runs.
#[derive(Clone, Debug, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct ExecConfig {
    /// `user`, `uid`, `user:group` or `uid:gid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// `port/proto` keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, serde_json::Value>>,
    /// `NAME=value` entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    /// The command prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    /// The default arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    /// Paths that hold volumes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<BTreeMap<String, serde_json::Value>>,
    /// The working directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// Labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    /// The stop signal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    /// Docker's: the shell of shell-form commands (Dockerfile `SHELL`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<Vec<String>>,
    /// Docker's: the health check (Dockerfile `HEALTHCHECK`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<HealthConfig>,
    /// Docker's: triggers a build `FROM` this image runs (Dockerfile `ONBUILD`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_build: Option<Vec<String>>,
    /// Docker's: set by CMD/ENTRYPOINT; kept so Docker reads the image alike.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args_escaped: Option<bool>,
}

/// The default PATH BuildKit sets when an image has none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The shell of shell-form commands when the image names none.
pub fn default_shell() -> Vec<String> {
    vec!["/bin/sh".into(), "-c".into()]
}

impl ExecConfig {
    /// The `Env` entries as (name, value) pairs, in order.
    pub fn env_pairs(&self) -> Vec<(String, String)> {
        self.env
            .iter()
            .flatten()
            .map(|e| match e.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (e.clone(), String::new()),
            })
            .collect()
    }

    /// Set `key` in `Env`, in place if present.
    pub fn set_env(&mut self, key: &str, value: &str) {
        let env = self.env.get_or_insert_with(Vec::new);
        let entry = format!("{key}={value}");
        match env
            .iter_mut()
            .find(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) == key)
        {
            Some(existing) => *existing = entry,
            None => env.push(entry),
        }
    }

    /// The shell in force: `Shell` if set and non-empty, else `/bin/sh -c`.
    pub fn shell_or_default(&self) -> Vec<String> {
        self.shell
            .clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(default_shell)
    }
}

/// Docker's `Healthcheck`: durations in nanoseconds; zero (unset) is omitted.
#[derive(Clone, Debug, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct HealthConfig {
    /// `["NONE"]`, `["CMD", ...]` or `["CMD-SHELL", line]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub test: Vec<String>,
    /// Between checks.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub interval: i64,
    /// Before a check fails.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub timeout: i64,
    /// Grace period after start.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub start_period: i64,
    /// Between checks during the start period.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub start_interval: i64,
    /// Failures before unhealthy.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub retries: i64,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// The current UTC time as RFC 3339 (`2024-01-02T03:04:05Z`), for `created`.
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    rfc3339(secs)
}

/// Seconds since the epoch as RFC 3339 UTC.
pub fn rfc3339(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    }

    fn entry(arch: &str, variant: Option<&str>, n: char) -> Descriptor {
        let digest = Digest::from_hex(&n.to_string().repeat(64)).unwrap();
        Descriptor {
            platform: Some(Platform {
                architecture: arch.into(),
                os: "linux".into(),
                variant: variant.map(Into::into),
            }),
            ..Descriptor::new(media::OCI_MANIFEST, digest, 1)
        }
    }

    #[test]
    fn selects_architecture_and_variant() {
        let index = Index {
            schema_version: 2,
            media_type: None,
            manifests: vec![
                entry("arm", Some("v6"), 'a'),
                entry("arm", Some("v7"), 'b'),
                entry("arm64", None, 'c'),
                entry("amd64", None, 'd'),
            ],
        };
        let pick = |p: &str| {
            let wanted = Platform::parse(p).unwrap();
            index.select(&wanted).unwrap().digest.hex()[..1].to_string()
        };
        assert_eq!(pick("linux/amd64"), "d");
        assert_eq!(pick("linux/arm/v7"), "b");
        assert_eq!(pick("linux/arm64/v8"), "c");
        let missing = index
            .select(&Platform::parse("linux/s390x").unwrap())
            .unwrap_err();
        assert!(
            missing.available.contains("linux/arm/v6, linux/arm/v7"),
            "{missing}"
        );
    }

    #[test]
    fn keeps_dockers_config_fields() {
        let text = r#"{"architecture":"amd64","os":"linux","author":"me","config":{"Shell":["/bin/bash","-c"],"Healthcheck":{"Test":["CMD","true"],"Interval":1,"Timeout":2,"StartPeriod":3,"StartInterval":4,"Retries":5},"OnBuild":["RUN true"],"ArgsEscaped":true},"rootfs":{"type":"layers","diff_ids":[]},"history":[{"created_by":"RUN true","author":"me","empty_layer":true}]}"#;
        let config: ImageConfig = serde_json::from_str(text).unwrap();
        let exec = config.config.as_ref().unwrap();
        assert_eq!(exec.shell_or_default(), ["/bin/bash", "-c"]);
        assert_eq!(exec.healthcheck.as_ref().unwrap().start_interval, 4);
        let back: serde_json::Value = serde_json::to_value(&config).unwrap();
        let want: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(back, want);
        // Absent fields stay absent.
        let empty = serde_json::to_string(&ExecConfig::default()).unwrap();
        assert_eq!(empty, "{}");
    }

    #[test]
    fn platform_parse_refuses_junk() {
        assert!(Platform::parse("linux").is_err());
        assert!(Platform::parse("linux//x").is_err());
        assert_eq!(
            Platform::parse("linux/arm64/v8").unwrap().to_string(),
            "linux/arm64/v8"
        );
    }
}
