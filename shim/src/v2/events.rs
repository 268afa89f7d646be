//! Task events, published to containerd in the order the shim queued them.
//!
//! Every state change queues its event while it still holds the shim's state lock, and one
//! thread forwards the queue to containerd, so TaskCreate < TaskStart < TaskExit < TaskDelete
//! hold even when the exit is noticed on another thread.

use containerd_shim::protos::protobuf::MessageDyn;
use containerd_shim::publisher::RemotePublisher;
use containerd_shim::protos::ttrpc::context::Context;
use std::sync::mpsc::{channel, Sender};

type Event = (&'static str, Box<dyn MessageDyn + Send>);

/// The queue of events for containerd; cheap to clone.
#[derive(Clone)]
pub struct Events {
    queue: Sender<Event>,
}

impl Events {
    /// Start the forwarding thread for `namespace`.
    pub fn start(publisher: RemotePublisher, namespace: String) -> Events {
        let (queue, pending) = channel::<Event>();
        std::thread::spawn(move || {
            for (topic, event) in pending {
                if let Err(e) = publisher.publish(Context::default(), topic, &namespace, event) {
                    containerd_shim::warn!("publish {topic}: {e}");
                }
            }
        });
        Events { queue }
    }

    pub fn send(&self, topic: &'static str, event: impl MessageDyn + 'static) {
        let _ = self.queue.send((topic, Box::new(event)));
    }
}
