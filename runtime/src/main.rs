//! `sandbox`: a runc-compatible OCI runtime whose containers run under the
//! Sentry, a user-space kernel. Docker and containerd drive it exactly as
//! they drive runc.

mod backend;
mod bundle;
mod cgroups;
mod cli;
mod commands;
mod console;
mod container;
mod control;
mod fsutil;
mod hooks;
mod hostmounts;
mod init;
mod jail;
mod logging;
mod network;
mod overlay;
mod pod;
mod procs;
mod selftest;
mod signals;
mod state;
mod sync;

use clap::Parser;

fn main() {
    let cli = cli::Cli::parse();
    let to_file = match logging::init(
        cli.global.log.as_deref(),
        cli.global.log_format,
        cli.global.debug,
    ) {
        Ok(to_file) => to_file,
        Err(e) => {
            eprintln!("sandbox: {e}");
            std::process::exit(1);
        }
    };
    match commands::dispatch(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            // The log's last error line is what containerd shows the user.
            tracing::error!("{e}");
            if to_file {
                eprintln!("sandbox: {e}");
            }
            std::process::exit(1);
        }
    }
}
