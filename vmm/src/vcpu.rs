//! A vCPU: runs one application thread's registers in guest user mode
//! until the next system call, fault or interruption.
//!
//! Between two runs the vCPU is *parked* in one of two places:
//!
//! - in the guest kernel, at (or, while KVM still has to complete the
//!   port write, just before) the `iretq` that follows an entry's `out`.
//!   To resume, the VMM writes an `iretq` frame on the vCPU's ring-0 stack,
//!   points rsp at it, and sets every other register to the application's;
//!   rip is left alone.
//! - in user mode, when it was interrupted there: the application's
//!   registers are set directly.
//!
//! When page tables changed, the vCPU first runs the guest's flush gadget
//! on its own (rip moved to it once KVM has finished any pending `out`),
//! which exits on FLUSH_PORT and leaves the vCPU parked at an `iretq`.
//!
//! The guest kernel never runs on its own: every instruction of it is
//! either an `out` that exits here or the `iretq` (or flush gadget) the VMM
//! chose, so the VMM always knows from rip alone what state the vCPU is in,
//! even when a signal interrupts KVM_RUN in the middle of it.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use guest::entry::OUT_LEN;
use guest::tables::{self, KERNEL_CS, KERNEL_SS, TSS_SEL, USER_CS, USER_SS};
use guest::{COMPAT_SYSCALL_PORT, EXCEPTION_PORT_BASE, FLUSH_PORT, SYSCALL_PORT};
use kvm_bindings::{kvm_msr_entry, kvm_regs, kvm_segment, kvm_xcrs, kvm_xsave, Msrs};
use kvm_ioctls::{VcpuExit, VcpuFd};

use crate::error::{Error, Result};
use crate::fault::{self, Signal};
use crate::kick::{self, Kick};
use crate::layout::*;
use crate::pagetable::{PTE_NX, PTE_P, PTE_RW, PTE_US};
use crate::vm::{AddressSpace, VmShared};

/// The general-purpose registers of an application thread, as Linux's
/// ptrace shows them.
pub type Regs = libc::user_regs_struct;
/// The x87/SSE state of an application thread (FXSAVE layout).
pub type FpRegs = libc::user_fpregs_struct;

/// Why [`Vcpu::run`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The application executed `syscall`: the number is in `orig_rax`,
    /// `rax` reads -ENOSYS and `rip` is past the instruction, as at a
    /// Linux syscall-entry stop.
    Syscall,
    /// A fault the application gets a signal for.
    Fault(Signal),
    /// [`Kick::interrupt`] was called.
    Interrupted,
}

const MSR_STAR: u32 = 0xc000_0081;
const MSR_LSTAR: u32 = 0xc000_0082;
const MSR_CSTAR: u32 = 0xc000_0083;
const MSR_SFMASK: u32 = 0xc000_0084;
const MSR_FS_BASE: u32 = 0xc000_0100;
const MSR_GS_BASE: u32 = 0xc000_0101;
const MSR_KERNEL_GS_BASE: u32 = 0xc000_0102;

const CR0_PE: u64 = 1;
const CR0_MP: u64 = 1 << 1;
const CR0_ET: u64 = 1 << 4;
const CR0_NE: u64 = 1 << 5;
const CR0_WP: u64 = 1 << 16;
const CR0_AM: u64 = 1 << 18;
const CR0_PG: u64 = 1 << 31;
const CR4_PAE: u64 = 1 << 5;
const CR4_OSFXSR: u64 = 1 << 9;
const CR4_OSXMMEXCPT: u64 = 1 << 10;
const CR4_OSXSAVE: u64 = 1 << 18;
const EFER_SCE: u64 = 1;
const EFER_LME: u64 = 1 << 8;
const EFER_LMA: u64 = 1 << 10;
const EFER_NXE: u64 = 1 << 11;

/// RFLAGS bits the application may set (CF PF AF ZF SF TF DF OF AC ID).
const USER_FLAGS: u64 = 0x0024_0dd5;
/// Bit 1 (always one) and IF.
const FIXED_FLAGS: u64 = 0x202;
/// SFMASK: `syscall` clears TF, IF, DF, IOPL, NT and AC, as on Linux.
const SYSCALL_MASK: u64 = 0x4_7700;

/// The reusable part of a vCPU: KVM cannot destroy a vCPU before its VM,
/// so a vCPU whose thread ended waits in the VM's idle list for the next.
pub(crate) struct Core {
    fd: VcpuFd,
    /// Index of its GDT/TSS/stack pages.
    slot: usize,
}

impl Core {
    /// A new KVM vCPU with its descriptor tables; its TSC is the host's
    /// when the VM pins TSCs (see [`Core::pin_tsc`]).
    pub(crate) fn new(vm: &Arc<VmShared>) -> Result<Core> {
        let slot = vm.next_slot.fetch_add(1, Ordering::SeqCst) as usize;
        if slot >= MAX_VCPUS {
            return Err(Error::TooManyVcpus(MAX_VCPUS));
        }
        let fd = vm
            .fd
            .create_vcpu(slot as u64)
            .map_err(Error::kvm("CREATE_VCPU"))?;
        fd.set_cpuid2(&vm.cpuid).map_err(Error::kvm("SET_CPUID2"))?;
        let core = Core { fd, slot };
        write_cpu_tables(vm, slot)?;
        if vm.tsc_pinned.load(Ordering::SeqCst) {
            core.pin_tsc()?;
        }
        Ok(core)
    }

    /// Makes the guest's TSC the host's (offset 0), so the Sentry's vDSO
    /// data page, written in host TSC terms, holds in the guest too.
    pub(crate) fn pin_tsc(&self) -> Result<()> {
        let zero: u64 = 0;
        let attr = kvm_bindings::kvm_device_attr {
            flags: 0,
            group: kvm_bindings::KVM_VCPU_TSC_CTRL,
            attr: kvm_bindings::KVM_VCPU_TSC_OFFSET as u64,
            addr: &zero as *const u64 as u64,
        };
        // kvm-ioctls offers KVM_SET_DEVICE_ATTR on vCPUs for aarch64 only;
        // the request number is the jail's (crate::ioctls).
        // SAFETY: the ioctl reads one kvm_device_attr, which lives across
        // the call, and through it the u64 `zero`, which does too.
        let r = unsafe {
            libc::ioctl(
                std::os::fd::AsRawFd::as_raw_fd(&self.fd),
                crate::ioctls::KVM_SET_DEVICE_ATTR() as libc::c_ulong,
                &attr,
            )
        };
        if r != 0 {
            return Err(Error::Kvm {
                op: "SET_DEVICE_ATTR(KVM_VCPU_TSC_OFFSET)",
                err: kvm_ioctls::Error::last(),
            });
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Parked {
    /// In the guest kernel at `rip`; `io` while KVM still has to complete
    /// the `out` (rip must not move until it has).
    Kernel { rip: u64, io: bool },
    /// In user mode, interrupted.
    User,
}

pub struct Vcpu {
    core: Option<Core>,
    vm: Arc<VmShared>,
    space: Arc<AddressSpace>,
    parked: Parked,
    /// The address-space generation of the last TLB flush.
    flushed: u64,
    fs_base: u64,
    gs_base: u64,
    kick: Arc<Kick>,
    /// The thread whose signal mask was last opened for the kick signal.
    unblocked_on: i32,
}

fn seg(selector: u16, code: bool, dpl: u8) -> kvm_segment {
    kvm_segment {
        base: 0,
        limit: 0xffff_ffff,
        selector,
        type_: if code { 0xb } else { 0x3 },
        present: 1,
        dpl,
        db: if code { 0 } else { 1 },
        s: 1,
        l: if code { 1 } else { 0 },
        g: 1,
        avl: 0,
        unusable: 0,
        padding: 0,
    }
}

fn null_seg() -> kvm_segment {
    kvm_segment {
        selector: 0,
        unusable: 1,
        present: 0,
        ..seg(0, false, 0)
    }
}

fn canonical_user(addr: u64) -> bool {
    addr < 0x0000_8000_0000_0000
}

impl Vcpu {
    pub(crate) fn new(vm: Arc<VmShared>, space: Arc<AddressSpace>) -> Result<Vcpu> {
        kick::install_handler().map_err(|e| Error::Other(format!("kick signal handler: {e}")))?;
        let idle = vm.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut core = match idle {
            Some(c) => c,
            None => Core::new(&vm)?,
        };
        let immediate_exit = &mut core.fd.get_kvm_run().immediate_exit as *mut u8;
        let rip = kernel_va(CODE_GPA) + vm.image.syscall + OUT_LEN;
        let mut v = Vcpu {
            core: None,
            vm,
            space,
            parked: Parked::Kernel { rip, io: false },
            flushed: 0,
            fs_base: 0,
            gs_base: 0,
            kick: Arc::new(Kick::new(immediate_exit)),
            unblocked_on: 0,
        };
        v.reset(&core)?;
        v.flushed = v.space.generation();
        v.kick.set_flushed(v.flushed);
        v.space.add_vcpu(v.kick.clone());
        v.core = Some(core);
        Ok(v)
    }

    fn core(&self) -> &Core {
        self.core.as_ref().expect("a live vCPU has its core")
    }

    /// Puts the vCPU in the guest kernel, at an iretq, on this address
    /// space, with a fresh FPU.
    fn reset(&self, core: &Core) -> Result<()> {
        let fd = &core.fd;
        let slot = core.slot;
        let mut s = fd.get_sregs().map_err(Error::kvm("GET_SREGS"))?;
        let xsave = self.vm.xcr0 > 0x3 || has_xsave(&self.vm);
        s.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_AM | CR0_PG;
        s.cr4 = CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT | if xsave { CR4_OSXSAVE } else { 0 };
        s.cr3 = self.space.root();
        s.efer = EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE;
        s.cs = seg(KERNEL_CS, true, 0);
        s.ss = seg(KERNEL_SS, false, 0);
        s.ds = null_seg();
        s.es = null_seg();
        s.fs = null_seg();
        s.gs = null_seg();
        let tss = kernel_va(cpu_gpa(slot) + TSS_OFFSET);
        s.tr = kvm_segment {
            base: tss,
            limit: (tables::TSS_SIZE - 1) as u32,
            selector: TSS_SEL,
            type_: 0xb, // busy 64-bit TSS
            present: 1,
            s: 0,
            l: 0,
            g: 0,
            db: 0,
            dpl: 0,
            avl: 0,
            unusable: 0,
            padding: 0,
        };
        s.ldt = kvm_segment {
            type_: 2,
            ..null_seg()
        };
        s.gdt.base = kernel_va(cpu_gpa(slot));
        s.gdt.limit = (tables::GDT_ENTRIES * 8 - 1) as u16;
        s.idt.base = kernel_va(IDT_GPA);
        s.idt.limit = (tables::IDT_SIZE - 1) as u16;
        fd.set_sregs(&s).map_err(Error::kvm("SET_SREGS"))?;
        if xsave {
            let mut x = kvm_xcrs {
                nr_xcrs: 1,
                ..Default::default()
            };
            x.xcrs[0].xcr = 0;
            x.xcrs[0].value = self.vm.xcr0;
            fd.set_xcrs(&x).map_err(Error::kvm("SET_XCRS"))?;
        }
        let star = ((tables::USER32_CS as u64) << 48) | ((KERNEL_CS as u64) << 32);
        let code = kernel_va(CODE_GPA);
        let msrs = [
            (MSR_STAR, star),
            (MSR_LSTAR, code + self.vm.image.syscall),
            (MSR_CSTAR, code + self.vm.image.compat_syscall),
            (MSR_SFMASK, SYSCALL_MASK),
            (MSR_FS_BASE, 0),
            (MSR_GS_BASE, 0),
            (MSR_KERNEL_GS_BASE, 0),
        ];
        set_msrs(fd, &msrs)?;
        // A fresh FPU, as after Linux's execve: every XSAVE component in its
        // initial state except the legacy area, which holds the default
        // control words.
        let mut x = kvm_xsave::default();
        x.region[0] = 0x37f; // FCW
        x.region[6] = 0x1f80; // MXCSR
        x.region[128] = 0x3; // XSTATE_BV: x87 and SSE from the legacy area
                             // SAFETY: a well-formed XSAVE image (legacy area, header, nothing
                             // else) for this vCPU.
        unsafe { fd.set_xsave(&x) }.map_err(Error::kvm("SET_XSAVE"))?;
        let regs = kvm_regs {
            rip: code + self.vm.image.syscall + OUT_LEN,
            rsp: frame_va(slot),
            rflags: 0x2,
            ..Default::default()
        };
        fd.set_regs(&regs).map_err(Error::kvm("SET_REGS"))?;
        Ok(())
    }

    /// Something other threads use to interrupt [`Vcpu::run`].
    pub fn kick(&self) -> Arc<Kick> {
        self.kick.clone()
    }

    /// The address space this vCPU runs in.
    pub fn space(&self) -> &Arc<AddressSpace> {
        &self.space
    }

    /// Runs the application with `regs` until the next exit; `regs` holds
    /// the registers at the exit when this returns.
    pub fn run(&mut self, regs: &mut Regs) -> Result<Exit> {
        if self.kick.take() {
            self.vm.stats.interrupts.fetch_add(1, Ordering::Relaxed);
            return Ok(Exit::Interrupted);
        }
        // SAFETY: gettid has no arguments.
        let tid = unsafe { libc::gettid() };
        if tid != self.unblocked_on {
            kick::unblock_on_this_thread();
            self.unblocked_on = tid;
        }
        loop {
            if !canonical_user(regs.rip) {
                // Linux's iret would fault: the thread gets SIGSEGV.
                return Ok(Exit::Fault(Signal {
                    signo: libc::SIGSEGV,
                    code: fault::SI_KERNEL,
                    addr: 0,
                }));
            }
            self.sync_bases(regs)?;
            if self.space.generation() != self.flushed || self.vm.pool.has_pending() {
                self.flush()?;
            }
            self.load(regs)?;
            self.kick.enter();
            let exit = self.enter(regs);
            self.kick.leave();
            match exit? {
                Some(e) => return Ok(e),
                // A spurious page fault (a stale translation): flush, retry.
                None => self.flush()?,
            }
        }
    }

    /// Writes FS and GS bases that changed (arch_prctl, clone's TLS).
    fn sync_bases(&mut self, regs: &Regs) -> Result<()> {
        if regs.fs_base == self.fs_base && regs.gs_base == self.gs_base {
            return Ok(());
        }
        if !canonical_user(regs.fs_base) || !canonical_user(regs.gs_base) {
            return Err(Error::Other("non-canonical FS or GS base".into()));
        }
        set_msrs(
            &self.core().fd,
            &[(MSR_FS_BASE, regs.fs_base), (MSR_GS_BASE, regs.gs_base)],
        )?;
        self.fs_base = regs.fs_base;
        self.gs_base = regs.gs_base;
        Ok(())
    }

    /// Loads `regs` into the vCPU so that KVM_RUN continues in user mode
    /// with them.
    fn load(&mut self, regs: &Regs) -> Result<()> {
        let slot = self.core().slot;
        let mut k = to_kvm(regs);
        let rflags = (regs.eflags & USER_FLAGS) | FIXED_FLAGS;
        let rip = match self.parked {
            Parked::User => {
                k.rflags = rflags;
                return self.core().fd.set_regs(&k).map_err(Error::kvm("SET_REGS"));
            }
            Parked::Kernel { rip, .. } => rip,
        };
        let frame = frame_va(slot);
        let words = [regs.rip, USER_CS as u64, rflags, regs.rsp, USER_SS as u64];
        let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        self.vm.mem.write_private(frame - KERNEL_VA, &bytes)?;
        k.rflags = 0x2;
        k.rip = rip;
        k.rsp = frame;
        self.core().fd.set_regs(&k).map_err(Error::kvm("SET_REGS"))
    }

    /// Makes this vCPU's TLB, and KVM's shadow copies of every page table
    /// changed since the last flush (any address space of the VM), agree
    /// with the page tables, by running the guest's flush gadget. Returns
    /// with the vCPU parked at an `iretq`.
    pub fn flush(&mut self) -> Result<()> {
        let generation = self.space.generation();
        let pending = self.vm.pool.take_pending();
        let result = self.flush_pages(&pending.dirty);
        match result {
            Ok(()) => {
                self.vm.pool.flushed(pending);
                self.flushed = generation;
                self.kick.set_flushed(generation);
                Ok(())
            }
            Err(e) => {
                self.vm.pool.unflushed(pending);
                Err(e)
            }
        }
    }

    /// Makes every other vCPU of this address space forget translations
    /// older than this one's last flush before returning (a TLB
    /// shootdown): call it after [`Vcpu::flush`] when a change removed or
    /// narrowed translations, before the system call that made it returns.
    /// On PVM the flush gadget's writes already make KVM flush every vCPU;
    /// on hardware KVM each vCPU caches translations itself.
    pub fn shootdown(&self) {
        self.space.shootdown(&self.kick, self.flushed);
    }

    fn flush_pages(&mut self, dirty: &[u64]) -> Result<()> {
        let slot = self.core().slot;
        let list = cpu_gpa(slot) + FLUSH_LIST_OFFSET;
        let mut chunks: Vec<&[u64]> = dirty.chunks(FLUSH_LIST_LEN).collect();
        if chunks.is_empty() {
            chunks.push(&[]);
        }
        for chunk in chunks {
            let bytes: Vec<u8> = chunk
                .iter()
                .flat_map(|g| kernel_va(*g).to_le_bytes())
                .collect();
            self.vm.mem.write_private(list, &bytes)?;
            self.run_gadget(kernel_va(list), chunk.len() as u64)?;
        }
        Ok(())
    }

    /// Runs the flush gadget over the `n` addresses at `list` until it
    /// exits on FLUSH_PORT. Interruptions wait until it is done.
    fn run_gadget(&mut self, list: u64, n: u64) -> Result<()> {
        match self.parked {
            Parked::Kernel { io: true, .. } => self.complete_io()?,
            Parked::User => {
                // Back into the guest kernel: the gadget runs at CPL 0.
                let fd = &self.core().fd;
                let mut s = fd.get_sregs().map_err(Error::kvm("GET_SREGS"))?;
                s.cs = seg(KERNEL_CS, true, 0);
                s.ss = seg(KERNEL_SS, false, 0);
                fd.set_sregs(&s).map_err(Error::kvm("SET_SREGS"))?;
            }
            Parked::Kernel { io: false, .. } => {}
        }
        let slot = self.core().slot;
        let k = kvm_regs {
            rip: kernel_va(CODE_GPA) + self.vm.image.flush,
            rsp: frame_va(slot),
            rsi: list,
            rcx: n,
            rflags: 0x2,
            ..Default::default()
        };
        let core = self.core.as_mut().expect("a live vCPU has its core");
        core.fd.set_regs(&k).map_err(Error::kvm("SET_REGS"))?;
        let outcome = loop {
            // An interruption waits until the gadget is done: it is short.
            self.kick.force(0);
            match core.fd.run() {
                Ok(VcpuExit::IoOut(FLUSH_PORT, _)) => break Ok(()),
                Ok(VcpuExit::IoOut(port, _)) => {
                    break Err(Error::GuestCrashed(format!(
                        "the flush gadget exited on port {port:#x}"
                    )))
                }
                Ok(other) => {
                    break Err(Error::GuestCrashed(format!(
                        "flush gadget: unexpected exit {other:?}"
                    )))
                }
                Err(e) if e.errno() == libc::EINTR => continue,
                Err(e) => break Err(Error::Kvm { op: "RUN", err: e }),
            }
        };
        self.kick.arm();
        outcome?;
        let rip = core.fd.get_regs().map_err(Error::kvm("GET_REGS"))?.rip;
        self.parked = Parked::Kernel { rip, io: true };
        Ok(())
    }

    /// Runs KVM_RUN with immediate_exit set, which completes a pending port
    /// write and returns at once; rip may move afterwards.
    fn complete_io(&mut self) -> Result<()> {
        let core = self.core.as_mut().expect("a live vCPU has its core");
        self.kick.force(1);
        let r = core.fd.run().map(|_| ());
        self.kick.arm();
        match r {
            Err(e) if e.errno() == libc::EINTR => {}
            Err(e) => return Err(Error::Kvm { op: "RUN", err: e }),
            Ok(()) => {
                return Err(Error::GuestCrashed(
                    "ran while completing a port write".into(),
                ))
            }
        }
        let rip = core.fd.get_regs().map_err(Error::kvm("GET_REGS"))?.rip;
        self.parked = Parked::Kernel { rip, io: false };
        Ok(())
    }

    /// One KVM_RUN (repeated across signals that are not ours). Returns
    /// None for a fault that only needs a TLB flush and a retry.
    fn enter(&mut self, regs: &mut Regs) -> Result<Option<Exit>> {
        loop {
            // After Kick::enter: an interrupter that comes later sets
            // immediate_exit again or signals this thread.
            self.kick.arm();
            // After arm: a shootdown that bumped the generation before it
            // is seen here; one after it pokes immediate_exit to 1.
            if self.space.generation() != self.flushed {
                return Ok(None);
            }
            let r = self
                .core
                .as_mut()
                .expect("a live vCPU has its core")
                .fd
                .run();
            self.vm.stats.exits.fetch_add(1, Ordering::Relaxed);
            let port = match r {
                Ok(VcpuExit::IoOut(port, _)) => port,
                Ok(VcpuExit::Shutdown) => {
                    return Err(Error::GuestCrashed("triple fault (shutdown)".into()))
                }
                Ok(other) => return Err(Error::GuestCrashed(format!("unexpected exit {other:?}"))),
                Err(e) if e.errno() == libc::EINTR => {
                    if !self.kick.is_pending() && self.space.generation() == self.flushed {
                        // Some other signal hit this thread: keep running.
                        continue;
                    }
                    // An interruption, or a TLB shootdown (then the vCPU
                    // flushes and goes on without telling the caller).
                    return self.interrupted(regs);
                }
                Err(e) => return Err(Error::Kvm { op: "RUN", err: e }),
            };
            let k = self.core().fd.get_regs().map_err(Error::kvm("GET_REGS"))?;
            self.parked = Parked::Kernel {
                rip: k.rip,
                io: true,
            };
            return self.decode(port, &k, regs);
        }
    }

    /// Works out where a kicked vCPU stopped and what the application's
    /// registers are there.
    fn interrupted(&mut self, regs: &mut Regs) -> Result<Option<Exit>> {
        let k = self.core().fd.get_regs().map_err(Error::kvm("GET_REGS"))?;
        let cpl = self
            .core()
            .fd
            .get_sregs()
            .map_err(Error::kvm("GET_SREGS"))?
            .cs
            .selector
            & 3;
        // The privilege level, not rip, says whose state this is: on PVM a
        // `syscall` leaves the vCPU at CPL 3 with rip = LSTAR until the
        // fetch of the entry faults, and a signal can stop it in between.
        // Taking that for a vCPU in the guest kernel would resume it at the
        // entry's `iretq` still at CPL 3, which faults as if the
        // application had jumped into the kernel (a spurious SIGSEGV).
        if cpl == 3 || k.rip < KERNEL_VA {
            self.parked = Parked::User;
            if k.rip >= KERNEL_VA || self.exception_in_flight()? {
                // Stopped between an exception and its delivery (KVM
                // queued it and saw the signal before injecting it), or
                // at a kernel address it will fault on at once. Reporting
                // an interruption now would let the Sentry change rip (a
                // signal handler) under the queued exception, which KVM
                // then injects with the wrong frame: finish the entry
                // instead. The interruption stays pending.
                return self.finish_entry(regs);
            }
            self.user_regs(&k, regs);
            return Ok(self.interruption());
        }
        let off = k.rip - kernel_va(CODE_GPA);
        let image = self.vm.image;
        if let Some(port) = image.entry_at(off) {
            // Entered the guest kernel but not yet through its `out`: the
            // exit happened as far as the application is concerned. The
            // interruption stays pending for the next run.
            self.parked = Parked::Kernel {
                rip: k.rip + OUT_LEN,
                io: false,
            };
            return self.decode(port, &k, regs);
        }
        if image.is_iretq(off) {
            self.user_regs(&k, regs);
            self.frame_regs(k.rsp, regs)?;
            self.parked = Parked::Kernel {
                rip: k.rip,
                io: false,
            };
            return Ok(self.interruption());
        }
        Err(Error::GuestCrashed(format!(
            "interrupted at unknown kernel rip {:#x}",
            k.rip
        )))
    }

    /// What a vCPU stopped in user mode (or at its `iretq`) reports: the
    /// interruption asked for, or None (flush and resume) when it only
    /// left KVM_RUN for a TLB shootdown.
    fn interruption(&mut self) -> Option<Exit> {
        if !self.kick.take() {
            return None;
        }
        self.vm.stats.interrupts.fetch_add(1, Ordering::Relaxed);
        Some(Exit::Interrupted)
    }

    /// Whether KVM holds an exception it has yet to deliver to the guest.
    fn exception_in_flight(&self) -> Result<bool> {
        let ev = self
            .core()
            .fd
            .get_vcpu_events()
            .map_err(Error::kvm("GET_VCPU_EVENTS"))?;
        Ok(ev.exception.injected != 0 || ev.exception.pending != 0)
    }

    /// Runs a vCPU that is about to enter the guest kernel (an exception
    /// on its way) until the entry exits, with interruptions held off: a
    /// few instructions, none of them the application's.
    fn finish_entry(&mut self, regs: &mut Regs) -> Result<Option<Exit>> {
        let core = self.core.as_mut().expect("a live vCPU has its core");
        let r = loop {
            self.kick.force(0);
            match core.fd.run() {
                Err(e) if e.errno() == libc::EINTR => continue,
                other => break other,
            }
        };
        self.kick.arm();
        self.vm.stats.exits.fetch_add(1, Ordering::Relaxed);
        let port = match r {
            Ok(VcpuExit::IoOut(port, _)) => port,
            Ok(other) => {
                return Err(Error::GuestCrashed(format!(
                    "unexpected exit {other:?} while finishing an entry"
                )))
            }
            Err(e) => return Err(Error::Kvm { op: "RUN", err: e }),
        };
        let k = self.core().fd.get_regs().map_err(Error::kvm("GET_REGS"))?;
        self.parked = Parked::Kernel {
            rip: k.rip,
            io: true,
        };
        self.decode(port, &k, regs)
    }

    /// Decodes the exit of entry `port`, with the vCPU's registers `k`.
    fn decode(&mut self, port: u16, k: &kvm_regs, regs: &mut Regs) -> Result<Option<Exit>> {
        self.user_regs(k, regs);
        if port == SYSCALL_PORT {
            return Ok(Some(self.syscall(k, regs)));
        }
        if port == COMPAT_SYSCALL_PORT {
            regs.rip = k.rcx;
            regs.eflags = k.r11;
            self.vm.stats.faults.fetch_add(1, Ordering::Relaxed);
            return Ok(Some(Exit::Fault(Signal {
                signo: libc::SIGSEGV,
                code: fault::SI_KERNEL,
                addr: 0,
            })));
        }
        let vector = match port.checked_sub(EXCEPTION_PORT_BASE) {
            Some(v) if v < 32 => v as u8,
            _ => {
                return Err(Error::GuestCrashed(format!(
                    "exit on unknown port {port:#x}"
                )))
            }
        };
        let (frame, error) = if tables::has_error_code(vector) {
            (k.rsp + 8, self.read_stack(k.rsp)?)
        } else {
            (k.rsp, 0)
        };
        let cs = self.read_stack(frame + 8)?;
        if cs & 3 != 3 {
            let rip = self.read_stack(frame)?;
            return Err(Error::GuestCrashed(format!(
                "exception {vector} in the guest kernel at {rip:#x} (error {error:#x})"
            )));
        }
        self.frame_regs(frame, regs)?;
        let lstar = kernel_va(CODE_GPA) + self.vm.image.syscall;
        if vector == 14 && regs.rip == lstar && error & fault::PF_INSTR != 0 {
            // The `syscall` instruction did its architectural work (rcx,
            // r11, rip = LSTAR, SFMASK) but left the vCPU at CPL 3, so
            // fetching the entry faulted. PVM does this; hardware KVM enters
            // at CPL 0 and exits through SYSCALL_PORT. Both are the same
            // system call. (An application that jumps to LSTAR itself only
            // makes a system call the ordinary way.)
            return Ok(Some(self.syscall(k, regs)));
        }
        self.vm.stats.faults.fetch_add(1, Ordering::Relaxed);
        if vector == 14 {
            self.vm.stats.page_faults.fetch_add(1, Ordering::Relaxed);
            let cr2 = self
                .core()
                .fd
                .get_sregs()
                .map_err(Error::kvm("GET_SREGS"))?
                .cr2;
            let pte = if cr2 < USER_MAX {
                self.space.lookup(cr2)
            } else {
                0
            };
            if permits(pte, error) {
                return Ok(None);
            }
            let mapped = pte & crate::pagetable::SW_MAPPED != 0;
            return Ok(Some(Exit::Fault(fault::page_fault(cr2, mapped))));
        }
        if vector == 6 && self.user_byte(regs.rip) == Some(0xcd) {
            // `int N` for a vector user mode may not raise: PVM reports
            // #UD where the architecture (and so hardware KVM and Linux)
            // raises #GP; either way Linux sends SIGSEGV. (`int3`, a
            // different opcode, is a #BP; `int 0x80`, Linux's 32-bit system
            // call, is not supported: it gets the same SIGSEGV.)
            return Ok(Some(Exit::Fault(Signal {
                signo: libc::SIGSEGV,
                code: fault::SI_KERNEL,
                addr: 0,
            })));
        }
        let status = || match self.fp_regs() {
            Ok(f) => (f.mxcsr, f.swd),
            Err(_) => (0, 0),
        };
        match fault::exception(vector, regs.rip, status) {
            Some(sig) => Ok(Some(Exit::Fault(sig))),
            None => Err(Error::GuestCrashed(format!(
                "exception {vector} from user mode at {:#x}",
                regs.rip
            ))),
        }
    }

    /// The byte of application memory at `va`, if a readable user mapping
    /// covers it.
    fn user_byte(&self, va: u64) -> Option<u8> {
        use vm_memory::{Bytes, GuestAddress};
        if va >= USER_MAX {
            return None;
        }
        let pte = self.space.lookup(va);
        if pte & PTE_P == 0 || pte & PTE_US == 0 {
            return None;
        }
        let gpa = (pte & crate::pagetable::ADDR_MASK) + (va & (PAGE - 1));
        self.vm
            .mem
            .guest_memory()
            .read_obj::<u8>(GuestAddress(gpa))
            .ok()
    }

    /// A system call: `syscall` put the return address in rcx and rflags
    /// in r11; rsp is still the user's.
    fn syscall(&self, k: &kvm_regs, regs: &mut Regs) -> Exit {
        regs.rip = k.rcx;
        regs.eflags = k.r11;
        regs.orig_rax = k.rax;
        regs.rax = (-libc::ENOSYS) as u64;
        self.vm.stats.syscalls.fetch_add(1, Ordering::Relaxed);
        Exit::Syscall
    }

    /// The GPRs of `k` and the vCPU's segment state as application registers.
    fn user_regs(&self, k: &kvm_regs, regs: &mut Regs) {
        *regs = Regs {
            r15: k.r15,
            r14: k.r14,
            r13: k.r13,
            r12: k.r12,
            rbp: k.rbp,
            rbx: k.rbx,
            r11: k.r11,
            r10: k.r10,
            r9: k.r9,
            r8: k.r8,
            rax: k.rax,
            rcx: k.rcx,
            rdx: k.rdx,
            rsi: k.rsi,
            rdi: k.rdi,
            orig_rax: u64::MAX,
            rip: k.rip,
            cs: USER_CS as u64,
            eflags: k.rflags,
            rsp: k.rsp,
            ss: USER_SS as u64,
            fs_base: self.fs_base,
            gs_base: self.gs_base,
            ds: 0,
            es: 0,
            fs: 0,
            gs: 0,
        };
    }

    /// rip, rflags and rsp from the iretq frame at `frame`.
    fn frame_regs(&self, frame: u64, regs: &mut Regs) -> Result<()> {
        regs.rip = self.read_stack(frame)?;
        regs.eflags = self.read_stack(frame + 16)?;
        regs.rsp = self.read_stack(frame + 24)?;
        Ok(())
    }

    /// Reads a word of this vCPU's ring-0 stack.
    fn read_stack(&self, va: u64) -> Result<u64> {
        let slot = self.core().slot;
        let lo = stack_top(slot) - PAGE;
        if va < lo || va + 8 > stack_top(slot) {
            return Err(Error::GuestCrashed(format!(
                "ring-0 stack pointer {va:#x} out of its page"
            )));
        }
        self.vm.mem.read_private_u64(va - KERNEL_VA)
    }

    /// The floating-point state (FXSAVE layout: the first 512 bytes of the
    /// XSAVE area).
    pub fn fp_regs(&self) -> Result<FpRegs> {
        let x = self
            .core()
            .fd
            .get_xsave()
            .map_err(Error::kvm("GET_XSAVE"))?;
        // SAFETY: user_fpregs_struct is plain data of exactly the FXSAVE
        // layout (512 bytes), which is the start of the XSAVE region; any
        // bit pattern is a valid value.
        Ok(unsafe { std::ptr::read_unaligned(x.region.as_ptr() as *const FpRegs) })
    }

    /// Replaces the x87 and SSE state (the rest of the XSAVE state stays).
    pub fn set_fp_regs(&self, fp: &FpRegs) -> Result<()> {
        let fd = &self.core().fd;
        let mut x = fd.get_xsave().map_err(Error::kvm("GET_XSAVE"))?;
        let mut fp = *fp;
        // Reserved MXCSR bits would make the restore fault.
        fp.mxcsr &= 0xffff;
        fp.mxcr_mask = 0;
        // SAFETY: writing 512 bytes of plain data over the start of the
        // 4096-byte region.
        unsafe { std::ptr::write_unaligned(x.region.as_mut_ptr() as *mut FpRegs, fp) };
        // XSTATE_BV (byte 512): x87 and SSE come from the legacy area now.
        x.region[128] |= 0x3;
        // SAFETY: the region came from KVM_GET_XSAVE for this vCPU and only
        // its legacy area and XSTATE_BV changed.
        unsafe { fd.set_xsave(&x) }.map_err(Error::kvm("SET_XSAVE"))
    }
}

impl Drop for Vcpu {
    fn drop(&mut self) {
        self.space.remove_vcpu(&self.kick);
        self.kick.detach();
        if let Some(core) = self.core.take() {
            self.vm
                .idle
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(core);
        }
    }
}

/// Whether the page-table entry `pte` allows the access described by the
/// page-fault error code (then the fault came from a stale translation).
fn permits(pte: u64, error: u64) -> bool {
    pte & PTE_P != 0
        && pte & PTE_US != 0
        && (error & fault::PF_WRITE == 0 || pte & PTE_RW != 0)
        && (error & fault::PF_INSTR == 0 || pte & PTE_NX == 0)
}

fn to_kvm(r: &Regs) -> kvm_regs {
    kvm_regs {
        rax: r.rax,
        rbx: r.rbx,
        rcx: r.rcx,
        rdx: r.rdx,
        rsi: r.rsi,
        rdi: r.rdi,
        rsp: r.rsp,
        rbp: r.rbp,
        r8: r.r8,
        r9: r.r9,
        r10: r.r10,
        r11: r.r11,
        r12: r.r12,
        r13: r.r13,
        r14: r.r14,
        r15: r.r15,
        rip: r.rip,
        rflags: r.eflags,
    }
}

fn set_msrs(fd: &VcpuFd, entries: &[(u32, u64)]) -> Result<()> {
    let list: Vec<kvm_msr_entry> = entries
        .iter()
        .map(|&(index, data)| kvm_msr_entry {
            index,
            data,
            ..Default::default()
        })
        .collect();
    let msrs = Msrs::from_entries(&list).map_err(|e| Error::Other(format!("MSR list: {e:?}")))?;
    let n = fd.set_msrs(&msrs).map_err(Error::kvm("SET_MSRS"))?;
    if n != list.len() {
        return Err(Error::Other(format!(
            "KVM refused MSR {:#x}",
            list[n].index
        )));
    }
    Ok(())
}

fn has_xsave(vm: &VmShared) -> bool {
    vm.cpuid
        .as_slice()
        .iter()
        .any(|e| e.function == 1 && e.ecx & (1 << 26) != 0)
}

/// Writes vCPU `slot`'s GDT and TSS.
fn write_cpu_tables(vm: &VmShared, slot: usize) -> Result<()> {
    let page = cpu_gpa(slot);
    let gdt = tables::gdt(kernel_va(page + TSS_OFFSET));
    let bytes: Vec<u8> = gdt.iter().flat_map(|d| d.to_le_bytes()).collect();
    vm.mem.write_private(page, &bytes)?;
    vm.mem
        .write_private(page + TSS_OFFSET, &tables::tss(stack_top(slot)))?;
    Ok(())
}
