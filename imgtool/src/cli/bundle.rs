//! `berth-img bundle IMAGE DIR [options] [-- ARGS...]`, `bundle --rm DIR`, `unbundle DIR`.

use std::path::PathBuf;

use berth_img::bundle::{self, Bind, BundleOptions};
use berth_img::store::Store;
use clap::Args;

#[derive(Args)]
pub struct BundleArgs {
    /// Image reference, digest or id prefix.
    #[arg(required_unless_present = "rm")]
    image: Option<String>,
    /// The bundle directory to create.
    #[arg(required_unless_present = "rm")]
    dir: Option<PathBuf>,
    /// Write a flattened copy of the layers instead of mounting an overlay.
    #[arg(long)]
    copy: bool,
    /// Remove the bundle DIR (and unmount it) instead.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["image", "dir"])]
    rm: Option<PathBuf>,
    /// Set an environment variable (KEY=value), over the image's.
    #[arg(short, long, value_name = "KEY=VALUE")]
    env: Vec<String>,
    /// The container's hostname.
    #[arg(long)]
    hostname: Option<String>,
    /// Bind a host path: SOURCE:DEST[:ro].
    #[arg(long, value_name = "SRC:DST[:ro]", value_parser = parse_bind)]
    bind: Vec<Bind>,
    /// Give the process a terminal.
    #[arg(short, long)]
    tty: bool,
    /// Mount the rootfs read-only.
    #[arg(long)]
    read_only: bool,
    /// The command, replacing the image's Entrypoint and Cmd.
    #[arg(last = true)]
    args: Vec<String>,
}

#[derive(Args)]
pub struct UnbundleArgs {
    /// The bundle directory.
    dir: PathBuf,
}

fn parse_bind(value: &str) -> Result<Bind, String> {
    let parts: Vec<&str> = value.split(':').collect();
    let (source, destination, read_only) = match parts.as_slice() {
        [s, d] => (*s, *d, false),
        [s, d, "ro"] => (*s, *d, true),
        [s, d, "rw"] => (*s, *d, false),
        _ => return Err(format!("{value:?}: expected SOURCE:DEST[:ro]")),
    };
    if !source.starts_with('/') || !destination.starts_with('/') {
        return Err(format!(
            "{value:?}: source and destination must be absolute paths"
        ));
    }
    Ok(Bind {
        source: source.into(),
        destination: destination.into(),
        read_only,
    })
}

pub fn run(store: &Store, args: BundleArgs) -> super::Result {
    if let Some(dir) = args.rm {
        bundle::remove(&dir)?;
        return Ok(());
    }
    let (Some(image), Some(dir)) = (args.image, args.dir) else {
        unreachable!("clap requires IMAGE and DIR")
    };
    let options = BundleOptions {
        copy: args.copy,
        args: (!args.args.is_empty()).then_some(args.args),
        env: args.env,
        hostname: args.hostname,
        binds: args.bind,
        terminal: args.tty,
        read_only: args.read_only,
    };
    bundle::create(store, &image, &dir, &options)?;
    Ok(())
}

pub fn unbundle(args: UnbundleArgs) -> super::Result {
    bundle::remove(&args.dir)?;
    Ok(())
}
