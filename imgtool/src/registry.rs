//! `pull` and `push` through the berth-registry client: manifests and blobs
//! stream straight into (or out of) the store, verified on both sides.

use berth_registry::{Client, Platform};

use crate::layer::Limits;
use crate::oci::DigestError;
use crate::progress::Progress;
use crate::reference::Reference;
use crate::store::{Added, Store, StoreError, Transaction};

/// Errors of pull and push.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The registry client failed (unreachable, auth, unknown manifest, ...).
    #[error(transparent)]
    Client(#[from] berth_registry::Error),
    /// The remote reference is malformed.
    #[error(transparent)]
    Reference(#[from] berth_registry::ReferenceError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<DigestError> for RegistryError {
    fn from(error: DigestError) -> Self {
        Self::Store(StoreError::Digest(error))
    }
}

/// The local name a pulled image gets: the remote name with its tag (none
/// when pulled by digest only).
fn local_name(remote: &berth_registry::Reference) -> Option<Reference> {
    let tag = remote.tag()?;
    format!("{}/{}:{tag}", remote.registry(), remote.repository())
        .parse()
        .ok()
}

/// Pull `remote` (this machine's platform of a multi-arch index) into the
/// store, named `name` or after the remote reference.
pub fn pull(
    store: &Store,
    client: &Client,
    remote: &str,
    name: Option<Reference>,
    limits: Limits,
) -> Result<Added, RegistryError> {
    let remote = berth_registry::Reference::parse(remote)?;
    // 1. The manifest, resolved to this platform and verified by the client.
    let manifest = client.get_manifest(&remote, &Platform::host())?;
    // 2. Blobs the store lacks, streamed into staging and verified twice.
    let mut txn = Transaction::new(store)?;
    let name = name.or_else(|| local_name(&remote));
    txn.receive_image(
        name,
        &manifest.bytes,
        &manifest.media_type,
        |blob, writer| {
            let bar = Progress::bytes(blob.digest.short(), blob.size);
            let update = |done: u64, _total: u64| bar.set(done);
            client.get_blob(&remote, &blob.digest, blob.size, writer, &update)?;
            bar.finish();
            Ok::<(), RegistryError>(())
        },
    )?;
    // 3. Layers unpacked, then everything committed at once.
    let added = txn.commit(true, limits, &Progress::bytes("unpack", 0))?;
    added.into_iter().next().ok_or_else(|| {
        RegistryError::Store(StoreError::UnknownImage {
            name: remote.to_string(),
        })
    })
}

/// Push image `name` to `remote`: blobs first (skipping those the registry
/// has), then the manifest. Returns the manifest digest.
pub fn push(
    store: &Store,
    client: &Client,
    name: &str,
    remote: &str,
) -> Result<String, RegistryError> {
    let remote = berth_registry::Reference::parse(remote)?;
    let plan = store.push_plan(name)?;
    for blob in &plan.blobs {
        let bar = Progress::bytes(blob.digest.short(), blob.size);
        let update = |done: u64, _total: u64| bar.set(done);
        client.push_blob(
            &remote,
            &blob.digest,
            blob.size,
            store.open_blob(blob)?,
            &update,
        )?;
        bar.finish();
    }
    let digest = client.put_manifest(&remote, &plan.media_type, &plan.manifest)?;
    Ok(digest.to_string())
}
