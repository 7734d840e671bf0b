//! Capabilities of the Sentry after the jail.
//!
//! The Sentry runs as host root (no user namespace yet) and keeps only what
//! serving a root filesystem as the workload's kernel needs:
//! - CAP_CHOWN, CAP_FOWNER, CAP_FSETID: chown/chmod/utimes on rootfs files
//!   on behalf of workload users, keeping set-id bits where Linux would;
//! - CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH: reach every rootfs file, since
//!   the Sentry itself checks the workload's permissions;
//! - CAP_NET_BIND_SERVICE: bind low ports when the network is the host's.
//!
//! Not kept: CAP_SYS_PTRACE (tracing one's own children needs none),
//! CAP_SYS_ADMIN, CAP_SETUID/SETGID, CAP_KILL, and everything else. The
//! bounding and ambient sets are emptied of the rest so nothing can regain
//! them.

use super::JailError;

pub const CAP_CHOWN: u32 = 0;
pub const CAP_DAC_OVERRIDE: u32 = 1;
pub const CAP_DAC_READ_SEARCH: u32 = 2;
pub const CAP_FOWNER: u32 = 3;
pub const CAP_FSETID: u32 = 4;
pub const CAP_NET_BIND_SERVICE: u32 = 10;

pub const KEEP: &[u32] = &[
    CAP_CHOWN,
    CAP_DAC_OVERRIDE,
    CAP_DAC_READ_SEARCH,
    CAP_FOWNER,
    CAP_FSETID,
    CAP_NET_BIND_SERVICE,
];

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// Drops every capability but [`KEEP`] from all sets of this process.
pub fn drop_to_minimum() -> Result<(), JailError> {
    let err = |what: &str| JailError::Capabilities {
        what: what.to_string(),
        source: std::io::Error::last_os_error(),
    };
    // Bounding set first: dropping from it needs CAP_SETPCAP, which the
    // capset below takes away. Stop at the first cap the kernel does not know.
    for cap in 0..64u32 {
        // SAFETY: prctl with integer arguments only.
        let known = unsafe { libc::prctl(libc::PR_CAPBSET_READ, cap as libc::c_ulong, 0, 0, 0) };
        if known < 0 {
            break;
        }
        if !KEEP.contains(&cap) {
            // SAFETY: prctl with integer arguments only.
            if unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) } < 0 {
                return Err(err("drop from the bounding set"));
            }
        }
    }
    // SAFETY: prctl with integer arguments only.
    if unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0,
            0,
            0,
        )
    } < 0
    {
        return Err(err("clear the ambient set"));
    }
    let mut data = [CapData::default(); 2];
    for &cap in KEEP {
        let word = &mut data[(cap / 32) as usize];
        word.effective |= 1 << (cap % 32);
        word.permitted |= 1 << (cap % 32);
    }
    let mut header = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    // SAFETY: capset reads one header and two data words, which live on
    // our stack for the duration of the call and have the kernel's layout.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_capset,
            &mut header as *mut CapHeader,
            data.as_ptr(),
        )
    };
    if rc < 0 {
        return Err(err("capset"));
    }
    Ok(())
}
