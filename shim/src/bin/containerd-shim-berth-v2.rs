//! `containerd-shim-berth-v2`: the containerd shim v2 for berth (see berth_shim::v2).

fn main() {
    berth_shim::v2::main();
}
