//! config.json for an image: a secure default (the namespaces, masked and
//! read-only paths, capabilities and rlimits `runc spec` writes) with the
//! image's command, environment, working directory, user, volumes, ports,
//! labels and stop signal applied, then the caller's overrides.

use serde_json::{json, Value};

use super::user::ResolvedUser;
use super::{Bind, BundleError, BundleOptions};
use crate::oci::ExecConfig;

const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The default template: what a container gets before the image speaks. It is the runtime's
/// own default (`berth spec`), with a writable root, the namespaces of runc 1.1's template
/// and the runtime-spec version Debian's crun 1.8 still accepts, so bundles run under any
/// of the runtimes here.
fn template() -> Value {
    let mut spec = berth_runtime::plan::default_config();
    spec["ociVersion"] = json!("1.0.2-dev");
    spec["root"]["readonly"] = json!(false);
    spec["linux"]["namespaces"] = json!([{ "type": "pid" }, { "type": "network" }, { "type": "ipc" }, { "type": "uts" }, { "type": "mount" }]);
    spec
}

/// Set `KEY=value` in `env`, replacing an entry with the same key.
fn set_env(env: &mut Vec<String>, entry: &str) {
    let key = entry.split_once('=').map_or(entry, |(k, _)| k);
    env.retain(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) != key);
    env.push(entry.to_string());
}

fn has_env(env: &[String], key: &str) -> bool {
    env.iter()
        .any(|e| e.split_once('=').is_some_and(|(k, _)| k == key))
}

/// The inputs of a config.json.
pub struct SpecInputs<'a> {
    /// The image's run configuration.
    pub image: &'a ExecConfig,
    /// The resolved user.
    pub user: &'a ResolvedUser,
    /// Host directories backing the image's volumes, in `image.volumes` order.
    pub volume_sources: &'a [(String, String)],
    /// The image's reference or id, for messages.
    pub image_name: &'a str,
    /// Annotations to add (image digest, ...).
    pub extra_annotations: &'a [(String, String)],
}

/// The process's arguments: the override, else Entrypoint + Cmd.
fn args_of(image: &ExecConfig, options: &BundleOptions) -> Vec<String> {
    match &options.args {
        Some(args) => args.clone(),
        None => image
            .entrypoint
            .iter()
            .flatten()
            .chain(image.cmd.iter().flatten())
            .cloned()
            .collect(),
    }
}

/// Check what config.json will be made of before anything is made: a
/// command, `KEY=value` environment entries (the image's and the caller's),
/// absolute volume paths.
pub fn validate(
    image: &ExecConfig,
    image_name: &str,
    options: &BundleOptions,
) -> Result<(), BundleError> {
    if args_of(image, options).is_empty() {
        return Err(BundleError::NoCommand {
            image: image_name.to_string(),
        });
    }
    for entry in image.env.iter().flatten().chain(&options.env) {
        if !entry.contains('=') || entry.starts_with('=') {
            return Err(BundleError::BadEnv {
                value: entry.clone(),
            });
        }
    }
    for volume in image.volumes.iter().flatten().map(|(path, _)| path) {
        if !volume.starts_with('/') {
            return Err(BundleError::BadVolume {
                path: volume.clone(),
            });
        }
    }
    Ok(())
}

/// Build config.json.
pub fn build(inputs: &SpecInputs<'_>, options: &BundleOptions) -> Result<Value, BundleError> {
    let image = inputs.image;
    validate(image, inputs.image_name, options)?;
    let mut spec = template();
    // Command: Entrypoint + Cmd, or the override.
    let args = args_of(image, options);
    // Environment: a default PATH, the image's, then the overrides.
    let mut env = vec![DEFAULT_PATH.to_string()];
    for entry in image.env.iter().flatten().chain(&options.env) {
        set_env(&mut env, entry);
    }
    if !has_env(&env, "HOME") {
        env.push(format!("HOME={}", inputs.user.home));
    }
    if options.terminal && !has_env(&env, "TERM") {
        env.push("TERM=xterm".to_string());
    }
    let cwd = image
        .working_dir
        .clone()
        .filter(|w| !w.is_empty())
        .unwrap_or_else(|| "/".to_string());
    let process = &mut spec["process"];
    process["terminal"] = json!(options.terminal);
    process["args"] = json!(args);
    process["env"] = json!(env);
    process["cwd"] = json!(cwd);
    let mut user = json!({ "uid": inputs.user.uid, "gid": inputs.user.gid });
    if !inputs.user.additional_gids.is_empty() {
        user["additionalGids"] = json!(inputs.user.additional_gids);
    }
    process["user"] = user;
    spec["root"]["readonly"] = json!(options.read_only);
    if let Some(hostname) = &options.hostname {
        spec["hostname"] = json!(hostname);
    }
    // Mounts: volumes, then the caller's binds.
    let mounts = spec["mounts"]
        .as_array_mut()
        .map(std::mem::take)
        .unwrap_or_default();
    let mut mounts = mounts;
    for (destination, source) in inputs.volume_sources {
        mounts.push(json!({ "destination": destination, "type": "bind", "source": source, "options": ["rbind", "rprivate"] }));
    }
    for Bind {
        source,
        destination,
        read_only,
    } in &options.binds
    {
        let mut opts = vec!["rbind", "rprivate"];
        if *read_only {
            opts.push("ro");
        }
        mounts.push(json!({ "destination": destination, "type": "bind", "source": source, "options": opts }));
    }
    spec["mounts"] = json!(mounts);
    // Annotations: ports, stop signal and labels, as the image spec's conversion says.
    let mut annotations = serde_json::Map::new();
    for (key, value) in image.labels.iter().flatten() {
        annotations.insert(key.clone(), json!(value));
    }
    if let Some(ports) = &image.exposed_ports {
        let ports: Vec<&str> = ports.keys().map(String::as_str).collect();
        annotations.insert(
            "org.opencontainers.image.exposedPorts".into(),
            json!(ports.join(",")),
        );
    }
    if let Some(signal) = image.stop_signal.as_ref().filter(|s| !s.is_empty()) {
        annotations.insert("org.opencontainers.image.stopSignal".into(), json!(signal));
    }
    for (key, value) in inputs.extra_annotations {
        annotations.insert(key.clone(), json!(value));
    }
    if !annotations.is_empty() {
        spec["annotations"] = Value::Object(annotations);
    }
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> ResolvedUser {
        ResolvedUser {
            uid: 33,
            gid: 33,
            additional_gids: vec![4],
            home: "/var/www".into(),
        }
    }

    #[test]
    fn applies_image_config_and_overrides() {
        let image = ExecConfig {
            entrypoint: Some(vec!["/bin/sh".into(), "-c".into()]),
            cmd: Some(vec!["echo hi".into()]),
            env: Some(vec!["PATH=/bin".into(), "A=1".into()]),
            working_dir: Some("/srv".into()),
            stop_signal: Some("SIGQUIT".into()),
            exposed_ports: Some([("80/tcp".to_string(), json!({}))].into()),
            labels: Some([("l".to_string(), "v".to_string())].into()),
            ..Default::default()
        };
        let options = BundleOptions {
            env: vec!["A=2".into()],
            hostname: Some("h".into()),
            ..Default::default()
        };
        let inputs = SpecInputs {
            image: &image,
            user: &user(),
            volume_sources: &[],
            image_name: "x",
            extra_annotations: &[],
        };
        let spec = build(&inputs, &options).unwrap();
        assert_eq!(spec["process"]["args"], json!(["/bin/sh", "-c", "echo hi"]));
        assert_eq!(
            spec["process"]["env"],
            json!(["PATH=/bin", "A=2", "HOME=/var/www"])
        );
        assert_eq!(spec["process"]["cwd"], "/srv");
        assert_eq!(
            spec["process"]["user"],
            json!({ "uid": 33, "gid": 33, "additionalGids": [4] })
        );
        assert_eq!(spec["process"]["terminal"], false);
        assert_eq!(spec["hostname"], "h");
        assert_eq!(
            spec["annotations"]["org.opencontainers.image.stopSignal"],
            "SIGQUIT"
        );
        assert_eq!(
            spec["annotations"]["org.opencontainers.image.exposedPorts"],
            "80/tcp"
        );
        assert_eq!(spec["annotations"]["l"], "v");
    }

    #[test]
    fn refuses_an_image_without_command() {
        let inputs = SpecInputs {
            image: &ExecConfig::default(),
            user: &user(),
            volume_sources: &[],
            image_name: "x",
            extra_annotations: &[],
        };
        assert!(matches!(
            build(&inputs, &BundleOptions::default()),
            Err(BundleError::NoCommand { .. })
        ));
    }
}
