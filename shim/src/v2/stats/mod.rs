//! Task metrics, which `ctr task metrics`, the CRI plugin and kubelet read, packed as the Any
//! a StatsResponse carries: containerd's cgroup v1 Metrics on v1 and hybrid hosts (`v1`, from
//! the runtime's `events --stats`), its cgroup v2 Metrics on pure v2 hosts (`v2`, read from
//! the container's cgroup files as containerd-shim-runc-v2 does).

pub mod v1;
pub mod v2;

use containerd_shim::protos::protobuf::well_known_types::any::Any;
use containerd_shim::protos::protobuf::Message;

/// Pack `metrics` under the type URL containerd's typeurl registry knows them by.
pub fn pack(type_url: &str, metrics: &impl Message) -> Any {
    Any { type_url: type_url.to_owned(), value: metrics.write_to_bytes().unwrap_or_default(), ..Default::default() }
}
