//! The KVM requests a running sandbox makes, by number, for the jail's
//! seccomp filter: once the VM exists (its memory slot set, before the
//! jail), the Sentry only creates and runs vCPUs and moves their state.
//! Every other KVM request (a new memory slot, another VM, device
//! emulation, debugging) is refused by the filter, so a compromised Sentry
//! cannot reshape the VM or reach KVM's wider interface.
//!
//! The numbers are computed here rather than taken from kvm-ioctls, which
//! keeps its own private; `vcpu.rs` and `vm.rs` must use no request that
//! is not listed (the conformance suite runs jailed on kvm and would die
//! of SIGSYS).

use kvm_bindings::{
    kvm_cpuid2, kvm_device_attr, kvm_msrs, kvm_regs, kvm_sregs, kvm_vcpu_events, kvm_xcrs,
    kvm_xsave,
};
use vmm_sys_util::{ioctl_io_nr, ioctl_ior_nr, ioctl_iow_nr};

const KVMIO: u32 = 0xae;

ioctl_io_nr!(KVM_CREATE_VCPU, KVMIO, 0x41);
ioctl_io_nr!(KVM_RUN, KVMIO, 0x80);
ioctl_ior_nr!(KVM_GET_REGS, KVMIO, 0x81, kvm_regs);
ioctl_iow_nr!(KVM_SET_REGS, KVMIO, 0x82, kvm_regs);
ioctl_ior_nr!(KVM_GET_SREGS, KVMIO, 0x83, kvm_sregs);
ioctl_iow_nr!(KVM_SET_SREGS, KVMIO, 0x84, kvm_sregs);
ioctl_iow_nr!(KVM_SET_MSRS, KVMIO, 0x89, kvm_msrs);
ioctl_iow_nr!(KVM_SET_CPUID2, KVMIO, 0x90, kvm_cpuid2);
ioctl_ior_nr!(KVM_GET_VCPU_EVENTS, KVMIO, 0x9f, kvm_vcpu_events);
ioctl_ior_nr!(KVM_GET_XSAVE, KVMIO, 0xa4, kvm_xsave);
ioctl_iow_nr!(KVM_SET_XSAVE, KVMIO, 0xa5, kvm_xsave);
ioctl_iow_nr!(KVM_SET_XCRS, KVMIO, 0xa7, kvm_xcrs);
ioctl_iow_nr!(KVM_SET_DEVICE_ATTR, KVMIO, 0xe1, kvm_device_attr);

/// Every KVM request the VM makes after it is built, with its name.
pub fn runtime_requests() -> Vec<(&'static str, u64)> {
    vec![
        // A vCPU for each new application thread (or one from the pool).
        ("KVM_CREATE_VCPU", KVM_CREATE_VCPU()),
        ("KVM_SET_CPUID2", KVM_SET_CPUID2()),
        // Running it, and its state at every exit.
        ("KVM_RUN", KVM_RUN()),
        ("KVM_GET_REGS", KVM_GET_REGS()),
        ("KVM_SET_REGS", KVM_SET_REGS()),
        ("KVM_GET_SREGS", KVM_GET_SREGS()),
        ("KVM_SET_SREGS", KVM_SET_SREGS()),
        ("KVM_SET_MSRS", KVM_SET_MSRS()),
        ("KVM_GET_VCPU_EVENTS", KVM_GET_VCPU_EVENTS()),
        ("KVM_GET_XSAVE", KVM_GET_XSAVE()),
        ("KVM_SET_XSAVE", KVM_SET_XSAVE()),
        ("KVM_SET_XCRS", KVM_SET_XCRS()),
        // A new vCPU's TSC offset pinned to 0 (the vDSO's clocks).
        ("KVM_SET_DEVICE_ATTR", KVM_SET_DEVICE_ATTR()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_numbers_are_linuxs() {
        // From <linux/kvm.h> as built for x86_64.
        let want = [
            ("KVM_CREATE_VCPU", 0xae41),
            ("KVM_SET_DEVICE_ATTR", 0x4018_aee1),
            ("KVM_RUN", 0xae80),
            ("KVM_GET_REGS", 0x8090_ae81),
            ("KVM_SET_REGS", 0x4090_ae82),
            ("KVM_GET_SREGS", 0x8138_ae83),
            ("KVM_SET_SREGS", 0x4138_ae84),
            ("KVM_GET_XSAVE", 0x9000_aea4),
        ];
        let have = runtime_requests();
        for (name, nr) in want {
            assert!(
                have.contains(&(name, nr)),
                "{name} should be {nr:#x}: {have:x?}"
            );
        }
    }
}
