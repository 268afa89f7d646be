//! The shim's process lifecycle as containerd drives it: `start` (spawn or join the shim of
//! the task's group), `delete` (clean up after a shim that died) and the serving process.

use super::events::Events;
use super::runtime::Runtime;
use super::service::Service;
use containerd_shim::api::DeleteResponse;
use containerd_shim::publisher::RemotePublisher;
use containerd_shim::{Config, ExitSignal, Flags, StartOpts};
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

/// The label containerd's CRI plugin puts on every container of a pod.
const SANDBOX_ID_ANNOTATION: &str = "io.kubernetes.cri.sandbox-id";

pub struct Shim {
    namespace: String,
    id: String,
    shutdown: Arc<ExitSignal>,
}

/// The shim a task joins: its pod's (so a pod costs one shim), else its own.
fn grouping(bundle: &Path, id: &str) -> String {
    let spec = std::fs::read(bundle.join("config.json")).ok().and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
    spec.as_ref()
        .and_then(|s| s["annotations"][SANDBOX_ID_ANNOTATION].as_str())
        .filter(|sandbox| !sandbox.is_empty())
        .unwrap_or(id)
        .to_owned()
}

impl containerd_shim::Shim for Shim {
    type T = Service;

    fn new(_runtime_id: &str, args: &Flags, _config: &mut Config) -> Self {
        Shim { namespace: args.namespace.clone(), id: args.id.clone(), shutdown: Arc::new(ExitSignal::default()) }
    }

    /// containerd runs `start` in the bundle: start the serving shim (or find the group's
    /// running one) and print its address.
    fn start_shim(&mut self, opts: StartOpts) -> containerd_shim::Result<String> {
        let grouping = grouping(Path::new("."), &opts.id);
        let (_pid, address) = containerd_shim::spawn(opts, &grouping, Vec::new())?;
        containerd_shim::util::write_address(&address)?;
        Ok(address)
    }

    /// containerd runs `delete` in the bundle when the serving shim is gone: remove the
    /// container it left with the runtime and unmount the rootfs.
    fn delete_shim(&mut self) -> containerd_shim::Result<DeleteResponse> {
        let bundle = std::env::current_dir().map_err(|err| containerd_shim::Error::IoError { context: "bundle".into(), err })?;
        let options = containerd_shim::util::read_options(&bundle).unwrap_or_default();
        let runtime = Runtime::from_options(&options, &self.namespace, &bundle);
        let _ = runtime.delete(&self.id, true);
        let _ = nix::mount::umount2(&bundle.join("rootfs"), nix::mount::MntFlags::MNT_DETACH);
        let exit = super::process::Exit { code: 128 + libc::SIGKILL as u32, at: SystemTime::now() };
        Ok(DeleteResponse { exit_status: exit.code, exited_at: exit.timestamp(), ..Default::default() })
    }

    fn wait(&mut self) {
        self.shutdown.wait();
    }

    fn create_task_service(&self, publisher: RemotePublisher) -> Service {
        let events = Events::start(publisher, self.namespace.clone());
        Service::new(self.namespace.clone(), events, self.shutdown.clone())
    }
}
