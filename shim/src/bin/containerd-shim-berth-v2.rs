//! `containerd-shim-berth-v2`: the containerd shim v2 (not written yet).

fn main() {
    eprintln!("containerd-shim-berth-v2: not implemented yet");
    std::process::exit(1);
}
