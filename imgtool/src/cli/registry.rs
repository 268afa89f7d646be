//! `pull` and `push`: the registry client is not wired yet.

use berth_img::store::Store;
use clap::Args;

#[derive(Args)]
pub struct PullArgs {
    /// registry/name[:tag].
    reference: String,
}

#[derive(Args)]
pub struct PushArgs {
    /// Image reference, digest or id prefix.
    image: String,
    /// registry/name[:tag].
    reference: String,
}

#[derive(Debug, thiserror::Error)]
#[error("{verb} {reference}: the registry client is not built into this berth-img")]
struct NotWired {
    verb: &'static str,
    reference: String,
}

pub fn pull(_store: &Store, args: PullArgs) -> super::Result {
    Err(Box::new(NotWired { verb: "pull", reference: args.reference }))
}

pub fn push(_store: &Store, args: PushArgs) -> super::Result {
    Err(Box::new(NotWired { verb: "push", reference: args.image }))
}
