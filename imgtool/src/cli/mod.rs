//! The command line: clap types, one file per verb.

mod build;
mod bundle;
mod commit;
mod export;
mod images;
mod import;
mod registry;

use std::path::PathBuf;

use berth_img::store::Store;
use clap::{Parser, Subcommand};

/// The result of a verb: errors print as one line.
pub type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

/// berth-img: image store, layer unpacking and bundles for berth.
#[derive(Parser)]
#[command(name = "berth-img", version, about)]
pub struct Cli {
    /// The store directory (default /var/lib/berth for root, else $XDG_DATA_HOME/berth).
    #[arg(long, global = true, env = "BERTH_IMG_STORE")]
    store: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Import an OCI layout (dir or archive), a docker save archive, a skopeo dir, or a rootfs tar.
    Import(import::ImportArgs),
    /// List images.
    Images(images::ImagesArgs),
    /// Print an image's manifest, config and references as JSON.
    Inspect(images::InspectArgs),
    /// Give an image another name.
    Tag(images::TagArgs),
    /// Remove image references (blobs stay until gc).
    Rm(images::RmArgs),
    /// Remove blobs and layers no image or bundle uses.
    Gc,
    /// Unpack an image's layers into the store (bundle does this when needed).
    Unpack(images::UnpackArgs),
    /// Write an image to an OCI archive or a docker save archive.
    Export(export::ExportArgs),
    /// Build an image from a Dockerfile.
    Build(build::BuildArgs),
    /// Make an image of a bundle's changes (its overlay upper directory).
    Commit(commit::CommitArgs),
    /// Make a runtime bundle (overlay rootfs + config.json) from an image.
    Bundle(bundle::BundleArgs),
    /// Remove a bundle and its mount.
    Unbundle(bundle::UnbundleArgs),
    /// Pull an image from a registry.
    Pull(registry::PullArgs),
    /// Push an image to a registry.
    Push(registry::PushArgs),
}

/// Run the parsed command line.
pub fn run(cli: Cli) -> Result {
    let store = || Store::open(&cli.store.clone().unwrap_or_else(Store::default_root));
    match cli.command {
        Command::Import(args) => import::run(&store()?, args),
        Command::Images(args) => images::list(&store()?, args),
        Command::Inspect(args) => images::inspect(&store()?, args),
        Command::Tag(args) => images::tag(&store()?, args),
        Command::Rm(args) => images::remove(&store()?, args),
        Command::Gc => images::gc(&store()?),
        Command::Unpack(args) => images::unpack(&store()?, args),
        Command::Export(args) => export::run(&store()?, args),
        Command::Build(args) => build::run(&store()?, args),
        Command::Commit(args) => commit::run(&store()?, args),
        Command::Bundle(args) => bundle::run(&store()?, args),
        Command::Unbundle(args) => bundle::unbundle(args),
        Command::Pull(args) => registry::pull(&store()?, args),
        Command::Push(args) => registry::push(&store()?, args),
    }
}
