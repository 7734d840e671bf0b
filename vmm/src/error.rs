//! What can go wrong in the VMM.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot open /dev/kvm: {0} (the microvm backend needs KVM: load kvm_intel, kvm_amd or kvm_pvm and give the runtime access to /dev/kvm)")]
    OpenKvm(std::io::Error),
    #[error("KVM API version {0} is not supported (want 12)")]
    KvmVersion(i32),
    #[error("KVM lacks a capability the VMM needs: {0}")]
    MissingCap(&'static str),
    #[error("KVM {op}: {err}")]
    Kvm {
        op: &'static str,
        err: kvm_ioctls::Error,
    },
    #[error("guest memory: {0}")]
    Memory(String),
    #[error("the guest has no room for another page table (page-table pool of {0} MiB exhausted)")]
    PageTablesFull(u64),
    #[error("the VM has no room for another vCPU (at most {0})")]
    TooManyVcpus(usize),
    #[error("address range {addr:#x}+{len:#x} is outside user space or not page aligned")]
    BadRange { addr: u64, len: u64 },
    #[error("file range {off:#x}+{len:#x} is outside the VM's memory slot ({slot:#x} bytes)")]
    OutsideSlot { off: u64, len: u64, slot: u64 },
    #[error("the guest stopped unexpectedly: {0}")]
    GuestCrashed(String),
    #[error("{0}")]
    Other(String),
}

impl Error {
    pub(crate) fn kvm(op: &'static str) -> impl Fn(kvm_ioctls::Error) -> Error {
        move |err| Error::Kvm { op, err }
    }
}

pub type Result<T> = std::result::Result<T, Error>;
