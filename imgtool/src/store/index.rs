//! The named references of the store's index.json: one manifest descriptor
//! per `name:tag`, named by the `org.opencontainers.image.ref.name` annotation.

use crate::digest::Digest;
use crate::oci::{Descriptor, Index, ANNOTATION_REF_NAME};
use crate::reference::Reference;

/// Every descriptor with a valid reference annotation.
pub(super) fn named(index: &Index) -> Vec<(Reference, Descriptor)> {
    index
        .manifests
        .iter()
        .filter_map(|d| Some((d.annotation(ANNOTATION_REF_NAME)?.parse().ok()?, d.clone())))
        .collect()
}

/// Every descriptor, with its reference if it has a valid one.
pub(super) fn entries(index: &Index) -> Vec<(Option<Reference>, Descriptor)> {
    index
        .manifests
        .iter()
        .map(|d| {
            let reference = d
                .annotation(ANNOTATION_REF_NAME)
                .and_then(|r| r.parse().ok());
            (reference, d.clone())
        })
        .collect()
}

/// Point `reference` at `descriptor`, replacing what it named before.
pub(super) fn set(index: &mut Index, reference: &Reference, descriptor: &Descriptor) {
    remove_ref(index, reference);
    let mut entry = Descriptor::new(
        &descriptor.media_type,
        descriptor.digest.clone(),
        descriptor.size,
    );
    entry.annotations = Some([(ANNOTATION_REF_NAME.to_string(), reference.to_string())].into());
    index.manifests.push(entry);
}

/// Drop `reference`; returns it if it was there.
pub(super) fn remove_ref(index: &mut Index, reference: &Reference) -> Vec<Reference> {
    let name = reference.to_string();
    let before = index.manifests.len();
    index
        .manifests
        .retain(|d| d.annotation(ANNOTATION_REF_NAME) != Some(name.as_str()));
    if index.manifests.len() < before {
        vec![reference.clone()]
    } else {
        vec![]
    }
}

/// Drop every reference to `digest`; returns them.
pub(super) fn remove_digest(index: &mut Index, digest: &Digest) -> Vec<Reference> {
    let removed = named(index)
        .into_iter()
        .filter(|(_, d)| d.digest == *digest)
        .map(|(r, _)| r)
        .collect();
    index.manifests.retain(|d| d.digest != *digest);
    removed
}
