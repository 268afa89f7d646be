//! berth-img: an OCI image store, safe layer unpacking, and instant bundles.
//!
//! Layers: [`store`] keeps blobs and references (an OCI image layout);
//! [`layer`] unpacks layers safely; [`import`] and [`export`] move images in
//! and out of archives and layouts; [`bundle`] turns an image into a runtime
//! bundle; [`gc`] drops what nothing references.
#![deny(missing_docs)]

pub mod build;
pub mod bundle;
pub mod digest;
pub mod export;
pub mod gc;
pub mod import;
pub mod layer;
pub mod oci;
pub mod progress;
pub mod reference;
pub mod registry;
pub mod store;
mod sys;
