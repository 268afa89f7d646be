//! `images`, `inspect`, `tag`, `rm`, `gc` and `unpack`.

use std::collections::BTreeMap;

use berth_img::progress::Progress;
use berth_img::reference::Reference;
use berth_img::store::Store;
use clap::Args;
use serde_json::json;

#[derive(Args)]
pub struct ImagesArgs {
    /// Print image ids only.
    #[arg(short, long)]
    quiet: bool,
    /// Output format.
    #[arg(long, value_parser = ["table", "json"], default_value = "table")]
    format: String,
}

#[derive(Args)]
pub struct InspectArgs {
    /// Image reference, digest or id prefix.
    image: String,
}

#[derive(Args)]
pub struct TagArgs {
    /// Image reference, digest or id prefix.
    source: String,
    /// New name[:tag].
    target: Reference,
}

#[derive(Args)]
pub struct RmArgs {
    /// Image references, digests or id prefixes.
    #[arg(required = true)]
    images: Vec<String>,
}

#[derive(Args)]
pub struct UnpackArgs {
    /// Image reference, digest or id prefix.
    image: String,
}

fn human(bytes: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < units.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes}B")
    } else {
        format!("{value:.1}{}", units[unit])
    }
}

pub fn list(store: &Store, args: ImagesArgs) -> super::Result {
    let index = store.entries()?;
    let named: BTreeMap<String, Vec<Reference>> =
        index.iter().fold(BTreeMap::new(), |mut map, (r, d)| {
            let references = map.entry(d.digest.to_string()).or_default();
            references.extend(r.clone());
            map
        });
    let mut rows = Vec::new();
    for (reference, descriptor) in &index {
        let image = store.image(descriptor)?;
        let size: u64 =
            image.manifest.layers.iter().map(|l| l.size).sum::<u64>() + image.manifest.config.size;
        let (name, tag) = match reference {
            Some(reference) => (reference.name(), reference.tag()),
            None => ("<none>", "<none>"),
        };
        rows.push((
            name.to_string(),
            tag.to_string(),
            descriptor.digest.clone(),
            size,
            image.config.created.clone().unwrap_or_default(),
        ));
    }
    if args.quiet {
        let mut seen = std::collections::BTreeSet::new();
        for (_, _, digest, _, _) in &rows {
            if seen.insert(digest.clone()) {
                println!("{}", digest.short());
            }
        }
        return Ok(());
    }
    if args.format == "json" {
        let out: Vec<_> = rows
            .iter()
            .map(|(name, tag, digest, size, created)| {
                json!({ "name": name, "tag": tag, "id": digest.short(), "digest": digest.to_string(), "size": size, "created": created,
                        "references": named.get(&digest.to_string()).map(|r| r.iter().map(ToString::to_string).collect::<Vec<_>>()) })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!(
        "{:<40} {:<16} {:<14} {:>10}",
        "REPOSITORY", "TAG", "IMAGE ID", "SIZE"
    );
    for (name, tag, digest, size, _) in rows {
        println!(
            "{name:<40} {tag:<16} {:<14} {:>10}",
            digest.short(),
            human(size)
        );
    }
    Ok(())
}

pub fn inspect(store: &Store, args: InspectArgs) -> super::Result {
    let image = store.resolve(&args.image)?;
    let references: Vec<String> = store
        .references()?
        .into_iter()
        .filter(|(_, d)| d.digest == image.descriptor.digest)
        .map(|(r, _)| r.to_string())
        .collect();
    let out = json!({
        "id": image.descriptor.digest.short(),
        "digest": image.descriptor.digest.to_string(),
        "references": references,
        "manifest": image.manifest,
        "config": image.config,
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

pub fn tag(store: &Store, args: TagArgs) -> super::Result {
    store.tag(&args.source, &args.target)?;
    Ok(())
}

pub fn remove(store: &Store, args: RmArgs) -> super::Result {
    for image in args.images {
        for reference in store.remove(&image)? {
            println!("untagged {reference}");
        }
    }
    Ok(())
}

pub fn gc(store: &Store) -> super::Result {
    let report = berth_img::gc::collect(store)?;
    println!(
        "removed {} blobs ({}) and {} unpacked layers",
        report.blobs,
        human(report.bytes),
        report.layers
    );
    Ok(())
}

pub fn unpack(store: &Store, args: UnpackArgs) -> super::Result {
    let image = store.resolve(&args.image)?;
    let total = image.manifest.layers.iter().map(|l| l.size).sum();
    let progress = Progress::bytes("unpack", total);
    store.ensure_unpacked(&image, &progress)?;
    progress.finish();
    Ok(())
}
