//! Typed instructions: each keyword's flags and argument counts checked as
//! BuildKit's `instructions` package checks them, with its messages.
//! Variables are not substituted here (that needs the build's state).

use super::lines::{heredoc_word, Args, Heredoc, RawInstruction};

/// A command of RUN, CMD, ENTRYPOINT or HEALTHCHECK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandLine {
    /// Exec form: the argv; shell form: one string.
    pub args: Vec<String>,
    /// Shell form: run through the stage's SHELL.
    pub shell_form: bool,
    /// Heredoc files (RUN).
    pub files: Vec<Heredoc>,
}

/// COPY and ADD.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Copy {
    /// ADD (tar extraction, URLs) rather than COPY.
    pub add: bool,
    /// Source paths (globs), relative to the context or `--from`.
    pub sources: Vec<String>,
    /// Inline files: heredoc name and body (`expand`: substitute variables).
    pub inline: Vec<Heredoc>,
    /// The destination.
    pub dest: String,
    /// `--from=stage|image`.
    pub from: Option<String>,
    /// `--chown=user[:group]`.
    pub chown: Option<String>,
    /// `--chmod=octal`.
    pub chmod: Option<String>,
    /// `--link`.
    pub link: bool,
    /// `--exclude=pattern`, repeatable.
    pub excludes: Vec<String>,
    /// `--parents`.
    pub parents: bool,
    /// ADD `--checksum=sha256:...`.
    pub checksum: Option<String>,
    /// ADD `--unpack=bool`.
    pub unpack: Option<bool>,
}

/// RUN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// The command.
    pub command: CommandLine,
    /// `--mount=...` specs, parsed after substitution (see `mount`).
    pub mounts: Vec<String>,
    /// `--network=none|host|default`.
    pub network: Option<String>,
    /// `--security=insecure|sandbox`.
    pub security: Option<String>,
}

/// HEALTHCHECK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// `HEALTHCHECK NONE`: disable the base image's check.
    None,
    /// `HEALTHCHECK [flags] CMD ...`.
    Check {
        /// `["CMD", argv...]` or `["CMD-SHELL", line]`.
        test: Vec<String>,
        /// Nanoseconds, 0 when not given.
        interval: i64,
        /// Nanoseconds.
        timeout: i64,
        /// Nanoseconds.
        start_period: i64,
        /// Nanoseconds.
        start_interval: i64,
        /// Retries.
        retries: i64,
    },
}

/// One instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instruction {
    /// FROM image [AS name].
    From {
        /// The base (image, stage name or `scratch`), unexpanded.
        base: String,
        /// The stage name, lower-cased.
        name: Option<String>,
        /// `--platform`.
        platform: Option<String>,
    },
    /// RUN.
    Run(Run),
    /// CMD.
    Cmd(CommandLine),
    /// ENTRYPOINT (an empty exec form clears it).
    Entrypoint(CommandLine),
    /// SHELL (exec form only).
    Shell(Vec<String>),
    /// ENV pairs, unexpanded.
    Env(Vec<(String, String)>),
    /// LABEL pairs, unexpanded.
    Label(Vec<(String, String)>),
    /// ARG names with optional defaults, unexpanded.
    Arg(Vec<(String, Option<String>)>),
    /// EXPOSE ports, unexpanded.
    Expose(Vec<String>),
    /// VOLUME paths, unexpanded.
    Volume(Vec<String>),
    /// USER.
    User(String),
    /// WORKDIR.
    Workdir(String),
    /// STOPSIGNAL.
    StopSignal(String),
    /// HEALTHCHECK.
    Healthcheck(Health),
    /// ONBUILD: the trigger's text, as stored in the image config.
    Onbuild(String),
    /// MAINTAINER (deprecated; sets the author).
    Maintainer(String),
    /// COPY or ADD.
    Copy(Copy),
}

/// A typed instruction with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The instruction.
    pub instruction: Instruction,
    /// The keyword as written, upper-cased.
    pub keyword: String,
    /// The logical line as written.
    pub original: String,
    /// First line (1-based).
    pub line: usize,
}

/// Flags an instruction accepts.
struct Flags {
    given: Vec<String>,
    known: &'static [(&'static str, Kind)],
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Bool,
    Text,
    Repeated,
}

/// Values of the given flags, by name.
#[derive(Default)]
struct FlagValues(Vec<(&'static str, String)>);

impl FlagValues {
    fn text(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .rev()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
    }
    fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
            .collect()
    }
    fn bool(&self, name: &str) -> Option<bool> {
        self.text(name).map(|v| v == "true")
    }
}

impl Flags {
    fn parse(&self) -> Result<FlagValues, String> {
        let mut values = FlagValues::default();
        for flag in &self.given {
            if flag == "--" {
                break;
            }
            let Some(body) = flag.strip_prefix("--") else {
                return Err(format!("arg should start with -- : {flag}"));
            };
            let (name, value) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (body, None),
            };
            let Some(&(known, kind)) = self.known.iter().find(|(n, _)| *n == name) else {
                return Err(format!("unknown flag: --{name}"));
            };
            if kind != Kind::Repeated && values.0.iter().any(|(n, _)| *n == known) {
                return Err(format!("duplicate flag specified: --{name}"));
            }
            let value = match (kind, value) {
                (Kind::Bool, Some("")) | (Kind::Text | Kind::Repeated, None) => {
                    return Err(format!("missing a value on flag: --{name}"))
                }
                (Kind::Bool, None) => "true".to_string(),
                (Kind::Bool, Some(v)) => match v.to_ascii_lowercase().as_str() {
                    "true" => "true".into(),
                    "false" => "false".into(),
                    _ => {
                        return Err(format!(
                            "expecting boolean value for flag --{name}, not: {v}"
                        ))
                    }
                },
                (_, Some(v)) => v.to_string(),
            };
            values.0.push((known, value));
        }
        Ok(values)
    }
}

fn at_least_one(keyword: &str) -> String {
    format!("{keyword} requires at least one argument")
}

fn exactly_one(keyword: &str) -> String {
    format!("{keyword} requires exactly one argument")
}

/// The argument words of any argument shape (for counting).
fn words(args: &Args) -> Vec<String> {
    match args {
        Args::Json(w) | Args::Words(w) | Args::QuotedWords(w) => w.clone(),
        Args::Text(t) => vec![t.clone()],
        Args::Pairs(p, _) => p.iter().map(|(k, v)| format!("{k}={v}")).collect(),
        Args::Health(kind, rest) => {
            let mut all = vec![kind.clone()];
            all.extend(words(rest));
            all
        }
        Args::Sub(sub) => vec![sub.original.clone()],
        Args::Empty => Vec::new(),
    }
}

fn command_line(raw: &RawInstruction) -> CommandLine {
    let (args, shell_form) = match &raw.args {
        Args::Json(argv) => (argv.clone(), false),
        Args::Text(text) => (vec![text.clone()], true),
        _ => (Vec::new(), true),
    };
    CommandLine {
        args,
        shell_form,
        files: raw.heredocs.clone(),
    }
}

/// Go's time.ParseDuration for the forms HEALTHCHECK takes (`30s`, `1m30s`, `500ms`).
fn duration(flag: &str, value: Option<String>) -> Result<i64, String> {
    let Some(value) = value.filter(|v| !v.is_empty()) else {
        return Ok(0);
    };
    let bad = || format!("time: invalid duration \"{value}\"");
    let mut total: f64 = 0.0;
    let mut rest = value.as_str();
    if rest == "0" {
        return Ok(0);
    }
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let number: f64 = rest[..number_len].parse().map_err(|_| bad())?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(bad()),
        };
        total += number * scale;
        rest = &rest[unit_len..];
    }
    let nanos = total as i64;
    if nanos != 0 && nanos < 1_000_000 {
        return Err(format!("Interval \"{flag}\" cannot be less than 1ms"));
    }
    Ok(nanos)
}

/// Type one raw instruction.
pub fn typed(raw: &RawInstruction) -> Result<Instruction, String> {
    let keyword = raw.keyword.to_ascii_uppercase();
    let flags = |known: &'static [(&'static str, Kind)]| Flags {
        given: raw.flags.clone(),
        known,
    };
    let no_flags = || flags(&[]).parse().map(|_| ());
    let args = words(&raw.args);
    Ok(match keyword.as_str() {
        "FROM" => {
            let values = flags(&[("platform", Kind::Text)]).parse()?;
            let name = match args.as_slice() {
                [_] => None,
                [_, as_, name] if as_.eq_ignore_ascii_case("as") => {
                    let lower = name.to_ascii_lowercase();
                    let valid = lower.starts_with(|c: char| c.is_ascii_lowercase())
                        && lower.chars().all(|c| {
                            c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c)
                        });
                    if !valid {
                        return Err(format!(
                            "invalid name for build stage: {name:?}, name can't start with a number or contain symbols"
                        ));
                    }
                    Some(lower)
                }
                _ => return Err("FROM requires either one or three arguments".into()),
            };
            Instruction::From {
                base: args[0].clone(),
                name,
                platform: values.text("platform"),
            }
        }
        "RUN" => {
            let values = flags(&[
                ("mount", Kind::Repeated),
                ("network", Kind::Text),
                ("security", Kind::Text),
            ])
            .parse()?;
            let network = values.text("network");
            if let Some(n) = &network {
                if !matches!(n.as_str(), "none" | "host" | "default") {
                    return Err(format!("unsupported network mode {n:?}"));
                }
            }
            let security = values.text("security");
            if let Some(s) = &security {
                if !matches!(s.as_str(), "insecure" | "sandbox") {
                    return Err(format!("unsupported security mode {s:?}"));
                }
            }
            let command = command_line(raw);
            if command.args.is_empty() && raw.heredocs.is_empty() {
                return Err(at_least_one("RUN"));
            }
            let mounts = values.all("mount");
            for spec in &mounts {
                super::mount::check_from(spec)?;
            }
            Instruction::Run(Run {
                command,
                mounts,
                network,
                security,
            })
        }
        "CMD" => {
            no_flags()?;
            Instruction::Cmd(command_line(raw))
        }
        "ENTRYPOINT" => {
            no_flags()?;
            Instruction::Entrypoint(command_line(raw))
        }
        "SHELL" => {
            no_flags()?;
            match &raw.args {
                Args::Json(argv) if !argv.is_empty() => Instruction::Shell(argv.clone()),
                Args::Json(_) | Args::Empty => return Err(at_least_one("SHELL")),
                _ => {
                    return Err("SHELL requires the arguments to be in JSON form (e.g. SHELL [\"/bin/sh\", \"-c\"])".into())
                }
            }
        }
        "ENV" | "LABEL" => {
            no_flags()?;
            let Args::Pairs(pairs, _) = &raw.args else {
                return Err(at_least_one(&keyword));
            };
            if pairs.iter().any(|(k, _)| k.is_empty()) {
                return Err(format!("{keyword} names can not be blank"));
            }
            if keyword == "ENV" {
                Instruction::Env(pairs.clone())
            } else {
                Instruction::Label(pairs.clone())
            }
        }
        "ARG" => {
            no_flags()?;
            if args.is_empty() {
                return Err(at_least_one("ARG"));
            }
            let mut pairs = Vec::new();
            for word in args {
                match word.split_once('=') {
                    Some(("", _)) => return Err("ARG names can not be blank".into()),
                    Some((k, v)) => pairs.push((k.to_string(), Some(v.to_string()))),
                    None => pairs.push((word, None)),
                }
            }
            Instruction::Arg(pairs)
        }
        "EXPOSE" => {
            no_flags()?;
            if args.is_empty() {
                return Err(at_least_one("EXPOSE"));
            }
            Instruction::Expose(args)
        }
        "VOLUME" => {
            no_flags()?;
            if args.is_empty() {
                return Err(at_least_one("VOLUME"));
            }
            if args.iter().any(|v| v.trim().is_empty()) {
                return Err("VOLUME specified can not be an empty string".into());
            }
            Instruction::Volume(args.iter().map(|v| v.trim().to_string()).collect())
        }
        "USER" | "WORKDIR" | "STOPSIGNAL" | "MAINTAINER" => {
            no_flags()?;
            let [value] = args.as_slice() else {
                return Err(exactly_one(&keyword));
            };
            let value = value.clone();
            match keyword.as_str() {
                "USER" => Instruction::User(value),
                "WORKDIR" => Instruction::Workdir(value),
                "STOPSIGNAL" => Instruction::StopSignal(value),
                _ => Instruction::Maintainer(value),
            }
        }
        "HEALTHCHECK" => health(raw, &flags)?,
        "ONBUILD" => {
            no_flags()?;
            let Args::Sub(sub) = &raw.args else {
                return Err(at_least_one("ONBUILD"));
            };
            match sub.keyword.to_ascii_uppercase().as_str() {
                "ONBUILD" => {
                    return Err("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".into())
                }
                k @ ("MAINTAINER" | "FROM") => {
                    return Err(format!("{k} isn't allowed as an ONBUILD trigger"))
                }
                _ => {}
            }
            // The trigger must itself be valid.
            let mut trigger = (**sub).clone();
            trigger.heredocs = raw.heredocs.clone();
            typed(&trigger)?;
            let mut expression = sub.original.clone();
            for doc in &raw.heredocs {
                expression.push('\n');
                expression.push_str(&doc.content);
                expression.push_str(&doc.name);
            }
            Instruction::Onbuild(expression)
        }
        "COPY" | "ADD" => copy(raw, &keyword, &flags)?,
        _ => return Err(format!("unknown instruction: {}", raw.keyword)),
    })
}

fn health(
    raw: &RawInstruction,
    flags: &dyn Fn(&'static [(&'static str, Kind)]) -> Flags,
) -> Result<Instruction, String> {
    let Args::Health(kind, command) = &raw.args else {
        return Err(at_least_one("HEALTHCHECK"));
    };
    let kind = kind.to_ascii_uppercase();
    if kind == "NONE" {
        if !matches!(**command, Args::Empty) {
            return Err("HEALTHCHECK NONE takes no arguments".into());
        }
        return Ok(Instruction::Healthcheck(Health::None));
    }
    let values = flags(&[
        ("interval", Kind::Text),
        ("timeout", Kind::Text),
        ("start-period", Kind::Text),
        ("start-interval", Kind::Text),
        ("retries", Kind::Text),
    ])
    .parse()?;
    if kind != "CMD" {
        return Err(format!("Unknown type \"{kind}\" in HEALTHCHECK (try CMD)"));
    }
    let test = match &**command {
        Args::Json(argv) if !argv.is_empty() => {
            let mut test = vec!["CMD".to_string()];
            test.extend(argv.iter().cloned());
            test
        }
        Args::Text(line) => vec!["CMD-SHELL".to_string(), line.clone()],
        _ => return Err("Missing command after HEALTHCHECK CMD".into()),
    };
    let retries = match values.text("retries") {
        None => 0,
        Some(r) => {
            let n: i64 = r
                .parse()
                .map_err(|_| format!("strconv.ParseInt: parsing {r:?}: invalid syntax"))?;
            if n < 0 {
                return Err(format!("--retries cannot be negative ({n})"));
            }
            n
        }
    };
    Ok(Instruction::Healthcheck(Health::Check {
        test,
        interval: duration("interval", values.text("interval"))?,
        timeout: duration("timeout", values.text("timeout"))?,
        start_period: duration("start-period", values.text("start-period"))?,
        start_interval: duration("start-interval", values.text("start-interval"))?,
        retries,
    }))
}

fn copy(
    raw: &RawInstruction,
    keyword: &str,
    flags: &dyn Fn(&'static [(&'static str, Kind)]) -> Flags,
) -> Result<Instruction, String> {
    let add = keyword == "ADD";
    let values = if add {
        flags(&[
            ("chown", Kind::Text),
            ("chmod", Kind::Text),
            ("link", Kind::Bool),
            ("keep-git-dir", Kind::Bool),
            ("checksum", Kind::Text),
            ("unpack", Kind::Bool),
            ("exclude", Kind::Repeated),
        ])
    } else {
        flags(&[
            ("chown", Kind::Text),
            ("from", Kind::Text),
            ("chmod", Kind::Text),
            ("link", Kind::Bool),
            ("exclude", Kind::Repeated),
            ("parents", Kind::Bool),
        ])
    }
    .parse()?;
    let args = words(&raw.args);
    if args.len() < 2 {
        return Err(format!(
            "{keyword} requires at least two arguments, but only one was provided. Destination could not be determined"
        ));
    }
    let (sources, dest) = args.split_at(args.len() - 1);
    if heredoc_word(&dest[0])?.is_some() {
        return Err(format!(
            "{keyword} cannot accept a heredoc as a destination"
        ));
    }
    let mut copy = Copy {
        add,
        dest: dest[0].clone(),
        from: values.text("from"),
        chown: values.text("chown"),
        chmod: values.text("chmod"),
        link: values.bool("link").unwrap_or(false),
        excludes: values.all("exclude"),
        parents: values.bool("parents").unwrap_or(false),
        checksum: values.text("checksum"),
        unpack: values.bool("unpack"),
        ..Copy::default()
    };
    if let Some(chmod) = &copy.chmod {
        if u32::from_str_radix(chmod, 8).map_or(true, |m| m > 0o7777) {
            return Err(format!(
                "invalid chmod parameter: {chmod:?}: must be an octal mode"
            ));
        }
    }
    for source in sources {
        match heredoc_word(source)? {
            Some(doc) => {
                let body = raw
                    .heredocs
                    .iter()
                    .find(|d| d.name == doc.name)
                    .cloned()
                    .unwrap_or(doc);
                copy.inline.push(body);
            }
            None => copy.sources.push(source.clone()),
        }
    }
    Ok(Instruction::Copy(copy))
}

/// The instructions of a Dockerfile, grouped into stages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    /// The escape character (for substitution).
    pub escape: char,
    /// ARG instructions before the first FROM.
    pub global_args: Vec<Step>,
    /// The stages, in order.
    pub stages: Vec<Stage>,
}

/// One FROM and what follows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// The FROM step.
    pub from: Step,
    /// The stage's name (`AS name`), lower-cased.
    pub name: Option<String>,
    /// The steps after FROM.
    pub steps: Vec<Step>,
}

/// A Dockerfile error at a line, naming the instruction.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {keyword}: {message}")]
pub struct InstructionError {
    /// The line (1-based).
    pub line: usize,
    /// The instruction keyword (or "Dockerfile" for file-level errors).
    pub keyword: String,
    /// What is wrong.
    pub message: String,
}

/// Parse and type a Dockerfile.
pub fn parse_dockerfile(text: &str) -> Result<Dockerfile, InstructionError> {
    let parsed = super::lines::parse(text).map_err(|e| InstructionError {
        line: e.line,
        keyword: "Dockerfile".into(),
        message: e.message,
    })?;
    let mut global_args = Vec::new();
    let mut stages: Vec<Stage> = Vec::new();
    for raw in &parsed.instructions {
        let keyword = raw.keyword.to_ascii_uppercase();
        let instruction = typed(raw).map_err(|message| InstructionError {
            line: raw.line,
            keyword: keyword.clone(),
            message,
        })?;
        let step = Step {
            instruction,
            keyword: keyword.clone(),
            original: raw.original.clone(),
            line: raw.line,
        };
        match (&step.instruction, stages.last_mut()) {
            (Instruction::From { name, .. }, _) => stages.push(Stage {
                name: name.clone(),
                from: step.clone(),
                steps: Vec::new(),
            }),
            (Instruction::Arg(_), None) => global_args.push(step),
            (_, None) => return Err(InstructionError {
                line: raw.line,
                keyword,
                message:
                    "no build stage in current context (the first instruction must be FROM or ARG)"
                        .into(),
            }),
            (_, Some(stage)) => stage.steps.push(step),
        }
    }
    if stages.is_empty() {
        return Err(InstructionError {
            line: 1,
            keyword: "Dockerfile".into(),
            message: "no FROM instruction".into(),
        });
    }
    for (i, stage) in stages.iter().enumerate() {
        if let Some(name) = &stage.name {
            if stages[..i].iter().any(|s| s.name.as_ref() == Some(name)) {
                return Err(InstructionError {
                    line: stage.from.line,
                    keyword: "FROM".into(),
                    message: format!("duplicate stage name {name:?}"),
                });
            }
        }
    }
    Ok(Dockerfile {
        escape: parsed.escape,
        global_args,
        stages,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        parse_dockerfile(text).unwrap_err().to_string()
    }

    #[test]
    fn stages_and_global_args() {
        let df = parse_dockerfile(
            "ARG V=1\nFROM busybox AS Build\nRUN x\nFROM build\nCOPY --from=build /a /b\n",
        )
        .unwrap();
        assert_eq!(df.global_args.len(), 1);
        assert_eq!(df.stages.len(), 2);
        assert_eq!(df.stages[0].name.as_deref(), Some("build"));
        assert_eq!(df.stages[1].steps[0].line, 5);
    }

    #[test]
    fn errors_name_line_and_instruction() {
        assert_eq!(
            err("FROM x\nFOO bar\n"),
            "line 2: FOO: unknown instruction: FOO"
        );
        assert_eq!(
            err("FROM x\nCOPY --frm=a b c\n"),
            "line 2: COPY: unknown flag: --frm"
        );
        assert_eq!(err("FROM x\nCOPY a\n").split(':').nth(2).unwrap().trim(), "COPY requires at least two arguments, but only one was provided. Destination could not be determined");
        assert_eq!(err("RUN x\n"), "line 1: RUN: no build stage in current context (the first instruction must be FROM or ARG)");
        assert_eq!(
            err("FROM x y\n"),
            "line 1: FROM: FROM requires either one or three arguments"
        );
        assert_eq!(err("FROM x AS 1a\n"), "line 1: FROM: invalid name for build stage: \"1a\", name can't start with a number or contain symbols");
        assert_eq!(
            err("FROM x\nUSER\n"),
            "line 2: USER: USER requires exactly one argument"
        );
        assert_eq!(err("FROM x\nSHELL sh -c\n"), "line 2: SHELL: SHELL requires the arguments to be in JSON form (e.g. SHELL [\"/bin/sh\", \"-c\"])");
        assert_eq!(
            err("FROM x\nONBUILD ONBUILD RUN x\n"),
            "line 2: ONBUILD: Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"
        );
        assert_eq!(
            err("FROM x\nONBUILD FROM y\n"),
            "line 2: ONBUILD: FROM isn't allowed as an ONBUILD trigger"
        );
        assert_eq!(
            err("FROM x\nRUN --network=bridge x\n"),
            "line 2: RUN: unsupported network mode \"bridge\""
        );
        assert_eq!(
            err("FROM x\nHEALTHCHECK --interval=1us CMD x\n"),
            "line 2: HEALTHCHECK: Interval \"interval\" cannot be less than 1ms"
        );
        assert_eq!(
            err("FROM x\nCOPY --chmod=999 a b\n"),
            "line 2: COPY: invalid chmod parameter: \"999\": must be an octal mode"
        );
        assert_eq!(
            err("FROM a AS x\nFROM b AS x\n"),
            "line 2: FROM: duplicate stage name \"x\""
        );
        assert_eq!(
            err("FROM x\nCOPY a <<EOF\nEOF\n"),
            "line 2: COPY: COPY cannot accept a heredoc as a destination"
        );
        assert_eq!(
            err("FROM x\nLABEL --x=1 a=b\n"),
            "line 2: LABEL: unknown flag: --x"
        );
        assert_eq!(
            err("FROM x\nCOPY --link=maybe a b\n"),
            "line 2: COPY: expecting boolean value for flag --link, not: maybe"
        );
    }

    #[test]
    fn healthcheck_forms() {
        let df = parse_dockerfile("FROM x\nHEALTHCHECK --interval=1m30s --retries=3 CMD curl -f http://x/\nHEALTHCHECK NONE\nHEALTHCHECK CMD [\"a\",\"b\"]\n").unwrap();
        let steps = &df.stages[0].steps;
        assert_eq!(
            steps[0].instruction,
            Instruction::Healthcheck(Health::Check {
                test: vec!["CMD-SHELL".into(), "curl -f http://x/".into()],
                interval: 90_000_000_000,
                timeout: 0,
                start_period: 0,
                start_interval: 0,
                retries: 3
            })
        );
        assert_eq!(steps[1].instruction, Instruction::Healthcheck(Health::None));
        let Instruction::Healthcheck(Health::Check { test, .. }) = &steps[2].instruction else {
            panic!()
        };
        assert_eq!(test, &["CMD", "a", "b"]);
    }

    #[test]
    fn copy_with_heredoc_source_and_flags() {
        let df =
            parse_dockerfile("FROM x\nCOPY --chown=1:2 --chmod=640 <<EOF a* /dst/\nhello\nEOF\n")
                .unwrap();
        let Instruction::Copy(copy) = &df.stages[0].steps[0].instruction else {
            panic!()
        };
        assert_eq!(copy.sources, ["a*"]);
        assert_eq!(copy.inline[0].content, "hello\n");
        assert_eq!(copy.chown.as_deref(), Some("1:2"));
        assert_eq!(copy.chmod.as_deref(), Some("640"));
        assert_eq!(copy.dest, "/dst/");
    }

    #[test]
    fn onbuild_expression_keeps_heredoc() {
        let df = parse_dockerfile("FROM x\nONBUILD RUN <<EOF\necho hi\nEOF\n").unwrap();
        assert_eq!(
            df.stages[0].steps[0].instruction,
            Instruction::Onbuild("RUN <<EOF\necho hi\nEOF".into())
        );
    }
}
