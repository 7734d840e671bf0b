//! Credentials of a process, as the Sentry models them.

#[derive(Clone, Debug, Default)]
pub struct Creds {
    pub uid: u32,
    pub euid: u32,
    pub suid: u32,
    pub gid: u32,
    pub egid: u32,
    pub sgid: u32,
    pub groups: Vec<u32>,
}

impl Creds {
    pub fn new(uid: u32, gid: u32, groups: Vec<u32>) -> Creds {
        Creds {
            uid,
            euid: uid,
            suid: uid,
            gid,
            egid: gid,
            sgid: gid,
            groups,
        }
    }

    pub fn is_root(&self) -> bool {
        self.euid == 0
    }

    /// Whether these credentials may access a file with `mode` owned by
    /// `uid:gid` for `want` (the r=4, w=2, x=1 bits).
    pub fn may_access(&self, mode: u32, uid: u32, gid: u32, want: u32, is_dir: bool) -> bool {
        if self.is_root() {
            // Root needs an x bit somewhere to execute a non-directory.
            return want & 1 == 0 || is_dir || mode & 0o111 != 0;
        }
        let bits = if self.euid == uid {
            (mode >> 6) & 7
        } else if self.egid == gid || self.groups.contains(&gid) {
            (mode >> 3) & 7
        } else {
            mode & 7
        };
        bits & want == want
    }
}
