//! One virtual machine per sandbox: its memory, its guest kernel, its page
//! tables and its vCPUs.

use std::os::fd::BorrowedFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use kvm_bindings::{CpuId, KVM_MAX_CPUID_ENTRIES};
use kvm_ioctls::{Cap, Kvm, VmFd};

use crate::error::{Error, Result};
use crate::kick::Kick;
use crate::layout::*;
use crate::memory::Memory;
use crate::pagetable::{self, FramePool, PageTables, PTE_A, PTE_D, PTE_NX, PTE_P, PTE_RW};
use crate::vcpu::{Core, Vcpu};

/// Counters of what the guest did, for `sandbox events --stats` and tests.
#[derive(Debug, Default)]
pub struct Stats {
    pub syscalls: AtomicU64,
    /// Every exception exit (page faults included).
    pub faults: AtomicU64,
    /// The page faults among them.
    pub page_faults: AtomicU64,
    pub interrupts: AtomicU64,
    /// Every return from KVM_RUN.
    pub exits: AtomicU64,
}

/// A copy of [`Stats`] at one moment.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct StatsSnapshot {
    pub syscalls: u64,
    pub faults: u64,
    pub page_faults: u64,
    pub interrupts: u64,
    pub exits: u64,
}

pub(crate) struct VmShared {
    pub fd: VmFd,
    pub mem: Arc<Memory>,
    pub pool: Arc<FramePool>,
    pub kernel_pdpt: u64,
    pub cpuid: CpuId,
    /// The XSAVE features the guest may use (XCR0).
    pub xcr0: u64,
    pub image: guest::Image,
    pub stats: Stats,
    /// vCPUs whose thread is gone, kept for the next thread (KVM cannot
    /// destroy a vCPU before its VM).
    pub idle: Mutex<Vec<Core>>,
    pub next_slot: AtomicU64,
    /// Every vCPU's TSC offset is pinned to 0 (see [`Vm::pin_tsc`]).
    pub tsc_pinned: AtomicBool,
}

/// A sandbox's virtual machine.
#[derive(Clone)]
pub struct Vm {
    pub(crate) shared: Arc<VmShared>,
}

/// Opens /dev/kvm and checks it can run our guest; call before entering
/// the jail, which takes the device node away.
pub fn open_kvm() -> Result<Kvm> {
    let kvm =
        Kvm::new().map_err(|e| Error::OpenKvm(std::io::Error::from_raw_os_error(e.errno())))?;
    check(&kvm)?;
    Ok(kvm)
}

/// Whether KVM is usable here, and if not why (for `sandbox features`).
pub fn probe() -> Result<()> {
    open_kvm().map(|_| ())
}

fn check(kvm: &Kvm) -> Result<()> {
    let v = kvm.get_api_version();
    if v != 12 {
        return Err(Error::KvmVersion(v));
    }
    for (cap, name) in [
        (Cap::UserMemory, "user memory"),
        (Cap::ImmediateExit, "immediate exit"),
        (Cap::ExtCpuid, "CPUID"),
    ] {
        if !kvm.check_extension(cap) {
            return Err(Error::MissingCap(name));
        }
    }
    Ok(())
}

/// The guest kernel page bits of private guest-physical page `gpa`.
fn kernel_page_bits(gpa: u64) -> Option<u64> {
    if gpa >= KERNEL_AREA_SIZE {
        return None;
    }
    Some(match gpa {
        CODE_GPA => PTE_P | PTE_A, // read + execute
        IDT_GPA => PTE_P | PTE_A | PTE_NX,
        _ => PTE_P | PTE_RW | PTE_A | PTE_D | PTE_NX,
    })
}

impl Vm {
    /// Creates the VM. `memfile` is the Sentry's memory file; the first
    /// `memfile_size` bytes of it become guest-physical memory.
    pub fn new(kvm: &Kvm, memfile: BorrowedFd<'_>, memfile_size: u64) -> Result<Vm> {
        check(kvm)?;
        if memfile_size == 0 || !memfile_size.is_multiple_of(PAGE) {
            return Err(Error::Other(format!(
                "memory slot size {memfile_size:#x} is not a positive multiple of the page size"
            )));
        }
        let fd = kvm.create_vm().map_err(Error::kvm("CREATE_VM"))?;
        // Only needed by Intel VMX for real-mode emulation, which this guest
        // never uses; a hole far from our memory keeps KVM content.
        let _ = fd.set_tss_address(0xfffb_d000);
        let mem = Arc::new(Memory::new(&fd, memfile, memfile_size)?);
        let pool = Arc::new(FramePool::new(mem.clone()));
        let image = guest::Image::get();
        mem.write_private(CODE_GPA, image.bytes)?;
        let idt = guest::tables::idt(|v| kernel_va(CODE_GPA) + image.vector(v));
        mem.write_private(IDT_GPA, &idt)?;
        let kernel_pdpt = pagetable::kernel_subtree(&pool, kernel_page_bits)?;
        let mut cpuid = kvm
            .get_supported_cpuid(KVM_MAX_CPUID_ENTRIES)
            .map_err(Error::kvm("GET_SUPPORTED_CPUID"))?;
        let mut xcr0 = 0;
        for e in cpuid.as_mut_slice() {
            if e.function == 0xd && e.index == 0 {
                xcr0 = (e.eax as u64) | ((e.edx as u64) << 32);
            }
        }
        // x87 and SSE always; AVX and the rest as far as KVM allows.
        let xcr0 = xcr0 | 0x3;
        Ok(Vm {
            shared: Arc::new(VmShared {
                fd,
                mem,
                pool,
                kernel_pdpt,
                cpuid,
                xcr0,
                image,
                stats: Stats::default(),
                idle: Mutex::new(Vec::new()),
                next_slot: AtomicU64::new(0),
                tsc_pinned: AtomicBool::new(false),
            }),
        })
    }

    /// A new, empty application address space.
    pub fn new_address_space(&self) -> Result<Arc<AddressSpace>> {
        Ok(Arc::new(AddressSpace {
            tables: Mutex::new(PageTables::new(
                self.shared.pool.clone(),
                self.shared.kernel_pdpt,
            )?),
            generation: AtomicU64::new(0),
            memfile_size: self.shared.mem.memfile_size(),
            vcpus: Mutex::new(Vec::new()),
        }))
    }

    /// Makes every vCPU's TSC the host's TSC (KVM_VCPU_TSC_OFFSET = 0), so
    /// the guest's `rdtsc` reads what the Sentry's does; false when KVM
    /// cannot (then the guest's TSC cannot be related to the host's). The
    /// vCPU made to find out waits in the idle pool for the first thread.
    pub fn pin_tsc(&self) -> Result<bool> {
        let core = Core::new(&self.shared)?;
        let pinned = core.pin_tsc().is_ok();
        self.shared.tsc_pinned.store(pinned, Ordering::SeqCst);
        self.shared
            .idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(core);
        Ok(pinned)
    }

    /// A vCPU that runs in `space`, parked in the guest kernel.
    pub fn new_vcpu(&self, space: Arc<AddressSpace>) -> Result<Vcpu> {
        Vcpu::new(self.shared.clone(), space)
    }

    pub fn stats(&self) -> StatsSnapshot {
        let s = &self.shared.stats;
        StatsSnapshot {
            syscalls: s.syscalls.load(Ordering::Relaxed),
            faults: s.faults.load(Ordering::Relaxed),
            page_faults: s.page_faults.load(Ordering::Relaxed),
            interrupts: s.interrupts.load(Ordering::Relaxed),
            exits: s.exits.load(Ordering::Relaxed),
        }
    }

    /// The guest memory (for tests and tools).
    pub fn memory(&self) -> &Memory {
        &self.shared.mem
    }
}

/// One application address space: its page tables and the count of
/// changes that require a TLB flush on the vCPUs that run in it.
pub struct AddressSpace {
    tables: Mutex<PageTables>,
    /// Bumped by every change that removes or narrows a translation; a
    /// vCPU that last flushed at an older generation flushes before it runs
    /// user code again.
    generation: AtomicU64,
    memfile_size: u64,
    /// The vCPUs that run in this address space (one per thread), for TLB
    /// shootdowns.
    vcpus: Mutex<Vec<Arc<Kick>>>,
}

impl AddressSpace {
    fn check(&self, addr: u64, len: u64) -> Result<()> {
        let ok = addr.is_multiple_of(PAGE)
            && len.is_multiple_of(PAGE)
            && addr >= USER_MIN
            && addr.checked_add(len).is_some_and(|e| e <= USER_MAX);
        if ok {
            Ok(())
        } else {
            Err(Error::BadRange { addr, len })
        }
    }

    fn tables(&self) -> std::sync::MutexGuard<'_, PageTables> {
        self.tables.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Maps `len` bytes of the memory file at `offset` to `addr`.
    pub fn map(&self, addr: u64, len: u64, prot: i32, offset: u64) -> Result<()> {
        self.check(addr, len)?;
        if !offset.is_multiple_of(PAGE)
            || offset
                .checked_add(len)
                .is_none_or(|e| e > self.memfile_size)
        {
            return Err(Error::OutsideSlot {
                off: offset,
                len,
                slot: self.memfile_size,
            });
        }
        let t = self.tables();
        let filled = t.fill(addr, len, |i| {
            pagetable::user_pte(MEMFILE_GPA + offset + i * PAGE, prot)
        });
        // Replacing a mapping narrows whatever was there before. After the
        // change: a vCPU that has seen the new generation has seen it.
        self.generation.fetch_add(1, Ordering::SeqCst);
        filled
    }

    /// Removes every mapping in `[addr, addr+len)`.
    pub fn unmap(&self, addr: u64, len: u64) -> Result<()> {
        self.check(addr, len)?;
        let t = self.tables();
        t.update(addr, len, |_| 0)?;
        self.generation.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    /// Changes the protection of the mapped pages of `[addr, addr+len)`.
    pub fn protect(&self, addr: u64, len: u64, prot: i32) -> Result<()> {
        self.check(addr, len)?;
        let t = self.tables();
        t.update(addr, len, |old| {
            if old & pagetable::SW_MAPPED == 0 {
                old
            } else {
                pagetable::user_pte(old & pagetable::ADDR_MASK, prot)
            }
        })?;
        self.generation.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    /// Removes every user mapping.
    pub fn unmap_all(&self) {
        let t = self.tables();
        t.clear_user();
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Whether a user mapping (of any protection) covers `addr`.
    pub fn is_mapped(&self, addr: u64) -> bool {
        addr < USER_MAX && self.tables().lookup(addr) & pagetable::SW_MAPPED != 0
    }

    /// The leaf page-table entry of `addr` (0 when there is none).
    pub(crate) fn lookup(&self, addr: u64) -> u64 {
        self.tables().lookup(addr)
    }

    pub(crate) fn root(&self) -> u64 {
        self.tables().root()
    }

    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    pub(crate) fn add_vcpu(&self, k: Arc<Kick>) {
        self.vcpus.lock().unwrap_or_else(|p| p.into_inner()).push(k);
    }

    pub(crate) fn remove_vcpu(&self, k: &Arc<Kick>) {
        self.vcpus
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|o| !Arc::ptr_eq(o, k));
    }

    /// The TLB shootdown: returns once no other vCPU of this address space
    /// (`me` excepted) can still be running guest code with translations
    /// older than `generation`. Each one inside `Vcpu::run` that has not
    /// caught up is poked out of KVM_RUN, and this waits until it has left
    /// `run` or flushed; one that is not inside `run` checks the
    /// generation before it enters KVM_RUN again (after publishing that it
    /// is in `run`, so one of the two sides always sees the other).
    pub(crate) fn shootdown(&self, me: &Arc<Kick>, generation: u64) {
        let behind: Vec<Arc<Kick>> = self
            .vcpus
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|k| !Arc::ptr_eq(k, me) && k.in_run() && k.flushed() < generation)
            .cloned()
            .collect();
        for k in &behind {
            k.poke();
        }
        for k in &behind {
            let mut spins = 0u32;
            while k.in_run() && k.flushed() < generation {
                // A poked vCPU leaves KVM_RUN within microseconds unless
                // its thread waits for a CPU: spin a little, then sleep.
                spins += 1;
                if spins < 100 {
                    std::thread::yield_now();
                } else {
                    std::thread::sleep(std::time::Duration::from_micros(50));
                    if spins.is_multiple_of(2000) {
                        // Belt and braces (a poke cannot be missed: see
                        // Kick::arm): poke again, which is harmless.
                        k.poke();
                    }
                }
            }
        }
    }
}
