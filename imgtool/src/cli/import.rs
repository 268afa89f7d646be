//! `berth-img import SOURCE [NAME]`.

use std::path::PathBuf;

use berth_img::import::{self, ImportOptions};
use berth_img::layer::Limits;
use berth_img::reference::Reference;
use berth_img::store::Store;
use clap::Args;

#[derive(Args)]
pub struct ImportArgs {
    /// OCI layout directory or archive, docker save archive, skopeo dir, or rootfs tar ('-': an archive on stdin).
    source: PathBuf,
    /// Name (name[:tag]) for the image; the source must hold one image.
    name: Option<Reference>,
    /// Leave the layers packed until a bundle needs them.
    #[arg(long)]
    no_unpack: bool,
    /// Largest uncompressed size of one layer, in bytes (a decompression bomb guard).
    #[arg(long, value_name = "BYTES")]
    max_layer_size: Option<u64>,
}

pub fn run(store: &Store, args: ImportArgs) -> super::Result {
    let mut limits = Limits::default();
    if let Some(max) = args.max_layer_size {
        limits.max_layer_bytes = max;
    }
    let options = ImportOptions {
        name: args.name,
        no_unpack: args.no_unpack,
        limits,
    };
    for added in import::import(store, &args.source, &options)? {
        match added.reference {
            Some(reference) => println!("{reference} {}", added.descriptor.digest),
            None => println!("<none> {}", added.descriptor.digest),
        }
    }
    Ok(())
}
