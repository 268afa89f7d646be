//! `berth-img commit`: the changes a container made in its overlay bundle
//! (the upper directory: new and changed files, whiteouts, opaque
//! directories) become a layer on top of the bundle's image, with optional
//! config changes written as Dockerfile instructions (`--change 'CMD ...'`).

use std::fs::{self, File};
use std::io::BufWriter;
use std::path::Path;

use super::exec::StageResult;
use super::parse::{parse_dockerfile, Instruction};
use super::plan::{self, PlanInputs};
use super::snapshot::{write_tar, LayerRef};
use super::{commit_image, BuildError, ImageFormat};
use crate::bundle;
use crate::digest::{Digest, HashingWriter};
use crate::oci::media::OCI_LAYER;
use crate::oci::now_rfc3339;
use crate::reference::Reference;
use crate::store::{unique_name, Store};

/// Commit the bundle in `dir` as a new image named `tags`; its digest.
pub fn commit(
    store: &Store,
    dir: &Path,
    changes: &[String],
    tags: &[Reference],
    format: ImageFormat,
) -> Result<Digest, BuildError> {
    // 1. The bundle's image and upper directory.
    let found = bundle::changes(dir)?;
    if std::path::absolute(store.root()).ok() != std::path::absolute(&found.store).ok() {
        return Err(BuildError::Source {
            message: format!(
                "{}: the bundle's layers are in store {}, not {}",
                dir.display(),
                found.store.display(),
                store.root().display()
            ),
        });
    }
    // 2. The config: the image's, with the changes applied as a Dockerfile would (checked first).
    let text = format!("FROM {}\n{}\n", found.image, changes.join("\n"));
    let at = |e: super::parse::InstructionError| BuildError::Step {
        file: "--change".into(),
        line: e.line.saturating_sub(1),
        keyword: e.keyword,
        message: e.message,
    };
    let df = parse_dockerfile(&text).map_err(at)?;
    for step in df.stages.iter().flat_map(|s| &s.steps) {
        if matches!(
            step.instruction,
            Instruction::Run(_) | Instruction::Copy(_) | Instruction::Arg(_)
        ) {
            return Err(BuildError::Step {
                file: "--change".into(),
                line: step.line - 1,
                keyword: step.keyword.clone(),
                message: "only config instructions can be changed".into(),
            });
        }
    }
    // A lease, as a build takes: gc keeps the base image's layers and the new layer from
    // the moment they are leased until the image that names them is recorded.
    let lease = store.begin_build()?;
    let build_args = Default::default();
    let planned = plan::plan(
        &df,
        &PlanInputs {
            store,
            lease: Some(&lease),
            build_args: &build_args,
            target: None,
            context: None,
        },
    )
    .map_err(at)?;
    let stage = planned
        .stages
        .into_iter()
        .flatten()
        .last()
        .expect("one stage");
    let image = store.resolve_leased(&found.image.to_string(), &lease)?;
    let mut layers = LayerRef::of_image(&image);
    // 3. The upper directory as a layer blob (unpacked again when a bundle needs it).
    let staging = store.tmp_path().join(unique_name("commit"));
    let file = File::create(&staging).map_err(|e| BuildError::io("create", &staging, e))?;
    let mut writer = HashingWriter::new(BufWriter::with_capacity(1 << 20, file));
    let written = write_tar(&found.upper, &mut writer);
    if let Err(e) = written {
        let _ = fs::remove_file(&staging);
        return Err(BuildError::io("write layer of", &found.upper, e));
    }
    let (buffered, digest, size) = writer.finish();
    drop(
        buffered
            .into_inner()
            .map_err(|e| BuildError::io("write", &staging, e.into_error()))?,
    );
    let lock = store.lock()?;
    lease.hold(&lock, &digest)?;
    let blob = store.blob_path(&digest);
    if blob.exists() {
        let _ = fs::remove_file(&staging);
    } else {
        fs::rename(&staging, &blob).map_err(|e| BuildError::io("rename", &blob, e))?;
    }
    drop(lock);
    layers.push(LayerRef {
        digest: digest.clone(),
        diff_id: digest,
        media_type: OCI_LAYER.into(),
        size,
    });
    // 4. The image.
    let created = now_rfc3339();
    let mut config = stage.config;
    config.stamp(&created, layers.iter().map(|l| l.diff_id.clone()).collect());
    config.history_mut().push(crate::oci::History {
        created: Some(created),
        created_by: Some(format!("berth-img commit {}", dir.display())),
        author: None,
        comment: Some("berth-img commit".into()),
        empty_layer: false,
    });
    let result = StageResult {
        layers,
        config,
        key: String::new(),
        executed: 1,
    };
    commit_image(store, &result, format, tags)
}
