//! Executing a plan: stages run in parallel threads as soon as the stages
//! they need are done; each step is looked up in the cache first, and only
//! a miss mounts the stage's overlay and does the work.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};

use super::cache::{Cache, KeyBuilder, Record};
use super::copy::{self, DestRoot, Owner, SourceRoot, WriteOptions};
use super::digests::ContextDigests;
use super::display::Display;
use super::ignore::Ignore;
use super::plan::{Action, Base, CopyStep, Plan, PlannedStage, PlannedStep, RunStep, Source};
use super::run::{self, HostMount};
use super::snapshot::{LayerRef, Overlay};
use super::{BuildError, ProgressMode};
use crate::bundle::user;
use crate::oci::now_rfc3339;
use crate::oci::ImageConfig;
use crate::progress::Progress;
use crate::store::{unique_name, BuildLease, Image, Store};

/// A built stage.
#[derive(Clone, Debug)]
pub struct StageResult {
    /// Layers, base first.
    pub layers: Vec<LayerRef>,
    /// Its configuration (history times and diff_ids filled in).
    pub config: ImageConfig,
    /// Its cache key (what stages based on it chain from).
    pub key: String,
    /// Steps that had to run (0 on a fully cached build).
    pub executed: usize,
}

/// What every stage shares.
pub struct Executor<'a> {
    /// The store.
    pub store: &'a Store,
    /// The context directory.
    pub context: PathBuf,
    /// `.dockerignore` rules.
    pub ignore: Ignore,
    /// The cache.
    pub cache: Cache,
    /// Content digests of the context's files.
    pub digests: &'a ContextDigests,
    /// The runtime binary.
    pub runtime: PathBuf,
    /// `--secret id=...,src=...`.
    pub secrets: BTreeMap<String, PathBuf>,
    /// How steps are shown.
    display: Display,
    /// The Dockerfile's name, for messages.
    pub file: String,
    /// Scratch area for this build.
    pub area: PathBuf,
    /// The build's lease: keeps its unnamed layers from gc.
    lease: &'a BuildLease,
    results: Mutex<Vec<Option<Result<StageResult, ()>>>>,
    done: Condvar,
}

impl<'a> Executor<'a> {
    /// An executor.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: &'a Store,
        context: PathBuf,
        ignore: Ignore,
        cache: Cache,
        digests: &'a ContextDigests,
        runtime: PathBuf,
        secrets: BTreeMap<String, PathBuf>,
        progress: ProgressMode,
        file: String,
        stages: usize,
        lease: &'a BuildLease,
    ) -> Self {
        Executor {
            area: lease.area().to_path_buf(),
            lease,
            store,
            context,
            ignore,
            cache,
            digests,
            runtime,
            secrets,
            display: Display::new(progress),
            file,
            results: Mutex::new(vec![None; stages]),
            done: Condvar::new(),
        }
    }

    /// Build every stage of `plan`; the target's result.
    pub fn execute(&self, plan: &Plan) -> Result<StageResult, BuildError> {
        fs::create_dir_all(&self.area).map_err(|e| BuildError::io("mkdir", &self.area, e))?;
        let errors: Mutex<Vec<BuildError>> = Mutex::new(Vec::new());
        std::thread::scope(|scope| {
            for stage in plan.stages.iter().flatten() {
                let errors = &errors;
                scope.spawn(move || {
                    let result = self.stage(stage, plan);
                    let mut results = self.results.lock().expect("results lock");
                    results[stage.index] = Some(match result {
                        Ok(r) => Ok(r),
                        Err(e) => {
                            errors.lock().expect("errors lock").push(e);
                            Err(())
                        }
                    });
                    self.done.notify_all();
                });
            }
        });
        self.display.end();
        let _ = crate::layer::remove_path(&self.area);
        if let Some(error) = errors.into_inner().expect("errors lock").into_iter().next() {
            return Err(error);
        }
        let results = self.results.lock().expect("results lock");
        match &results[plan.target] {
            Some(Ok(result)) => Ok(result.clone()),
            _ => Err(BuildError::Aborted),
        }
    }

    /// Wait for stage `index`; `None` if it failed.
    fn wait_for(&self, index: usize) -> Option<StageResult> {
        let mut results = self.results.lock().expect("results lock");
        loop {
            match &results[index] {
                Some(Ok(r)) => return Some(r.clone()),
                Some(Err(())) => return None,
                None => results = self.done.wait(results).expect("results lock"),
            }
        }
    }

    fn any_failed(&self) -> bool {
        self.results
            .lock()
            .expect("results lock")
            .iter()
            .any(|r| matches!(r, Some(Err(()))))
    }

    fn image_layers(&self, image: &Image) -> Result<Vec<LayerRef>, BuildError> {
        self.store.ensure_unpacked(image, &Progress::hidden())?;
        Ok(LayerRef::of_image(image))
    }

    fn stage(&self, stage: &PlannedStage, plan: &Plan) -> Result<StageResult, BuildError> {
        let label = stage
            .name
            .clone()
            .unwrap_or_else(|| format!("stage-{}", stage.index));
        // 1. The base: its layers and the key chain starts from it.
        for dep in &stage.deps {
            if self.wait_for(*dep).is_none() {
                return Err(BuildError::Aborted);
            }
        }
        let (mut layers, mut key) = match &stage.base {
            Base::Scratch => (Vec::new(), "scratch".to_string()),
            Base::Image(image) => (
                self.image_layers(image)?,
                format!("image:{}", image.descriptor.digest),
            ),
            Base::Stage(i) => {
                let parent = self.wait_for(*i).ok_or(BuildError::Aborted)?;
                (parent.layers, format!("stage:{}", parent.key))
            }
        };
        let mut created: Option<String> = None;
        let mut executed = 0;
        // 2. Each step: the cache, else the work.
        for step in &stage.steps {
            if self.any_failed() {
                return Err(BuildError::Aborted);
            }
            let step_key = self.key(&key, step, plan)?;
            let at = format!("[{label}] {}:{}", self.file, step.line);
            let text = format!("{at} {}", step.created_by);
            let record = match self.cache.get(self.store, self.lease, &step_key)? {
                Some(record) => {
                    self.display.cached(&text);
                    record
                }
                None => {
                    let running = self.display.start(&at, &text);
                    let layer = match self.perform(step, &layers, plan) {
                        Ok(layer) => layer,
                        Err(error) => {
                            self.display.finish(running, false);
                            if let BuildError::RunFailed { output, .. } = &error {
                                self.display.failed_output(output);
                            }
                            return Err(self.at(step, error));
                        }
                    };
                    executed += 1;
                    let record = Record {
                        layer,
                        created: now_rfc3339(),
                    };
                    self.cache.put(&step_key, &record);
                    self.display.finish(running, true);
                    record
                }
            };
            if let Some(layer) = &record.layer {
                layers.push(layer.clone());
            }
            created = Some(record.created);
            key = step_key;
        }
        // 3. The stage's config: layer ids and times.
        let mut config = stage.config.clone();
        let created = created.unwrap_or_else(|| "1970-01-01T00:00:00Z".into());
        config.stamp(&created, layers.iter().map(|l| l.diff_id.clone()).collect());
        Ok(StageResult {
            layers,
            config,
            key,
            executed,
        })
    }

    fn at(&self, step: &PlannedStep, error: BuildError) -> BuildError {
        match error {
            BuildError::Step { .. } | BuildError::Aborted => error,
            other => BuildError::Step {
                file: self.file.clone(),
                line: step.line,
                keyword: step.keyword.clone(),
                message: other.to_string(),
            },
        }
    }

    /// The step's key: the parent key, what the step is, what it reads.
    fn key(&self, parent: &str, step: &PlannedStep, plan: &Plan) -> Result<String, BuildError> {
        let mut key = KeyBuilder::new(parent);
        key.field(&step.created_by);
        match &step.action {
            Action::None => {}
            Action::Mkdir { path, user } => {
                key.field(path).field(user);
            }
            Action::Run(run) => {
                key.field(&run.args.join("\0"))
                    .field(&run.env.join("\0"))
                    .field(&run.cwd)
                    .field(&run.user);
                key.field(&format!("{:?}", run.network));
                if let Some((name, data)) = &run.script {
                    key.field(name).field(data);
                }
                for m in &run.mounts {
                    key.field(&format!("{:?}", m.spec)).field(&m.target);
                    match &m.source {
                        Source::Stage(i) => {
                            let dep = self.wait_for(*i).ok_or(BuildError::Aborted)?;
                            key.field(&dep.key);
                        }
                        Source::Image(image) => {
                            key.field(&image.descriptor.digest.to_string());
                        }
                        Source::Context if m.spec.kind == super::parse::mount::MountKind::Bind => {
                            let root =
                                SourceRoot::open(&self.context, false, Some(self.ignore_clone()))?;
                            let src = m.spec.source.clone().unwrap_or_else(|| ".".into());
                            let resolved = root
                                .resolve(&src)
                                .map_err(|message| BuildError::Source { message })?;
                            for r in &resolved {
                                copy::checksum(
                                    &root,
                                    r,
                                    &Ignore::default(),
                                    self.digests,
                                    key.hasher(),
                                )
                                .map_err(|e| BuildError::io("read", &r.path, e))?;
                            }
                        }
                        Source::Context => {}
                    }
                    if m.spec.kind == super::parse::mount::MountKind::Secret {
                        // Secrets are not part of the key (BuildKit's rule): changing one does not rebuild.
                    }
                }
            }
            Action::Copy(copy_step) => {
                key.field(&copy_step.dest)
                    .field(copy_step.chown.as_deref().unwrap_or(""))
                    .field(&format!("{:?}", copy_step.chmod));
                for (name, content) in &copy_step.inline {
                    key.field(name).field(content);
                }
                key.field(&copy_step.excludes.join("\0"));
                let excludes = Ignore::parse(&copy_step.excludes.join("\n")).unwrap_or_default();
                // Another stage's or image's content is fixed by its key or digest:
                // no need to mount and read it (an unchanged rebuild stays cheap).
                match &copy_step.from {
                    Source::Stage(i) => {
                        let dep = self.wait_for(*i).ok_or(BuildError::Aborted)?;
                        key.field(&dep.key).field(&copy_step.sources.join("\0"));
                        return Ok(key.finish());
                    }
                    Source::Image(image) => {
                        key.field(&image.descriptor.digest.to_string())
                            .field(&copy_step.sources.join("\0"));
                        return Ok(key.finish());
                    }
                    Source::Context => {}
                }
                self.with_source(&copy_step.from, plan, |root| {
                    for pattern in &copy_step.sources {
                        if is_url(pattern) {
                            key.field(pattern);
                            continue;
                        }
                        let resolved = root
                            .resolve(pattern)
                            .map_err(|message| BuildError::Source { message })?;
                        for r in &resolved {
                            key.field(&r.rel);
                            copy::checksum(root, r, &excludes, self.digests, key.hasher())
                                .map_err(|e| BuildError::io("read", &r.path, e))?;
                        }
                    }
                    Ok(())
                })
                .map_err(|e| self.at(step, e))?;
            }
        }
        Ok(key.finish())
    }

    fn ignore_clone(&self) -> Ignore {
        self.ignore.clone()
    }

    /// Run `f` with the source root of `source` (the context, or a mounted stage or image).
    fn with_source<T>(
        &self,
        source: &Source,
        plan: &Plan,
        f: impl FnOnce(&SourceRoot) -> Result<T, BuildError>,
    ) -> Result<T, BuildError> {
        let _ = plan;
        match source {
            Source::Context => {
                let root = SourceRoot::open(&self.context, false, Some(self.ignore_clone()))?;
                f(&root)
            }
            Source::Stage(_) | Source::Image(_) => {
                let layers = match source {
                    Source::Stage(i) => self.wait_for(*i).ok_or(BuildError::Aborted)?.layers,
                    Source::Image(image) => self.image_layers(image)?,
                    Source::Context => unreachable!(),
                };
                let view = Overlay::mount(
                    self.store,
                    &layers,
                    &self.area.join(unique_name("view")),
                    false,
                )?;
                let root = SourceRoot::open(view.root(), true, None)?;
                f(&root)
            }
        }
    }

    /// Do a step that changes the filesystem; the layer it made.
    fn perform(
        &self,
        step: &PlannedStep,
        layers: &[LayerRef],
        plan: &Plan,
    ) -> Result<Option<LayerRef>, BuildError> {
        if matches!(step.action, Action::None) {
            return Ok(None);
        }
        let area = self.area.join(unique_name("step"));
        let mut overlay = Overlay::mount(self.store, layers, &area, true)?;
        match &step.action {
            Action::None => unreachable!(),
            Action::Mkdir { path, user: who } => {
                let dest = DestRoot::open(overlay.root())?;
                let owner = if who.is_empty() {
                    None
                } else {
                    let u = user::resolve(dest.fd(), who).map_err(|e| BuildError::Source {
                        message: e.to_string(),
                    })?;
                    Some(Owner {
                        uid: u.uid,
                        gid: u.gid,
                    })
                };
                dest.make_dirs(path, owner)?;
            }
            Action::Run(run_step) => self.run_step(run_step, &mut overlay, &area, plan)?,
            Action::Copy(copy_step) => self.copy_step(copy_step, &overlay, plan)?,
        }
        Ok(Some(overlay.commit(self.store, self.lease)?))
    }

    fn run_step(
        &self,
        step: &RunStep,
        overlay: &mut Overlay,
        area: &Path,
        plan: &Plan,
    ) -> Result<(), BuildError> {
        use super::parse::mount::MountKind;
        let mut mounts = Vec::new();
        let mut views = Vec::new();
        for m in &step.mounts {
            let read_only = m.spec.read_only;
            match m.spec.kind {
                MountKind::Tmpfs => mounts.push(HostMount {
                    destination: m.target.clone(),
                    source: "tmpfs".into(),
                    tmpfs: true,
                    read_only: false,
                    options: m
                        .spec
                        .size
                        .map(|s| vec![format!("size={s}")])
                        .unwrap_or_default(),
                }),
                MountKind::Cache => {
                    let id = m.spec.id.clone().unwrap_or_else(|| m.target.clone());
                    let mut name = KeyBuilder::new("cache-mount");
                    name.field(&id);
                    let dir = self
                        .store
                        .root()
                        .join("build-cache-mounts")
                        .join(name.finish());
                    if !dir.is_dir() {
                        fs::create_dir_all(&dir).map_err(|e| BuildError::io("mkdir", &dir, e))?;
                        let mode = m.spec.mode.unwrap_or(0o755);
                        std::os::unix::fs::chown(
                            &dir,
                            m.spec.uid.or(Some(0)),
                            m.spec.gid.or(Some(0)),
                        )
                        .map_err(|e| BuildError::io("chown", &dir, e))?;
                        fs::set_permissions(
                            &dir,
                            std::os::unix::fs::PermissionsExt::from_mode(mode),
                        )
                        .map_err(|e| BuildError::io("chmod", &dir, e))?;
                    }
                    mounts.push(HostMount {
                        destination: m.target.clone(),
                        source: dir,
                        tmpfs: false,
                        read_only,
                        options: vec![],
                    });
                }
                MountKind::Secret => {
                    let id = m
                        .spec
                        .id
                        .clone()
                        .or(m.spec.source.clone())
                        .unwrap_or_default();
                    let Some(file) = self.secrets.get(&id) else {
                        if m.spec.required {
                            return Err(BuildError::Source {
                                message: format!(
                                    "secret {id} not provided (--secret id={id},src=FILE)"
                                ),
                            });
                        }
                        continue;
                    };
                    let copy_path = area.join(format!("secret-{}", mounts.len()));
                    fs::copy(file, &copy_path)
                        .map_err(|e| BuildError::io("read secret", file, e))?;
                    let mode = m.spec.mode.unwrap_or(0o400);
                    fs::set_permissions(
                        &copy_path,
                        std::os::unix::fs::PermissionsExt::from_mode(mode),
                    )
                    .map_err(|e| BuildError::io("chmod", &copy_path, e))?;
                    std::os::unix::fs::chown(
                        &copy_path,
                        m.spec.uid.or(Some(0)),
                        m.spec.gid.or(Some(0)),
                    )
                    .map_err(|e| BuildError::io("chown", &copy_path, e))?;
                    mounts.push(HostMount {
                        destination: m.target.clone(),
                        source: copy_path,
                        tmpfs: false,
                        read_only: true,
                        options: vec![],
                    });
                }
                MountKind::Bind => {
                    let layers = match &m.source {
                        Source::Context => None,
                        Source::Stage(i) => {
                            Some(self.wait_for(*i).ok_or(BuildError::Aborted)?.layers)
                        }
                        Source::Image(image) => Some(self.image_layers(image)?),
                    };
                    // Writes to a read-write bind are thrown away: it gets its own overlay.
                    let base_dir = match layers {
                        None => self.context.clone(),
                        Some(layers) => {
                            let view = Overlay::mount(
                                self.store,
                                &layers,
                                &area.join(format!("bind-{}", views.len())),
                                !read_only,
                            )?;
                            let root = view.root().to_path_buf();
                            views.push(view);
                            root
                        }
                    };
                    let src = m.spec.source.clone().unwrap_or_else(|| ".".into());
                    let root = SourceRoot::open(&base_dir, true, None)?;
                    let resolved = root
                        .resolve(&src)
                        .map_err(|message| BuildError::Source { message })?;
                    let target = fs::read_link(&resolved[0].path)
                        .map_err(|e| BuildError::io("readlink", &resolved[0].path, e))?;
                    mounts.push(HostMount {
                        destination: m.target.clone(),
                        source: target,
                        tmpfs: false,
                        read_only,
                        options: vec![],
                    });
                }
                MountKind::Ssh => unreachable!("rejected by the plan"),
            }
        }
        if let Some((name, data)) = &step.script {
            let dir = area.join("pipes");
            fs::create_dir_all(&dir).map_err(|e| BuildError::io("mkdir", &dir, e))?;
            let file = dir.join(name);
            fs::write(&file, data).map_err(|e| BuildError::io("write", &file, e))?;
            fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                .map_err(|e| BuildError::io("chmod", &file, e))?;
            mounts.push(HostMount {
                destination: "/dev/pipes".into(),
                source: dir,
                tmpfs: false,
                read_only: true,
                options: vec![],
            });
        }
        let _ = plan;
        let output = if self.display.shows_run_output() {
            run::Output::Show
        } else {
            run::Output::OnFailure
        };
        let root = overlay.root().to_path_buf();
        let upper = overlay.upper().expect("writable").to_path_buf();
        let result = run::run(&self.runtime, &root, &upper, area, step, &mounts, output);
        drop(views);
        result
    }

    fn copy_step(&self, step: &CopyStep, overlay: &Overlay, plan: &Plan) -> Result<(), BuildError> {
        let dest = DestRoot::open(overlay.root())?;
        let owner = match &step.chown {
            Some(chown) => {
                let u = user::resolve(dest.fd(), chown).map_err(|e| BuildError::Source {
                    message: e.to_string(),
                })?;
                let numeric_user_only = !chown.contains(':') && chown.parse::<u32>().is_ok();
                Some(Owner {
                    uid: u.uid,
                    gid: if numeric_user_only { u.uid } else { u.gid },
                })
            }
            None => None,
        };
        let excludes = Ignore::parse(&step.excludes.join("\n")).unwrap_or_default();
        let root_owner = Owner { uid: 0, gid: 0 };
        for (name, content) in &step.inline {
            let mode = step.chmod.unwrap_or(0o644);
            dest.write_file(
                &step.dest,
                name,
                content.as_bytes(),
                mode,
                owner.unwrap_or(root_owner),
                None,
            )?;
        }
        self.with_source(&step.from, plan, |root| {
            let file_owner = owner.or(if root.keep_owner {
                None
            } else {
                Some(root_owner)
            });
            let options = WriteOptions {
                owner: file_owner,
                chmod: step.chmod,
                excludes: &excludes,
                source: root,
            };
            for pattern in &step.sources {
                if step.add && is_url(pattern) {
                    super::add::download(
                        &dest,
                        pattern,
                        &step.dest,
                        step.chmod.unwrap_or(0o600),
                        owner.unwrap_or(root_owner),
                        step.checksum.as_deref(),
                    )?;
                    continue;
                }
                let resolved = root
                    .resolve(pattern)
                    .map_err(|message| BuildError::Source { message })?;
                for r in &resolved {
                    if step.add && super::add::is_archive(&r.path) {
                        super::add::extract(&dest, &r.path, &step.dest)?;
                        continue;
                    }
                    dest.copy(r, &step.dest, &options)?;
                }
            }
            Ok(())
        })
    }
}

/// `http://` or `https://`.
pub fn is_url(source: &str) -> bool {
    source.starts_with("http://") || source.starts_with("https://")
}
