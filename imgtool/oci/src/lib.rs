//! berth-oci: the OCI image vocabulary, once, for berth-img and berth-registry.
//!
//! - [`digest`]: [`Digest`] (sha256 and sha512, validated before it can name
//!   a file), incremental [`Hasher`], hashing readers and writers.
//! - [`verify`]: a blob checked against its descriptor while it streams
//!   ([`BlobCheck`] for pushed chunks, [`VerifyingReader`] for reads).
//! - [`media`]: media types and layer [`Compression`].
//! - [`image`]: descriptors, manifests, indexes, platforms and the image
//!   configuration.
//! - [`layout`]: the file names of an OCI image layout.
//! - [`quote`]: untrusted text shown with escapes in messages.
#![deny(missing_docs)]

pub mod digest;
pub mod image;
pub mod layout;
pub mod media;
pub mod quote;
pub mod verify;

pub use digest::{Algorithm, Digest, DigestError, Hasher, HashingReader, HashingWriter};
pub use image::{
    default_shell, host_architecture, now_rfc3339, Descriptor, ExecConfig, HealthConfig, History,
    ImageConfig, Index, Manifest, NoMatchingPlatform, Platform, PlatformError, RootFs,
    ANNOTATION_IMAGE_NAME, ANNOTATION_REF_NAME, DEFAULT_PATH,
};
pub use media::Compression;
pub use quote::{Escaped, Quoted};
pub use verify::{BlobCheck, VerifyError, VerifyingReader};
