//! Platforms: how the workload's threads run and trap into the Sentry.
#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    #[error("{0}")]
    Other(String),
}
