//! Tasks, thread groups, signals: the Sentry's model of processes.
pub mod boot;
