//! The command line, shaped like runc's so Docker and containerd can drive
//! us unchanged. Global flags are `global = true` because callers put them
//! before the subcommand (containerd) or after it (people).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// A secure OCI runtime: every container runs under a user-space kernel.
#[derive(Debug, Parser)]
#[command(name = "sandbox", version, long_version = LONG_VERSION, disable_help_subcommand = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalOpts,
    #[command(subcommand)]
    pub command: Command,
}

const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    "\nspec: ",
    "1.0.2",
    "\nbackends: sentry (platforms seccomp, ptrace), microvm (platform kvm)"
);

#[derive(Debug, Args)]
pub struct GlobalOpts {
    /// Directory for the state of containers.
    #[arg(long, global = true, default_value = "/run/sandbox")]
    pub root: PathBuf,
    /// Append log lines to this file instead of standard error.
    #[arg(long, global = true)]
    pub log: Option<PathBuf>,
    /// Format of log lines.
    #[arg(long = "log-format", global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Log at debug level.
    #[arg(long, global = true)]
    pub debug: bool,
    /// Manage cgroups through systemd (not supported: rejected with an error).
    #[arg(long = "systemd-cgroup", global = true)]
    pub systemd_cgroup: bool,
    /// Isolation backend; a `dev.sandbox.backend` annotation overrides it.
    #[arg(long, global = true, default_value = "sentry")]
    pub backend: String,
    /// Where writes to the container's root go: `none` (the bundle's
    /// rootfs) or `memory` (a sandbox-private in-memory layer); a
    /// `dev.sandbox.overlay` annotation overrides it.
    #[arg(long, global = true, default_value = "none")]
    pub overlay: String,
    /// How the workload reaches the network: `sandbox` (the Sentry's own
    /// TCP/IP stack over the container's network namespace), `none`
    /// (loopback only) or `host` (host sockets: weaker isolation); a
    /// `dev.sandbox.network` annotation overrides it.
    #[arg(long, global = true, default_value = "sandbox")]
    pub network: String,
    /// How the Sentry traps the workload's system calls: seccomp (fast) or
    /// ptrace.
    #[arg(long, global = true, default_value = "seccomp")]
    pub platform: String,
    /// Accepted for runc compatibility; checkpointing is not supported.
    #[arg(long, global = true, hide = true)]
    pub criu: Option<String>,
    /// Accepted for runc compatibility (`--rootless`, `--rootless auto`); ignored.
    #[arg(long, global = true, hide = true, num_args = 0..=1, default_missing_value = "true")]
    pub rootless: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a container from a bundle; its program waits for `start`.
    Create(CreateArgs),
    /// Let a created container's program begin.
    Start(IdArg),
    /// Print a container's OCI state as JSON.
    State(IdArg),
    /// Send a signal to a container (default SIGTERM).
    Kill(KillArgs),
    /// Remove a stopped container (or any with --force).
    Delete(DeleteArgs),
    /// Create, start and wait for a container; exits with its status.
    Run(RunArgs),
    /// Run another process inside a running container.
    Exec(ExecArgs),
    /// List the host pids of a container's processes.
    Ps(PsArgs),
    /// Stop a running container's processes from running until `resume`.
    Pause(IdArg),
    /// Let a paused container run again.
    Resume(IdArg),
    /// Print a running container's figures as JSON (once with --stats,
    /// else every --interval until it stops).
    Events(EventsArgs),
    /// List containers.
    #[command(alias = "ls")]
    List(ListArgs),
    /// Write a default config.json.
    Spec(SpecArgs),
    /// Print the OCI features this runtime supports, as JSON.
    Features,
    /// Run real container-escape attacks under a control (runc, where
    /// they must succeed) and under the sandbox on every backend this
    /// host has; print a table and exit non-zero unless all were blocked.
    Selftest(SelftestArgs),
}

#[derive(Debug, Args)]
pub struct IdArg {
    pub id: String,
}

#[derive(Debug, Args, Clone)]
pub struct CreateArgs {
    /// The bundle directory (holds config.json).
    #[arg(long, short = 'b', default_value = ".")]
    pub bundle: PathBuf,
    /// Write the container's init pid here.
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// Unix socket that receives the pty master when process.terminal is set.
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// Accepted for runc compatibility; the jail always pivots.
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// Accepted for runc compatibility; ignored.
    #[arg(long = "no-new-keyring")]
    pub no_new_keyring: bool,
    /// Accepted for runc compatibility; extra descriptors are not passed on yet.
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
    pub id: String,
}

#[derive(Debug, Args)]
pub struct KillArgs {
    /// Signal every process of the container, not only its init.
    #[arg(long, short = 'a')]
    pub all: bool,
    pub id: String,
    /// A number (15) or a name (TERM, SIGTERM).
    #[arg(default_value = "TERM")]
    pub signal: String,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// Kill the container first if it is still running.
    #[arg(long, short = 'f')]
    pub force: bool,
    pub id: String,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub create: CreateArgs,
    /// Return after starting instead of waiting for the container.
    #[arg(long, short = 'd')]
    pub detach: bool,
    /// Accepted for runc compatibility; ignored.
    #[arg(long = "keep")]
    pub keep: bool,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// An OCI process JSON file describing what to run.
    #[arg(long, short = 'p')]
    pub process: Option<PathBuf>,
    /// Return once the process has started.
    #[arg(long, short = 'd')]
    pub detach: bool,
    /// Write the pid of the process that stands for the exec'd one here.
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// Unix socket that receives the pty master when a terminal is asked for.
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// Give the process a terminal.
    #[arg(long, short = 't')]
    pub tty: bool,
    /// Working directory inside the container.
    #[arg(long)]
    pub cwd: Option<String>,
    /// Environment variables (KEY=VALUE), repeatable.
    #[arg(long, short = 'e')]
    pub env: Vec<String>,
    /// uid[:gid] to run as.
    #[arg(long, short = 'u')]
    pub user: Option<String>,
    /// Accepted for runc compatibility; ignored.
    #[arg(long = "no-new-privs")]
    pub no_new_privs: bool,
    /// Accepted for runc compatibility; ignored.
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
    pub id: String,
    /// The program and its arguments (when --process is not given).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PsFormat {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct PsArgs {
    #[arg(long, short = 'f', value_enum, default_value_t = PsFormat::Table)]
    pub format: PsFormat,
    pub id: String,
    /// Accepted for runc compatibility (options for ps(1)); ignored.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    pub ps_args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Print the figures once and exit.
    #[arg(long)]
    pub stats: bool,
    /// How often to print them without --stats (runc's syntax: 5s, 500ms).
    #[arg(long, default_value = "5s")]
    pub interval: String,
    pub id: String,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[arg(long, short = 'f', value_enum, default_value_t = PsFormat::Table)]
    pub format: PsFormat,
    /// Print only the ids.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct SpecArgs {
    /// Where to write config.json (default: the current directory).
    #[arg(long, short = 'b')]
    pub bundle: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SelftestArgs {
    /// The control runtime (each attack must succeed under it).
    #[arg(long, default_value = "runc")]
    pub runc: PathBuf,
    /// Seconds each container may run before it is killed.
    #[arg(long, default_value_t = 30)]
    pub timeout: u64,
    /// Run only this attack (repeatable; `--list` names them).
    #[arg(long = "attack")]
    pub attacks: Vec<String>,
    /// Print the attacks and what each tries, then exit.
    #[arg(long)]
    pub list: bool,
    /// Where to make the temporary bundles and the runtimes' state
    /// directories, on a file system that allows executing programs
    /// (default: $TMPDIR, else /tmp; --root is not used).
    #[arg(long)]
    pub workdir: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_flags_before_the_subcommand() {
        let cli = Cli::try_parse_from([
            "sandbox",
            "--root",
            "/r",
            "--log",
            "/l.json",
            "--log-format",
            "json",
            "create",
            "--bundle",
            "/b",
            "--pid-file",
            "/p",
            "--no-pivot",
            "--no-new-keyring",
            "--preserve-fds",
            "2",
            "abc",
        ])
        .unwrap();
        assert_eq!(cli.global.root, PathBuf::from("/r"));
        assert_eq!(cli.global.log_format, LogFormat::Json);
        match cli.command {
            Command::Create(c) => {
                assert_eq!(c.id, "abc");
                assert_eq!(c.preserve_fds, 2);
            }
            other => panic!("parsed {other:?}"),
        }
    }

    #[test]
    fn kill_takes_a_signal_and_defaults_to_term() {
        let cli = Cli::try_parse_from(["sandbox", "kill", "--all", "abc", "9"]).unwrap();
        match cli.command {
            Command::Kill(k) => {
                assert!(k.all);
                assert_eq!(k.signal, "9");
            }
            other => panic!("parsed {other:?}"),
        }
        let cli = Cli::try_parse_from(["sandbox", "kill", "abc"]).unwrap();
        match cli.command {
            Command::Kill(k) => assert_eq!(k.signal, "TERM"),
            other => panic!("parsed {other:?}"),
        }
    }

    #[test]
    fn rootless_is_accepted_anywhere() {
        Cli::try_parse_from(["sandbox", "spec", "--rootless"]).unwrap();
        Cli::try_parse_from(["sandbox", "--rootless", "auto", "list"]).unwrap();
    }

    #[test]
    fn exec_collects_trailing_args() {
        let cli =
            Cli::try_parse_from(["sandbox", "exec", "--tty", "abc", "ls", "-l", "/"]).unwrap();
        match cli.command {
            Command::Exec(e) => {
                assert_eq!(e.args, vec!["ls", "-l", "/"]);
                assert!(e.tty);
            }
            other => panic!("parsed {other:?}"),
        }
    }
}
