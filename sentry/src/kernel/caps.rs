//! Capabilities as the Sentry models them (capabilities(7)): the five sets
//! of a process, the securebits that change how uid changes and exec treat
//! them, and Linux's rules for capset, uid changes and exec. The sets start
//! as the spec's `process.capabilities`; they are the workload's model only
//! and never reach the host (the Sentry itself runs with almost none).

/// The highest capability number Linux knows (CAP_CHECKPOINT_RESTORE).
pub const LAST_CAP: u32 = 40;
/// Every capability Linux knows.
pub const ALL: u64 = (1 << (LAST_CAP + 1)) - 1;

// The capability numbers the Sentry's privilege checks use
// (linux/capability.h).
pub const CHOWN: u32 = 0;
pub const DAC_OVERRIDE: u32 = 1;
pub const DAC_READ_SEARCH: u32 = 2;
pub const FOWNER: u32 = 3;
pub const FSETID: u32 = 4;
pub const KILL: u32 = 5;
pub const SETGID: u32 = 6;
pub const SETUID: u32 = 7;
pub const SETPCAP: u32 = 8;
pub const NET_BIND_SERVICE: u32 = 10;
pub const NET_ADMIN: u32 = 12;
pub const NET_RAW: u32 = 13;
pub const IPC_LOCK: u32 = 14;
pub const IPC_OWNER: u32 = 15;
pub const SYS_ADMIN: u32 = 21;
pub const SYS_NICE: u32 = 23;
pub const SYS_RESOURCE: u32 = 24;

// Securebits (linux/securebits.h): each bit has a "locked" bit above it.
pub const SECBIT_NOROOT: u32 = 1 << 0;
pub const SECBIT_NO_SETUID_FIXUP: u32 = 1 << 2;
pub const SECBIT_KEEP_CAPS: u32 = 1 << 4;
pub const SECBIT_KEEP_CAPS_LOCKED: u32 = 1 << 5;
pub const SECBIT_NO_CAP_AMBIENT_RAISE: u32 = 1 << 6;
/// The four settable bits (noroot, no_setuid_fixup, keep_caps,
/// no_cap_ambient_raise).
const SECURE_ALL_BITS: u32 = 0b0101_0101;
/// Their lock bits.
const SECURE_ALL_LOCKS: u32 = SECURE_ALL_BITS << 1;

/// Whether `cap` names a capability (prctl's cap_valid).
pub fn valid(cap: u64) -> bool {
    cap <= LAST_CAP as u64
}

/// The capability sets of a process, one bit per capability.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CapSets {
    pub bounding: u64,
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
    pub ambient: u64,
}

/// The bits capset(2) asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CapsetRequest {
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
}

impl CapSets {
    /// Root's sets on a host (every capability, none inheritable or
    /// ambient): the unit tests' privileged caller.
    #[cfg(test)]
    pub fn full() -> CapSets {
        CapSets {
            bounding: ALL,
            effective: ALL,
            permitted: ALL,
            inheritable: 0,
            ambient: 0,
        }
    }

    /// The spec's sets made consistent the way Linux keeps them: ambient
    /// only within permitted and inheritable (runc sets them in that order
    /// and the kernel drops the rest), effective within permitted.
    pub fn from_spec(s: CapSets) -> CapSets {
        let permitted = s.permitted & ALL;
        let inheritable = s.inheritable & ALL;
        CapSets {
            bounding: s.bounding & ALL,
            effective: s.effective & permitted,
            permitted,
            inheritable,
            ambient: s.ambient & permitted & inheritable,
        }
    }

    pub fn has(&self, cap: u32) -> bool {
        self.effective & (1 << cap) != 0
    }

    /// capset(2)'s rules (security/commoncap.c cap_capset): the
    /// inheritable set may only grow within the old inheritable and
    /// permitted sets (or anything with CAP_SETPCAP), never beyond the
    /// bounding set; permitted may only shrink; effective stays within the
    /// new permitted set. The ambient set shrinks with the others.
    pub fn capset(&mut self, new: CapsetRequest) -> Result<(), CapError> {
        let new = CapsetRequest {
            effective: new.effective & ALL,
            permitted: new.permitted & ALL,
            inheritable: new.inheritable & ALL,
        };
        let beyond = |set: u64, limit: u64| set & !limit != 0;
        if beyond(new.inheritable, self.inheritable | self.permitted) && !self.has(SETPCAP) {
            return Err(CapError::NotPermitted);
        }
        if beyond(new.inheritable, self.inheritable | self.bounding)
            || beyond(new.permitted, self.permitted)
            || beyond(new.effective, new.permitted)
        {
            return Err(CapError::NotPermitted);
        }
        self.effective = new.effective;
        self.permitted = new.permitted;
        self.inheritable = new.inheritable;
        self.ambient &= new.permitted & new.inheritable;
        Ok(())
    }
}

/// Why a capability operation is refused (both EPERM to the workload).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CapError {
    #[error("the requested capability sets exceed what the process holds")]
    NotPermitted,
}

/// The securebits a PR_SET_SECUREBITS may move to from `old`, given
/// whether the caller has CAP_SETPCAP: no locked bit changes, no lock is
/// released, no unknown bit is set.
pub fn securebits_change_ok(old: u32, new: u32, setpcap: bool) -> bool {
    let locked = (old & SECURE_ALL_LOCKS) >> 1;
    setpcap
        && locked & (old ^ new) == 0
        && old & SECURE_ALL_LOCKS & !new == 0
        && new & !(SECURE_ALL_LOCKS | SECURE_ALL_BITS) == 0
}

/// The uids a set*uid call changes between.
#[derive(Clone, Copy, Debug)]
pub struct Uids {
    pub uid: u32,
    pub euid: u32,
    pub suid: u32,
}

impl CapSets {
    /// Linux's fix-up of the sets when uids change (capabilities(7),
    /// "Effect of user ID changes on capabilities"; cap_emulate_setxuid):
    /// leaving uid 0 in all three ids clears permitted and effective
    /// (permitted survives with SECBIT_KEEP_CAPS) and always the ambient
    /// set; euid 0 → nonzero clears effective; nonzero → 0 restores it
    /// from permitted.
    pub fn fix_up_setuid(&mut self, old: Uids, new: Uids, securebits: u32) {
        if securebits & SECBIT_NO_SETUID_FIXUP != 0 {
            return;
        }
        let any_root = |u: Uids| u.uid == 0 || u.euid == 0 || u.suid == 0;
        if any_root(old) && !any_root(new) {
            if securebits & SECBIT_KEEP_CAPS == 0 {
                self.permitted = 0;
                self.effective = 0;
            }
            self.ambient = 0;
        }
        if old.euid == 0 && new.euid != 0 {
            self.effective = 0;
        }
        if old.euid != 0 && new.euid == 0 {
            self.effective = self.permitted;
        }
    }

    /// The sets after execve of a file without file capabilities (the
    /// Sentry has none; setuid bits are ignored under no_new_privs), as
    /// cap_bprm_creds_from_file computes them: root (real or effective,
    /// unless SECBIT_NOROOT) gets bounding | inheritable as permitted, and
    /// effective too when its euid is 0 — but under no_new_privs no more
    /// than it had; everyone keeps the ambient set, which joins permitted
    /// and effective.
    pub fn exec(&mut self, uid: u32, euid: u32, securebits: u32, no_new_privs: bool) {
        let root = securebits & SECBIT_NOROOT == 0;
        let mut permitted = 0;
        let mut raise_effective = false;
        if root && (uid == 0 || euid == 0) {
            permitted = self.bounding | self.inheritable;
            raise_effective = euid == 0;
        }
        if no_new_privs {
            permitted &= self.permitted;
        }
        self.permitted = permitted | self.ambient;
        self.effective = if raise_effective {
            self.permitted
        } else {
            self.ambient
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHOWN_BIT: u64 = 1 << CHOWN;
    const KILL_BIT: u64 = 1 << KILL;

    fn root_with(set: u64) -> CapSets {
        CapSets::from_spec(CapSets {
            bounding: set,
            effective: set,
            permitted: set,
            inheritable: 0,
            ambient: 0,
        })
    }

    #[test]
    fn capset_drops_and_refuses_raises() {
        let mut c = root_with(CHOWN_BIT | KILL_BIT);
        let drop_kill = CapsetRequest {
            effective: CHOWN_BIT,
            permitted: CHOWN_BIT,
            inheritable: 0,
        };
        assert_eq!(c.capset(drop_kill), Ok(()));
        assert!(c.has(CHOWN) && !c.has(KILL));
        let raise = CapsetRequest {
            effective: CHOWN_BIT | KILL_BIT,
            permitted: CHOWN_BIT | KILL_BIT,
            inheritable: 0,
        };
        assert_eq!(c.capset(raise), Err(CapError::NotPermitted));
        // Effective beyond the new permitted set.
        let eff = CapsetRequest {
            effective: CHOWN_BIT,
            permitted: 0,
            inheritable: 0,
        };
        assert_eq!(c.capset(eff), Err(CapError::NotPermitted));
        // Inheritable beyond the bounding set, even with CAP_SETPCAP.
        let mut p = root_with(1 << SETPCAP);
        let inh = CapsetRequest {
            effective: 1 << SETPCAP,
            permitted: 1 << SETPCAP,
            inheritable: KILL_BIT,
        };
        assert_eq!(p.capset(inh), Err(CapError::NotPermitted));
    }

    #[test]
    fn setuid_fix_up() {
        let root = Uids {
            uid: 0,
            euid: 0,
            suid: 0,
        };
        let user = Uids {
            uid: 1000,
            euid: 1000,
            suid: 1000,
        };
        let mut c = root_with(CHOWN_BIT);
        c.fix_up_setuid(root, user, 0);
        assert_eq!((c.permitted, c.effective), (0, 0));
        let mut k = root_with(CHOWN_BIT);
        k.fix_up_setuid(root, user, SECBIT_KEEP_CAPS);
        assert_eq!((k.permitted, k.effective), (CHOWN_BIT, 0));
        // Only the euid leaves 0 and comes back: effective follows.
        let mut e = root_with(CHOWN_BIT);
        let half = Uids { euid: 1000, ..root };
        e.fix_up_setuid(root, half, 0);
        assert_eq!((e.permitted, e.effective), (CHOWN_BIT, 0));
        e.fix_up_setuid(half, root, 0);
        assert_eq!(e.effective, CHOWN_BIT);
    }

    #[test]
    fn exec_recomputes() {
        let mut c = root_with(CHOWN_BIT | KILL_BIT);
        c.effective = 0;
        c.permitted = CHOWN_BIT;
        c.exec(0, 0, 0, false);
        assert_eq!(
            (c.permitted, c.effective),
            (CHOWN_BIT | KILL_BIT, CHOWN_BIT | KILL_BIT)
        );
        // Under no_new_privs root gains nothing back.
        let mut nnp = root_with(CHOWN_BIT | KILL_BIT);
        nnp.permitted = CHOWN_BIT;
        nnp.exec(0, 0, 0, true);
        assert_eq!((nnp.permitted, nnp.effective), (CHOWN_BIT, CHOWN_BIT));
        let mut n = root_with(CHOWN_BIT | KILL_BIT);
        n.inheritable = KILL_BIT;
        n.ambient = KILL_BIT;
        n.exec(1000, 1000, 0, true);
        assert_eq!((n.permitted, n.effective), (KILL_BIT, KILL_BIT));
        let mut r = root_with(CHOWN_BIT);
        r.exec(0, 0, SECBIT_NOROOT, true);
        assert_eq!((r.permitted, r.effective), (0, 0));
    }

    #[test]
    fn securebits() {
        assert!(securebits_change_ok(0, SECBIT_KEEP_CAPS, true));
        assert!(!securebits_change_ok(0, SECBIT_KEEP_CAPS, false));
        let locked = SECBIT_KEEP_CAPS_LOCKED;
        assert!(!securebits_change_ok(
            locked,
            locked | SECBIT_KEEP_CAPS,
            true
        ));
        assert!(!securebits_change_ok(locked, 0, true));
        assert!(!securebits_change_ok(0, 1 << 20, true));
    }
}
