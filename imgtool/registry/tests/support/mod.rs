//! Real peers for the registry tests: Debian's docker-registry on a free
//! loopback port, skopeo, tiny OCI layouts, and a token server.
//!
//! Every resource is owned by a guard that cleans up in Drop, also when a
//! test fails.
#![allow(dead_code)] // each test file uses a different part

pub mod http_peer;
pub mod token_server;

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use berth_registry::{BlobPush, Client, Digest, Error, NoProgress, Reference};

/// A directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let path =
            std::env::temp_dir().join(format!("berth-registry-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// How the test registry authenticates.
pub enum RegistryAuth {
    None,
    /// htpasswd with one bcrypt user.
    Htpasswd {
        user: String,
        password: String,
    },
    /// Token auth trusting `cert` (PEM), with tokens from `realm`.
    Token {
        realm: String,
        service: String,
        issuer: String,
        cert: PathBuf,
    },
}

/// How the test registry listens.
#[derive(Default, Clone, Copy)]
pub struct Listen {
    /// https only, with a self-signed certificate no system root trusts.
    pub tls: bool,
    /// On [::1] instead of 127.0.0.1.
    pub ipv6: bool,
}

impl Listen {
    fn ip(self) -> &'static str {
        if self.ipv6 {
            "::1"
        } else {
            "127.0.0.1"
        }
    }
}

/// A docker-registry process on loopback, killed by pid on drop.
pub struct Registry {
    child: Child,
    pub port: u16,
    listen: Listen,
    dir: TempDir,
}

impl Registry {
    pub fn start(auth: RegistryAuth) -> Registry {
        Registry::start_with(auth, Listen::default())
    }

    pub fn start_with(auth: RegistryAuth, listen: Listen) -> Registry {
        let mut dir = TempDir::new("registry");
        let tls_yaml = if listen.tls {
            // A leaf for the listen address, signed by a throwaway CA that
            // no system root store holds (tests may trust it explicitly).
            let ca_dir = dir.path().join("ca");
            std::fs::create_dir_all(&ca_dir).unwrap();
            let (ca_cert, ca_key) = self_signed_cert(&ca_dir, "/CN=berth-test-ca", None);
            let alt_name = format!("IP:{}", listen.ip());
            let (cert, key) = ca_signed_cert(dir.path(), (&ca_cert, &ca_key), &alt_name);
            format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                cert.display(),
                key.display()
            )
        } else {
            String::new()
        };
        let auth_yaml = match &auth {
            RegistryAuth::None => String::new(),
            RegistryAuth::Htpasswd { user, password } => {
                let hash = bcrypt::hash(password, 5).unwrap();
                let path = dir.path().join("htpasswd");
                std::fs::write(&path, format!("{user}:{hash}\n")).unwrap();
                format!("auth:\n  htpasswd:\n    realm: berth-test\n    path: {}\n", path.display())
            }
            RegistryAuth::Token { realm, service, issuer, cert } => format!(
                "auth:\n  token:\n    realm: {realm}\n    service: {service}\n    issuer: {issuer}\n    rootcertbundle: {}\n",
                cert.display()
            ),
        };
        // A port is free when we bind it; the registry binds it a moment later,
        // so a lost race is retried with another port.
        let log_path = dir.path().join("registry.log");
        for _attempt in 0..5 {
            let port = free_port_on(listen.ip());
            let config = dir.path().join("config.yml");
            std::fs::write(
                &config,
                format!(
                    "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: \"{}\"\n{tls_yaml}{auth_yaml}",
                    dir.path().join("storage").display(),
                    std::net::SocketAddr::from((listen.ip().parse::<std::net::IpAddr>().unwrap(), port)),
                ),
            )
            .unwrap();
            let log = std::fs::File::create(&log_path).unwrap();
            let child = Command::new("/usr/bin/docker-registry")
                .arg("serve")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("start /usr/bin/docker-registry (apt-get install docker-registry)");
            // The guard owns the process from here: a panic below kills it.
            let mut registry = Registry {
                child,
                port,
                listen,
                dir,
            };
            if registry.wait_ready() {
                return registry;
            }
            let _ = registry.child.kill();
            let _ = registry.child.wait();
            dir = registry.take_dir();
        }
        panic!(
            "docker-registry did not start: {}",
            std::fs::read_to_string(&log_path).unwrap_or_default()
        );
    }

    /// Moves the temp dir out of a registry that failed to start.
    fn take_dir(mut self) -> TempDir {
        std::mem::replace(&mut self.dir, TempDir(PathBuf::new()))
    }

    /// Until the port accepts connections (false after 15 s or if the
    /// process exited, e.g. because another process took the port).
    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if TcpStream::connect((self.listen.ip(), self.port)).is_ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// The CA that signed a TLS registry's certificate.
    pub fn ca_cert(&self) -> PathBuf {
        self.dir.path().join("ca/cert.pem")
    }

    /// Where the registry keeps blob `digest` on disk (its filesystem driver's layout).
    pub fn blob_data_path(&self, digest: &Digest) -> PathBuf {
        self.dir
            .path()
            .join("storage/docker/registry/v2/blobs")
            .join(digest.algorithm().name())
            .join(&digest.hex()[..2])
            .join(digest.hex())
            .join("data")
    }

    pub fn host(&self) -> String {
        match self.listen.ipv6 {
            true => format!("[::1]:{}", self.port),
            false => format!("127.0.0.1:{}", self.port),
        }
    }

    pub fn reference(&self, repo_and_tag: &str) -> Reference {
        Reference::parse(&format!("{}/{repo_and_tag}", self.host())).unwrap()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A self-signed P-256 certificate and its PKCS#8 key, made by openssl in
/// `dir`: (cert.pem, key.pem).
pub fn self_signed_cert(dir: &Path, subject: &str, alt_name: Option<&str>) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let mut command = Command::new("openssl");
    command
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "2", "-subj", subject])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null());
    if let Some(alt_name) = alt_name {
        command.args(["-addext", &format!("subjectAltName={alt_name}")]);
    }
    let status = command.status().expect("run openssl");
    assert!(status.success(), "openssl req failed");
    (cert, key)
}

/// A P-256 leaf certificate for `alt_name` (e.g. `IP:127.0.0.1`) signed by
/// `ca` = (cert, key), made by openssl in `dir`: (leaf.pem, leaf.key).
pub fn ca_signed_cert(dir: &Path, ca: (&Path, &Path), alt_name: &str) -> (PathBuf, PathBuf) {
    let (cert, key, csr) = (
        dir.join("leaf.pem"),
        dir.join("leaf.key"),
        dir.join("leaf.csr"),
    );
    let extensions = dir.join("leaf.ext");
    std::fs::write(
        &extensions,
        format!("basicConstraints=CA:FALSE\nsubjectAltName={alt_name}\n"),
    )
    .unwrap();
    let request = Command::new("openssl")
        .args([
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ])
        .args(["-subj", "/CN=berth-test-leaf", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&csr)
        .stderr(Stdio::null())
        .status()
        .expect("run openssl");
    assert!(request.success(), "openssl req -new failed");
    let sign = Command::new("openssl")
        .args(["x509", "-req", "-days", "2", "-in"])
        .arg(&csr)
        .arg("-CA")
        .arg(ca.0)
        .arg("-CAkey")
        .arg(ca.1)
        .args(["-CAcreateserial", "-extfile"])
        .arg(&extensions)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .expect("run openssl");
    assert!(sign.success(), "openssl x509 -req failed");
    (cert, key)
}

/// Pulls `blob` whole into memory through `client`.
pub fn pull_blob(client: &Client, reference: &Reference, blob: &Blob) -> Result<Vec<u8>, Error> {
    let mut sink = Vec::new();
    client.get_blob(
        reference,
        &blob.digest,
        blob.bytes.len() as u64,
        &mut sink,
        &NoProgress,
    )?;
    Ok(sink)
}

/// Pushes `image`'s layers and config through `client`.
pub fn push_blobs(
    client: &Client,
    reference: &Reference,
    image: &Image,
) -> Result<Vec<BlobPush>, Error> {
    let blobs = image.layers.iter().chain([&image.config]);
    blobs
        .map(|blob| {
            let size = blob.bytes.len() as u64;
            client.push_blob(
                reference,
                &blob.digest,
                size,
                blob.bytes.as_slice(),
                &NoProgress,
            )
        })
        .collect()
}

/// Pushes all of `image` through `client`, the manifest under `reference`.
pub fn push_image(
    client: &Client,
    reference: &Reference,
    image: &Image,
) -> Result<Vec<BlobPush>, Error> {
    let outcomes = push_blobs(client, reference, image)?;
    let manifest = &image.manifest;
    let digest = client.put_manifest(reference, &manifest.media_type, &manifest.bytes)?;
    assert_eq!(digest, manifest.digest);
    Ok(outcomes)
}

/// A loopback port nothing listens on (at the moment of asking).
pub fn free_port() -> u16 {
    free_port_on("127.0.0.1")
}

fn free_port_on(ip: &str) -> u16 {
    TcpListener::bind((ip, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs skopeo; panics with its stderr when it fails.
pub fn skopeo(args: &[&str]) -> Vec<u8> {
    let output = Command::new("skopeo")
        .arg("--insecure-policy")
        .args(args)
        .output()
        .expect("run skopeo (apt-get install skopeo)");
    assert!(
        output.status.success(),
        "skopeo {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// A blob: media type, bytes, digest.
#[derive(Clone, Debug)]
pub struct Blob {
    pub media_type: String,
    pub bytes: Vec<u8>,
    pub digest: Digest,
}

impl Blob {
    pub fn new(media_type: &str, bytes: Vec<u8>) -> Blob {
        let digest = Digest::of_bytes(&bytes);
        Blob {
            media_type: media_type.to_owned(),
            bytes,
            digest,
        }
    }

    pub fn descriptor(&self) -> serde_json::Value {
        serde_json::json!({
            "mediaType": self.media_type,
            "digest": self.digest.to_string(),
            "size": self.bytes.len(),
        })
    }
}

pub const LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
pub const LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
pub const CONFIG: &str = "application/vnd.oci.image.config.v1+json";

/// A one-file tar made by tar(1), raw or piped through `compressor`.
pub fn layer(file_name: &str, content: &[u8], compressor: Option<&str>) -> Vec<u8> {
    let dir = TempDir::new("layer");
    std::fs::write(dir.path().join(file_name), content).unwrap();
    let tar = Command::new("tar")
        .args(["--sort=name", "--mtime=@0", "--owner=0", "--group=0", "-C"])
        .arg(dir.path())
        .args(["-cf", "-", file_name])
        .output()
        .unwrap();
    assert!(tar.status.success());
    match compressor {
        None => tar.stdout,
        Some(program) => {
            let mut child = Command::new(program)
                .arg("-c")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let mut stdin = child.stdin.take().unwrap();
            let input = tar.stdout.clone();
            let writer = std::thread::spawn(move || stdin.write_all(&input).unwrap());
            let output = child.wait_with_output().unwrap();
            writer.join().unwrap();
            assert!(output.status.success(), "{program} failed");
            output.stdout
        }
    }
}

/// An image: config, layers and the manifest that ties them.
pub struct Image {
    pub config: Blob,
    pub layers: Vec<Blob>,
    pub manifest: Blob,
}

impl Image {
    /// A small image for `architecture` with a gzip, a zstd and a raw tar layer.
    pub fn three_layers(architecture: &str) -> Image {
        let layers = vec![
            Blob::new(
                LAYER_GZIP,
                layer(
                    "a.txt",
                    format!("gzip layer {architecture}\n").as_bytes(),
                    Some("gzip"),
                ),
            ),
            Blob::new(
                LAYER_ZSTD,
                layer(
                    "b.txt",
                    format!("zstd layer {architecture}\n").as_bytes(),
                    Some("zstd"),
                ),
            ),
            Blob::new(
                LAYER_TAR,
                layer(
                    "c.txt",
                    format!("raw layer {architecture}\n").as_bytes(),
                    None,
                ),
            ),
        ];
        Image::with_layers(architecture, layers)
    }

    pub fn with_layers(architecture: &str, layers: Vec<Blob>) -> Image {
        let config = serde_json::json!({
            "architecture": architecture,
            "os": "linux",
            "config": {"Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| l.digest.to_string()).collect::<Vec<_>>()},
        });
        let config = Blob::new(CONFIG, serde_json::to_vec(&config).unwrap());
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": berth_registry::OCI_MANIFEST,
            "config": config.descriptor(),
            "layers": layers.iter().map(Blob::descriptor).collect::<Vec<_>>(),
        });
        let manifest = Blob::new(
            berth_registry::OCI_MANIFEST,
            serde_json::to_vec_pretty(&manifest).unwrap(),
        );
        Image {
            config,
            layers,
            manifest,
        }
    }

    pub fn blobs(&self) -> Vec<&Blob> {
        let mut blobs: Vec<&Blob> = self.layers.iter().collect();
        blobs.push(&self.config);
        blobs.push(&self.manifest);
        blobs
    }
}

/// An OCI index over images, each entry with its platform.
pub fn index(images: &[(&Image, &str)]) -> Blob {
    let manifests: Vec<serde_json::Value> = images
        .iter()
        .map(|(image, architecture)| {
            let mut descriptor = image.manifest.descriptor();
            descriptor["platform"] =
                serde_json::json!({"os": "linux", "architecture": architecture});
            descriptor
        })
        .collect();
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": berth_registry::OCI_INDEX,
        "manifests": manifests,
    });
    Blob::new(
        berth_registry::OCI_INDEX,
        serde_json::to_vec_pretty(&index).unwrap(),
    )
}

/// Writes an OCI image layout holding `blobs`, with `top` tagged `tag`.
pub fn write_layout(dir: &Path, blobs: &[&Blob], top: &Blob, tag: &str) {
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let blob_dir = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blob_dir).unwrap();
    for blob in blobs.iter().chain([&top]) {
        std::fs::write(blob_dir.join(blob.digest.hex()), &blob.bytes).unwrap();
    }
    let mut descriptor = top.descriptor();
    descriptor["annotations"] = serde_json::json!({"org.opencontainers.image.ref.name": tag});
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [descriptor]});
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
}

/// Puts `image` into `registry` as `repo:tag` with skopeo.
pub fn skopeo_push(registry: &Registry, image: &Image, repo_tag: &str, creds: Option<&str>) {
    let layout = TempDir::new("layout");
    write_layout(layout.path(), &image.blobs(), &image.manifest, "t");
    let source = format!("oci:{}:t", layout.path().display());
    let dest = format!("docker://{}/{repo_tag}", registry.host());
    // --preserve-digests: no recompression of the raw layer, manifest bytes kept.
    let mut args = vec!["copy", "--preserve-digests", "--dest-tls-verify=false"];
    if let Some(creds) = creds {
        args.extend(["--dest-creds", creds]);
    }
    args.extend([source.as_str(), dest.as_str()]);
    skopeo(&args);
}

/// Puts an index over `images` into `registry` as `repo_tag` with
/// `skopeo copy --all` and the `extra` flags; returns the index as written.
pub fn skopeo_push_index(
    registry: &Registry,
    images: &[(&Image, &str)],
    repo_tag: &str,
    extra: &[&str],
) -> Blob {
    let index = index(images);
    let layout = TempDir::new("index-layout");
    let blobs: Vec<&Blob> = images.iter().flat_map(|(image, _)| image.blobs()).collect();
    write_layout(layout.path(), &blobs, &index, "t");
    let source = format!("oci:{}:t", layout.path().display());
    let dest = format!("docker://{}/{repo_tag}", registry.host());
    let args = [
        &["copy", "--all", "--dest-tls-verify=false"][..],
        extra,
        &[&source, &dest],
    ]
    .concat();
    skopeo(&args);
    index
}

/// Reads blob `digest` of an OCI layout.
pub fn layout_blob(dir: &Path, digest: &Digest) -> Vec<u8> {
    std::fs::read(
        dir.join("blobs")
            .join(digest.algorithm().name())
            .join(digest.hex()),
    )
    .unwrap()
}
