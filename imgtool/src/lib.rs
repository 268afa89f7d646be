//! berth-img: an OCI image store, safe layer unpacking, and instant bundles.
//!
//! Layers: [`store`] keeps blobs and references (an OCI image layout);
//! [`layer`] unpacks layers safely; [`import`] and [`export`] move images in
//! and out of archives and layouts; [`bundle`] turns an image into a runtime
//! bundle; [`gc`] drops what nothing references.
#![deny(missing_docs)]

pub mod build;
pub mod bundle;
pub mod export;
pub mod gc;
pub mod import;
mod killpoint;
pub mod layer;
pub mod progress;
pub mod reference;
pub mod registry;
pub mod store;
mod sys;

/// The OCI vocabulary (digests, descriptors, media types, image JSON, the
/// layout's names) is berth-oci's, shared with berth-registry: `oci::Digest`,
/// `oci::media::OCI_MANIFEST`, ... (`digest` is kept as a path to its digests).
pub use berth_oci as oci;
pub use berth_oci::digest;
