//! The vDSO the Sentry gives every application: a small shared object
//! (`image`) whose clock_gettime, gettimeofday, time, clock_getres and
//! getcpu answer from a data page (`vvar`) that the Sentry keeps current
//! (`timekeeper`), so the most frequent calls of real programs never trap.
//!
//! Every exec maps the data page (read-only, one page shared by the whole
//! sandbox) and right above it a private copy of the image, and passes the
//! image's address as AT_SYSINFO_EHDR; /proc/PID/maps shows them as
//! `[vvar]` and `[vdso]`, as Linux does.

pub mod counters;
pub mod image;
pub mod timekeeper;
pub mod vvar;

use std::sync::{Arc, OnceLock};

use crate::errno::SysResult;
use crate::mm::{MemoryFile, MemoryManager, VmaKind, PAGE_SIZE};
use crate::platform::Context;
use vvar::{Line, Vvar};

/// Where the data page goes: in the megabyte between the initial stack's
/// top and the end of the application's address space (Linux also puts
/// them just above the stack).
pub const VVAR_ADDR: u64 = crate::mm::stack::STACK_TOP + 0x8_0000;
/// Where the image goes: right above the data page (the image finds the
/// page one page below its own start).
pub const VDSO_ADDR: u64 = VVAR_ADDR + PAGE_SIZE;

const _: () = assert!(VDSO_ADDR + 2 * PAGE_SIZE <= crate::platform::USER_MAX);

static VVAR: OnceLock<Arc<Vvar>> = OnceLock::new();

/// Creates the sandbox's data page and, when the host's TSC can be used,
/// starts keeping it current. `tsc_offset` is the application's TSC minus
/// the host's (the platform's); None means the application's TSC cannot be
/// related to the host's, and the vDSO makes system calls for every clock.
pub fn init(file: &Arc<MemoryFile>, tsc_offset: Option<u64>) -> std::io::Result<()> {
    if VVAR.get().is_some() {
        return Ok(());
    }
    let vvar = Vvar::new(file, tsc_offset.unwrap_or(0))
        .map(Arc::new)
        .ok_or_else(|| std::io::Error::other("no memory for the vDSO's data page"))?;
    vvar.set_coarse_ns(timekeeper::coarse_resolution_ns());
    let usable = tsc_offset.is_some() && timekeeper::tsc_usable();
    if VVAR.set(vvar.clone()).is_err() {
        return Ok(());
    }
    if usable {
        let first = timekeeper::sample();
        std::thread::Builder::new()
            .name("timekeeper".into())
            .spawn(move || {
                // Host signals to the Sentry are for the threads that wait
                // for them (the terminal's, the supervisor's), never for
                // this one.
                let _ = nix::sys::signal::SigSet::all().thread_block();
                timekeeper::run(vvar, first)
            })?;
    } else {
        tracing::info!("vDSO clocks disabled: the TSC cannot stand in for the host's clocks");
    }
    Ok(())
}

/// The clock `id` as the vDSO reads it (REALTIME, MONOTONIC, BOOTTIME,
/// MONOTONIC_RAW and their COARSE forms), or None when the data page does
/// not answer it and the host's clock is the truth.
pub fn clock_ns(id: libc::clockid_t) -> Option<u64> {
    let (line, coarse) = match id {
        libc::CLOCK_REALTIME => (Line::Realtime, false),
        libc::CLOCK_MONOTONIC => (Line::Monotonic, false),
        libc::CLOCK_BOOTTIME => (Line::Boottime, false),
        libc::CLOCK_MONOTONIC_RAW => (Line::Raw, false),
        libc::CLOCK_REALTIME_COARSE => (Line::Realtime, true),
        libc::CLOCK_MONOTONIC_COARSE => (Line::Monotonic, true),
        _ => return None,
    };
    let v = VVAR.get()?;
    let ns = v.now(line)?;
    let tick = v.coarse_ns();
    Some(if coarse && tick > 1 {
        ns - ns % tick
    } else {
        ns
    })
}

/// The coarse clocks' resolution (the host's tick, read at start), in ns;
/// 0 if unknown.
pub fn coarse_resolution_ns() -> u64 {
    VVAR.get().map(|v| v.coarse_ns()).unwrap_or(0)
}

/// Maps the data page and a copy of the image into a fresh address space
/// (exec); returns the image's address for AT_SYSINFO_EHDR, or None when
/// the sandbox has no vDSO.
pub fn map(mm: &mut MemoryManager, ctx: &mut dyn Context) -> SysResult<Option<u64>> {
    let Some(vvar) = VVAR.get() else {
        return Ok(None);
    };
    mm.map_backing(
        ctx,
        VVAR_ADDR,
        libc::PROT_READ,
        vvar.backing().clone(),
        VmaKind::Vvar,
    )?;
    let len = image::mapped_len();
    let rw = libc::PROT_READ | libc::PROT_WRITE;
    mm.map_anon(ctx, VDSO_ADDR, len, rw, true, false, VmaKind::Vdso)?;
    mm.write(VDSO_ADDR, image::IMAGE)?;
    mm.protect(ctx, VDSO_ADDR, len, libc::PROT_READ | libc::PROT_EXEC)?;
    Ok(Some(VDSO_ADDR))
}
