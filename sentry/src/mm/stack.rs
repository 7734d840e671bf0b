//! The initial stack of a new program: argv, envp and the auxiliary vector,
//! laid out as the System V x86-64 ABI and Linux's binfmt_elf do.

use super::address_space::{MemoryManager, VmaKind};
use crate::errno::{err, SysResult};
use crate::platform::{Context, USER_MAX};

/// Top of the initial stack.
pub const STACK_TOP: u64 = crate::platform::USER_MAX - 0x10_0000;

pub const AT_NULL: u64 = 0;
pub const AT_PHDR: u64 = 3;
pub const AT_PHENT: u64 = 4;
pub const AT_PHNUM: u64 = 5;
pub const AT_PAGESZ: u64 = 6;
pub const AT_BASE: u64 = 7;
pub const AT_FLAGS: u64 = 8;
pub const AT_ENTRY: u64 = 9;
pub const AT_UID: u64 = 11;
pub const AT_EUID: u64 = 12;
pub const AT_GID: u64 = 13;
pub const AT_EGID: u64 = 14;
pub const AT_PLATFORM: u64 = 15;
pub const AT_HWCAP: u64 = 16;
pub const AT_CLKTCK: u64 = 17;
pub const AT_SECURE: u64 = 23;
pub const AT_RANDOM: u64 = 25;
pub const AT_EXECFN: u64 = 31;
pub const AT_SYSINFO_EHDR: u64 = 33;

/// Maps the stack (`size` bytes) and writes the initial frame; returns the
/// initial stack pointer. `auxv` gets AT_RANDOM, AT_PLATFORM and AT_EXECFN
/// added here.
pub fn build(
    mm: &mut MemoryManager,
    ctx: &mut dyn Context,
    size: u64,
    argv: &[Vec<u8>],
    envp: &[Vec<u8>],
    execfn: &[u8],
    mut auxv: Vec<(u64, u64)>,
) -> SysResult<u64> {
    // `size` is RLIMIT_STACK. The stack is mapped whole (at most 1 GiB);
    // mmap's area starts below a gap that leaves the stack its limit, as
    // Linux's mmap_base: at least 128 MiB, at most 5/6 of the space.
    let gap = size
        .saturating_add(1 << 20)
        .clamp(128 << 20, USER_MAX / 6 * 5);
    let size = size.clamp(128 * 1024, 1 << 30);
    let bottom = STACK_TOP - size;
    let rw = libc::PROT_READ | libc::PROT_WRITE;
    mm.map_anon(ctx, bottom, size, rw, true, false, VmaKind::Stack)?;
    mm.mmap_top = super::page_down(STACK_TOP - gap);

    let mut sp = STACK_TOP;
    fn push_str(mm: &MemoryManager, sp: &mut u64, bytes: &[u8]) -> SysResult<u64> {
        *sp -= bytes.len() as u64 + 1;
        mm.write(*sp, bytes)?;
        mm.write(*sp + bytes.len() as u64, &[0])?;
        Ok(*sp)
    }
    let execfn_addr = push_str(mm, &mut sp, execfn)?;
    let env_end = sp;
    let mut env_ptrs = Vec::with_capacity(envp.len());
    for e in envp.iter().rev() {
        env_ptrs.push(push_str(mm, &mut sp, e)?);
    }
    env_ptrs.reverse();
    let env_start = sp;
    let arg_end = sp;
    let mut arg_ptrs = Vec::with_capacity(argv.len());
    for a in argv.iter().rev() {
        arg_ptrs.push(push_str(mm, &mut sp, a)?);
    }
    arg_ptrs.reverse();
    let arg_start = sp;
    let platform = push_str(mm, &mut sp, b"x86_64")?;
    let mut random = [0u8; 16];
    getrandom(&mut random);
    sp = (sp - 16) & !15;
    mm.write(sp, &random)?;
    let random_addr = sp;

    auxv.push((AT_RANDOM, random_addr));
    auxv.push((AT_PLATFORM, platform));
    auxv.push((AT_EXECFN, execfn_addr));
    auxv.push((AT_NULL, 0));
    mm.auxv = auxv.clone();

    let words = 1 + arg_ptrs.len() + 1 + env_ptrs.len() + 1 + auxv.len() * 2;
    if (words as u64) * 8 > size / 2 {
        return err(libc::E2BIG);
    }
    sp = (sp - words as u64 * 8) & !15;
    let mut frame: Vec<u64> = Vec::with_capacity(words);
    frame.push(argv.len() as u64);
    frame.extend(&arg_ptrs);
    frame.push(0);
    frame.extend(&env_ptrs);
    frame.push(0);
    for (k, v) in &auxv {
        frame.push(*k);
        frame.push(*v);
    }
    let bytes: Vec<u8> = frame.iter().flat_map(|w| w.to_le_bytes()).collect();
    mm.write(sp, &bytes)?;
    mm.arg_range = (arg_start, arg_end);
    mm.env_range = (env_start, env_end);
    Ok(sp)
}

/// Fills `buf` from the host's random source (the Sentry's, not the workload's).
pub fn getrandom(buf: &mut [u8]) {
    let mut done = 0;
    while done < buf.len() {
        // SAFETY: writes at most the remaining length into buf.
        let n = unsafe {
            libc::getrandom(
                buf[done..].as_mut_ptr() as *mut libc::c_void,
                buf.len() - done,
                0,
            )
        };
        if n <= 0 {
            break;
        }
        done += n as usize;
    }
}
