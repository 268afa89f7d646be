//! The names of an OCI image layout on disk (image-spec `image-layout.md`):
//!
//! ```text
//! oci-layout               {"imageLayoutVersion": "1.0.0"}
//! index.json               the top-level index
//! blobs/ALGORITHM/HEX      content, named by digest
//! ```

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;

/// The file that marks a directory as an image layout.
pub const OCI_LAYOUT_FILE: &str = "oci-layout";
/// The layout's top-level index.
pub const INDEX_FILE: &str = "index.json";
/// The directory of blobs.
pub const BLOBS_DIR: &str = "blobs";
/// The layout version this crate writes.
pub const IMAGE_LAYOUT_VERSION: &str = "1.0.0";

/// A blob's path relative to the layout's root: `blobs/ALGORITHM/HEX`.
pub fn blob_path(digest: &Digest) -> PathBuf {
    [BLOBS_DIR, digest.algorithm().name(), digest.hex()]
        .iter()
        .collect()
}

/// A blob's path as a name inside an archive (always `/`-separated).
pub fn blob_name(digest: &Digest) -> String {
    format!("{BLOBS_DIR}/{}/{}", digest.algorithm().name(), digest.hex())
}

/// Why an `oci-layout` file was refused.
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    /// It is not the JSON object the spec describes.
    #[error("oci-layout: invalid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// It names a layout version this crate does not know.
    #[error("oci-layout: imageLayoutVersion {version:?} is not supported (1.x is)")]
    UnknownVersion {
        /// The version it names.
        version: String,
    },
}

/// The content of the `oci-layout` file.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LayoutFile {
    /// The layout version.
    #[serde(rename = "imageLayoutVersion")]
    pub image_layout_version: String,
}

impl LayoutFile {
    /// The file this crate writes.
    pub fn current() -> Self {
        Self {
            image_layout_version: IMAGE_LAYOUT_VERSION.into(),
        }
    }

    /// Parse an `oci-layout` file and check that its version is one this
    /// crate reads (1.x: later minor versions only add optional things).
    pub fn parse(bytes: &[u8]) -> Result<Self, LayoutError> {
        let layout: LayoutFile = serde_json::from_slice(bytes)?;
        let mut parts = layout.image_layout_version.split('.');
        let known = parts.next() == Some("1")
            && parts.all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
        if !known {
            return Err(LayoutError::UnknownVersion {
                version: layout.image_layout_version,
            });
        }
        Ok(layout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_blobs_by_algorithm_and_checks_versions() {
        let digest = Digest::of_bytes(b"");
        assert_eq!(
            blob_path(&digest),
            PathBuf::from(format!("blobs/sha256/{}", digest.hex()))
        );
        assert!(LayoutFile::parse(br#"{"imageLayoutVersion":"1.0.0"}"#).is_ok());
        assert!(LayoutFile::parse(br#"{"imageLayoutVersion":"1.1.0"}"#).is_ok());
        for bad in [
            &br#"{"imageLayoutVersion":"9.9.9"}"#[..],
            br#"{"imageLayoutVersion":"1..0"}"#,
            br#"{}"#,
            b"x",
        ] {
            assert!(LayoutFile::parse(bad).is_err());
        }
    }
}
