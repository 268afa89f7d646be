//! In-process cost of reading and validating a bundle's config.json with
//! berth's own library: the part of `berth create` before any syscall that
//! changes the machine.

use berth_e2e::bundle::example_bundle;
use criterion::{criterion_group, criterion_main, Criterion};

fn load_and_plan(c: &mut Criterion) {
    let bundle = example_bundle();
    c.bench_function("spec::load example config.json", |b| {
        b.iter(|| berth_runtime::plan::load(&bundle).expect("example config loads"))
    });
    let spec = berth_runtime::plan::load(&bundle).expect("example config loads");
    c.bench_function("spec::Plan::new example config.json", |b| {
        b.iter(|| berth_runtime::plan::Plan::new(&spec, &bundle).expect("example config is valid"))
    });
}

criterion_group!(benches, load_and_plan);
criterion_main!(benches);
