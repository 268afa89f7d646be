//! Manifest media types, platforms, and picking this machine's entry out of
//! a multi-arch index (an OCI image index or a Docker manifest list).

use std::fmt;

use serde::Deserialize;

use crate::digest::{Digest, DigestError};

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index (multi-arch).
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker image manifest, schema 2.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list (multi-arch).
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// Every manifest media type this client asks for and accepts.
pub const ACCEPTED: [&str; 4] = [
    OCI_MANIFEST,
    OCI_INDEX,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
];

/// Whether `media_type` is a multi-arch index.
pub fn is_index(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_MANIFEST_LIST
}

/// Why a manifest could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The registry served a media type this client does not handle.
    #[error("manifest {reference}: media type {media_type:?} is not supported (expected one of {})", ACCEPTED.join(", "))]
    UnsupportedMediaType {
        /// The reference asked for.
        reference: String,
        /// What the registry served.
        media_type: String,
    },
    /// An index's JSON does not parse.
    #[error("manifest {reference}: index JSON is invalid: {source}")]
    InvalidIndex {
        /// The reference asked for.
        reference: String,
        /// The parse error, with its line and column.
        source: serde_json::Error,
    },
    /// An index entry has a malformed digest.
    #[error("manifest {reference}: index entry: {source}")]
    InvalidEntryDigest {
        /// The reference asked for.
        reference: String,
        /// What is wrong with the digest.
        source: DigestError,
    },
    /// No index entry matches the wanted platform.
    #[error("manifest {reference}: no image for platform {platform} (the index has: {available})")]
    NoMatchingPlatform {
        /// The reference asked for.
        reference: String,
        /// The platform wanted, as OS/ARCH\[/VARIANT\].
        platform: String,
        /// The platforms the index lists, comma-separated.
        available: String,
    },
    /// An index points at another index where an image manifest was expected.
    #[error("manifest {reference}: index entry {digest} for {platform} is itself an index")]
    NestedIndex {
        /// The reference asked for.
        reference: String,
        /// The entry's digest.
        digest: Digest,
        /// The platform wanted, as OS/ARCH\[/VARIANT\].
        platform: String,
    },
    /// A platform string does not parse.
    #[error("platform {text:?}: expected OS/ARCH or OS/ARCH/VARIANT, e.g. linux/arm64/v8")]
    InvalidPlatform {
        /// The refused text.
        text: String,
    },
}

/// An operating system and CPU architecture, as image indexes name them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Platform {
    /// GOOS-style operating system, e.g. `linux`.
    pub os: String,
    /// GOARCH-style architecture, e.g. `amd64`.
    pub architecture: String,
    /// Architecture variant, e.g. `v8` for arm64 or `v7` for arm.
    pub variant: Option<String>,
}

impl Platform {
    /// The platform of this machine (e.g. linux/amd64).
    pub fn host() -> Platform {
        let (architecture, variant) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", None),
            "x86" => ("386", None),
            "aarch64" => ("arm64", Some("v8")),
            "arm" => ("arm", Some("v7")),
            "powerpc64" if cfg!(target_endian = "little") => ("ppc64le", None),
            "loongarch64" => ("loong64", None),
            other => (other, None),
        };
        Platform {
            os: std::env::consts::OS.to_owned(),
            architecture: architecture.to_owned(),
            variant: variant.map(str::to_owned),
        }
    }

    /// Parses `OS/ARCH` or `OS/ARCH/VARIANT`.
    pub fn parse(text: &str) -> Result<Platform, ManifestError> {
        let parts: Vec<&str> = text.split('/').collect();
        let invalid = || ManifestError::InvalidPlatform {
            text: text.to_owned(),
        };
        if parts.iter().any(|p| p.is_empty()) {
            return Err(invalid());
        }
        match parts.as_slice() {
            [os, arch] => Ok(Platform {
                os: (*os).into(),
                architecture: (*arch).into(),
                variant: None,
            }),
            [os, arch, variant] => Ok(Platform {
                os: (*os).into(),
                architecture: (*arch).into(),
                variant: Some((*variant).into()),
            }),
            _ => Err(invalid()),
        }
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

/// A manifest as fetched: its media type, its exact bytes, and their digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The media type (one of [`ACCEPTED`]).
    pub media_type: String,
    /// The bytes exactly as served; their digest is `digest`.
    pub bytes: Vec<u8>,
    /// The digest of `bytes`, verified against what was asked for.
    pub digest: Digest,
}

/// The part of an index entry needed to pick a platform.
#[derive(Deserialize)]
struct IndexEntry {
    #[serde(rename = "mediaType", default)]
    media_type: Option<String>,
    digest: String,
    platform: Option<EntryPlatform>,
}

#[derive(Deserialize)]
struct EntryPlatform {
    os: String,
    architecture: String,
    variant: Option<String>,
}

#[derive(Deserialize)]
struct Index {
    manifests: Vec<IndexEntry>,
}

/// Picks the digest of the entry of `index_bytes` that runs on `wanted`.
///
/// An entry whose variant equals the wanted one wins; then one without a
/// variant; then, when no variant is wanted, any variant of that OS and
/// architecture.
pub(crate) fn select_platform(
    reference: &str,
    index_bytes: &[u8],
    wanted: &Platform,
) -> Result<Digest, ManifestError> {
    let index: Index =
        serde_json::from_slice(index_bytes).map_err(|source| ManifestError::InvalidIndex {
            reference: reference.to_owned(),
            source,
        })?;
    let candidates: Vec<(&IndexEntry, &EntryPlatform)> = index
        .manifests
        .iter()
        .filter_map(|entry| entry.platform.as_ref().map(|p| (entry, p)))
        .filter(|(_, p)| p.os == wanted.os && p.architecture == wanted.architecture)
        .collect();
    let chosen = candidates
        .iter()
        .find(|(_, p)| p.variant == wanted.variant)
        .or_else(|| candidates.iter().find(|(_, p)| p.variant.is_none()))
        .or_else(|| candidates.first().filter(|_| wanted.variant.is_none()));
    let Some((entry, _)) = chosen else {
        let available: Vec<String> = index
            .manifests
            .iter()
            .filter_map(|e| e.platform.as_ref())
            .map(|p| match &p.variant {
                Some(v) => format!("{}/{}/{v}", p.os, p.architecture),
                None => format!("{}/{}", p.os, p.architecture),
            })
            .collect();
        return Err(ManifestError::NoMatchingPlatform {
            reference: reference.to_owned(),
            platform: wanted.to_string(),
            available: if available.is_empty() {
                "nothing".into()
            } else {
                available.join(", ")
            },
        });
    };
    let digest =
        Digest::parse(&entry.digest).map_err(|source| ManifestError::InvalidEntryDigest {
            reference: reference.to_owned(),
            source,
        })?;
    if entry.media_type.as_deref().is_some_and(is_index) {
        return Err(ManifestError::NestedIndex {
            reference: reference.to_owned(),
            digest,
            platform: wanted.to_string(),
        });
    }
    Ok(digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(arch: &str, variant: Option<&str>, n: char) -> String {
        let variant = variant
            .map(|v| format!(r#","variant":"{v}""#))
            .unwrap_or_default();
        format!(
            r#"{{"mediaType":"{OCI_MANIFEST}","size":1,"digest":"sha256:{}","platform":{{"os":"linux","architecture":"{arch}"{variant}}}}}"#,
            n.to_string().repeat(64)
        )
    }

    fn index(entries: &[String]) -> Vec<u8> {
        format!(
            r#"{{"schemaVersion":2,"manifests":[{}]}}"#,
            entries.join(",")
        )
        .into_bytes()
    }

    #[test]
    fn picks_architecture_and_variant() {
        let idx = index(&[
            entry("arm", Some("v6"), 'a'),
            entry("arm", Some("v7"), 'b'),
            entry("arm64", None, 'c'),
            entry("amd64", None, 'd'),
        ]);
        let pick = |p: &str| select_platform("r", &idx, &Platform::parse(p).unwrap()).unwrap();
        assert_eq!(pick("linux/amd64").hex(), "d".repeat(64));
        assert_eq!(pick("linux/arm/v7").hex(), "b".repeat(64));
        assert_eq!(pick("linux/arm64/v8").hex(), "c".repeat(64));
        let missing = select_platform("r", &idx, &Platform::parse("linux/s390x").unwrap());
        let message = missing.unwrap_err().to_string();
        assert!(message.contains("linux/arm/v6, linux/arm/v7"), "{message}");
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
