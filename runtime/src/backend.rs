//! Which isolation backend runs a container: the global `--backend` flag,
//! overridden per container by the `dev.sandbox.backend` annotation (so
//! one registered runtime can serve both, chosen by the orchestrator).

use std::collections::HashMap;

use sentry::PlatformKind;

pub const ANNOTATION: &str = "dev.sandbox.backend";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BackendError {
    #[error("the {0} backend is not yet supported: use --backend sentry")]
    NotYet(String),
    #[error("unknown backend {0:?}: use --backend sentry")]
    Unknown(String),
    #[error("the {0} platform is not yet supported: use --platform seccomp or ptrace")]
    PlatformNotYet(String),
    #[error("unknown platform {0:?}: use --platform seccomp or ptrace")]
    UnknownPlatform(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The Sentry (on the ptrace or seccomp platform).
    Sentry,
}

pub fn select(
    flag: &str,
    platform: &str,
    annotations: &HashMap<String, String>,
) -> Result<Backend, BackendError> {
    let name = annotations
        .get(ANNOTATION)
        .map(String::as_str)
        .unwrap_or(flag);
    let backend = match name {
        "sentry" => Backend::Sentry,
        "microvm" => return Err(BackendError::NotYet(name.into())),
        other => return Err(BackendError::Unknown(other.into())),
    };
    sentry_platform(platform).map(|_| backend)
}

/// The Sentry platform a `--platform` name stands for.
pub fn sentry_platform(name: &str) -> Result<PlatformKind, BackendError> {
    match name {
        "ptrace" => Ok(PlatformKind::Ptrace),
        "seccomp" => Ok(PlatformKind::Seccomp),
        "kvm" => Err(BackendError::PlatformNotYet(name.into())),
        other => Err(BackendError::UnknownPlatform(other.into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotation_wins() {
        let none = HashMap::new();
        assert_eq!(select("sentry", "ptrace", &none), Ok(Backend::Sentry));
        assert_eq!(
            select("microvm", "ptrace", &none),
            Err(BackendError::NotYet("microvm".into()))
        );
        let ann = HashMap::from([(ANNOTATION.to_string(), "sentry".to_string())]);
        assert_eq!(select("microvm", "ptrace", &ann), Ok(Backend::Sentry));
        let ann = HashMap::from([(ANNOTATION.to_string(), "microvm".to_string())]);
        assert!(select("sentry", "ptrace", &ann).is_err());
        assert!(select("sentry", "kvm", &none).is_err());
        assert!(select("gvisor", "ptrace", &none).is_err());
        assert_eq!(select("sentry", "seccomp", &none), Ok(Backend::Sentry));
        assert_eq!(sentry_platform("seccomp"), Ok(PlatformKind::Seccomp));
        assert_eq!(sentry_platform("ptrace"), Ok(PlatformKind::Ptrace));
        assert!(sentry_platform("sysemu").is_err());
    }
}
