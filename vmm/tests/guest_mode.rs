//! The VMM end to end on real KVM: a tiny program runs in guest user mode
//! and every system call, fault and interruption comes back decoded.
//! Needs /dev/kvm (and root to open it); without it the tests say so and
//! pass vacuously.

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use vmm::fault::{SEGV_ACCERR, SEGV_MAPERR, SI_KERNEL};
use vmm::{AddressSpace, Exit, Regs, Vcpu, Vm};

// The test programs, position independent, copied to CODE in the guest.
std::arch::global_asm!(
    r#"
    .pushsection .text.vmm_test_prog, "ax"
    .balign 4096
    .globl vmm_test_prog
vmm_test_prog:
t_syscall:              // endless system calls; each result becomes the next number
    syscall
    jmp t_syscall
    .balign 16
t_load:                 // rax = [rdi], then a system call
    mov rax, [rdi]
    syscall
    jmp t_load
    .balign 16
t_store:                // [rdi] = rsi, then a system call
    mov [rdi], rsi
    syscall
    jmp t_store
    .balign 16
t_hlt:
    hlt
    .balign 16
t_cli:
    cli
    .balign 16
t_spin:
    jmp t_spin
    .balign 16
t_sse:                  // xmm0 = xmm0 + xmm0 (uses SSE and the FPU state)
    addpd xmm0, xmm0
    syscall
    jmp t_sse
    .balign 16
    .globl vmm_test_prog_end
vmm_test_prog_end:
    .popsection
"#
);

extern "C" {
    static vmm_test_prog: u8;
    static vmm_test_prog_end: u8;
}

const T_SYSCALL: u64 = 0;
const T_LOAD: u64 = 16;
const T_STORE: u64 = 32;
const T_HLT: u64 = 48;
const T_CLI: u64 = 64;
const T_SPIN: u64 = 80;
const T_SSE: u64 = 96;

const CODE: u64 = 0x40_0000;
const DATA: u64 = 0x60_0000;
const STACK: u64 = 0x7000_0000;
const PAGE: u64 = 4096;
/// Memory-file offsets.
const CODE_OFF: u64 = 0;
const DATA_OFF: u64 = 0x1000;
const DATA2_OFF: u64 = 0x2000;
const STACK_OFF: u64 = 0x10000;

struct Guest {
    vm: Vm,
    space: Arc<AddressSpace>,
    memfd: OwnedFd,
}

fn prog() -> &'static [u8] {
    // SAFETY: both symbols come from the global_asm! above, in one section.
    unsafe {
        let start = &raw const vmm_test_prog as usize;
        let end = &raw const vmm_test_prog_end as usize;
        std::slice::from_raw_parts(start as *const u8, end - start)
    }
}

fn pwrite(fd: &OwnedFd, off: u64, bytes: &[u8]) {
    // SAFETY: a write from a valid buffer to our own descriptor.
    let n = unsafe {
        libc::pwrite(
            fd.as_raw_fd(),
            bytes.as_ptr().cast(),
            bytes.len(),
            off as i64,
        )
    };
    assert_eq!(n, bytes.len() as isize);
}

fn pread_u64(fd: &OwnedFd, off: u64) -> u64 {
    let mut b = [0u8; 8];
    // SAFETY: a read into a valid buffer from our own descriptor.
    let n = unsafe { libc::pread(fd.as_raw_fd(), b.as_mut_ptr().cast(), 8, off as i64) };
    assert_eq!(n, 8);
    u64::from_le_bytes(b)
}

fn setup() -> Option<Guest> {
    let kvm = match vmm::open_kvm() {
        Ok(k) => k,
        Err(e) => {
            eprintln!("SKIPPED: no usable KVM here: {e}");
            return None;
        }
    };
    // SAFETY: memfd_create with a static name.
    let fd = unsafe { libc::memfd_create(c"vmm-test".as_ptr(), libc::MFD_CLOEXEC) };
    assert!(fd >= 0);
    // SAFETY: fd is new and ours.
    let memfd = unsafe { OwnedFd::from_raw_fd(fd) };
    let size = 64 << 20;
    // SAFETY: ftruncate on our own descriptor.
    assert_eq!(
        unsafe { libc::ftruncate(memfd.as_raw_fd(), size as i64) },
        0
    );
    pwrite(&memfd, CODE_OFF, prog());
    pwrite(&memfd, DATA_OFF, &0x1111u64.to_le_bytes());
    pwrite(&memfd, DATA2_OFF, &0x2222u64.to_le_bytes());
    let vm = Vm::new(&kvm, memfd.as_fd(), size).expect("create the VM");
    let space = vm.new_address_space().expect("address space");
    let rx = libc::PROT_READ | libc::PROT_EXEC;
    let rw = libc::PROT_READ | libc::PROT_WRITE;
    space.map(CODE, PAGE, rx, CODE_OFF).unwrap();
    space.map(DATA, PAGE, libc::PROT_READ, DATA_OFF).unwrap();
    space.map(STACK, 16 * PAGE, rw, STACK_OFF).unwrap();
    Some(Guest { vm, space, memfd })
}

fn regs_at(entry: u64) -> Regs {
    // SAFETY: user_regs_struct is plain data.
    let mut r: Regs = unsafe { std::mem::zeroed() };
    r.rip = CODE + entry;
    r.rsp = STACK + 16 * PAGE;
    r.eflags = 0x202;
    r
}

fn vcpu(g: &Guest) -> Vcpu {
    g.vm.new_vcpu(g.space.clone()).expect("vcpu")
}

#[test]
fn system_calls_arrive_with_number_arguments_and_results() {
    let Some(g) = setup() else { return };
    let mut v = vcpu(&g);
    let mut r = regs_at(T_SYSCALL);
    r.rax = 39;
    (r.rdi, r.rsi, r.rdx, r.r10, r.r8, r.r9) = (1, 2, 3, 4, 5, 6);
    r.rbx = 0xb0b;
    assert_eq!(v.run(&mut r).unwrap(), Exit::Syscall);
    assert_eq!(r.orig_rax, 39);
    assert_eq!((r.rdi, r.rsi, r.rdx, r.r10, r.r8, r.r9), (1, 2, 3, 4, 5, 6));
    assert_eq!(r.rbx, 0xb0b);
    assert_eq!(r.rax as i64, -(libc::ENOSYS as i64));
    // rip is past the syscall instruction; rcx and r11 hold rip and rflags.
    assert_eq!(r.rip, CODE + T_SYSCALL + 2);
    assert_eq!(r.rcx, r.rip);
    assert_eq!(r.r11 & 0x200, 0x200, "user rflags has IF");
    assert_eq!((r.cs, r.ss), (0x33, 0x2b));
    // The result comes back as the next call's number (the loop reissues it).
    r.rax = 1234;
    assert_eq!(v.run(&mut r).unwrap(), Exit::Syscall);
    assert_eq!(r.orig_rax, 1234);
    assert!(g.vm.stats().syscalls >= 2);
}

#[test]
fn page_faults_carry_address_and_access() {
    let Some(g) = setup() else { return };
    let mut v = vcpu(&g);
    // A load from a readable page works.
    let mut r = regs_at(T_LOAD);
    r.rdi = DATA + 8 - 8;
    assert_eq!(v.run(&mut r).unwrap(), Exit::Syscall);
    assert_eq!(r.orig_rax, 0x1111);
    // A load from nowhere: SEGV_MAPERR at the exact address.
    let mut r = regs_at(T_LOAD);
    r.rdi = 0x1234_5678;
    match v.run(&mut r).unwrap() {
        Exit::Fault(s) => assert_eq!(
            (s.signo, s.code, s.addr),
            (libc::SIGSEGV, SEGV_MAPERR, 0x1234_5678)
        ),
        e => panic!("expected a fault, got {e:?}"),
    }
    assert_eq!(r.rip, CODE + T_LOAD, "rip at the faulting instruction");
    // A store to a read-only page: SEGV_ACCERR.
    let mut r = regs_at(T_STORE);
    r.rdi = DATA + 16;
    r.rsi = 7;
    match v.run(&mut r).unwrap() {
        Exit::Fault(s) => assert_eq!(
            (s.signo, s.code, s.addr),
            (libc::SIGSEGV, SEGV_ACCERR, DATA + 16)
        ),
        e => panic!("expected a fault, got {e:?}"),
    }
    // The guest kernel's pages are not the application's.
    let mut r = regs_at(T_LOAD);
    r.rdi = vmm::layout::KERNEL_VA;
    match v.run(&mut r).unwrap() {
        Exit::Fault(s) => assert_eq!((s.signo, s.addr), (libc::SIGSEGV, vmm::layout::KERNEL_VA)),
        e => panic!("expected a fault, got {e:?}"),
    }
    // After mprotect(PROT_WRITE) the same store succeeds (and lands in the file).
    g.space
        .protect(DATA, PAGE, libc::PROT_READ | libc::PROT_WRITE)
        .unwrap();
    let mut r = regs_at(T_STORE);
    r.rdi = DATA + 16;
    r.rsi = 0x77;
    assert_eq!(v.run(&mut r).unwrap(), Exit::Syscall);
    assert_eq!(pread_u64(&g.memfd, DATA_OFF + 16), 0x77);
    // PROT_NONE: the mapping still exists, so SEGV_ACCERR.
    g.space.protect(DATA, PAGE, libc::PROT_NONE).unwrap();
    let mut r = regs_at(T_LOAD);
    r.rdi = DATA;
    match v.run(&mut r).unwrap() {
        Exit::Fault(s) => assert_eq!((s.code, s.addr), (SEGV_ACCERR, DATA)),
        e => panic!("expected a fault, got {e:?}"),
    }
}

#[test]
fn remapping_is_seen_after_the_vmm_changes_page_tables() {
    let Some(g) = setup() else { return };
    let mut v = vcpu(&g);
    let mut r = regs_at(T_LOAD);
    r.rdi = DATA;
    assert_eq!(v.run(&mut r).unwrap(), Exit::Syscall);
    assert_eq!(r.orig_rax, 0x1111);
    // Point DATA at another file page; the loop loads again.
    g.space.map(DATA, PAGE, libc::PROT_READ, DATA2_OFF).unwrap();
    r.rax = 0;
    assert_eq!(v.run(&mut r).unwrap(), Exit::Syscall);
    assert_eq!(r.orig_rax, 0x2222, "the guest used a stale translation");
    // Unmap it: the next load faults.
    g.space.unmap(DATA, PAGE).unwrap();
    match v.run(&mut r).unwrap() {
        Exit::Fault(s) => assert_eq!((s.code, s.addr), (SEGV_MAPERR, DATA)),
        e => panic!("expected a fault after unmap, got {e:?}"),
    }
}

#[test]
fn privileged_instructions_fault_like_linux() {
    let Some(g) = setup() else { return };
    let mut v = vcpu(&g);
    for entry in [T_HLT, T_CLI] {
        let mut r = regs_at(entry);
        match v.run(&mut r).unwrap() {
            Exit::Fault(s) => assert_eq!((s.signo, s.code, s.addr), (libc::SIGSEGV, SI_KERNEL, 0)),
            e => panic!("expected #GP, got {e:?}"),
        }
        assert_eq!(r.rip, CODE + entry);
    }
    assert!(g.vm.stats().faults >= 2);
}

#[test]
fn a_spinning_vcpu_is_interrupted_from_another_thread() {
    let Some(g) = setup() else { return };
    let mut v = vcpu(&g);
    let kick = v.kick();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        kick.interrupt();
    });
    let mut r = regs_at(T_SPIN);
    r.rbx = 42;
    let start = Instant::now();
    assert_eq!(v.run(&mut r).unwrap(), Exit::Interrupted);
    assert!(start.elapsed() >= Duration::from_millis(90));
    t.join().unwrap();
    assert_eq!(r.rip, CODE + T_SPIN);
    assert_eq!(r.rbx, 42);
    // It resumes where it was and can be interrupted again.
    let kick = v.kick();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        kick.interrupt();
    });
    assert_eq!(v.run(&mut r).unwrap(), Exit::Interrupted);
    t.join().unwrap();
    // And then makes system calls again.
    let mut r = regs_at(T_SYSCALL);
    r.rax = 60;
    assert_eq!(v.run(&mut r).unwrap(), Exit::Syscall);
    assert_eq!(r.orig_rax, 60);
}

#[test]
fn floating_point_state_round_trips() {
    let Some(g) = setup() else { return };
    let mut v = vcpu(&g);
    let mut fp = v.fp_regs().unwrap();
    assert_eq!(fp.mxcsr & 0xffff, 0x1f80);
    // xmm0 = (1.5, 2.5); the program doubles it.
    fp.xmm_space[0..4].copy_from_slice(&[0, 0x3ff8_0000, 0, 0x4004_0000]);
    v.set_fp_regs(&fp).unwrap();
    let mut r = regs_at(T_SSE);
    assert_eq!(v.run(&mut r).unwrap(), Exit::Syscall);
    let fp = v.fp_regs().unwrap();
    assert_eq!(&fp.xmm_space[0..4], &[0, 0x4008_0000, 0, 0x4014_0000]); // 3.0, 5.0
}

#[test]
fn threads_share_the_address_space_and_vcpus_are_reused() {
    let Some(g) = setup() else { return };
    let mut a = vcpu(&g);
    let mut b = vcpu(&g);
    g.space
        .protect(DATA, PAGE, libc::PROT_READ | libc::PROT_WRITE)
        .unwrap();
    let mut r = regs_at(T_STORE);
    r.rdi = DATA + 24;
    r.rsi = 0xabc;
    assert_eq!(a.run(&mut r).unwrap(), Exit::Syscall);
    let mut r = regs_at(T_LOAD);
    r.rdi = DATA + 24;
    assert_eq!(b.run(&mut r).unwrap(), Exit::Syscall);
    assert_eq!(r.orig_rax, 0xabc);
    drop(a);
    // The next vCPU reuses the dropped one, with fresh state.
    let mut c = vcpu(&g);
    let mut r = regs_at(T_SYSCALL);
    r.rax = 7;
    assert_eq!(c.run(&mut r).unwrap(), Exit::Syscall);
    assert_eq!(r.orig_rax, 7);
}

#[test]
fn measure_the_syscall_round_trip() {
    let Some(g) = setup() else { return };
    let mut v = vcpu(&g);
    let mut r = regs_at(T_SYSCALL);
    r.rax = 39;
    let n = 2000;
    let start = Instant::now();
    for _ in 0..n {
        v.run(&mut r).unwrap();
        r.rax = 39;
    }
    let per = start.elapsed() / n;
    println!("guest syscall -> VMM -> guest round trip: {per:?}");
}

/// A guest whose own kernel state is broken (here: its IDT wiped, so the
/// #GP of `hlt` cannot be delivered: a double fault, then a triple fault)
/// ends in an error the Sentry reports, not in a hang or a panic.
#[test]
fn a_triple_fault_is_an_error() {
    let Some(g) = setup() else { return };
    let mut v = vcpu(&g);
    g.vm.memory()
        .write_private(vmm::layout::IDT_GPA, &[0u8; 4096])
        .unwrap();
    let mut r = regs_at(T_HLT);
    match v.run(&mut r) {
        Err(vmm::Error::GuestCrashed(why)) => eprintln!("guest crashed: {why}"),
        other => panic!("a triple fault gave {other:?}"),
    }
}
