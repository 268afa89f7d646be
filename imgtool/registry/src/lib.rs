//! berth-registry: a client for the OCI distribution API (docker registries).
//!
//! It moves bytes and verifies them; it does not store or decompress
//! anything (gzip, zstd and uncompressed layers pass through unchanged).
//!
//! ```no_run
//! use berth_registry::{Client, ClientOptions, NoProgress, Platform, Reference};
//!
//! let client = Client::new(ClientOptions::default());
//! let reference = Reference::parse("127.0.0.1:5000/busybox:latest")?;
//! let manifest = client.get_manifest(&reference, &Platform::host())?;
//! // ... parse manifest.bytes, then for each layer descriptor:
//! # let (digest, size) = (manifest.digest.clone(), 0);
//! let mut file = std::fs::File::create("/tmp/layer")?;
//! client.get_blob(&reference, &digest, size, &mut file, &NoProgress)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Operations of [`Client`]: [`get_manifest`](Client::get_manifest) (a
//! multi-arch index resolved to a [`Platform`]), [`fetch_manifest`](Client::fetch_manifest)
//! (whatever the reference names), [`get_blob`](Client::get_blob),
//! [`blob_exists`](Client::blob_exists), [`push_blob`](Client::push_blob),
//! [`mount_blob`](Client::mount_blob) and [`put_manifest`](Client::put_manifest).
//! Every transfer is checked against its digest and size as it streams; a
//! [`Progress`] hook sees the bytes move. Errors are one [`Error`] enum whose
//! messages are one line naming the registry, repository, URL or digest.
//!
//! Authentication: anonymous, HTTP basic, and the bearer token flow
//! (`WWW-Authenticate: Bearer realm=...,service=...`), with credentials
//! from [`ClientOptions::credentials`] or a docker-style auth file
//! ([`default_auth_file`]). Transport: https with the system's roots;
//! plain http only for localhost, 127.0.0.0/8 and ::1, or everywhere with
//! [`ClientOptions::insecure`].
#![deny(missing_docs)]

mod auth;
mod client;
mod error;
mod manifest;
mod progress;
mod reference;
mod transport;

pub use auth::{default_auth_file, lookup_auth_file, AuthError, Credentials};
pub use berth_oci::media::{
    is_index, ACCEPTED_MANIFESTS as ACCEPTED, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX,
    OCI_MANIFEST,
};
pub use berth_oci::{Algorithm, Digest, DigestError, Platform, VerifyError};
pub use client::{BlobPush, Client, ClientOptions, MAX_MANIFEST_SIZE};
pub use error::Error;
pub use manifest::{Manifest, ManifestError};
pub use progress::{NoProgress, Progress};
pub use reference::{Reference, ReferenceError, DOCKER_HUB};
