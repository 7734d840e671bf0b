//! capget, capset and the capability options of prctl (bounding set,
//! ambient set, keepcaps, securebits) over the Sentry's capability model
//! (kernel/caps.rs).

use super::Args;
use crate::errno::{err, Errno, SysResult};
use crate::kernel::caps::{self, CapsetRequest, SECBIT_KEEP_CAPS, SECBIT_KEEP_CAPS_LOCKED};
use crate::kernel::process::{lock, Process};
use crate::kernel::task::Task;
use std::sync::Arc;

const VERSION_1: u32 = 0x1998_0330;
const VERSION_2: u32 = 0x2007_1026;
const VERSION_3: u32 = 0x2008_0522;

/// One `struct __user_cap_data_struct`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// Reads the header's version: the number of data structs it implies, or
/// EINVAL with the preferred version written back (Linux's
/// cap_validate_magic).
fn validate(t: &mut Task, header: u64) -> SysResult<usize> {
    let version: u32 = t.mm.read_obj(header)?;
    match version {
        VERSION_1 => Ok(1),
        VERSION_2 | VERSION_3 => Ok(2),
        _ => {
            t.mm.write_obj(header, &VERSION_3)?;
            err(libc::EINVAL)
        }
    }
}

/// The process a header's pid names: 0 or the caller's own, or any
/// other thread or process of the sandbox (capget only).
fn target(t: &Task, pid: i32) -> SysResult<Arc<Process>> {
    match pid {
        p if p < 0 => err(libc::EINVAL),
        0 => Ok(t.proc.clone()),
        p if p == t.tid || p == t.pid() => Ok(t.proc.clone()),
        p => t
            .kernel
            .process(p)
            .or_else(|| t.kernel.thread(p).map(|(proc, _)| proc))
            .filter(|proc| !proc.is_zombie())
            .ok_or(Errno(libc::ESRCH)),
    }
}

pub fn capget(t: &mut Task, a: Args) -> SysResult<u64> {
    let words = match validate(t, a[0]) {
        Ok(n) => n,
        // With no data pointer this is a probe for the preferred version.
        Err(e) if a[1] == 0 && e.0 == libc::EINVAL => return Ok(0),
        Err(e) => return Err(e),
    };
    if a[1] == 0 {
        return Ok(0);
    }
    let pid: i32 = t.mm.read_obj(a[0] + 4)?;
    let c = lock(&target(t, pid)?.state).creds.caps;
    let data: Vec<CapData> = (0..words)
        .map(|i| CapData {
            effective: (c.effective >> (32 * i)) as u32,
            permitted: (c.permitted >> (32 * i)) as u32,
            inheritable: (c.inheritable >> (32 * i)) as u32,
        })
        .collect();
    for (i, d) in data.iter().enumerate() {
        t.mm.write_obj(a[1] + (i * std::mem::size_of::<CapData>()) as u64, d)?;
    }
    Ok(0)
}

/// capset(2): only the caller's own sets change (pid 0 or its own tid);
/// a version 1 header sets only capabilities 0-31 and clears the rest.
pub fn capset(t: &mut Task, a: Args) -> SysResult<u64> {
    let words = validate(t, a[0])?;
    let pid: i32 = t.mm.read_obj(a[0] + 4)?;
    if pid != 0 && pid != t.tid {
        return err(libc::EPERM);
    }
    let mut req = CapsetRequest {
        effective: 0,
        permitted: 0,
        inheritable: 0,
    };
    for i in 0..words {
        let d: CapData =
            t.mm.read_obj(a[1] + (i * std::mem::size_of::<CapData>()) as u64)?;
        req.effective |= (d.effective as u64) << (32 * i);
        req.permitted |= (d.permitted as u64) << (32 * i);
        req.inheritable |= (d.inheritable as u64) << (32 * i);
    }
    let mut st = lock(&t.proc.state);
    st.creds.caps.capset(req).map_err(|_| Errno(libc::EPERM))?;
    Ok(0)
}

/// The capability options of prctl(2); `None` for any other option.
pub fn prctl(t: &mut Task, a: Args) -> Option<SysResult<u64>> {
    let mut st = lock(&t.proc.state);
    let c = &mut st.creds;
    let r = match a[0] as i32 {
        libc::PR_CAPBSET_READ if !caps::valid(a[1]) => err(libc::EINVAL),
        libc::PR_CAPBSET_READ => Ok(c.caps.bounding >> a[1] & 1),
        libc::PR_CAPBSET_DROP if !c.has(caps::SETPCAP) => err(libc::EPERM),
        libc::PR_CAPBSET_DROP if !caps::valid(a[1]) => err(libc::EINVAL),
        libc::PR_CAPBSET_DROP => {
            c.caps.bounding &= !(1 << a[1]);
            Ok(0)
        }
        libc::PR_CAP_AMBIENT => ambient(&mut c.caps, c.securebits, a),
        libc::PR_GET_KEEPCAPS => Ok((c.securebits & SECBIT_KEEP_CAPS != 0) as u64),
        libc::PR_SET_KEEPCAPS if a[1] > 1 => err(libc::EINVAL),
        libc::PR_SET_KEEPCAPS if c.securebits & SECBIT_KEEP_CAPS_LOCKED != 0 => err(libc::EPERM),
        libc::PR_SET_KEEPCAPS => {
            if a[1] == 1 {
                c.securebits |= SECBIT_KEEP_CAPS;
            } else {
                c.securebits &= !SECBIT_KEEP_CAPS;
            }
            Ok(0)
        }
        libc::PR_GET_SECUREBITS => Ok(c.securebits as u64),
        libc::PR_SET_SECUREBITS => {
            let new = a[1] as u32;
            if a[1] > u32::MAX as u64
                || !caps::securebits_change_ok(c.securebits, new, c.has(caps::SETPCAP))
            {
                err(libc::EPERM)
            } else {
                c.securebits = new;
                Ok(0)
            }
        }
        _ => return None,
    };
    Some(r)
}

/// PR_CAP_AMBIENT: a capability joins the ambient set only from both the
/// permitted and the inheritable set.
fn ambient(c: &mut caps::CapSets, securebits: u32, a: Args) -> SysResult<u64> {
    if a[1] == libc::PR_CAP_AMBIENT_CLEAR_ALL as u64 {
        if a[2] != 0 || a[3] != 0 || a[4] != 0 {
            return err(libc::EINVAL);
        }
        c.ambient = 0;
        return Ok(0);
    }
    if !caps::valid(a[2]) || a[3] != 0 || a[4] != 0 {
        return err(libc::EINVAL);
    }
    let bit = 1u64 << a[2];
    match a[1] as i32 {
        libc::PR_CAP_AMBIENT_IS_SET => Ok((c.ambient & bit != 0) as u64),
        libc::PR_CAP_AMBIENT_RAISE => {
            if c.permitted & bit == 0
                || c.inheritable & bit == 0
                || securebits & caps::SECBIT_NO_CAP_AMBIENT_RAISE != 0
            {
                return err(libc::EPERM);
            }
            c.ambient |= bit;
            Ok(0)
        }
        libc::PR_CAP_AMBIENT_LOWER => {
            c.ambient &= !bit;
            Ok(0)
        }
        _ => err(libc::EINVAL),
    }
}
