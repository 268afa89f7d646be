//! `berth-img build`: Dockerfiles into images, with BuildKit's semantics.
//!
//! [`parse`] reads the Dockerfile and [`ignore`] the `.dockerignore`;
//! [`plan`] resolves stages and substitutes variables before anything is
//! made; [`exec`] runs the stages (RUN through the berth runtime, COPY and
//! ADD by [`copy`] and [`add`]) on overlays ([`snapshot`]) with a content
//! keyed [`cache`]; the result is committed to the store as one
//! transaction and optionally written out as a bundle or an archive.

pub mod add;
pub mod cache;
pub mod commit;
pub mod copy;
pub mod digests;
pub mod display;
pub mod exec;
pub mod ignore;
pub mod parse;
pub mod plan;
pub mod run;
pub mod snapshot;

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use crate::digest::Digest;
use crate::export::{self, ExportError, Format as ArchiveFormat};
use crate::layer::LayerError;
use crate::oci::media::{
    DOCKER_CONFIG, DOCKER_MANIFEST as MEDIA_DOCKER_MANIFEST, OCI_CONFIG as MEDIA_OCI_CONFIG,
    OCI_MANIFEST as MEDIA_OCI_MANIFEST,
};
use crate::oci::{Descriptor, Manifest};
use crate::progress::Progress;
use crate::reference::Reference;
use crate::store::{Store, StoreError, Transaction};

/// Errors of a build: each names the Dockerfile line or the path at fault.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The Dockerfile cannot be read.
    #[error("{path}: {source}")]
    ReadDockerfile {
        /// The file.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// A syntax or plan error at a line.
    #[error("{file}:{line}: {keyword}: {message}")]
    Step {
        /// The Dockerfile's name.
        file: String,
        /// The line.
        line: usize,
        /// The instruction.
        keyword: String,
        /// What is wrong.
        message: String,
    },
    /// `.dockerignore` has a bad pattern.
    #[error("{path}:{line}: bad pattern {pattern:?}")]
    Ignore {
        /// The file.
        path: PathBuf,
        /// The line.
        line: usize,
        /// The pattern.
        pattern: String,
    },
    /// A source of COPY/ADD/a mount is missing or unreadable.
    #[error("{message}")]
    Source {
        /// What.
        message: String,
    },
    /// A RUN command failed.
    #[error("RUN {command}: exited with code {code}")]
    RunFailed {
        /// The command.
        command: String,
        /// Its exit code.
        code: i32,
        /// Its output, when it was kept rather than shown (the build's
        /// display prints it).
        output: Vec<u8>,
    },
    /// A RUN could not be set up.
    #[error("RUN: {message}")]
    Run {
        /// What.
        message: String,
    },
    /// A filesystem call failed.
    #[error("{call} {path}: {source}")]
    Io {
        /// The call.
        call: &'static str,
        /// The path.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// Too many layers for one overlay mount.
    #[error("{layers} layers: the overlay lowerdir list is longer than a page")]
    TooManyLayers {
        /// The count.
        layers: usize,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Extracting an ADD archive failed.
    #[error(transparent)]
    Layer(#[from] LayerError),
    /// Writing `--output` failed.
    #[error(transparent)]
    Export(#[from] ExportError),
    /// Writing `--bundle` failed.
    #[error(transparent)]
    Bundle(#[from] crate::bundle::BundleError),
    /// Another stage failed first.
    #[error("build aborted")]
    Aborted,
}

impl BuildError {
    /// An io error at a path.
    pub fn io(call: &'static str, path: &Path, source: io::Error) -> Self {
        BuildError::Io {
            call,
            path: path.to_path_buf(),
            source,
        }
    }

    /// An errno at a path.
    pub fn io_errno(call: &'static str, path: &Path, errno: crate::sys::Errno) -> Self {
        Self::io(call, path, io::Error::from_raw_os_error(errno as i32))
    }
}

/// How progress is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgressMode {
    /// One line per step (and RUN output).
    Plain,
    /// A line per step redrawn in place on a terminal: cached, or running
    /// and for how long; RUN output only when it fails.
    Tty,
    /// Nothing but errors.
    Quiet,
}

/// The image config format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageFormat {
    /// OCI media types.
    Oci,
    /// Docker schema 2 media types.
    Docker,
}

/// `--output type=...,dest=FILE`.
#[derive(Clone, Debug)]
pub struct OutputArchive {
    /// oci or docker.
    pub format: ArchiveFormat,
    /// The file.
    pub dest: PathBuf,
}

/// What to build and where the result goes.
#[derive(Clone, Debug)]
pub struct BuildOptions {
    /// The context directory.
    pub context: PathBuf,
    /// The Dockerfile (default `CONTEXT/Dockerfile`).
    pub dockerfile: Option<PathBuf>,
    /// Names for the image.
    pub tags: Vec<Reference>,
    /// `--build-arg`.
    pub build_args: BTreeMap<String, String>,
    /// `--target`.
    pub target: Option<String>,
    /// `--no-cache`.
    pub no_cache: bool,
    /// `--format`.
    pub format: ImageFormat,
    /// `--bundle DIR`.
    pub bundle: Option<PathBuf>,
    /// `--output`.
    pub output: Option<OutputArchive>,
    /// `--progress`.
    pub progress: ProgressMode,
    /// `--secret id=ID,src=FILE`.
    pub secrets: BTreeMap<String, PathBuf>,
    /// The runtime binary for RUN.
    pub runtime: PathBuf,
}

/// What a build made.
#[derive(Clone, Debug)]
pub struct Built {
    /// The image (manifest digest).
    pub digest: Digest,
    /// Steps that ran (0: everything came from the cache).
    pub executed: usize,
}

/// Build an image.
pub fn build(store: &Store, options: &BuildOptions) -> Result<Built, BuildError> {
    // 1. The Dockerfile, parsed and typed.
    let dockerfile = options
        .dockerfile
        .clone()
        .unwrap_or_else(|| options.context.join("Dockerfile"));
    let file = dockerfile
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "Dockerfile".into());
    let text =
        std::fs::read_to_string(&dockerfile).map_err(|source| BuildError::ReadDockerfile {
            path: dockerfile.clone(),
            source,
        })?;
    let at = |e: parse::InstructionError| BuildError::Step {
        file: file.clone(),
        line: e.line,
        keyword: e.keyword,
        message: e.message,
    };
    let df = parse::parse_dockerfile(&text).map_err(at)?;
    // 2. .dockerignore: NAME.dockerignore beside the Dockerfile wins over the context's.
    let specific = dockerfile.with_file_name(format!("{file}.dockerignore"));
    let ignore_path = if specific.is_file() {
        specific
    } else {
        options.context.join(".dockerignore")
    };
    let ignore = match std::fs::read_to_string(&ignore_path) {
        Ok(text) => ignore::Ignore::parse(&text).map_err(|e| BuildError::Ignore {
            path: ignore_path.clone(),
            line: e.line,
            pattern: e.pattern,
        })?,
        Err(_) => ignore::Ignore::default(),
    };
    if !options.context.is_dir() {
        return Err(BuildError::Source {
            message: format!(
                "{}: the build context is not a directory",
                options.context.display()
            ),
        });
    }
    // 3. The plan: stages the target needs, every instruction substituted and
    // checked, under a lease that keeps from gc the images it finds and, as
    // the stages run, every layer they use or make until the image names them.
    let lease = store.begin_build()?;
    let context_root = copy::SourceRoot::open(&options.context, false, Some(ignore.clone()))?;
    let inputs = plan::PlanInputs {
        store,
        lease: Some(&lease),
        build_args: &options.build_args,
        target: options.target.as_deref(),
        context: Some(&context_root),
    };
    let plan = plan::plan(&df, &inputs).map_err(at)?;
    // 4. The stages, in parallel where they are independent.
    let digests = digests::ContextDigests::load(store, &options.context, !options.no_cache);
    let executor = exec::Executor::new(
        store,
        options.context.clone(),
        ignore,
        cache::Cache::open(store, !options.no_cache),
        &digests,
        options.runtime.clone(),
        options.secrets.clone(),
        options.progress,
        file,
        df.stages.len(),
        &lease,
    );
    let result = executor.execute(&plan);
    digests.save();
    let result = result?;
    let executed = result.executed;
    // 5. The image into the store, with every tag, as one transaction.
    let digest = commit_image(store, &result, options.format, &options.tags)?;
    // 6. Other outputs.
    let name = digest.to_string();
    if let Some(dir) = &options.bundle {
        crate::bundle::create(store, &name, dir, &crate::bundle::BundleOptions::default())?;
    }
    if let Some(output) = &options.output {
        export::export(store, &name, &output.dest, output.format)?;
    }
    Ok(Built { digest, executed })
}

/// Write config and manifest of a built stage and name the image.
pub fn commit_image(
    store: &Store,
    result: &exec::StageResult,
    format: ImageFormat,
    tags: &[Reference],
) -> Result<Digest, BuildError> {
    let (manifest_type, config_type) = match format {
        ImageFormat::Oci => (MEDIA_OCI_MANIFEST, MEDIA_OCI_CONFIG),
        ImageFormat::Docker => (MEDIA_DOCKER_MANIFEST, DOCKER_CONFIG),
    };
    let layer_type = |media: &str| match (format, media) {
        (ImageFormat::Docker, "application/vnd.oci.image.layer.v1.tar") => {
            "application/vnd.docker.image.rootfs.diff.tar".to_string()
        }
        (ImageFormat::Docker, "application/vnd.oci.image.layer.v1.tar+gzip") => {
            "application/vnd.docker.image.rootfs.diff.tar.gzip".to_string()
        }
        (_, other) => other.to_string(),
    };
    let config_bytes = serde_json::to_vec(&result.config).expect("a config serialises");
    let config_digest = Digest::of_bytes(&config_bytes);
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(manifest_type.into()),
        config: Descriptor::new(config_type, config_digest, config_bytes.len() as u64),
        layers: result
            .layers
            .iter()
            .map(|l| Descriptor::new(&layer_type(&l.media_type), l.digest.clone(), l.size))
            .collect(),
        annotations: None,
    };
    let manifest_bytes = serde_json::to_vec(&manifest).expect("a manifest serialises");
    let manifest_digest = Digest::of_bytes(&manifest_bytes);
    // An unchanged rebuild: the image and its names are already there; writing
    // nothing keeps it free of the fsyncs a transaction makes.
    let named = |tag: &Reference| {
        store
            .resolve_descriptor(&tag.to_string())
            .is_ok_and(|d| d.digest == manifest_digest)
    };
    if store.has_blob(&manifest_digest) && !tags.is_empty() && tags.iter().all(named) {
        return Ok(manifest_digest);
    }
    let mut txn = Transaction::new(store)?;
    txn.ingest_bytes(&config_bytes)?;
    txn.ingest_bytes(&manifest_bytes)?;
    let descriptor = Descriptor::new(
        manifest_type,
        manifest_digest.clone(),
        manifest_bytes.len() as u64,
    );
    if tags.is_empty() {
        txn.add_image(None, &descriptor)?;
    }
    for tag in tags {
        txn.add_image(Some(tag.clone()), &descriptor)?;
    }
    txn.commit(false, crate::layer::Limits::default(), &Progress::hidden())?;
    Ok(manifest_digest)
}
