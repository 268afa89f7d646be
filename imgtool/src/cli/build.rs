//! `berth-img build [OPTIONS] CONTEXT`: a Dockerfile into an image.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;

use berth_img::build::{self, BuildOptions, ImageFormat, OutputArchive, ProgressMode};
use berth_img::export::Format;
use berth_img::reference::Reference;
use berth_img::store::Store;
use clap::{Args, ValueEnum};

#[derive(Clone, Copy, ValueEnum)]
enum FormatArg {
    /// OCI manifest and config.
    Oci,
    /// Docker schema 2 manifest and config.
    Docker,
}

#[derive(Clone, Copy, ValueEnum)]
enum ProgressArg {
    /// A terminal display when stderr is one, else plain.
    Auto,
    /// One line per step.
    Plain,
    /// Terminal display.
    Tty,
    /// Only errors.
    Quiet,
}

#[derive(Args)]
pub struct BuildArgs {
    /// The build context directory.
    context: PathBuf,
    /// The Dockerfile (default CONTEXT/Dockerfile).
    #[arg(short = 'f', long = "file")]
    file: Option<PathBuf>,
    /// Name the image (repeatable).
    #[arg(short = 't', long = "tag")]
    tags: Vec<String>,
    /// Set a build argument (KEY=VALUE, or KEY to take it from the environment).
    #[arg(long = "build-arg")]
    build_args: Vec<String>,
    /// Build this stage.
    #[arg(long)]
    target: Option<String>,
    /// Do not use the build cache.
    #[arg(long)]
    no_cache: bool,
    /// Image config format.
    #[arg(long, value_enum, default_value = "oci")]
    format: FormatArg,
    /// Also make a runtime bundle of the result in DIR.
    #[arg(long, value_name = "DIR")]
    bundle: Option<PathBuf>,
    /// Also write the image to an archive: type=oci|docker,dest=FILE.
    #[arg(short = 'o', long)]
    output: Option<String>,
    /// Progress display.
    #[arg(long, value_enum, default_value = "auto")]
    progress: ProgressArg,
    /// Print only the image id.
    #[arg(short = 'q', long)]
    quiet: bool,
    /// A secret for RUN --mount=type=secret: id=ID,src=FILE.
    #[arg(long)]
    secret: Vec<String>,
    /// Accepted for compatibility; only this machine's platform is built.
    #[arg(long)]
    platform: Option<String>,
}

fn output(spec: &str) -> Result<OutputArchive, String> {
    let mut kind = None;
    let mut dest = None;
    for field in spec.split(',') {
        match field.split_once('=') {
            Some(("type", v)) => kind = Some(v.to_string()),
            Some(("dest", v)) => dest = Some(PathBuf::from(v)),
            _ => {
                return Err(format!(
                    "--output {spec:?}: expected type=oci|docker,dest=FILE"
                ))
            }
        }
    }
    let format = match kind.as_deref() {
        Some("oci") => Format::OciArchive,
        Some("docker") => Format::DockerArchive,
        _ => return Err(format!("--output {spec:?}: type must be oci or docker")),
    };
    let dest = dest.ok_or_else(|| format!("--output {spec:?}: dest=FILE is required"))?;
    Ok(OutputArchive { format, dest })
}

pub fn run(store: &Store, args: BuildArgs) -> super::Result {
    let tags = args
        .tags
        .iter()
        .map(|t| t.parse::<Reference>())
        .collect::<Result<Vec<_>, _>>()?;
    let mut build_args = BTreeMap::new();
    for arg in &args.build_args {
        match arg.split_once('=') {
            Some((k, v)) => build_args.insert(k.to_string(), v.to_string()),
            None => match std::env::var(arg) {
                Ok(v) => build_args.insert(arg.clone(), v),
                Err(_) => None,
            },
        };
    }
    let mut secrets = BTreeMap::new();
    for spec in &args.secret {
        let mut id = None;
        let mut src = None;
        for field in spec.split(',') {
            match field.split_once('=') {
                Some(("id", v)) => id = Some(v.to_string()),
                Some(("src" | "source", v)) => src = Some(PathBuf::from(v)),
                _ => return Err(format!("--secret {spec:?}: expected id=ID,src=FILE").into()),
            }
        }
        let (Some(id), Some(src)) = (id, src) else {
            return Err(format!("--secret {spec:?}: expected id=ID,src=FILE").into());
        };
        secrets.insert(id, src);
    }
    let progress = match (args.quiet, args.progress) {
        (true, _) | (_, ProgressArg::Quiet) => ProgressMode::Quiet,
        (_, ProgressArg::Plain) => ProgressMode::Plain,
        // Lines redrawn in place need a terminal: without one, plain lines.
        (_, ProgressArg::Tty | ProgressArg::Auto) if std::io::stderr().is_terminal() => {
            ProgressMode::Tty
        }
        (_, ProgressArg::Tty | ProgressArg::Auto) => ProgressMode::Plain,
    };
    let options = BuildOptions {
        context: args.context,
        dockerfile: args.file,
        tags,
        build_args,
        target: args.target,
        no_cache: args.no_cache,
        format: match args.format {
            FormatArg::Oci => ImageFormat::Oci,
            FormatArg::Docker => ImageFormat::Docker,
        },
        bundle: args.bundle,
        output: args.output.as_deref().map(output).transpose()?,
        progress,
        secrets,
        runtime: build::run::find_runtime(),
    };
    let built = build::build(store, &options)?;
    println!("{}", built.digest);
    Ok(())
}
