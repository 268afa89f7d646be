//! Fetched manifests, and picking this machine's entry out of a multi-arch
//! index (an OCI image index or a Docker manifest list). The media types,
//! platforms and index JSON are berth-oci's.

use berth_oci::media::ACCEPTED_MANIFESTS as ACCEPTED;
use berth_oci::{Digest, Index, Platform};

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

/// Picks the digest of the entry of `index_bytes` that runs on `wanted`
/// (see [`Index::select`]); a nested index is refused.
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
    let entry = index
        .select(wanted)
        .map_err(|missing| ManifestError::NoMatchingPlatform {
            reference: reference.to_owned(),
            platform: missing.platform,
            available: missing.available,
        })?;
    if entry.is_index() {
        return Err(ManifestError::NestedIndex {
            reference: reference.to_owned(),
            digest: entry.digest.clone(),
            platform: wanted.to_string(),
        });
    }
    Ok(entry.digest.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_oci::media::OCI_MANIFEST;

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
}
