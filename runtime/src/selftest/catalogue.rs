//! The attacks of `sandbox selftest`: what each tries, what its control
//! needs from the spec to succeed under runc, and how success is proved.
//! The programs themselves are C, one file each in runtime/selftest/,
//! named like the entries here.

/// What the spec of an attack's runs grants (the same spec for the
/// control and for the sandbox: the sandbox must hold with it).
#[derive(Debug, Clone, Copy, Default)]
pub struct Needs {
    /// Capabilities beyond Docker's default set.
    pub caps: &'static [&'static str],
    /// Every capability the runner itself has, read-write /proc/sys and
    /// /sys, no masked or read-only paths, every device allowed: `docker
    /// run --privileged`.
    pub privileged: bool,
    /// No pid namespace (`docker run --pid=host`), and a decoy host
    /// process whose pid the attack is given.
    pub host_pid_and_decoy: bool,
    /// A host directory descriptor passed as fd 3 (`--preserve-fds 1`).
    pub leaked_fd: bool,
    /// A host file bind-mounted read-only at /ro/target.
    pub read_only_file: bool,
    /// No network namespace (`docker run --network=host`; the sandbox is
    /// told `dev.sandbox.network=host`), and an abstract Unix socket of
    /// the runner's on the host that hands out the secret.
    pub host_network: bool,
    /// No IPC namespace (`docker run --ipc=host`), and a System V shared
    /// memory segment of the runner's holding the secret.
    pub host_ipc: bool,
    /// The runner writes `sandbox-selftest <secret>` into the host's
    /// kernel log (/dev/kmsg) before the run.
    pub secret_in_kernel_log: bool,
    /// The control demonstrates the effect on a surface that exists only
    /// in the sandbox (the attack is told so with SELFTEST_CONTROL); the
    /// control's own report is its proof.
    pub control_demo: bool,
}

/// How a run's success is established.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proof {
    /// The attack's own `RESULT worked` line.
    SelfReport,
    /// The attack printed the runner's secret (from the host file, the
    /// socket, the shared memory segment or the kernel log line holding
    /// it).
    SecretLeaked,
    /// The decoy host process exited because it was signalled or its
    /// memory was written.
    DecoyTouched,
    /// The decoy's binary (a host file) changed.
    DecoyBinaryChanged,
    /// The host file bind-mounted read-only changed.
    ReadOnlyFileChanged,
    /// The release agent ran on the host and left its marker.
    ReleaseAgentRan,
    /// The attack got the host root's own user keyring.
    HostKeyring,
    /// The attack's hash of the raw disk matches the host's.
    HostDisk,
}

#[derive(Debug, Clone, Copy)]
pub struct Attack {
    pub name: &'static str,
    pub tries: &'static str,
    pub needs: Needs,
    pub proof: Proof,
}

const NONE: Needs = Needs {
    caps: &[],
    privileged: false,
    host_pid_and_decoy: false,
    leaked_fd: false,
    read_only_file: false,
    host_network: false,
    host_ipc: false,
    secret_in_kernel_log: false,
    control_demo: false,
};

const PTRACE: &[&str] = &["CAP_SYS_PTRACE"];
const HOST_PID: Needs = Needs {
    caps: PTRACE,
    host_pid_and_decoy: true,
    ..NONE
};
const PRIVILEGED: Needs = Needs {
    privileged: true,
    ..NONE
};

pub const ATTACKS: &[Attack] = &[
    Attack {
        name: "proc_pid_exe",
        tries: "overwrite a host binary via /proc/PID/exe (CVE-2019-5736)",
        needs: HOST_PID,
        proof: Proof::DecoyBinaryChanged,
    },
    Attack {
        name: "proc_pid_mem",
        tries: "write a host process's memory via /proc/PID/mem",
        needs: HOST_PID,
        proof: Proof::DecoyTouched,
    },
    Attack {
        name: "process_vm_writev",
        tries: "write a host process's memory with process_vm_writev",
        needs: HOST_PID,
        proof: Proof::DecoyTouched,
    },
    Attack {
        name: "ptrace_attach",
        tries: "ptrace-attach to a host process and poke it",
        needs: HOST_PID,
        proof: Proof::DecoyTouched,
    },
    Attack {
        name: "kcmp",
        tries: "kcmp against a host process",
        needs: HOST_PID,
        proof: Proof::SelfReport,
    },
    Attack {
        name: "kill_host",
        tries: "signal a host process",
        needs: HOST_PID,
        proof: Proof::DecoyTouched,
    },
    Attack {
        name: "proc_pid_root",
        tries: "read a host file via /proc/PID/root",
        needs: HOST_PID,
        proof: Proof::SecretLeaked,
    },
    Attack {
        name: "leaked_fd",
        tries: "read a host file through a leaked dir fd (CVE-2024-21626)",
        needs: Needs {
            leaked_fd: true,
            ..NONE
        },
        proof: Proof::SecretLeaked,
    },
    Attack {
        name: "open_by_handle",
        tries: "open a host directory by file handle (Shocker)",
        needs: Needs {
            caps: &["CAP_DAC_READ_SEARCH"],
            ..NONE
        },
        proof: Proof::SecretLeaked,
    },
    Attack {
        name: "mknod_block",
        tries: "mknod the host's disk and read it raw",
        needs: PRIVILEGED,
        proof: Proof::HostDisk,
    },
    Attack {
        name: "mknod_kvm",
        tries: "mknod /dev/kvm and create a VM on the host's KVM",
        needs: PRIVILEGED,
        proof: Proof::SelfReport,
    },
    Attack {
        name: "mount_blockdev",
        tries: "mount the host's disk and read a host file",
        needs: PRIVILEGED,
        proof: Proof::SecretLeaked,
    },
    Attack {
        name: "release_agent",
        tries: "run a host program as a cgroup release_agent (CVE-2022-0492)",
        needs: PRIVILEGED,
        proof: Proof::ReleaseAgentRan,
    },
    Attack {
        name: "core_pattern",
        tries: "write the host's /proc/sys/kernel/core_pattern",
        needs: PRIVILEGED,
        proof: Proof::SelfReport,
    },
    Attack {
        name: "modprobe",
        tries: "write the host's /proc/sys/kernel/modprobe",
        needs: PRIVILEGED,
        proof: Proof::SelfReport,
    },
    Attack {
        name: "sysrq_trigger",
        tries: "open the host's /proc/sysrq-trigger for writing",
        needs: PRIVILEGED,
        proof: Proof::SelfReport,
    },
    Attack {
        name: "uevent_helper",
        tries: "write the host's /sys/kernel/uevent_helper",
        needs: PRIVILEGED,
        proof: Proof::SelfReport,
    },
    Attack {
        name: "bpf",
        tries: "load an eBPF program into the host kernel",
        needs: Needs {
            caps: &["CAP_SYS_ADMIN", "CAP_BPF"],
            ..NONE
        },
        proof: Proof::SelfReport,
    },
    Attack {
        name: "perf_event_open",
        tries: "open a host perf event",
        needs: Needs {
            caps: &["CAP_SYS_ADMIN", "CAP_PERFMON"],
            ..NONE
        },
        proof: Proof::SelfReport,
    },
    Attack {
        name: "userfaultfd",
        tries: "get a host userfaultfd",
        needs: Needs {
            caps: PTRACE,
            ..NONE
        },
        proof: Proof::SelfReport,
    },
    Attack {
        name: "io_uring",
        tries: "set up a host io_uring",
        needs: NONE,
        proof: Proof::SelfReport,
    },
    Attack {
        name: "add_key",
        tries: "store a key in the host kernel's keyring",
        needs: NONE,
        proof: Proof::SelfReport,
    },
    Attack {
        name: "keyctl_host_keyring",
        tries: "reach the host root's user keyring with keyctl",
        needs: NONE,
        proof: Proof::HostKeyring,
    },
    Attack {
        name: "userns_mount",
        tries: "unshare(CLONE_NEWUSER), then mount",
        needs: NONE,
        proof: Proof::SelfReport,
    },
    Attack {
        name: "packet_socket",
        tries: "open a host AF_PACKET socket (CAP_NET_RAW)",
        needs: NONE,
        proof: Proof::SelfReport,
    },
    Attack {
        name: "dirty_pipe",
        tries: "write a read-only file via splice (CVE-2022-0847)",
        needs: Needs {
            read_only_file: true,
            ..NONE
        },
        proof: Proof::ReadOnlyFileChanged,
    },
    Attack {
        name: "int80",
        tries: "make a 32-bit system call with int 0x80",
        needs: NONE,
        proof: Proof::SelfReport,
    },
    Attack {
        name: "stub_jump",
        tries: "jump into the stub page's syscall sites",
        needs: Needs {
            control_demo: true,
            ..NONE
        },
        proof: Proof::SelfReport,
    },
    Attack {
        name: "stub_write",
        tries: "write the stub's read-only pages (/proc/self/mem, mprotect)",
        needs: Needs {
            control_demo: true,
            ..NONE
        },
        proof: Proof::SelfReport,
    },
    Attack {
        name: "kernel_log",
        tries: "read the host's kernel log with syslog (CAP_SYSLOG)",
        needs: Needs {
            caps: &["CAP_SYSLOG"],
            secret_in_kernel_log: true,
            ..NONE
        },
        proof: Proof::SecretLeaked,
    },
    Attack {
        name: "proc_sys_remount",
        tries: "remount /proc/sys read-write (CAP_SYS_ADMIN), write a sysctl",
        needs: Needs {
            caps: &["CAP_SYS_ADMIN"],
            ..NONE
        },
        proof: Proof::SelfReport,
    },
    Attack {
        name: "vdso_data_write",
        tries: "write the sandbox-wide vDSO data page ([vvar])",
        needs: Needs {
            control_demo: true,
            ..NONE
        },
        proof: Proof::SelfReport,
    },
    Attack {
        name: "path_toctou",
        tries: "race a path buffer between the check and the use",
        needs: Needs {
            control_demo: true,
            ..NONE
        },
        proof: Proof::SecretLeaked,
    },
    Attack {
        name: "setns_host_mnt",
        tries: "setns into a host process's mount namespace (nsenter)",
        needs: Needs {
            caps: &["CAP_SYS_ADMIN", "CAP_SYS_PTRACE"],
            host_pid_and_decoy: true,
            ..NONE
        },
        proof: Proof::SecretLeaked,
    },
    Attack {
        name: "abstract_unix",
        tries: "reach a host abstract Unix socket (CVE-2020-15257)",
        needs: Needs {
            host_network: true,
            ..NONE
        },
        proof: Proof::SecretLeaked,
    },
    Attack {
        name: "host_ipc_shm",
        tries: "attach a host process's SysV shared memory (--ipc=host)",
        needs: Needs {
            host_ipc: true,
            ..NONE
        },
        proof: Proof::SecretLeaked,
    },
    Attack {
        name: "cgroup_escape",
        tries: "move itself into the host's root cgroup, out of its limits",
        needs: PRIVILEGED,
        proof: Proof::SelfReport,
    },
    Attack {
        name: "release_agent_sys_admin",
        tries: "release_agent with CAP_SYS_ADMIN only (CVE-2022-0492)",
        needs: Needs {
            caps: &["CAP_SYS_ADMIN"],
            ..NONE
        },
        proof: Proof::ReleaseAgentRan,
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    /// Every attack here has its C program (main.c's table) and back.
    #[test]
    fn every_attack_has_a_program() {
        let main = include_str!("../../selftest/main.c");
        for a in ATTACKS {
            assert!(
                main.contains(&format!("X({})", a.name)),
                "{} is missing from selftest/main.c",
                a.name
            );
            let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("selftest")
                .join(format!("{}.c", a.name));
            assert!(src.is_file(), "{} has no {}", a.name, src.display());
        }
        let listed = main.matches("    X(").count();
        assert_eq!(
            listed,
            ATTACKS.len(),
            "main.c lists attacks this table lacks"
        );
    }
}
