//! The validated build plan: which stages the target needs, in what order,
//! and every instruction with its variables substituted, its paths made
//! absolute and its config change applied, all before anything is built.
//! Substitution needs only ENV and ARG values, which never depend on what a
//! RUN does, so the whole Dockerfile is checked up front (a bad reference on
//! the last line fails before the first RUN).

use std::collections::BTreeMap;

use serde_json::json;

use super::parse::lex::{Env, Lexer};
use super::parse::mount::{parse_mount, Mount, MountKind};
use super::parse::{CommandLine, Copy, Dockerfile, Health, Instruction, InstructionError, Step};
use crate::oci::{
    default_shell, host_architecture, ExecConfig, HealthConfig, History, ImageConfig, DEFAULT_PATH,
};
use crate::store::{BuildLease, Image, Store};

/// Where a stage starts.
#[derive(Clone, Debug)]
pub enum Base {
    /// `FROM scratch`.
    Scratch,
    /// An image in the store.
    Image(Box<Image>),
    /// An earlier stage (by index).
    Stage(usize),
}

/// Where COPY --from or a bind mount reads.
#[derive(Clone, Debug)]
pub enum Source {
    /// The build context.
    Context,
    /// A stage's result.
    Stage(usize),
    /// An image in the store.
    Image(Box<Image>),
}

/// Network of a RUN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Network {
    /// The host's network (BuildKit's default for RUN).
    Host,
    /// Only loopback.
    None,
}

/// A RUN mount with its source resolved.
#[derive(Clone, Debug)]
pub struct RunMount {
    /// The parsed spec.
    pub spec: Mount,
    /// Absolute target in the container.
    pub target: String,
    /// For bind and cache `from=`.
    pub source: Source,
}

/// A RUN, ready to execute.
#[derive(Clone, Debug)]
pub struct RunStep {
    /// argv.
    pub args: Vec<String>,
    /// Environment (`K=v`): image ENV plus ARG values.
    pub env: Vec<String>,
    /// Working directory.
    pub cwd: String,
    /// User (empty: root).
    pub user: String,
    /// Network.
    pub network: Network,
    /// RUN mounts.
    pub mounts: Vec<RunMount>,
    /// A heredoc script run through `/dev/pipes/NAME` (shebang form).
    pub script: Option<(String, String)>,
}

/// A COPY or ADD, ready to execute.
#[derive(Clone, Debug)]
pub struct CopyStep {
    /// ADD.
    pub add: bool,
    /// Where sources are read.
    pub from: Source,
    /// Source paths or URLs (substituted).
    pub sources: Vec<String>,
    /// Inline files: name and content.
    pub inline: Vec<(String, String)>,
    /// Absolute destination; a trailing `/` kept (it means "a directory").
    pub dest: String,
    /// `--chown`.
    pub chown: Option<String>,
    /// `--chmod`.
    pub chmod: Option<u32>,
    /// `--exclude` patterns.
    pub excludes: Vec<String>,
    /// The user in force (for WORKDIR creation, not ownership).
    pub user: String,
    /// ADD `--checksum`.
    pub checksum: Option<String>,
}

/// What a step does to the filesystem.
#[derive(Clone, Debug)]
pub enum Action {
    /// Config only.
    None,
    /// RUN.
    Run(RunStep),
    /// COPY/ADD.
    Copy(CopyStep),
    /// WORKDIR: make the directory (owned by `user`).
    Mkdir {
        /// Absolute path.
        path: String,
        /// The user in force.
        user: String,
    },
}

/// One planned step.
#[derive(Clone, Debug)]
pub struct PlannedStep {
    /// Line in the Dockerfile.
    pub line: usize,
    /// Instruction keyword.
    pub keyword: String,
    /// The history `created_by` text (also part of the cache key).
    pub created_by: String,
    /// What it does.
    pub action: Action,
}

/// One planned stage.
#[derive(Clone, Debug)]
pub struct PlannedStage {
    /// Index in the Dockerfile.
    pub index: usize,
    /// `AS` name.
    pub name: Option<String>,
    /// Where it starts.
    pub base: Base,
    /// Steps (ONBUILD triggers of the base first).
    pub steps: Vec<PlannedStep>,
    /// The final configuration (history without times; layers filled in by the executor).
    pub config: ImageConfig,
    /// Stages it needs first.
    pub deps: Vec<usize>,
}

/// The plan.
#[derive(Debug)]
pub struct Plan {
    /// Stages by Dockerfile index; `None` for those the target does not need.
    pub stages: Vec<Option<PlannedStage>>,
    /// The target stage.
    pub target: usize,
}

/// What the plan needs from the caller.
pub struct PlanInputs<'a> {
    /// The store (base images).
    pub store: &'a Store,
    /// The build's lease: images the plan finds are leased as it finds them.
    pub lease: Option<&'a BuildLease>,
    /// `--build-arg K=V`.
    pub build_args: &'a BTreeMap<String, String>,
    /// `--target`.
    pub target: Option<&'a str>,
    /// The build context, so COPY and ADD sources are checked before anything runs.
    pub context: Option<&'a super::copy::SourceRoot>,
}

type PlanResult<T> = Result<T, InstructionError>;

fn fail(step: &Step, message: impl Into<String>) -> InstructionError {
    InstructionError {
        line: step.line,
        keyword: step.keyword.clone(),
        message: message.into(),
    }
}

/// The ARGs every build defines in the global scope (BuildKit's platform args).
fn platform_args() -> Vec<(String, String)> {
    let arch = host_architecture().to_string();
    let platform = format!("linux/{arch}");
    vec![
        ("TARGETPLATFORM".into(), platform.clone()),
        ("TARGETOS".into(), "linux".into()),
        ("TARGETARCH".into(), arch.clone()),
        ("TARGETVARIANT".into(), String::new()),
        ("BUILDPLATFORM".into(), platform),
        ("BUILDOS".into(), "linux".into()),
        ("BUILDARCH".into(), arch),
        ("BUILDVARIANT".into(), String::new()),
    ]
}

/// Proxy ARGs reach RUN without being declared, and stay out of history.
const PROXY_ARGS: [&str; 8] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
];

struct Planner<'a> {
    df: &'a Dockerfile,
    inputs: &'a PlanInputs<'a>,
    lexer: Lexer,
    global: Vec<(String, String)>,
    stages: Vec<Option<PlannedStage>>,
}

/// Make the plan for `df`.
pub fn plan(df: &Dockerfile, inputs: &PlanInputs<'_>) -> PlanResult<Plan> {
    let lexer = Lexer::new(df.escape);
    // 1. Global ARGs: platform defaults, then the file's, with --build-arg winning.
    let mut global = platform_args();
    for step in &df.global_args {
        let Instruction::Arg(pairs) = &step.instruction else {
            continue;
        };
        for (key, default) in pairs {
            let value = match (inputs.build_args.get(key), default) {
                (Some(given), _) => Some(given.clone()),
                (None, Some(default)) => Some(
                    lexer
                        .word(default, &global)
                        .map_err(|e| fail(step, e.to_string()))?,
                ),
                (None, None) => None,
            };
            if let Some(value) = value {
                global.retain(|(k, _)| k != key);
                global.push((key.clone(), value));
            }
        }
    }
    // 2. The target stage.
    let target = match inputs.target {
        None => df.stages.len() - 1,
        Some(name) => df
            .stages
            .iter()
            .position(|s| s.name.as_deref() == Some(&name.to_ascii_lowercase()))
            .ok_or_else(|| InstructionError {
                line: 1,
                keyword: "Dockerfile".into(),
                message: format!("target stage {name:?} could not be found"),
            })?,
    };
    let mut planner = Planner {
        df,
        inputs,
        lexer,
        global,
        stages: vec![None; df.stages.len()],
    };
    // 3. Every stage up to the target, in order (a stage can only use earlier
    // ones); then keep only those the target reaches.
    for index in 0..=target {
        let stage = planner.stage(index)?;
        planner.stages[index] = Some(stage);
    }
    let mut needed = vec![false; df.stages.len()];
    let mut todo = vec![target];
    while let Some(i) = todo.pop() {
        if std::mem::replace(&mut needed[i], true) {
            continue;
        }
        todo.extend(
            planner.stages[i]
                .as_ref()
                .map(|s| s.deps.clone())
                .unwrap_or_default(),
        );
    }
    let stages = planner
        .stages
        .into_iter()
        .enumerate()
        .map(|(i, s)| s.filter(|_| needed[i]))
        .collect();
    Ok(Plan { stages, target })
}

/// The state of a stage while its steps are planned.
struct StageState {
    config: ImageConfig,
    /// What substitution and RUN see: ENV plus ARG values.
    env: Vec<(String, String)>,
    /// ARGs declared in this stage with their values (RUN history prefix).
    args: Vec<(String, String)>,
    cmd_set: bool,
}

impl StageState {
    fn set_env(&mut self, key: &str, value: &str) {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_string(), value.to_string()));
    }

    fn workdir(&self) -> String {
        self.config
            .config
            .as_ref()
            .and_then(|c| c.working_dir.clone())
            .filter(|w| !w.is_empty())
            .unwrap_or_else(|| "/".into())
    }

    fn user(&self) -> String {
        self.config
            .config
            .as_ref()
            .and_then(|c| c.user.clone())
            .unwrap_or_default()
    }

    fn history(&mut self, created_by: String, layer: bool) {
        self.config.history_mut().push(History {
            created: None,
            created_by: Some(created_by),
            author: None,
            comment: Some("berth-img build".into()),
            empty_layer: !layer,
        });
    }
}

/// Join `path` onto the working directory and clean it (a trailing `/` is kept).
pub fn absolute(workdir: &str, path: &str) -> String {
    let joined = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("{workdir}/{path}")
    };
    let trailing = path.ends_with('/') || path == "." || path.is_empty();
    let cleaned = super::ignore::clean(&joined);
    if trailing && cleaned != "/" {
        format!("{cleaned}/")
    } else {
        cleaned
    }
}

impl Planner<'_> {
    fn word(&self, step: &Step, env: &dyn Env, text: &str) -> PlanResult<String> {
        self.lexer
            .word(text, env)
            .map_err(|e| fail(step, e.to_string()))
    }

    fn stage_by_name(&self, name: &str, before: usize) -> Option<usize> {
        let lower = name.to_ascii_lowercase();
        if let Some(i) = self.df.stages[..before]
            .iter()
            .position(|s| s.name.as_deref() == Some(&lower))
        {
            return Some(i);
        }
        name.parse::<usize>().ok().filter(|&i| i < before)
    }

    /// A stored image, leased when there is a lease.
    fn image(&self, name: &str) -> Result<Image, crate::store::StoreError> {
        match self.inputs.lease {
            Some(lease) => self.inputs.store.resolve_leased(name, lease),
            None => self.inputs.store.resolve(name),
        }
    }

    fn source(&self, step: &Step, name: &str, index: usize) -> PlanResult<Source> {
        if let Some(i) = self.stage_by_name(name, index) {
            return Ok(Source::Stage(i));
        }
        if self
            .df
            .stages
            .iter()
            .any(|s| s.name.as_deref() == Some(&name.to_ascii_lowercase()))
        {
            return Err(fail(
                step,
                format!("stage {name:?} is used before it is defined"),
            ));
        }
        let image = self
            .image(name)
            .map_err(|e| fail(step, format!("{name}: {e}")))?;
        Ok(Source::Image(Box::new(image)))
    }

    fn stage(&self, index: usize) -> PlanResult<PlannedStage> {
        let stage = &self.df.stages[index];
        let from = &stage.from;
        let Instruction::From { base, platform, .. } = &from.instruction else {
            unreachable!("a stage starts with FROM")
        };
        // 1. The base: a stage, scratch or a stored image; the platform must be this machine's.
        if let Some(platform) = platform {
            let platform = self.word(from, &self.global, platform)?;
            let ours = format!("linux/{}", host_architecture());
            if platform != ours {
                return Err(fail(from, format!("platform {platform:?} is not this machine's ({ours}); berth-img builds natively")));
            }
        }
        let base_name = self.word(from, &self.global, base)?;
        if base_name.is_empty() {
            return Err(fail(
                from,
                format!("base name ({base}) should not be blank"),
            ));
        }
        let (base, mut config, mut deps) = if base_name.eq_ignore_ascii_case("scratch") {
            (Base::Scratch, ImageConfig::default(), vec![])
        } else if let Some(i) = self.stage_by_name(&base_name, index) {
            let parent = self.stages[i]
                .as_ref()
                .expect("earlier stages are planned first");
            (Base::Stage(i), parent.config.clone(), vec![i])
        } else {
            let image = self
                .image(&base_name)
                .map_err(|e| fail(from, format!("{base_name}: {e}")))?;
            let bytes = self
                .inputs
                .store
                .read_small_blob("config", &image.manifest.config)
                .map_err(|e| fail(from, format!("{base_name}: {e}")))?;
            let config: ImageConfig = serde_json::from_slice(&bytes)
                .map_err(|e| fail(from, format!("{base_name}: image config: {e}")))?;
            (Base::Image(Box::new(image)), config, vec![])
        };
        config.architecture = host_architecture().into();
        config.os = "linux".into();
        config.created = None;
        // 2. PATH is always set (so `config` is always written); the base's
        //    ENV seeds substitution.
        let exec = config.exec_mut();
        if !exec.env_pairs().iter().any(|(k, _)| k == "PATH") {
            exec.set_env("PATH", DEFAULT_PATH);
        }
        let triggers = exec.on_build.take().unwrap_or_default();
        let env = exec.env_pairs();
        let mut state = StageState {
            env,
            config,
            args: Vec::new(),
            cmd_set: false,
        };
        // 3. The base's ONBUILD triggers run first, then the stage's own steps.
        let mut steps = Vec::new();
        let mut trigger_steps = Vec::new();
        for trigger in &triggers {
            let parsed = super::parse::parse_dockerfile(&format!("FROM scratch\n{trigger}\n"))
                .map_err(|e| {
                    fail(
                        from,
                        format!("ONBUILD trigger {trigger:?} of {base_name}: {}", e.message),
                    )
                })?;
            for mut step in parsed.stages.into_iter().flat_map(|s| s.steps) {
                step.line = from.line;
                trigger_steps.push(step);
            }
        }
        for step in trigger_steps.iter().chain(&stage.steps) {
            if let Some(planned) = self.step(step, index, &mut state, &mut deps)? {
                steps.push(planned);
            }
        }
        deps.sort_unstable();
        deps.dedup();
        Ok(PlannedStage {
            index,
            name: stage.name.clone(),
            base,
            steps,
            config: state.config,
            deps,
        })
    }

    fn command(&self, state: &StageState, command: &CommandLine) -> Vec<String> {
        if command.shell_form {
            let mut argv = (state.config.config.as_ref())
                .map_or_else(default_shell, ExecConfig::shell_or_default);
            argv.extend(command.args.iter().cloned());
            argv
        } else {
            command.args.clone()
        }
    }

    fn step(
        &self,
        step: &Step,
        index: usize,
        state: &mut StageState,
        deps: &mut Vec<usize>,
    ) -> PlanResult<Option<PlannedStep>> {
        let planned = |created_by: String, action: Action| PlannedStep {
            line: step.line,
            keyword: step.keyword.clone(),
            created_by,
            action,
        };
        let env = state.env.clone();
        let word = |text: &str| self.word(step, &env, text);
        let (created_by, action) = match &step.instruction {
            Instruction::From { .. } => unreachable!("FROM starts a stage"),
            Instruction::Env(pairs) => {
                let mut text = String::from("ENV");
                for (k, v) in pairs {
                    let (k, v) = (word(k)?, word(v)?);
                    state.config.exec_mut().set_env(&k, &v);
                    text.push_str(&format!(" {k}={v}"));
                    state.set_env(&k, &v);
                }
                (text, Action::None)
            }
            Instruction::Label(pairs) => {
                let mut text = String::from("LABEL");
                let labels = state
                    .config
                    .exec_mut()
                    .labels
                    .get_or_insert_with(BTreeMap::new);
                for (k, v) in pairs {
                    let (k, v) = (word(k)?, word(v)?);
                    text.push_str(&format!(" {k}={v}"));
                    labels.insert(k, v);
                }
                (text, Action::None)
            }
            Instruction::Arg(pairs) => {
                let mut parts = Vec::new();
                for (key, default) in pairs {
                    let key = word(key)?;
                    let value = match (self.inputs.build_args.get(&key), default) {
                        (Some(given), _) => Some(given.clone()),
                        (None, Some(default)) => Some(self.word(step, &state.env, default)?),
                        (None, None) => self
                            .global
                            .iter()
                            .rev()
                            .find(|(k, _)| *k == key)
                            .map(|(_, v)| v.clone()),
                    };
                    match &value {
                        Some(v) => {
                            state.set_env(&key, v);
                            state.args.retain(|(k, _)| *k != key);
                            state.args.push((key.clone(), v.clone()));
                            parts.push(format!("{key}={v}"));
                        }
                        None => parts.push(key),
                    }
                }
                state.history(format!("ARG {}", parts.join(" ")), false);
                return Ok(None);
            }
            Instruction::Expose(ports) => {
                let exposed = state
                    .config
                    .exec_mut()
                    .exposed_ports
                    .get_or_insert_with(BTreeMap::new);
                let mut all = Vec::new();
                for port in ports {
                    for p in self
                        .lexer
                        .words(port, &env)
                        .map_err(|e| fail(step, e.to_string()))?
                    {
                        let key = if p.contains('/') {
                            p.clone()
                        } else {
                            format!("{p}/tcp")
                        };
                        let number = key.split('/').next().unwrap_or("");
                        let valid = number.split('-').all(|n| n.parse::<u16>().is_ok());
                        if !valid {
                            return Err(fail(step, format!("invalid containerPort: {p}")));
                        }
                        exposed.insert(key.clone(), json!({}));
                        all.push(key);
                    }
                }
                all.sort();
                (
                    format!(
                        "EXPOSE map[{}]",
                        all.iter()
                            .map(|p| format!("{p}:{{}}"))
                            .collect::<Vec<_>>()
                            .join(" ")
                    ),
                    Action::None,
                )
            }
            Instruction::Volume(paths) => {
                let volumes = state
                    .config
                    .exec_mut()
                    .volumes
                    .get_or_insert_with(BTreeMap::new);
                let mut all = Vec::new();
                for p in paths {
                    let p = word(p)?;
                    if p.is_empty() {
                        return Err(fail(step, "VOLUME specified can not be an empty string"));
                    }
                    volumes.insert(p.clone(), json!({}));
                    all.push(p);
                }
                (format!("VOLUME [{}]", all.join(" ")), Action::None)
            }
            Instruction::User(user) => {
                let user = word(user)?;
                state.config.exec_mut().user = Some(user.clone());
                (format!("USER {user}"), Action::None)
            }
            Instruction::Workdir(path) => {
                let path = word(path)?;
                let wd = absolute(&state.workdir(), &path);
                let wd = wd
                    .strip_suffix('/')
                    .filter(|w| !w.is_empty())
                    .unwrap_or(&wd)
                    .to_string();
                state.config.exec_mut().working_dir = Some(wd.clone());
                let action = if wd == "/" {
                    Action::None
                } else {
                    Action::Mkdir {
                        path: wd.clone(),
                        user: state.user(),
                    }
                };
                let layer = !matches!(action, Action::None);
                let text = format!("WORKDIR {wd}");
                state.history(text.clone(), layer);
                return Ok(Some(planned(text, action)));
            }
            Instruction::StopSignal(signal) => {
                let signal = word(signal)?;
                if !valid_signal(&signal) {
                    return Err(fail(step, format!("Invalid signal: {signal}")));
                }
                state.config.exec_mut().stop_signal = Some(signal.clone());
                (format!("STOPSIGNAL {signal}"), Action::None)
            }
            Instruction::Shell(shell) => {
                state.config.exec_mut().shell = Some(shell.clone());
                (format!("SHELL [{}]", shell.join(" ")), Action::None)
            }
            Instruction::Maintainer(who) => {
                state.config.author = Some(who.clone());
                (format!("MAINTAINER {who}"), Action::None)
            }
            Instruction::Onbuild(expression) => {
                state
                    .config
                    .exec_mut()
                    .on_build
                    .get_or_insert_with(Vec::new)
                    .push(expression.clone());
                return Ok(None);
            }
            Instruction::Healthcheck(health) => {
                let config = match health {
                    Health::None => HealthConfig {
                        test: vec!["NONE".into()],
                        ..HealthConfig::default()
                    },
                    Health::Check {
                        test,
                        interval,
                        timeout,
                        start_period,
                        start_interval,
                        retries,
                    } => HealthConfig {
                        test: test.clone(),
                        interval: *interval,
                        timeout: *timeout,
                        start_period: *start_period,
                        start_interval: *start_interval,
                        retries: *retries,
                    },
                };
                let text = format!("HEALTHCHECK {:?}", config.test);
                state.config.exec_mut().healthcheck = Some(config);
                (text, Action::None)
            }
            Instruction::Cmd(command) => {
                let argv = self.command(state, command);
                let rc = state.config.exec_mut();
                rc.cmd = Some(argv.clone());
                rc.args_escaped = Some(true);
                state.cmd_set = true;
                (format!("CMD {}", go_quoted(&argv)), Action::None)
            }
            Instruction::Entrypoint(command) => {
                let argv = self.command(state, command);
                let rc = state.config.exec_mut();
                rc.entrypoint = if argv.is_empty() && !command.shell_form {
                    Some(vec![])
                } else {
                    Some(argv.clone())
                };
                if !state.cmd_set {
                    rc.cmd = None;
                }
                (format!("ENTRYPOINT {}", go_quoted(&argv)), Action::None)
            }
            Instruction::Run(run) => {
                let (created_by, run_step) = self.run(step, index, state, run, deps)?;
                state.history(created_by.clone(), true);
                return Ok(Some(planned(created_by, Action::Run(run_step))));
            }
            Instruction::Copy(copy) => {
                let copy_step = self.copy(step, index, state, copy, deps)?;
                let text = format!(
                    "{} {}{} {}",
                    if copy.add { "ADD" } else { "COPY" },
                    copy.from
                        .as_ref()
                        .map(|f| format!("--from={f} "))
                        .unwrap_or_default(),
                    copy_step
                        .sources
                        .iter()
                        .cloned()
                        .chain(copy_step.inline.iter().map(|(n, _)| n.clone()))
                        .collect::<Vec<_>>()
                        .join(" "),
                    copy_step.dest
                );
                state.history(text.clone(), true);
                return Ok(Some(planned(text, Action::Copy(copy_step))));
            }
        };
        state.history(created_by.clone(), false);
        Ok(Some(planned(created_by, action)))
    }

    fn run(
        &self,
        step: &Step,
        index: usize,
        state: &StageState,
        run: &super::parse::Run,
        deps: &mut Vec<usize>,
    ) -> PlanResult<(String, RunStep)> {
        let mut command = run.command.clone();
        let mut script = None;
        // Heredocs: one `<<EOF` alone is the script (or a file to execute if it
        // has a shebang); otherwise the text is handed to the shell whole.
        if !command.files.is_empty() {
            let only = command
                .args
                .first()
                .and_then(|a| super::parse::lines::heredoc_word(a).ok().flatten());
            let first = &command.files[0];
            let data = if first.chomp {
                super::parse::lines::chomp(&first.content)
            } else {
                first.content.clone()
            };
            match only {
                Some(_) if command.args.len() == 1 && data.starts_with("#!") => {
                    command.args = vec![format!("/dev/pipes/{}", first.name)];
                    command.shell_form = false;
                    script = Some((first.name.clone(), data));
                }
                Some(_) if command.args.len() == 1 => command.args = vec![data],
                _ => {
                    let mut text = command.args.first().cloned().unwrap_or_default();
                    for file in &command.files {
                        text.push('\n');
                        text.push_str(&file.content);
                        text.push_str(&file.name);
                    }
                    command.args = vec![text];
                }
            }
        }
        let args = self.command(state, &command);
        let mut mounts = Vec::new();
        for spec in &run.mounts {
            let spec = self.word(step, &state.env, spec)?;
            let mount = parse_mount(&spec).map_err(|m| fail(step, m))?;
            if mount.kind == MountKind::Ssh {
                return Err(fail(
                    step,
                    "RUN --mount=type=ssh is not supported by berth-img",
                ));
            }
            let target = match (&mount.target, mount.kind) {
                (Some(t), _) => absolute(&state.workdir(), t),
                (None, MountKind::Secret) => format!(
                    "/run/secrets/{}",
                    mount
                        .id
                        .clone()
                        .or(mount.source.clone())
                        .unwrap_or_default()
                ),
                (None, _) => return Err(fail(step, "mount target is required")),
            };
            let source = match &mount.from {
                Some(from) => self.source(step, from, index)?,
                None => Source::Context,
            };
            if let Source::Stage(i) = source {
                deps.push(i);
            }
            mounts.push(RunMount {
                spec: mount,
                target: target.trim_end_matches('/').to_string(),
                source,
            });
        }
        for m in &mut mounts {
            if m.target.is_empty() {
                m.target = "/".into();
            }
        }
        let mut env: Vec<String> = state.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        for key in PROXY_ARGS {
            if let Some(v) = self.inputs.build_args.get(key) {
                if !state.env.iter().any(|(k, _)| k == key) {
                    env.push(format!("{key}={v}"));
                }
            }
        }
        let prefix = if state.args.is_empty() {
            String::new()
        } else {
            format!(
                "|{} {} ",
                state.args.len(),
                state
                    .args
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        };
        let mut created_by = format!("RUN {prefix}{}", args.join(" "));
        if let Some(n) = &run.network {
            created_by.push_str(&format!(" # network={n}"));
        }
        let network = if run.network.as_deref() == Some("none") {
            Network::None
        } else {
            Network::Host
        };
        Ok((
            created_by,
            RunStep {
                args,
                env,
                cwd: state.workdir(),
                user: state.user(),
                network,
                mounts,
                script,
            },
        ))
    }

    fn copy(
        &self,
        step: &Step,
        index: usize,
        state: &StageState,
        copy: &Copy,
        deps: &mut Vec<usize>,
    ) -> PlanResult<CopyStep> {
        let env = &state.env;
        let from = match &copy.from {
            Some(name) => {
                let name = self.word(step, env, name)?;
                let source = self.source(step, &name, index)?;
                if let Source::Stage(i) = source {
                    deps.push(i);
                }
                source
            }
            None => Source::Context,
        };
        let mut sources = Vec::new();
        for s in &copy.sources {
            sources.push(self.word(step, env, s)?);
        }
        let mut raw = self.lexer;
        raw.skip_quotes = true;
        let mut inline = Vec::new();
        for doc in &copy.inline {
            let mut content = if doc.chomp {
                super::parse::lines::chomp(&doc.content)
            } else {
                doc.content.clone()
            };
            if doc.expand {
                content = raw
                    .word(&content, env)
                    .map_err(|e| fail(step, e.to_string()))?;
            }
            inline.push((doc.name.clone(), content));
        }
        let dest = self.word(step, env, &copy.dest)?;
        let chmod = match &copy.chmod {
            Some(m) => {
                let m = self.word(step, env, m)?;
                Some(
                    u32::from_str_radix(&m, 8)
                        .map_err(|_| fail(step, format!("invalid chmod parameter: {m:?}")))?,
                )
            }
            None => None,
        };
        let chown = match &copy.chown {
            Some(c) => Some(self.word(step, env, c)?),
            None => None,
        };
        // Context sources must exist (and not be ignored) before anything is built.
        if let (Source::Context, Some(context)) = (&from, self.inputs.context) {
            for source in sources
                .iter()
                .filter(|s| !(copy.add && (s.starts_with("http://") || s.starts_with("https://"))))
            {
                context.resolve(source).map_err(|m| fail(step, m))?;
            }
        }
        if copy.parents {
            return Err(fail(
                step,
                "--parents is not supported by berth-img (a BuildKit labs flag)",
            ));
        }
        if copy.add && !matches!(from, Source::Context) {
            return Err(fail(step, "ADD does not take --from"));
        }
        let multiple =
            sources.len() + inline.len() > 1 || sources.iter().any(|s| s.contains(['*', '?', '[']));
        let dest_abs = absolute(&state.workdir(), &dest);
        if multiple && !dest_abs.ends_with('/') {
            return Err(fail(step, format!("When using {} with more than one source file, the destination must be a directory and end with a /", step.keyword)));
        }
        Ok(CopyStep {
            add: copy.add,
            from,
            sources,
            inline,
            dest: dest_abs,
            chown,
            chmod,
            excludes: copy.excludes.clone(),
            user: state.user(),
            checksum: copy.checksum.clone(),
        })
    }
}

/// Go's `%q` of a string slice: `["a" "b"]`.
fn go_quoted(args: &[String]) -> String {
    let quoted: Vec<String> = args
        .iter()
        .map(|a| serde_json::to_string(a).unwrap_or_default())
        .collect();
    format!("[{}]", quoted.join(" "))
}

/// A signal name (`SIGTERM`, `TERM`) or number, as moby's signal.ParseSignal takes.
fn valid_signal(signal: &str) -> bool {
    if let Ok(n) = signal.parse::<u32>() {
        return n > 0 && n < 65;
    }
    let name = signal.strip_prefix("SIG").unwrap_or(signal);
    const NAMES: [&str; 33] = [
        "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT",
        "KILL", "PIPE", "POLL", "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM",
        "TRAP", "TSTP", "TTIN", "TTOU", "URG", "USR1", "USR2", "VTALRM", "WINCH", "XCPU",
    ];
    NAMES.contains(&name)
        || name == "XFSZ"
        || name.starts_with("RTMIN")
        || name.starts_with("RTMAX")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_paths() {
        assert_eq!(absolute("/", "a"), "/a");
        assert_eq!(absolute("/w", "a/"), "/w/a/");
        assert_eq!(absolute("/w", "."), "/w/");
        assert_eq!(absolute("/w", "/x/../y"), "/y");
        assert_eq!(absolute("/", "/"), "/");
    }

    #[test]
    fn signals() {
        assert!(valid_signal("SIGTERM") && valid_signal("KILL") && valid_signal("9"));
        assert!(!valid_signal("SIGFOO") && !valid_signal("0"));
    }
}
