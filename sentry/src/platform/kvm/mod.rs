//! The kvm platform: each application thread runs in guest user mode of the
//! sandbox's KVM virtual machine (the `vmm` crate). An application address
//! space is a set of guest page tables over the memory file; a thread is a
//! vCPU, run by the Sentry thread that serves it. Every system call and
//! fault leaves the guest through the guest kernel's one-instruction entries
//! and comes back here as a [`Trap`], exactly as on the ptrace platform.
//!
//! The workload's code never runs as a host process: a bug in the Sentry
//! that let it "pass a system call through" would find no host thread of
//! the workload to run it on.

use std::os::fd::BorrowedFd;
use std::sync::Arc;

use vmm::{AddressSpace, Exit, Vcpu, Vm};

use super::{
    Context, Fault, FpRegs, Interrupter, Platform, PlatformError, Prot, Regs, ThreadSeed, Trap,
};

/// How much of the memory file the VM can map: the guest's physical
/// memory. KVM keeps per-page metadata for the whole slot (8 bytes a page
/// with shadow paging), so it is bounded rather than the file's full 1 TiB
/// of address space; the Sentry's allocator refuses memory beyond it. This
/// is the size without a memory limit.
pub const DEFAULT_SLOT_SIZE: u64 = 8 << 30;
/// The smallest slot a memory limit can ask for: enough for a shell, its
/// stacks and the Sentry's tmpfs files.
pub const MIN_SLOT_SIZE: u64 = 64 << 20;
/// The largest: a bigger limit gets this much (KVM's metadata grows with
/// the slot).
pub const MAX_SLOT_SIZE: u64 = 64 << 30;
/// Slot sizes are whole 2 MiB pages.
const SLOT_ALIGN: u64 = 2 << 20;

/// How many times its memory limit a container's guest memory is.
const SLOT_PER_LIMIT: u64 = 8;

/// The guest memory for a container with memory limit `limit` (bytes,
/// None: no limit): eight times the limit, rounded up to 2 MiB, within
/// [`MIN_SLOT_SIZE`]..=[`MAX_SLOT_SIZE`].
///
/// The limit itself is the host cgroup's business, as on the sentry
/// backend and under runc: pages count when touched, and a workload that
/// touches more than the limit is OOM-killed (status 137, Docker's
/// `OOMKilled`), not handed ENOMEM. Every byte of application memory takes
/// file space in the slot when it is mapped, touched or not, so the slot
/// bounds the memory the workload may have mapped (as overcommit does on
/// Linux), well above what it may touch: the JVM maps far more than its
/// heap. Not more: KVM keeps metadata for the whole slot, which the
/// container's cgroup pays for (an 8 GiB slot under a 32 MiB limit is
/// OOM-killed before the workload starts).
pub fn slot_size(limit: Option<u64>) -> u64 {
    let Some(limit) = limit else {
        return DEFAULT_SLOT_SIZE;
    };
    let rounded = limit
        .saturating_mul(SLOT_PER_LIMIT)
        .checked_next_multiple_of(SLOT_ALIGN)
        .unwrap_or(MAX_SLOT_SIZE);
    rounded.clamp(MIN_SLOT_SIZE, MAX_SLOT_SIZE)
}

/// Checks that KVM is usable here (for `sandbox features` and `create`).
pub fn probe() -> Result<(), PlatformError> {
    vmm::probe().map_err(PlatformError::from)
}

/// Opens /dev/kvm; call before the jail, which takes the device away.
pub fn open() -> Result<vmm::Kvm, PlatformError> {
    vmm::open_kvm().map_err(PlatformError::from)
}

impl From<vmm::Error> for PlatformError {
    fn from(e: vmm::Error) -> PlatformError {
        PlatformError::Vm(e.to_string())
    }
}

pub struct KvmPlatform {
    vm: Vm,
    /// The guests' TSC is the host's (see `vmm::Vm::pin_tsc`).
    tsc_pinned: bool,
}

impl KvmPlatform {
    /// Creates the sandbox's VM over the first `slot` bytes of the memory
    /// file `memfd`.
    pub fn new(
        kvm: &vmm::Kvm,
        memfd: BorrowedFd<'_>,
        slot: u64,
    ) -> Result<KvmPlatform, PlatformError> {
        let vm = Vm::new(kvm, memfd, slot)?;
        let tsc_pinned = vm.pin_tsc()?;
        if !tsc_pinned {
            tracing::info!("KVM cannot set the guests' TSC offset: vDSO clocks make system calls");
        }
        Ok(KvmPlatform { vm, tsc_pinned })
    }
}

impl Platform for KvmPlatform {
    fn new_context(&self) -> Result<Box<dyn Context>, PlatformError> {
        let space = self.vm.new_address_space()?;
        let vcpu = self.vm.new_vcpu(space)?;
        Ok(Box::new(KvmContext {
            vm: self.vm.clone(),
            vcpu,
        }))
    }

    fn name(&self) -> &'static str {
        "kvm"
    }

    /// 0 when KVM pinned every vCPU's TSC to the host's, else None (the
    /// vDSO then makes system calls).
    fn tsc_offset(&self) -> Option<u64> {
        self.tsc_pinned.then_some(0)
    }

    fn jailed_ioctls(&self) -> Vec<u64> {
        vmm::ioctls::runtime_requests()
            .into_iter()
            .map(|(_, r)| r)
            .collect()
    }

    fn stats(&self) -> Option<String> {
        let s = self.vm.stats();
        Some(format!(
            "guest exits: syscalls={} faults={} interrupts={} kvm_run_returns={}",
            s.syscalls, s.faults, s.interrupts, s.exits
        ))
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        let s = self.vm.stats();
        vec![
            // System calls of the workload (each one exit to the VMM).
            ("syscalls", s.syscalls),
            // Page faults (demand paging, stale translations, SIGSEGV).
            ("page_faults", s.page_faults),
            // Every other exception (SIGILL, SIGFPE, #GP, ...).
            ("other_exceptions", s.faults - s.page_faults),
            // vCPUs stopped for a signal, a timer or a kill.
            ("interruptions", s.interrupts),
            // Every return from KVM_RUN, whatever its reason.
            ("kvm_run_returns", s.exits),
        ]
    }
}

/// One application thread: a vCPU in its process's address space.
pub struct KvmContext {
    vm: Vm,
    vcpu: Vcpu,
}

struct KvmInterrupter(Arc<vmm::Kick>);

impl Interrupter for KvmInterrupter {
    fn interrupt(&self) {
        self.0.interrupt();
    }

    fn app_cpu_ns(&self) -> Option<u64> {
        Some(self.0.guest_cpu_ns())
    }

    fn measure_app_cpu(&self) {
        vmm::kick::measure_guest_time();
        // A vCPU already in KVM_RUN starts measuring at its next entry:
        // make that now (a spurious interruption, which callers allow).
        self.0.interrupt();
    }
}

impl KvmContext {
    fn space(&self) -> &Arc<AddressSpace> {
        self.vcpu.space()
    }

    /// Makes a change that may have removed or narrowed translations take
    /// effect before the call that made it returns (munmap, mprotect, a
    /// MAP_FIXED over an old mapping): KVM and this vCPU forget the old
    /// translations now, not at the next entry.
    fn settle(&mut self) -> Result<(), PlatformError> {
        self.vcpu.flush().map_err(PlatformError::from)?;
        // The process's other threads, running on their own vCPUs, too.
        self.vcpu.shootdown();
        Ok(())
    }
}

impl Context for KvmContext {
    fn map(&mut self, addr: u64, len: u64, prot: Prot, offset: u64) -> Result<(), PlatformError> {
        self.space().map(addr, len, prot, offset)?;
        self.settle()
    }

    fn unmap(&mut self, addr: u64, len: u64) -> Result<(), PlatformError> {
        self.space().unmap(addr, len)?;
        self.settle()
    }

    fn protect(&mut self, addr: u64, len: u64, prot: Prot) -> Result<(), PlatformError> {
        self.space().protect(addr, len, prot)?;
        self.settle()
    }

    fn unmap_all(&mut self) -> Result<(), PlatformError> {
        self.space().unmap_all();
        self.settle()
    }

    fn run(&mut self, regs: &mut Regs) -> Result<Trap, PlatformError> {
        Ok(match self.vcpu.run(regs)? {
            Exit::Syscall => Trap::Syscall,
            Exit::Interrupted => Trap::Interrupted,
            Exit::Fault(s) => Trap::Fault(Fault {
                signo: s.signo,
                code: s.code,
                addr: s.addr,
            }),
        })
    }

    fn fp_regs(&mut self) -> Result<FpRegs, PlatformError> {
        Ok(self.vcpu.fp_regs()?)
    }

    fn set_fp_regs(&mut self, fp: &FpRegs) -> Result<(), PlatformError> {
        Ok(self.vcpu.set_fp_regs(fp)?)
    }

    fn interrupter(&self) -> Arc<dyn Interrupter> {
        Arc::new(KvmInterrupter(self.vcpu.kick()))
    }

    /// No host process runs the workload: its CPU time is the Sentry
    /// thread's (KVM_RUN runs on it), and `ps` has no pid to show.
    fn host_pid(&self) -> i32 {
        0
    }

    fn spawn_thread(&mut self) -> Result<Box<dyn ThreadSeed>, PlatformError> {
        Ok(Box::new(KvmThreadSeed {
            vm: self.vm.clone(),
            space: self.space().clone(),
            fp: self.vcpu.fp_regs()?,
        }))
    }
}

/// A thread to be: the vCPU is made by the Sentry thread that will run it.
struct KvmThreadSeed {
    vm: Vm,
    space: Arc<AddressSpace>,
    /// The creating thread's FPU state, which a new thread inherits.
    fp: FpRegs,
}

impl ThreadSeed for KvmThreadSeed {
    fn attach(self: Box<Self>) -> Result<Box<dyn Context>, PlatformError> {
        let vcpu = self.vm.new_vcpu(self.space)?;
        vcpu.set_fp_regs(&self.fp)?;
        Ok(Box::new(KvmContext { vm: self.vm, vcpu }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_follows_the_memory_limit() {
        assert_eq!(slot_size(None), DEFAULT_SLOT_SIZE);
        // Eight times the limit...
        assert_eq!(slot_size(Some(256 << 20)), 2 << 30);
        // ... rounded up to 2 MiB.
        assert_eq!(
            slot_size(Some((256 << 20) + (16 << 10))),
            (2 << 30) + (2 << 20)
        );
        // A floor and a ceiling.
        assert_eq!(slot_size(Some(1)), MIN_SLOT_SIZE);
        assert_eq!(slot_size(Some(1 << 50)), MAX_SLOT_SIZE);
        assert_eq!(slot_size(Some(u64::MAX)), MAX_SLOT_SIZE);
    }
}
