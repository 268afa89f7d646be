//! The container's processes: the parent that spawns the init, the init itself, and the typed
//! protocol between them.

pub mod exec;
mod init;
pub mod spawn;
pub mod sync;

pub use exec::{spawn_exec, ExecSpawn};
pub use spawn::{spawn, ConsoleTarget, SpawnError, SpawnOptions};
