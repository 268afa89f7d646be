//! `berth-img commit BUNDLE NAME[:TAG] [--change 'CMD ...']`.

use std::path::PathBuf;

use berth_img::build::{commit, ImageFormat};
use berth_img::reference::Reference;
use berth_img::store::Store;
use clap::Args;

#[derive(Args)]
pub struct CommitArgs {
    /// An overlay bundle made by `berth-img bundle`.
    bundle: PathBuf,
    /// The new image's name.
    name: String,
    /// A config instruction to apply (CMD, ENTRYPOINT, ENV, LABEL, EXPOSE, USER, WORKDIR, ...).
    #[arg(short = 'c', long = "change")]
    changes: Vec<String>,
    /// Write the Docker config format.
    #[arg(long)]
    docker: bool,
}

pub fn run(store: &Store, args: CommitArgs) -> super::Result {
    let name: Reference = args.name.parse()?;
    let format = if args.docker {
        ImageFormat::Docker
    } else {
        ImageFormat::Oci
    };
    let digest = commit::commit(store, &args.bundle, &args.changes, &[name], format)?;
    println!("{digest}");
    Ok(())
}
