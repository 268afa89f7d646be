//! The image's `User` resolved against the rootfs's /etc/passwd and
//! /etc/group: uid, gid, supplementary gids and HOME.

use std::io::Read;
use std::os::fd::BorrowedFd;
use std::path::Path;

use crate::sys::OFlag;

use super::BundleError;
use crate::sys::{self, Resolve};

/// A resolved user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedUser {
    /// The uid.
    pub uid: u32,
    /// The primary gid.
    pub gid: u32,
    /// Supplementary gids (groups listing the user).
    pub additional_gids: Vec<u32>,
    /// The home directory.
    pub home: String,
}

struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
}

struct GroupEntry {
    name: String,
    gid: u32,
    members: Vec<String>,
}

/// Read a small file of the rootfs, resolved as the container would (inside it).
fn read_rootfs_file(rootfs: BorrowedFd<'_>, path: &str) -> Option<String> {
    let fd = sys::open_below(rootfs, Path::new(path), OFlag::O_RDONLY, Resolve::InRoot).ok()?;
    let mut text = String::new();
    std::fs::File::from(fd)
        .take(4 << 20)
        .read_to_string(&mut text)
        .ok()?;
    Some(text)
}

fn passwd(text: &str) -> Vec<PasswdEntry> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() < 7 {
                return None;
            }
            Some(PasswdEntry {
                name: f[0].into(),
                uid: f[2].parse().ok()?,
                gid: f[3].parse().ok()?,
                home: f[5].into(),
            })
        })
        .collect()
}

fn group(text: &str) -> Vec<GroupEntry> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() < 4 {
                return None;
            }
            let members = f[3]
                .split(',')
                .filter(|m| !m.is_empty())
                .map(String::from)
                .collect();
            Some(GroupEntry {
                name: f[0].into(),
                gid: f[2].parse().ok()?,
                members,
            })
        })
        .collect()
}

/// Resolve `user` (`name`, `uid`, `name:group`, `uid:gid`, ...; empty is root).
pub fn resolve(rootfs: BorrowedFd<'_>, user: &str) -> Result<ResolvedUser, BundleError> {
    let users = read_rootfs_file(rootfs, "/etc/passwd")
        .map(|t| passwd(&t))
        .unwrap_or_default();
    let groups = read_rootfs_file(rootfs, "/etc/group")
        .map(|t| group(&t))
        .unwrap_or_default();
    resolve_in(&users, &groups, user)
}

fn resolve_in(
    users: &[PasswdEntry],
    groups: &[GroupEntry],
    user: &str,
) -> Result<ResolvedUser, BundleError> {
    let (user_part, group_part) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let user_part = if user_part.is_empty() { "0" } else { user_part };
    let entry = match user_part.parse::<u32>() {
        Ok(uid) => users.iter().find(|e| e.uid == uid),
        Err(_) => Some(users.iter().find(|e| e.name == user_part).ok_or_else(|| {
            BundleError::UnknownUser {
                user: user_part.to_string(),
            }
        })?),
    };
    let uid = match entry {
        Some(e) => e.uid,
        None => user_part.parse().map_err(|_| BundleError::UnknownUser {
            user: user_part.to_string(),
        })?,
    };
    let gid = match group_part {
        Some(g) if !g.is_empty() => match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => groups
                .iter()
                .find(|e| e.name == g)
                .map(|e| e.gid)
                .ok_or_else(|| BundleError::UnknownGroup {
                    group: g.to_string(),
                })?,
        },
        _ => entry.map_or(0, |e| e.gid),
    };
    let mut additional_gids: Vec<u32> = match entry {
        Some(e) if group_part.is_none() => groups
            .iter()
            .filter(|g| g.members.contains(&e.name) && g.gid != gid)
            .map(|g| g.gid)
            .collect(),
        _ => vec![],
    };
    additional_gids.dedup();
    let home = entry.map_or("/".to_string(), |e| e.home.clone());
    Ok(ResolvedUser {
        uid,
        gid,
        additional_gids,
        home,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_names_ids_and_groups() {
        let users = passwd("root:x:0:0:root:/root:/bin/sh\nwww:x:33:33:www:/var/www:/bin/false\n");
        let groups = group("root:x:0:\nwww:x:33:\nadm:x:4:www,other\nvideo:x:44:www\n");
        let www = resolve_in(&users, &groups, "www").unwrap();
        assert_eq!((www.uid, www.gid, www.home.as_str()), (33, 33, "/var/www"));
        assert_eq!(www.additional_gids, vec![4, 44]);
        assert_eq!(resolve_in(&users, &groups, "").unwrap().uid, 0);
        let numeric = resolve_in(&users, &groups, "1000:adm").unwrap();
        assert_eq!(
            (numeric.uid, numeric.gid, numeric.home.as_str()),
            (1000, 4, "/")
        );
        assert!(resolve_in(&users, &groups, "nobody").is_err());
        assert!(resolve_in(&users, &groups, "www:nogroup").is_err());
    }
}
