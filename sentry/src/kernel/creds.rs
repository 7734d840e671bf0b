//! Credentials of a process, as the Sentry models them.

use super::caps::{self, CapSets, Uids};

#[derive(Clone, Debug, Default)]
pub struct Creds {
    pub uid: u32,
    pub euid: u32,
    pub suid: u32,
    pub gid: u32,
    pub egid: u32,
    pub sgid: u32,
    pub groups: Vec<u32>,
    /// The capability sets (kernel/caps.rs).
    pub caps: CapSets,
    /// SECBIT_* flags (PR_SET_SECUREBITS, PR_SET_KEEPCAPS).
    pub securebits: u32,
}

impl Creds {
    pub fn new(uid: u32, gid: u32, groups: Vec<u32>, caps: CapSets) -> Creds {
        Creds {
            uid,
            euid: uid,
            suid: uid,
            gid,
            egid: gid,
            sgid: gid,
            groups,
            caps,
            securebits: 0,
        }
    }

    /// Whether the effective set holds `cap` (Linux's capable()).
    pub fn has(&self, cap: u32) -> bool {
        self.caps.has(cap)
    }

    /// Whether `gid` is the effective or a supplementary group.
    pub fn in_group(&self, gid: u32) -> bool {
        self.egid == gid || self.groups.contains(&gid)
    }

    /// The uids, for the capability fix-up of a set*uid call.
    pub fn uids(&self) -> Uids {
        Uids {
            uid: self.uid,
            euid: self.euid,
            suid: self.suid,
        }
    }

    /// Whether a process with these credentials may signal one with
    /// `target`'s (Linux's kill_ok_by_cred).
    pub fn may_kill(&self, target: &Creds) -> bool {
        [self.uid, self.euid]
            .iter()
            .any(|u| *u == target.uid || *u == target.suid)
            || self.has(caps::KILL)
    }

    /// Whether these credentials may access a file with `mode` owned by
    /// `uid:gid` for `want` (the r=4, w=2, x=1 bits), as Linux's
    /// generic_permission: the mode bits of the matching class first, then
    /// CAP_DAC_OVERRIDE (anything, but execution only of a file with an x
    /// bit somewhere) and CAP_DAC_READ_SEARCH (reading, searching
    /// directories).
    pub fn may_access(&self, mode: u32, uid: u32, gid: u32, want: u32, is_dir: bool) -> bool {
        let bits = if self.euid == uid {
            (mode >> 6) & 7
        } else if self.in_group(gid) {
            (mode >> 3) & 7
        } else {
            mode & 7
        };
        if bits & want == want {
            return true;
        }
        if self.has(caps::DAC_OVERRIDE) && (want & 1 == 0 || is_dir || mode & 0o111 != 0) {
            return true;
        }
        let read_search = if is_dir { 4 | 1 } else { 4 };
        self.has(caps::DAC_READ_SEARCH) && want & !read_search == 0
    }
}
