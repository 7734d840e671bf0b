//! The Sentry's own confinement: the seccomp allowlist installed on every
//! Sentry thread before any workload code runs. These are the host system
//! calls the Sentry itself needs; any other call never reaches the kernel:
//! it raises SIGSYS (SECCOMP_RET_TRAP), which the Sentry does not handle,
//! so the Sentry (and with it the sandbox) dies. Stubs inherit this filter
//! and add a stricter one.
//!
//! Why trap rather than kill: when several filters apply, the kernel takes
//! the strictest action. A seccomp-platform stub inherits this filter, and
//! every system call of the application it runs must reach the stub's
//! SIGSYS handler (the Sentry services it); a kill here would end the
//! stub at the first call outside this list instead.

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

use crate::error::Error;

const ALLOWED: &[i64] = &[
    // I/O on descriptors the Sentry holds (memory file, host files, stdio, control socket).
    libc::SYS_read,
    libc::SYS_write,
    libc::SYS_pread64,
    libc::SYS_pwrite64,
    libc::SYS_readv,
    libc::SYS_writev,
    libc::SYS_close,
    libc::SYS_close_range,
    libc::SYS_fstat,
    libc::SYS_newfstatat,
    libc::SYS_statx,
    libc::SYS_lseek,
    libc::SYS_fcntl,
    // ioctl: only the requests in HOST_IOCTLS (and the platform's).
    libc::SYS_dup,
    libc::SYS_dup3,
    libc::SYS_poll,
    libc::SYS_ppoll,
    libc::SYS_eventfd2,
    libc::SYS_fsync,
    libc::SYS_fdatasync,
    libc::SYS_ftruncate,
    libc::SYS_fallocate,
    libc::SYS_getdents64,
    libc::SYS_memfd_create,
    // Confined file-system operations, always relative to a directory descriptor.
    libc::SYS_openat,
    libc::SYS_openat2,
    libc::SYS_readlinkat,
    libc::SYS_mkdirat,
    libc::SYS_mknodat,
    libc::SYS_unlinkat,
    libc::SYS_renameat,
    libc::SYS_renameat2,
    libc::SYS_symlinkat,
    libc::SYS_linkat,
    libc::SYS_fchmodat,
    libc::SYS_fchownat,
    // An O_TMPFILE file has no name to chmod by.
    libc::SYS_fchmod,
    // user. extended attributes and statfs figures of rootfs files, on
    // descriptors the confined opener produced.
    libc::SYS_fgetxattr,
    libc::SYS_fsetxattr,
    libc::SYS_flistxattr,
    libc::SYS_fremovexattr,
    libc::SYS_fstatfs,
    libc::SYS_utimensat,
    // The Sentry's own memory and threads.
    libc::SYS_mmap,
    libc::SYS_munmap,
    libc::SYS_mprotect,
    libc::SYS_madvise,
    libc::SYS_mremap,
    libc::SYS_brk,
    libc::SYS_clone,
    libc::SYS_clone3,
    libc::SYS_futex,
    libc::SYS_set_robust_list,
    libc::SYS_rseq,
    libc::SYS_sched_yield,
    libc::SYS_sched_getaffinity,
    libc::SYS_exit,
    libc::SYS_exit_group,
    libc::SYS_rt_sigaction,
    libc::SYS_rt_sigtimedwait,
    libc::SYS_rt_sigprocmask,
    libc::SYS_rt_sigreturn,
    libc::SYS_sigaltstack,
    libc::SYS_getpid,
    libc::SYS_gettid,
    libc::SYS_getrandom,
    libc::SYS_clock_gettime,
    libc::SYS_clock_nanosleep,
    libc::SYS_nanosleep,
    // The host kernel resumes a sleep a stop signal interrupted (SIGCONT
    // from the terminal's hang-up) with restart_syscall.
    libc::SYS_restart_syscall,
    libc::SYS_sysinfo,
    libc::SYS_prctl,
    // Stubs: create, trace, signal and reap them.
    libc::SYS_ptrace,
    libc::SYS_wait4,
    libc::SYS_waitid,
    libc::SYS_kill,
    libc::SYS_tgkill,
    libc::SYS_seccomp,
    // The control socket.
    libc::SYS_accept4,
    libc::SYS_accept,
    libc::SYS_recvmsg,
    libc::SYS_sendmsg,
    libc::SYS_recvfrom,
    libc::SYS_sendto,
    libc::SYS_shutdown,
];

/// The ioctl requests the Sentry makes on host descriptors: terminal
/// state and sizes for a console or terminal stdio it serves
/// (fs/host_fd.rs, isatty).
const HOST_IOCTLS: &[u64] = &[
    libc::TCGETS,
    libc::TCSETS,
    libc::TCSETSW,
    libc::TCSETSF,
    libc::TIOCGWINSZ,
    libc::TIOCSWINSZ,
    libc::FIONREAD,
];

/// Installs the allowlist on every thread of the Sentry. `platform_ioctls`
/// are the ioctl requests the platform makes once jailed (kvm: running
/// vCPUs, `vmm::ioctls`); ioctl with any other request traps.
pub fn install(platform_ioctls: &[u64], host_network: bool) -> Result<(), Error> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> =
        ALLOWED.iter().map(|&nr| (nr, vec![])).collect();
    if host_network {
        // The `host` network mode's socket calls (net::hostnet); socket
        // itself only for inet families.
        for &nr in crate::net::hostnet::JAIL_CALLS {
            rules.insert(nr, vec![]);
        }
        let mut socket_rules = Vec::new();
        for family in [libc::AF_INET, libc::AF_INET6] {
            let cond =
                SeccompCondition::new(0, SeccompCmpArgLen::Dword, SeccompCmpOp::Eq, family as u64)
                    .map_err(|e| Error::Seccomp(e.to_string()))?;
            socket_rules
                .push(SeccompRule::new(vec![cond]).map_err(|e| Error::Seccomp(e.to_string()))?);
        }
        rules.insert(libc::SYS_socket, socket_rules);
    }
    let mut ioctl_rules = Vec::new();
    for &req in HOST_IOCTLS.iter().chain(platform_ioctls) {
        // The kernel reads the request as an unsigned int: compare the low
        // 32 bits, as it does.
        let cond = SeccompCondition::new(1, SeccompCmpArgLen::Dword, SeccompCmpOp::Eq, req)
            .map_err(|e| Error::Seccomp(e.to_string()))?;
        ioctl_rules.push(SeccompRule::new(vec![cond]).map_err(|e| Error::Seccomp(e.to_string()))?);
    }
    rules.insert(libc::SYS_ioctl, ioctl_rules);
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Trap,
        SeccompAction::Allow,
        TargetArch::x86_64,
    )
    .map_err(|e| Error::Seccomp(e.to_string()))?;
    let allowlist: BpfProgram = filter
        .try_into()
        .map_err(|e: seccompiler::BackendError| Error::Seccomp(e.to_string()))?;
    let mut program = foreign_abi_traps();
    program.extend(allowlist);
    seccompiler::apply_filter_all_threads(&program).map_err(|e| Error::Seccomp(e.to_string()))
}

/// The filter's prologue: a call of another ABI (`int 0x80`, a 32-bit
/// call) traps instead of killing the process, as seccompiler's own arch
/// check would. The seccomp platform's stubs are forked from the jailed
/// Sentry and inherit this filter, and the application's `int 0x80` must
/// reach the Sentry as a trap (it becomes the SIGSEGV Linux without IA32
/// emulation raises). For a Sentry thread a trap is as final as a kill:
/// the call does not run.
fn foreign_abi_traps() -> BpfProgram {
    use crate::platform::AUDIT_ARCH_X86_64;
    // struct seccomp_data: arch is the u32 at offset 4.
    const ARCH_OFFSET: u32 = 4;
    let stmt = |code: u32, k: u32| seccompiler::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    };
    vec![
        stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, ARCH_OFFSET),
        seccompiler::sock_filter {
            code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
            jt: 1,
            jf: 0,
            k: AUDIT_ARCH_X86_64,
        },
        stmt(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_TRAP),
    ]
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt;
    use std::process::Command;

    /// KVM_CREATE_VM: a request the jailed Sentry never makes.
    const UNLISTED: u64 = 0xae01;
    const PROBE: &str = "SANDBOX_JAIL_IOCTL_PROBE";

    /// In the probe child: jail itself (allowing UNLISTED when asked), then
    /// make the request on a bad descriptor; reaching the exit means the
    /// filter let it through to the kernel (EBADF).
    fn probe(allow: bool) -> ! {
        // The trap's default action dumps core: not here.
        let none = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: setrlimit reads one rlimit struct.
        unsafe { libc::setrlimit(libc::RLIMIT_CORE, &none) };
        let extra: &[u64] = if allow { &[UNLISTED] } else { &[] };
        super::install(extra, false).expect("install the jail's filter");
        // SAFETY: ioctl on an invalid descriptor touches no memory.
        let r = unsafe { libc::ioctl(-1, UNLISTED as libc::c_ulong, 0) };
        let errno = std::io::Error::last_os_error().raw_os_error();
        std::process::exit(if r == -1 && errno == Some(libc::EBADF) {
            0
        } else {
            1
        });
    }

    #[test]
    fn ioctl_requests_outside_the_list_trap() {
        if let Ok(mode) = std::env::var(PROBE) {
            probe(mode == "allow");
        }
        // The filter is for good: each case runs in a child of its own,
        // this very test re-run with the probe variable set.
        let run = |mode: &str| {
            Command::new(std::env::current_exe().expect("the test binary"))
                .args([
                    "--exact",
                    "jail::tests::ioctl_requests_outside_the_list_trap",
                    "--test-threads=1",
                ])
                .env(PROBE, mode)
                .stdout(std::process::Stdio::null())
                .status()
                .expect("run the probe")
        };
        let denied = run("deny");
        assert_eq!(
            denied.signal(),
            Some(libc::SIGSYS),
            "an unlisted ioctl request must trap: {denied:?}"
        );
        let allowed = run("allow");
        assert_eq!(
            allowed.code(),
            Some(0),
            "a listed request must reach the kernel: {allowed:?}"
        );
    }
}
