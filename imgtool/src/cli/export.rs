//! `berth-img export IMAGE FILE [--format oci|docker]`.

use std::path::PathBuf;

use berth_img::export::{self, Format};
use berth_img::store::Store;
use clap::{Args, ValueEnum};

#[derive(Clone, Copy, ValueEnum)]
enum FormatArg {
    /// An OCI image layout archive.
    Oci,
    /// A docker save archive (docker load, skopeo docker-archive:).
    Docker,
}

#[derive(Args)]
pub struct ExportArgs {
    /// Image reference, digest or id prefix.
    image: String,
    /// The archive to write.
    output: PathBuf,
    /// Archive format.
    #[arg(long, value_enum, default_value = "oci")]
    format: FormatArg,
}

pub fn run(store: &Store, args: ExportArgs) -> super::Result {
    let format = match args.format {
        FormatArg::Oci => Format::OciArchive,
        FormatArg::Docker => Format::DockerArchive,
    };
    export::export(store, &args.image, &args.output, format)?;
    Ok(())
}
