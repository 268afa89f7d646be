//! `berth-img pull REMOTE [NAME]` and `berth-img push IMAGE REMOTE`.

use berth_img::layer::Limits;
use berth_img::reference::Reference;
use berth_img::registry;
use berth_img::store::Store;
use berth_registry::{Client, ClientOptions, Credentials};
use clap::Args;

/// How to reach the registry.
#[derive(Args)]
pub struct Connection {
    /// Allow plain http and unverified https for any registry (always allowed for localhost).
    #[arg(long)]
    insecure: bool,
    /// User name (with --password or $BERTH_IMG_PASSWORD); else the docker auth file is read.
    #[arg(long)]
    username: Option<String>,
    /// Password for --username.
    #[arg(long, env = "BERTH_IMG_PASSWORD", hide_env_values = true)]
    password: Option<String>,
}

impl Connection {
    fn client(&self) -> Client {
        let credentials = self
            .username
            .as_ref()
            .map(|user| Credentials::new(user.clone(), self.password.clone().unwrap_or_default()));
        Client::new(ClientOptions {
            credentials,
            insecure: self.insecure,
            ..Default::default()
        })
    }
}

#[derive(Args)]
pub struct PullArgs {
    /// registry/name[:tag|@digest].
    remote: String,
    /// Local name[:tag] (default: the remote name and tag).
    name: Option<Reference>,
    #[command(flatten)]
    connection: Connection,
}

#[derive(Args)]
pub struct PushArgs {
    /// Image reference, digest or id prefix.
    image: String,
    /// registry/name[:tag].
    remote: String,
    #[command(flatten)]
    connection: Connection,
}

pub fn pull(store: &Store, args: PullArgs) -> super::Result {
    let added = registry::pull(
        store,
        &args.connection.client(),
        &args.remote,
        args.name,
        Limits::default(),
    )?;
    match added.reference {
        Some(reference) => println!("{reference} {}", added.descriptor.digest),
        None => println!("<none> {}", added.descriptor.digest),
    }
    Ok(())
}

pub fn push(store: &Store, args: PushArgs) -> super::Result {
    let digest = registry::push(store, &args.connection.client(), &args.image, &args.remote)?;
    println!("{} {digest}", args.remote);
    Ok(())
}
