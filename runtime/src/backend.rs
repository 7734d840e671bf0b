//! Which isolation backend runs a container: the global `--backend` flag,
//! overridden per container by the `dev.sandbox.backend` annotation (so
//! one registered runtime can serve both, chosen by the orchestrator),
//! and, for the sentry backend, which platform traps the workload.

use std::collections::HashMap;

use sentry::PlatformKind;

pub const ANNOTATION: &str = "dev.sandbox.backend";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BackendError {
    #[error("unknown backend {0:?}: use --backend sentry or --backend microvm")]
    Unknown(String),
    #[error("unknown platform {0:?}: use --platform seccomp, ptrace or kvm")]
    UnknownPlatform(String),
    #[error("the microvm backend needs KVM, which is not usable here: {0}")]
    NoKvm(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The Sentry, trapping the workload with seccomp or ptrace.
    Sentry(PlatformKind),
    /// The Sentry with the workload in a KVM virtual machine (kvm platform).
    MicroVm,
}

impl Backend {
    pub fn platform(self) -> PlatformKind {
        match self {
            Backend::Sentry(p) => p,
            Backend::MicroVm => PlatformKind::Kvm,
        }
    }
}

/// Chooses the backend from the global flags and the annotation (which
/// wins). `--platform kvm` means the microvm backend too; the microvm
/// backend always runs on kvm, whatever `--platform` says.
pub fn choose(
    flag: &str,
    platform: &str,
    annotations: &HashMap<String, String>,
) -> Result<Backend, BackendError> {
    let name = annotations
        .get(ANNOTATION)
        .map(String::as_str)
        .unwrap_or(flag);
    let sentry_platform = match platform {
        "seccomp" => PlatformKind::Seccomp,
        "ptrace" => PlatformKind::Ptrace,
        "kvm" => return Ok(Backend::MicroVm),
        other => return Err(BackendError::UnknownPlatform(other.into())),
    };
    match name {
        "sentry" => Ok(Backend::Sentry(sentry_platform)),
        "microvm" => Ok(Backend::MicroVm),
        other => Err(BackendError::Unknown(other.into())),
    }
}

/// [`choose`], then checks the host can run the backend, so `create` fails
/// with a clear message before it makes anything.
pub fn select(
    flag: &str,
    platform: &str,
    annotations: &HashMap<String, String>,
) -> Result<Backend, BackendError> {
    let backend = choose(flag, platform, annotations)?;
    if backend == Backend::MicroVm {
        sentry::platform::kvm::probe().map_err(|e| BackendError::NoKvm(e.to_string()))?;
    }
    Ok(backend)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotation_wins() {
        let none = HashMap::new();
        let seccomp = Backend::Sentry(PlatformKind::Seccomp);
        assert_eq!(choose("sentry", "seccomp", &none), Ok(seccomp));
        assert_eq!(
            choose("sentry", "ptrace", &none),
            Ok(Backend::Sentry(PlatformKind::Ptrace))
        );
        assert_eq!(choose("microvm", "seccomp", &none), Ok(Backend::MicroVm));
        let ann = HashMap::from([(ANNOTATION.to_string(), "sentry".to_string())]);
        assert_eq!(choose("microvm", "seccomp", &ann), Ok(seccomp));
        let ann = HashMap::from([(ANNOTATION.to_string(), "microvm".to_string())]);
        assert_eq!(choose("sentry", "seccomp", &ann), Ok(Backend::MicroVm));
        assert_eq!(choose("sentry", "kvm", &none), Ok(Backend::MicroVm));
        assert_eq!(Backend::MicroVm.platform(), PlatformKind::Kvm);
        assert!(choose("gvisor", "seccomp", &none).is_err());
        assert!(choose("sentry", "sysemu", &none).is_err());
    }
}
