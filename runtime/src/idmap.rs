//! Idmapped mounts (`mounts[].uidMappings`, "idmap", "ridmap", and berth's rootfs annotation),
//! made by the parent before the clone.
//!
//! The kernel lets only a caller privileged over the filesystem's own user namespace idmap a
//! mount, and only while the mount is detached: so the parent, still on the host, clones each
//! source as a detached tree (open_tree), idmaps it with a user namespace that carries the
//! mapping (mount_setattr MOUNT_ATTR_IDMAP), and the init, which inherits the descriptors,
//! attaches each tree at its destination (move_mount) as it reaches that mount.

use crate::plan::{IdMap, IdmapSource, MountIdmap, Plan};
use crate::sys;
use crate::userns::{self, UserNamespaceError};
use nix::sched::CloneFlags;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

/// An idmapped mount could not be prepared, naming the field, path and what refused it.
#[derive(Debug, thiserror::Error)]
pub enum IdmapError {
    /// open_tree of the source failed.
    #[error("{field}: open_tree {path}: {source}")]
    Clone { field: String, path: PathBuf, source: io::Error },
    /// The kernel or the filesystem refuses idmapped mounts.
    #[error("{field}: idmapped mount of {path}: {filesystem} refuses it on this kernel (mount_setattr MOUNT_ATTR_IDMAP: {source})")]
    Refused { field: String, path: PathBuf, filesystem: String, source: io::Error },
    /// The user namespace carrying the mapping could not be made.
    #[error("{field}: {source}")]
    Namespace { field: String, source: UserNamespaceError },
}

/// The detached, idmapped trees the init attaches: one slot per `mounts[]` entry, and the rootfs.
#[derive(Debug, Default)]
pub struct DetachedMounts {
    pub mounts: Vec<Option<OwnedFd>>,
    pub rootfs: Option<OwnedFd>,
}

impl DetachedMounts {
    /// The tree for `mounts[index]`, if it is idmapped.
    pub fn mount(&self, index: usize) -> Option<BorrowedFd<'_>> {
        self.mounts.get(index).and_then(|m| m.as_ref()).map(|fd| fd.as_fd())
    }
}

/// Make the plan's idmapped mounts as detached trees. Nothing to do (and no cost) without any.
///
/// Must be called while the process is single-threaded (it clones for the mapping namespaces).
pub fn prepare(plan: &Plan) -> Result<DetachedMounts, IdmapError> {
    let mut detached = DetachedMounts::default();
    if plan.rootfs_idmap.is_none() && plan.mounts.iter().all(|m| m.idmap.is_none()) {
        return Ok(detached);
    }
    let mut namespaces = Namespaces { plan, made: Vec::new() };
    for m in &plan.mounts {
        let tree = match (&m.idmap, &m.source) {
            (Some(idmap), Some(source)) => {
                Some(detached_tree(&m.field, source, m.flags & libc::MS_REC != 0, idmap, &mut namespaces)?)
            }
            _ => None,
        };
        detached.mounts.push(tree);
    }
    if let Some(idmap) = &plan.rootfs_idmap {
        let field = format!("annotations.{}", crate::plan::ROOTFS_IDMAP_ANNOTATION);
        detached.rootfs = Some(detached_tree(&field, &plan.rootfs, true, idmap, &mut namespaces)?);
    }
    Ok(detached)
}

fn detached_tree(field: &str, source: &Path, recursive_clone: bool, idmap: &MountIdmap, namespaces: &mut Namespaces<'_>) -> Result<OwnedFd, IdmapError> {
    let tree = sys::clone_tree(source, recursive_clone)
        .map_err(|source_error| IdmapError::Clone { field: field.to_owned(), path: source.to_owned(), source: source_error })?;
    let userns = namespaces.for_source(field, &idmap.source)?;
    sys::idmap_tree(tree.as_fd(), userns, idmap.recursive).map_err(|source_error| IdmapError::Refused {
        field: field.to_owned(),
        path: source.to_owned(),
        filesystem: filesystem_name(tree.as_fd()),
        source: source_error,
    })?;
    Ok(tree)
}

/// The user namespaces carrying mappings, made once per distinct mapping.
struct Namespaces<'p> {
    plan: &'p Plan,
    made: Vec<((IdMap, IdMap), File)>,
}

impl Namespaces<'_> {
    fn for_source(&mut self, field: &str, source: &IdmapSource) -> Result<BorrowedFd<'_>, IdmapError> {
        let maps = match source {
            IdmapSource::Maps { uid_map, gid_map } => (uid_map.clone(), gid_map.clone()),
            IdmapSource::ContainerNamespace => {
                let user = self.plan.user.as_ref().expect("validated: implied idmaps need a user namespace");
                if user.joined {
                    let join = self.plan.namespaces.joins.iter().find(|j| j.flag == CloneFlags::CLONE_NEWUSER).expect("validated: a joined user namespace is in joins");
                    return Ok(join.file.as_fd());
                }
                (user.uid_map.clone(), user.gid_map.clone())
            }
        };
        let index = match self.made.iter().position(|(m, _)| *m == maps) {
            Some(index) => index,
            None => {
                let file = userns::namespace_with_maps(&maps.0, &maps.1)
                    .map_err(|source| IdmapError::Namespace { field: field.to_owned(), source })?;
                self.made.push((maps, file));
                self.made.len() - 1
            }
        };
        Ok(self.made[index].1.as_fd())
    }
}

/// The filesystem behind `fd`, by name where we know its magic number.
fn filesystem_name(fd: BorrowedFd<'_>) -> String {
    let name = match sys::filesystem_magic(fd) {
        Ok(0xEF53) => "ext4",
        Ok(0x0102_1994) => "tmpfs",
        Ok(0x794C_7630) => "overlay",
        Ok(0x5846_5342) => "xfs",
        Ok(0x9123_683E) => "btrfs",
        Ok(0x6969) => "nfs",
        Ok(0x6573_5546) => "fuse",
        Ok(0x9FA0) => "proc",
        Ok(0x6265_6572) => "sysfs",
        Ok(magic) => return format!("the filesystem with magic {magic:#x}"),
        Err(_) => return "its filesystem".to_owned(),
    };
    format!("the {name} filesystem")
}
