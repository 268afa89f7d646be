//! Kubernetes' way in: containerd's CRI plugin driven through the CRI gRPC API as kubelet
//! drives it (k8s-cri types, a tonic client on containerd's private socket), with berth
//! behind it both ways README.md documents:
//!
//! - handler `berth`: berth's own shim (runtime_type io.containerd.berth.v2; containerd 1.6
//!   hands non-runc shims their settings through a ConfigPath file);
//! - handler `runc-berth`: containerd's runc shim with BinaryName = berth.
//!
//! The pod: a locally built pause image as its sandbox, one busybox container; the steps:
//! RunPodSandbox, CreateContainer, StartContainer, ExecSync, the CRI log file, ContainerStats,
//! UpdateContainerResources, StopContainer, RemoveContainer, StopPodSandbox, RemovePodSandbox; then nothing is left.

use berth_e2e::binaries::runtime_under_test;
use berth_e2e::containerd::Containerd;
use berth_e2e::poll::until;
use hyper_util::rt::TokioIo;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_cri::v1::*;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tonic::transport::{Channel, Endpoint, Uri};

const PAUSE_IMAGE: &str = "berth.local/pause:1";
const BUSYBOX: &str = "docker.io/library/busybox:latest";

/// containerd with the CRI plugin on, both runtime handlers, the images in k8s.io.
fn start(tag: &str) -> Containerd {
    let berth = runtime_under_test();
    let config = format!(
        r#"[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{{dir}}/cni/bin"
    conf_dir = "{{dir}}/cni/conf"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "berth"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.berth]
      runtime_type = "io.containerd.berth.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.berth.options]
        ConfigPath = "{{dir}}/berth-shim.toml"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc-berth]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc-berth.options]
        BinaryName = "{berth}"
        Root = "{{dir}}/runc-shim-root"
"#,
        berth = berth.display(),
    );
    let ctd = Containerd::start(tag, &config);
    // The berth shim's settings (ConfigPath), read when it creates a task.
    let settings = format!("BinaryName = \"{}\"\nRoot = \"{}/berth-shim-root\"\n", berth.display(), ctd.dir().display());
    std::fs::write(ctd.dir().join("berth-shim.toml"), settings).unwrap();
    let import = |archive: &Path| {
        let out = ctd.ctr_command_in("k8s.io", &["image", "import", archive.to_str().unwrap()]).output().unwrap();
        assert!(out.status.success(), "ctr image import: {}", String::from_utf8_lossy(&out.stderr));
    };
    import(&berth_e2e::images::pause_docker_archive(ctd.dir(), PAUSE_IMAGE));
    import(&berth_e2e::images::busybox_docker_archive(ctd.dir()));
    // kubelet asks for images by their normalized names.
    let tagged = ctd.ctr_command_in("k8s.io", &["image", "tag", "busybox:latest", BUSYBOX]).output().unwrap();
    assert!(tagged.status.success(), "ctr image tag: {}", String::from_utf8_lossy(&tagged.stderr));
    ctd
}

async fn client(socket: PathBuf) -> RuntimeServiceClient<Channel> {
    let channel = Endpoint::try_from("http://[::]:50051")
        .unwrap()
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let socket = socket.clone();
            async move { Ok::<_, std::io::Error>(TokioIo::new(tokio::net::UnixStream::connect(socket).await?)) }
        }))
        .await
        .expect("connect to containerd's CRI socket");
    RuntimeServiceClient::new(channel)
}

fn pod_config(name: &str, logs: &Path, cgroup_parent: &str) -> PodSandboxConfig {
    PodSandboxConfig {
        metadata: Some(PodSandboxMetadata { name: name.into(), uid: format!("{name}-uid"), namespace: "default".into(), attempt: 0 }),
        // A host-network pod shares the host's uts namespace: kubelet sets no hostname.
        log_directory: logs.display().to_string(),
        linux: Some(LinuxPodSandboxConfig {
            cgroup_parent: cgroup_parent.into(),
            security_context: Some(LinuxSandboxSecurityContext {
                // Host network: no CNI plugin is needed (or installed).
                namespace_options: Some(NamespaceOption { network: NamespaceMode::Node as i32, ..Default::default() }),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn pod_lifecycle(handler: &str) {
    let ctd = start(&format!("cri-{handler}"));
    let logs = ctd.dir().join("pod-logs");
    std::fs::create_dir_all(&logs).unwrap();
    let cgroup_parent = format!("/shim-v2-cri-{handler}-{}", std::process::id());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let mut cri = client(ctd.socket()).await;
        // CRI comes up a moment after the daemon's socket.
        for _ in 0..100 {
            if cri.version(VersionRequest::default()).await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let config = pod_config(&format!("pod-{handler}"), &logs, &cgroup_parent);

        // 1. The sandbox, on the pause image.
        let pod = cri
            .run_pod_sandbox(RunPodSandboxRequest { config: Some(config.clone()), runtime_handler: handler.into() })
            .await
            .unwrap_or_else(|e| panic!("RunPodSandbox: {e}; see {}", ctd.log_path().display()))
            .into_inner()
            .pod_sandbox_id;

        // 2. A container in it, then start it.
        let container_config = ContainerConfig {
            metadata: Some(ContainerMetadata { name: "c1".into(), attempt: 0 }),
            image: Some(ImageSpec { image: BUSYBOX.into(), ..Default::default() }),
            command: vec!["sh".into(), "-c".into(), "echo cri-out-line; echo cri-err-line >&2; exec sleep 600".into()],
            log_path: "c1.log".into(),
            ..Default::default()
        };
        let container = cri
            .create_container(CreateContainerRequest {
                pod_sandbox_id: pod.clone(),
                config: Some(container_config),
                sandbox_config: Some(config.clone()),
            })
            .await
            .unwrap_or_else(|e| panic!("CreateContainer: {e}"))
            .into_inner()
            .container_id;
        cri.start_container(StartContainerRequest { container_id: container.clone() }).await.expect("StartContainer");

        // One shim serves the whole pod.
        assert_eq!(ctd.shim_pids().len(), 1, "shims for one pod: {:?}", ctd.shim_pids());

        // 3. ExecSync: output and exit code.
        let exec = cri
            .exec_sync(ExecSyncRequest {
                container_id: container.clone(),
                cmd: vec!["sh".into(), "-c".into(), "echo exec-sync-out; exit 3".into()],
                timeout: 30,
            })
            .await
            .expect("ExecSync")
            .into_inner();
        assert_eq!(exec.exit_code, 3);
        assert_eq!(String::from_utf8_lossy(&exec.stdout), "exec-sync-out\n");

        // 4. The container log in CRI format: RFC3339Nano time, stream, F (full line), text.
        let log = logs.join("c1.log");
        let text = until(Duration::from_secs(10), || {
            let text = std::fs::read_to_string(&log).ok()?;
            (text.contains("cri-out-line") && text.contains("cri-err-line")).then_some(text)
        })
        .unwrap_or_else(|| panic!("log {} never got both lines", log.display()));
        for (stream, line) in [("stdout", "cri-out-line"), ("stderr", "cri-err-line")] {
            let record = text.lines().find(|l| l.ends_with(line)).unwrap();
            let fields: Vec<&str> = record.splitn(4, ' ').collect();
            assert_eq!(&fields[1..], [stream, "F", line], "{record}");
            assert!(fields[0].contains('T') && fields[0].ends_with('Z'), "not RFC3339: {record}");
        }

        // 5. ContainerStats from the shim's metrics.
        let stats = cri
            .container_stats(ContainerStatsRequest { container_id: container.clone() })
            .await
            .expect("ContainerStats")
            .into_inner()
            .stats
            .expect("stats");
        let working_set = stats.memory.and_then(|m| m.working_set_bytes).map(|v| v.value).unwrap_or(0);
        let cpu = stats.cpu.and_then(|c| c.usage_core_nano_seconds).map(|v| v.value).unwrap_or(0);
        assert!(working_set > 0, "no memory working set in {stats:?}", stats = working_set);
        assert!(cpu > 0, "no cpu usage");

        // 6. UpdateContainerResources reaches the container's cgroup (the shim's Update).
        let limit: i64 = 96 << 20;
        cri.update_container_resources(UpdateContainerResourcesRequest {
            container_id: container.clone(),
            linux: Some(LinuxContainerResources { memory_limit_in_bytes: limit, ..Default::default() }),
            ..Default::default()
        })
        .await
        .expect("UpdateContainerResources");
        let limit_file = Path::new("/sys/fs/cgroup/memory").join(cgroup_parent.trim_start_matches('/')).join(&container).join("memory.limit_in_bytes");
        let applied = std::fs::read_to_string(&limit_file).unwrap_or_else(|e| panic!("{}: {e}", limit_file.display()));
        assert_eq!(applied.trim(), limit.to_string(), "{}", limit_file.display());

        // 7. Stop and remove the container, then the pod.
        cri.stop_container(StopContainerRequest { container_id: container.clone(), timeout: 0 }).await.expect("StopContainer");
        let status = cri
            .container_status(ContainerStatusRequest { container_id: container.clone(), verbose: false })
            .await
            .expect("ContainerStatus")
            .into_inner()
            .status
            .expect("status");
        assert_eq!(status.state, ContainerState::ContainerExited as i32);
        assert_eq!(status.exit_code, 137, "SIGKILL is 128+9");
        cri.remove_container(RemoveContainerRequest { container_id: container.clone() }).await.expect("RemoveContainer");
        cri.stop_pod_sandbox(StopPodSandboxRequest { pod_sandbox_id: pod.clone() }).await.expect("StopPodSandbox");
        cri.remove_pod_sandbox(RemovePodSandboxRequest { pod_sandbox_id: pod.clone() }).await.expect("RemovePodSandbox");

        // 8. Nothing left: no container, no pod, no shim, no mount, no state, no cgroup.
        let containers = cri.list_containers(ListContainersRequest::default()).await.unwrap().into_inner().containers;
        assert!(containers.is_empty(), "containers left: {containers:?}");
        let pods = cri.list_pod_sandbox(ListPodSandboxRequest::default()).await.unwrap().into_inner().items;
        assert!(pods.is_empty(), "pods left: {pods:?}");
    });
    let gone = until(Duration::from_secs(10), || ctd.shim_pids().is_empty().then_some(()));
    assert!(gone.is_some(), "shims left: {:?}", ctd.shim_pids());
    let mounts = berth_e2e::inspect::host_mounts_under(ctd.dir());
    assert!(mounts.is_empty(), "left mounted: {mounts:?}");
    let cgroups: Vec<PathBuf> = std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
        .map(|h| h.path().join(cgroup_parent.trim_start_matches('/')))
        .filter(|p| p.is_dir())
        .collect();
    let children: Vec<PathBuf> =
        cgroups.iter().flat_map(|p| std::fs::read_dir(p).into_iter().flatten().flatten()).map(|e| e.path()).filter(|p| p.is_dir()).collect();
    for dir in &cgroups {
        let _ = std::fs::remove_dir(dir);
    }
    assert!(children.is_empty(), "container cgroups left: {children:?}");
}

#[test]
fn pod_on_berths_own_shim() {
    pod_lifecycle("berth");
}

#[test]
fn pod_on_the_runc_shim_with_berth_as_binary() {
    pod_lifecycle("runc-berth");
}
