//! config.json `hooks`: the lifecycle stages and what a valid hook looks like.

use super::SpecError;
use oci_spec::runtime::{Hook, Hooks};

/// The stages, with their config.json names.
#[derive(Debug, Clone, Copy)]
pub enum Stage {
    Prestart,
    CreateRuntime,
    CreateContainer,
    StartContainer,
    Poststart,
    Poststop,
}

impl Stage {
    /// Every stage, in lifecycle order.
    pub const ALL: [Stage; 6] =
        [Stage::Prestart, Stage::CreateRuntime, Stage::CreateContainer, Stage::StartContainer, Stage::Poststart, Stage::Poststop];

    /// The name config.json gives the stage.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Prestart => "prestart",
            Stage::CreateRuntime => "createRuntime",
            Stage::CreateContainer => "createContainer",
            Stage::StartContainer => "startContainer",
            Stage::Poststart => "poststart",
            Stage::Poststop => "poststop",
        }
    }

    /// This stage's hooks in `hooks`.
    pub fn of(self, hooks: &Hooks) -> &[Hook] {
        let list = match self {
            Stage::Prestart => hooks.prestart(),
            Stage::CreateRuntime => hooks.create_runtime(),
            Stage::CreateContainer => hooks.create_container(),
            Stage::StartContainer => hooks.start_container(),
            Stage::Poststart => hooks.poststart(),
            Stage::Poststop => hooks.poststop(),
        };
        list.as_deref().unwrap_or_default()
    }
}

/// Check the hooks of config.json: absolute paths, positive timeouts.
pub fn validate(hooks: &Hooks) -> Result<(), SpecError> {
    use Stage::*;
    for stage in [Prestart, CreateRuntime, CreateContainer, StartContainer, Poststart, Poststop] {
        for (i, hook) in stage.of(hooks).iter().enumerate() {
            let field = format!("hooks.{}[{i}]", stage.name());
            if !hook.path().is_absolute() {
                return Err(SpecError::invalid(format!("{field}.path"), format!("{} is not absolute", hook.path().display())));
            }
            if hook.timeout().is_some_and(|t| t <= 0) {
                return Err(SpecError::invalid(format!("{field}.timeout"), "must be a positive number of seconds"));
            }
        }
    }
    Ok(())
}
