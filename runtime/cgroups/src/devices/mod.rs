//! Device access rules: linux.resources.devices folded into one default plus exceptions,
//! with the semantics of the v1 devices controller, so that v1 (devices.allow/deny) and v2
//! (an eBPF program) enforce exactly the same thing.
//!
//! The fold starts from "deny everything", as a fresh v2 cgroup with berth's program would,
//! and v1 gets the same start by writing `a` to devices.deny first.
//! A rule of type `a` resets: the default becomes its allow/deny and earlier exceptions go.
//! A rule that agrees with the default removes its access bits from an exception with the
//! same type, major and minor (as the kernel's v1 controller does); one that disagrees adds
//! an exception.

pub(crate) mod ebpf;

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use crate::error::{Error, Result};

/// Which kind of device node a rule covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Block devices.
    Block,
    /// Character devices.
    Char,
}

impl Kind {
    fn letter(self) -> char {
        match self {
            Kind::Block => 'b',
            Kind::Char => 'c',
        }
    }
}

/// Access bits, numbered as the kernel's BPF_DEVCG_ACC_* constants.
pub(crate) const ACCESS_MKNOD: u8 = 1;
pub(crate) const ACCESS_READ: u8 = 2;
pub(crate) const ACCESS_WRITE: u8 = 4;
pub(crate) const ACCESS_ALL: u8 = ACCESS_MKNOD | ACCESS_READ | ACCESS_WRITE;

/// One exception to the default: these devices get the opposite of the default.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Exception {
    pub kind: Kind,
    /// None is any major.
    pub major: Option<u32>,
    /// None is any minor.
    pub minor: Option<u32>,
    /// ACCESS_* bits.
    pub access: u8,
}

impl Exception {
    /// The v1 devices.allow/deny line: "c 1:3 rwm".
    pub fn v1_line(&self) -> String {
        let number = |n: Option<u32>| n.map_or_else(|| "*".to_owned(), |n| n.to_string());
        format!(
            "{} {}:{} {}",
            self.kind.letter(),
            number(self.major),
            number(self.minor),
            access_string(self.access)
        )
    }

    /// Parse a devices.list line ("c 1:3 rwm"); None for the allow-all line "a *:* rwm" and
    /// anything unexpected.
    pub fn from_v1_line(line: &str) -> Option<Exception> {
        let mut parts = line.split_whitespace();
        let kind = match parts.next()? {
            "b" => Kind::Block,
            "c" => Kind::Char,
            _ => return None,
        };
        let (major, minor) = parts.next()?.split_once(':')?;
        let number = |n: &str| if n == "*" { Some(None) } else { n.parse().ok().map(Some) };
        Some(Exception {
            kind,
            major: number(major)?,
            minor: number(minor)?,
            access: parse_access(Some(parts.next()?))?,
        })
    }

    /// The same device pattern with other access bits.
    pub fn with_access(&self, access: u8) -> Exception {
        Exception {
            access,
            ..self.clone()
        }
    }

    pub(crate) fn same_device(&self, other: &Exception) -> bool {
        self.kind == other.kind && self.major == other.major && self.minor == other.minor
    }
}

/// The folded rule list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DeviceRules {
    /// What happens to a device no exception names.
    pub default_allow: bool,
    /// Devices that get the opposite of the default.
    pub exceptions: Vec<Exception>,
}

impl DeviceRules {
    /// Fold linux.resources.devices in order.
    pub fn fold(rules: &[LinuxDeviceCgroup]) -> Result<DeviceRules> {
        let mut folded = DeviceRules {
            default_allow: false,
            exceptions: Vec::new(),
        };
        for (index, rule) in rules.iter().enumerate() {
            folded.apply(index, rule)?;
        }
        Ok(folded)
    }

    fn apply(&mut self, index: usize, rule: &LinuxDeviceCgroup) -> Result<()> {
        let field = || format!("linux.resources.devices[{index}]");
        let kind = match rule.typ().unwrap_or(LinuxDeviceType::A) {
            LinuxDeviceType::A => {
                self.default_allow = rule.allow();
                self.exceptions.clear();
                return Ok(());
            }
            LinuxDeviceType::B => Kind::Block,
            LinuxDeviceType::C | LinuxDeviceType::U => Kind::Char,
            LinuxDeviceType::P => {
                return Err(Error::InvalidValue {
                    field: format!("{}.type", field()),
                    reason: "type p (fifo) is not a device the devices cgroup controls".into(),
                })
            }
        };
        let number = |n: Option<i64>, name: &str| -> Result<Option<u32>> {
            match n {
                None => Ok(None),
                Some(n) if n < 0 => Ok(None),
                Some(n) => u32::try_from(n).map(Some).map_err(|_| Error::InvalidValue {
                    field: format!("{}.{name}", field()),
                    reason: format!("{n} is out of range"),
                }),
            }
        };
        let exception = Exception {
            kind,
            major: number(rule.major(), "major")?,
            minor: number(rule.minor(), "minor")?,
            access: parse_access(rule.access().as_deref()).ok_or_else(|| Error::InvalidValue {
                field: format!("{}.access", field()),
                reason: format!("{:?} is not made of the letters r, w and m", rule.access()),
            })?,
        };
        if rule.allow() == self.default_allow {
            // Agrees with the default: take these access bits away from a matching exception.
            for existing in self.exceptions.iter_mut().filter(|e| e.same_device(&exception)) {
                existing.access &= !exception.access;
            }
            self.exceptions.retain(|e| e.access != 0);
        } else if let Some(existing) = self.exceptions.iter_mut().find(|e| e.same_device(&exception)) {
            existing.access |= exception.access;
        } else {
            self.exceptions.push(exception);
        }
        Ok(())
    }
}

/// "rwm" -> bits; empty or absent means all. Like runc (whose permission sets keep only r, w
/// and m), other letters are ignored: managers send strings such as "rwa". Anything but
/// ASCII letters is refused, and so is a string that names none of r, w and m ("xyz"): a
/// rule that grants or denies nothing is a mistake, not a rule.
fn parse_access(access: Option<&str>) -> Option<u8> {
    let access = access.unwrap_or("");
    if access.is_empty() {
        return Some(ACCESS_ALL);
    }
    let bits = access.chars().try_fold(0u8, |bits, c| match c {
        'r' => Some(bits | ACCESS_READ),
        'w' => Some(bits | ACCESS_WRITE),
        'm' => Some(bits | ACCESS_MKNOD),
        c if c.is_ascii_alphabetic() => Some(bits),
        _ => None,
    })?;
    (bits != 0).then_some(bits)
}

fn access_string(bits: u8) -> String {
    let mut s = String::new();
    for (bit, c) in [(ACCESS_READ, 'r'), (ACCESS_WRITE, 'w'), (ACCESS_MKNOD, 'm')] {
        if bits & bit != 0 {
            s.push(c);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxDeviceCgroupBuilder;

    fn rule(allow: bool, typ: LinuxDeviceType, major: Option<i64>, minor: Option<i64>, access: &str) -> LinuxDeviceCgroup {
        let mut b = LinuxDeviceCgroupBuilder::default().allow(allow).typ(typ).access(access);
        if let Some(m) = major {
            b = b.major(m);
        }
        if let Some(m) = minor {
            b = b.minor(m);
        }
        b.build().unwrap()
    }

    #[test]
    fn deny_all_then_allow_some_gives_a_whitelist() {
        let rules = DeviceRules::fold(&[
            rule(false, LinuxDeviceType::A, None, None, "rwm"),
            rule(true, LinuxDeviceType::C, Some(1), Some(3), "rwm"),
            rule(true, LinuxDeviceType::C, Some(136), None, "rw"),
        ])
        .unwrap();
        assert!(!rules.default_allow);
        let lines: Vec<String> = rules.exceptions.iter().map(Exception::v1_line).collect();
        assert_eq!(lines, ["c 1:3 rwm", "c 136:* rw"]);
    }

    #[test]
    fn a_later_wildcard_resets_and_a_matching_deny_removes_access() {
        let rules = DeviceRules::fold(&[
            rule(true, LinuxDeviceType::C, Some(1), Some(3), "rwm"),
            rule(true, LinuxDeviceType::A, None, None, "rwm"),
            rule(false, LinuxDeviceType::B, Some(8), Some(0), "w"),
            rule(true, LinuxDeviceType::B, Some(8), Some(0), "w"),
        ])
        .unwrap();
        assert!(rules.default_allow);
        assert!(rules.exceptions.is_empty());
    }

    #[test]
    fn bad_access_and_fifo_rules_name_the_field() {
        let err = DeviceRules::fold(&[rule(true, LinuxDeviceType::C, Some(1), Some(3), "r-w")]).unwrap_err();
        assert!(err.to_string().contains("linux.resources.devices[0].access"), "{err}");
        // Letters other than r, w and m are ignored, as runc ignores them ("rwa" is "rw").
        let rules = DeviceRules::fold(&[rule(true, LinuxDeviceType::C, Some(1), Some(3), "rwa")]).unwrap();
        assert_eq!(rules.exceptions.iter().map(|e| e.access).collect::<Vec<_>>(), [ACCESS_READ | ACCESS_WRITE]);
        let err = DeviceRules::fold(&[rule(true, LinuxDeviceType::C, Some(1), Some(3), "xyz")]).unwrap_err();
        assert!(err.to_string().contains("linux.resources.devices[0].access"), "{err}");
        let err = DeviceRules::fold(&[rule(true, LinuxDeviceType::P, None, None, "r")]).unwrap_err();
        assert!(err.to_string().contains("devices[0].type"), "{err}");
    }
}
