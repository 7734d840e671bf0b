//! The stub's seccomp filter, written in classic BPF by hand because it
//! needs what rule-based generators lack: a check of the instruction
//! pointer, and 64-bit arithmetic on arguments (`addr + len`).
//!
//! Every system call whose instruction pointer lies outside the stub's code
//! page traps (SIGSYS, the stub's handler, the Sentry). From the code page
//! only the calls the stub's code makes are allowed, each as narrow as its
//! arguments allow, so that even the application jumping into that page
//! with registers of its choosing gets nothing it could not have without
//! it (see SECURITY.md):
//! - `futex` wait and wake, and `sched_yield` (the hand-off);
//! - `rt_sigreturn`, `rt_sigprocmask`, `sigaltstack` (the handler's own
//!   signal plumbing; they change only the calling thread);
//! - `exit` (one stub thread);
//! - `clone` with exactly the flags of a new thread of the same stub;
//! - `mmap` of the memory file only, shared and fixed, and `munmap` and
//!   `mprotect`, all only for ranges that end at or below USER_MAX, so
//!   that the stub's own pages can never be replaced, removed or made
//!   writable.
//!
//! Anything else from the code page traps as well.

use crate::platform::{AUDIT_ARCH_X86_64, USER_MAX};

use super::layout::{CODE_BASE, CODE_LEN};

// Classic BPF opcodes (linux/filter.h).
const LD_W_ABS: u16 = 0x20;
const LD_IMM: u16 = 0x00;
const LD_MEM: u16 = 0x60;
const ST: u16 = 0x02;
const TAX: u16 = 0x07;
const ADD_X: u16 = 0x0c;
const JEQ_K: u16 = 0x15;
const JGT_K: u16 = 0x25;
const JGE_K: u16 = 0x35;
const JGE_X: u16 = 0x3d;
const JA: u16 = 0x05;
const RET_K: u16 = 0x06;

const RET_ALLOW: u32 = 0x7fff_0000;
const RET_TRAP: u32 = 0x0003_0000;
const RET_KILL_PROCESS: u32 = 0x8000_0000;
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

// Offsets into struct seccomp_data.
const NR: u32 = 0;
const ARCH: u32 = 4;
const IP_LO: u32 = 8;
const IP_HI: u32 = 12;
const fn arg_lo(i: u32) -> u32 {
    16 + 8 * i
}
const fn arg_hi(i: u32) -> u32 {
    20 + 8 * i
}

/// A jump target: the next instruction, or a label.
#[derive(Clone, Copy)]
enum To {
    Next,
    L(&'static str),
}

enum Ins {
    Op { code: u16, k: u32, jt: To, jf: To },
    Label(&'static str),
}

fn op(code: u16, k: u32) -> Ins {
    Ins::Op {
        code,
        k,
        jt: To::Next,
        jf: To::Next,
    }
}

fn jmp(code: u16, k: u32, jt: To, jf: To) -> Ins {
    Ins::Op { code, k, jt, jf }
}

fn ret(action: u32) -> Ins {
    op(RET_K, action)
}

/// Resolves labels into forward offsets.
fn assemble(prog: &[Ins]) -> Result<Vec<libc::sock_filter>, String> {
    let mut at = std::collections::HashMap::new();
    let mut n = 0usize;
    for ins in prog {
        match ins {
            Ins::Label(l) => {
                at.insert(*l, n);
            }
            Ins::Op { .. } => n += 1,
        }
    }
    let mut out = Vec::with_capacity(n);
    for ins in prog {
        let Ins::Op { code, k, jt, jf } = ins else {
            continue;
        };
        let here = out.len();
        let off = |t: To| -> Result<u32, String> {
            match t {
                To::Next => Ok(0),
                To::L(l) => {
                    let target = *at.get(l).ok_or(format!("no label {l}"))?;
                    target
                        .checked_sub(here + 1)
                        .map(|d| d as u32)
                        .ok_or(format!("backward jump to {l}"))
                }
            }
        };
        let (jt, jf, k) = if *code == JA {
            (0, 0, off(*jt)?)
        } else {
            let (t, f) = (off(*jt)?, off(*jf)?);
            if t > 255 || f > 255 {
                return Err("jump too long".into());
            }
            (t as u8, f as u8, *k)
        };
        out.push(libc::sock_filter {
            code: *code,
            jt,
            jf,
            k,
        });
    }
    Ok(out)
}

/// The stub filter for a sandbox whose memory file is descriptor `memfd`.
pub fn program(memfd: i32) -> Result<Vec<libc::sock_filter>, String> {
    const _: () = assert!(USER_MAX & 0xffff_ffff == 0);
    const _: () = assert!(CODE_BASE >> 32 == (CODE_BASE + CODE_LEN - 1) >> 32);
    let user_max_hi = (USER_MAX >> 32) as u32;
    let code_lo = (CODE_BASE & 0xffff_ffff) as u32;
    let code_end_lo = ((CODE_BASE + CODE_LEN) & 0xffff_ffff) as u32;
    let nr = |n: i64| n as u32;
    use To::{Next, L};
    let p = vec![
        // A 32-bit call (`int 0x80`) traps too, wherever it comes from:
        // the Sentry turns it into the fault Linux without IA32 emulation
        // raises, and never reads it as a 64-bit call.
        op(LD_W_ABS, ARCH),
        jmp(JEQ_K, AUDIT_ARCH_X86_64, Next, L("trap")),
        // Not from the stub's code page: the application's call. Trap.
        op(LD_W_ABS, IP_HI),
        jmp(JEQ_K, (CODE_BASE >> 32) as u32, Next, L("trap")),
        op(LD_W_ABS, IP_LO),
        jmp(JGE_K, code_lo, Next, L("trap")),
        jmp(JGE_K, code_end_lo, L("trap"), Next),
        op(LD_W_ABS, NR),
        jmp(JGE_K, X32_SYSCALL_BIT, L("kill"), Next),
        jmp(JEQ_K, nr(libc::SYS_futex), L("futex"), Next),
        jmp(JEQ_K, nr(libc::SYS_sched_yield), L("allow"), Next),
        jmp(JEQ_K, nr(libc::SYS_rt_sigreturn), L("allow"), Next),
        jmp(JEQ_K, nr(libc::SYS_rt_sigprocmask), L("allow"), Next),
        jmp(JEQ_K, nr(libc::SYS_sigaltstack), L("allow"), Next),
        jmp(JEQ_K, nr(libc::SYS_exit), L("allow"), Next),
        jmp(JEQ_K, nr(libc::SYS_clone), L("clone"), Next),
        jmp(JEQ_K, nr(libc::SYS_mmap), L("mmap"), Next),
        jmp(JEQ_K, nr(libc::SYS_munmap), L("range"), Next),
        jmp(JEQ_K, nr(libc::SYS_mprotect), L("range"), Next),
        ret(RET_TRAP),
        Ins::Label("futex"),
        op(LD_W_ABS, arg_lo(1)),
        jmp(JEQ_K, libc::FUTEX_WAIT as u32, L("allow"), Next),
        jmp(JEQ_K, libc::FUTEX_WAKE as u32, L("allow"), L("trap")),
        Ins::Label("clone"),
        op(LD_W_ABS, arg_lo(0)),
        jmp(JEQ_K, super::stub::THREAD_FLAGS as u32, Next, L("trap")),
        op(LD_W_ABS, arg_hi(0)),
        jmp(JEQ_K, 0, L("allow"), L("trap")),
        Ins::Label("mmap"),
        op(LD_W_ABS, arg_lo(3)),
        jmp(
            JEQ_K,
            (libc::MAP_SHARED | libc::MAP_FIXED) as u32,
            Next,
            L("trap"),
        ),
        op(LD_W_ABS, arg_hi(3)),
        jmp(JEQ_K, 0, Next, L("trap")),
        op(LD_W_ABS, arg_lo(4)),
        jmp(JEQ_K, memfd as u32, Next, L("trap")),
        op(LD_W_ABS, arg_hi(4)),
        jmp(JEQ_K, 0, Next, L("trap")),
        // addr (arg 0) + len (arg 1) must not pass USER_MAX: both below
        // 2^47 (so the high sum cannot wrap), then a 64-bit add with carry.
        Ins::Label("range"),
        op(LD_W_ABS, arg_hi(1)),
        jmp(JGT_K, user_max_hi, L("trap"), Next),
        op(LD_W_ABS, arg_hi(0)),
        jmp(JGT_K, user_max_hi, L("trap"), Next),
        op(LD_W_ABS, arg_lo(1)),
        op(TAX, 0),
        op(LD_W_ABS, arg_lo(0)),
        op(ADD_X, 0),
        op(ST, 0),
        // The low sum wrapped iff it is below one of its terms.
        jmp(JGE_X, 0, Next, L("carry")),
        op(LD_IMM, 0),
        jmp(JA, 0, L("carried"), Next),
        Ins::Label("carry"),
        op(LD_IMM, 1),
        Ins::Label("carried"),
        op(ST, 1),
        op(LD_W_ABS, arg_hi(1)),
        op(TAX, 0),
        op(LD_W_ABS, arg_hi(0)),
        op(ADD_X, 0),
        op(TAX, 0),
        op(LD_MEM, 1),
        op(ADD_X, 0),
        // A = high word of the end: below USER_MAX's, or equal with a zero
        // low word (USER_MAX's low word is zero).
        jmp(JGE_K, user_max_hi, Next, L("allow")),
        jmp(JEQ_K, user_max_hi, Next, L("trap")),
        op(LD_MEM, 0),
        jmp(JEQ_K, 0, L("allow"), L("trap")),
        Ins::Label("allow"),
        ret(RET_ALLOW),
        Ins::Label("trap"),
        ret(RET_TRAP),
        Ins::Label("kill"),
        ret(RET_KILL_PROCESS),
    ];
    assemble(&p)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A classic BPF interpreter for the opcodes above.
    fn eval(prog: &[libc::sock_filter], data: &[u32; 16]) -> u32 {
        let (mut a, mut x, mut mem, mut pc) = (0u32, 0u32, [0u32; 16], 0usize);
        loop {
            let i = prog[pc];
            pc += 1;
            match i.code {
                LD_W_ABS => a = data[i.k as usize / 4],
                LD_IMM => a = i.k,
                LD_MEM => a = mem[i.k as usize],
                ST => mem[i.k as usize] = a,
                TAX => x = a,
                ADD_X => a = a.wrapping_add(x),
                JA => pc += i.k as usize,
                RET_K => return i.k,
                JEQ_K | JGT_K | JGE_K | JGE_X => {
                    let k = if i.code == JGE_X { x } else { i.k };
                    let taken = match i.code {
                        JEQ_K => a == k,
                        JGT_K => a > k,
                        _ => a >= k,
                    };
                    pc += if taken { i.jt } else { i.jf } as usize;
                }
                c => panic!("opcode {c:#x}"),
            }
        }
    }

    fn call(ip: u64, nr: i64, args: [u64; 6]) -> [u32; 16] {
        let mut d = [0u32; 16];
        d[0] = nr as u32;
        d[1] = AUDIT_ARCH_X86_64;
        d[2] = ip as u32;
        d[3] = (ip >> 32) as u32;
        for (i, v) in args.iter().enumerate() {
            d[4 + 2 * i] = *v as u32;
            d[5 + 2 * i] = (*v >> 32) as u32;
        }
        d
    }

    const MEMFD: i32 = 5;
    const STUB_IP: u64 = CODE_BASE + 0x40;
    const SHARED_FIXED: u64 = (libc::MAP_SHARED | libc::MAP_FIXED) as u64;

    fn run(ip: u64, nr: i64, args: [u64; 6]) -> u32 {
        let prog = program(MEMFD).expect("the filter assembles");
        eval(&prog, &call(ip, nr, args))
    }

    #[test]
    fn application_calls_trap() {
        assert_eq!(run(0x40_1000, libc::SYS_getpid, [0; 6]), RET_TRAP);
        assert_eq!(
            run(
                0x40_1000,
                libc::SYS_mmap,
                [0x1000_0000, 4096, 3, SHARED_FIXED, 5, 0]
            ),
            RET_TRAP
        );
        assert_eq!(run(CODE_BASE + CODE_LEN, libc::SYS_exit, [0; 6]), RET_TRAP);
        assert_eq!(run(CODE_BASE - 2, libc::SYS_exit, [0; 6]), RET_TRAP);
    }

    #[test]
    fn stub_calls_are_narrow() {
        assert_eq!(run(STUB_IP, libc::SYS_exit, [0; 6]), RET_ALLOW);
        assert_eq!(run(STUB_IP, libc::SYS_sched_yield, [0; 6]), RET_ALLOW);
        assert_eq!(run(0x40_1000, libc::SYS_sched_yield, [0; 6]), RET_TRAP);
        assert_eq!(run(STUB_IP, libc::SYS_getpid, [0; 6]), RET_TRAP);
        assert_eq!(run(STUB_IP, libc::SYS_execve, [0; 6]), RET_TRAP);
        let wake = [0, libc::FUTEX_WAKE as u64, 1, 0, 0, 0];
        assert_eq!(run(STUB_IP, libc::SYS_futex, wake), RET_ALLOW);
        let requeue = [0, libc::FUTEX_CMP_REQUEUE as u64, 1, 0, 0, 0];
        assert_eq!(run(STUB_IP, libc::SYS_futex, requeue), RET_TRAP);
        let thread = [super::super::stub::THREAD_FLAGS, 0, 0, 0, 0, 0];
        assert_eq!(run(STUB_IP, libc::SYS_clone, thread), RET_ALLOW);
        let fork = [libc::SIGCHLD as u64, 0, 0, 0, 0, 0];
        assert_eq!(run(STUB_IP, libc::SYS_clone, fork), RET_TRAP);
        let nr = X32_SYSCALL_BIT as i64 | libc::SYS_exit;
        assert_eq!(run(STUB_IP, nr, [0; 6]), RET_KILL_PROCESS);
    }

    #[test]
    fn calls_of_other_abis_trap() {
        const AUDIT_ARCH_I386: u32 = 0x4000_0003;
        for ip in [0x40_1000, STUB_IP] {
            let mut d = call(ip, libc::SYS_exit, [0; 6]);
            d[1] = AUDIT_ARCH_I386;
            let prog = program(MEMFD).expect("the filter assembles");
            assert_eq!(eval(&prog, &d), RET_TRAP);
        }
    }

    #[test]
    fn mappings_stay_below_user_max() {
        let mmap = |addr: u64, len: u64, flags: u64, fd: u64| {
            run(STUB_IP, libc::SYS_mmap, [addr, len, 3, flags, fd, 0])
        };
        assert_eq!(mmap(0x1000_0000, 4096, SHARED_FIXED, 5), RET_ALLOW);
        assert_eq!(mmap(USER_MAX - 4096, 4096, SHARED_FIXED, 5), RET_ALLOW);
        assert_eq!(mmap(USER_MAX - 4096, 8192, SHARED_FIXED, 5), RET_TRAP);
        assert_eq!(mmap(USER_MAX, 4096, SHARED_FIXED, 5), RET_TRAP);
        assert_eq!(mmap(0x1000_0000, 4096, SHARED_FIXED, 6), RET_TRAP);
        let private = (libc::MAP_PRIVATE | libc::MAP_FIXED) as u64;
        assert_eq!(mmap(0x1000_0000, 4096, private, 5), RET_TRAP);
        assert_eq!(mmap(0x1000_0000, 4096, SHARED_FIXED | 1 << 32, 5), RET_TRAP);
        // A low-word carry into the high word.
        assert_eq!(mmap(0x7ffe_ffff_f000, 0x1000, SHARED_FIXED, 5), RET_ALLOW);
        assert_eq!(mmap(0x7ffe_ffff_f000, 0x2000, SHARED_FIXED, 5), RET_TRAP);
        // Wrapping the whole 64-bit sum.
        assert_eq!(mmap(0x1000, u64::MAX - 0xfff, SHARED_FIXED, 5), RET_TRAP);
        assert_eq!(
            mmap(0x1000, 0xffff_ffff_f000_0000, SHARED_FIXED, 5),
            RET_TRAP
        );
        let range = |nr: i64, addr: u64, len: u64| run(STUB_IP, nr, [addr, len, 7, 0, 0, 0]);
        assert_eq!(
            range(libc::SYS_mprotect, 0x1_0000, USER_MAX - 0x1_0000),
            RET_ALLOW
        );
        assert_eq!(range(libc::SYS_mprotect, CODE_BASE, 4096), RET_TRAP);
        assert_eq!(range(libc::SYS_munmap, 0, USER_MAX), RET_ALLOW);
        assert_eq!(range(libc::SYS_munmap, 0, USER_MAX + 4096), RET_TRAP);
        assert_eq!(range(libc::SYS_munmap, 0x7fff_0000_0000 - 1, 2), RET_TRAP);
    }
}
