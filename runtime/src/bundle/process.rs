//! An OCI `process` object as the Sentry's [`ProcessSpec`]: used for the
//! init process of `create` and for `exec --process`.

use oci_spec::runtime::{PosixRlimit, PosixRlimitType, Process};
use sentry::{ProcessSpec, Rlimit};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProcessError {
    #[error("process.args is empty: name the program to run")]
    NoArgs,
    #[error("process.cwd {0:?} is not absolute: use a path that starts with '/'")]
    RelativeCwd(String),
    #[error("process.env entry {0:?} is not of the form KEY=VALUE")]
    BadEnv(String),
}

pub fn translate(p: &Process) -> Result<ProcessSpec, ProcessError> {
    let args = p.args().clone().unwrap_or_default();
    if args.is_empty() {
        return Err(ProcessError::NoArgs);
    }
    let env = p.env().clone().unwrap_or_default();
    check_env(&env)?;
    let cwd = p.cwd().to_string_lossy().into_owned();
    let cwd = if cwd.is_empty() { "/".to_string() } else { cwd };
    if !cwd.starts_with('/') {
        return Err(ProcessError::RelativeCwd(cwd));
    }
    let user = p.user();
    Ok(ProcessSpec {
        args,
        env,
        cwd,
        uid: user.uid(),
        gid: user.gid(),
        additional_gids: user.additional_gids().clone().unwrap_or_default(),
        terminal: p.terminal().unwrap_or(false),
        rlimits: p
            .rlimits()
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(rlimit)
            .collect(),
        no_new_privs: p.no_new_privileges().unwrap_or(false),
        oom_score_adj: p.oom_score_adj().unwrap_or(0).clamp(-1000, 1000),
        capabilities: p.capabilities().as_ref().map(super::caps::translate),
    })
}

pub fn check_env(env: &[String]) -> Result<(), ProcessError> {
    match env.iter().find(|e| !e.contains('=') || e.starts_with('=')) {
        Some(bad) => Err(ProcessError::BadEnv(bad.clone())),
        None => Ok(()),
    }
}

pub fn rlimit(r: &PosixRlimit) -> Rlimit {
    Rlimit {
        resource: resource_number(r.typ()),
        soft: r.soft(),
        hard: r.hard(),
    }
}

/// The kernel's number for an rlimit name (`RLIMIT_NOFILE` → 7).
pub fn resource_number(t: PosixRlimitType) -> u32 {
    use PosixRlimitType::*;
    let n = match t {
        RlimitCpu => libc::RLIMIT_CPU,
        RlimitFsize => libc::RLIMIT_FSIZE,
        RlimitData => libc::RLIMIT_DATA,
        RlimitStack => libc::RLIMIT_STACK,
        RlimitCore => libc::RLIMIT_CORE,
        RlimitRss => libc::RLIMIT_RSS,
        RlimitNproc => libc::RLIMIT_NPROC,
        RlimitNofile => libc::RLIMIT_NOFILE,
        RlimitMemlock => libc::RLIMIT_MEMLOCK,
        RlimitAs => libc::RLIMIT_AS,
        RlimitLocks => libc::RLIMIT_LOCKS,
        RlimitSigpending => libc::RLIMIT_SIGPENDING,
        RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        RlimitNice => libc::RLIMIT_NICE,
        RlimitRtprio => libc::RLIMIT_RTPRIO,
        RlimitRttime => libc::RLIMIT_RTTIME,
    };
    // The libc constant is u32 with glibc but i32 with musl; the values
    // are small non-negative numbers on both.
    #[allow(clippy::unnecessary_cast)]
    let n = n as u32;
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn process(json: &str) -> Process {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn full_process() {
        let p = process(
            r#"{"terminal":true,"user":{"uid":1000,"gid":100,"additionalGids":[10,11]},
                "args":["sh","-c","true"],"env":["PATH=/bin","A=b=c"],"cwd":"/tmp",
                "rlimits":[{"type":"RLIMIT_NOFILE","hard":1048576,"soft":1024},
                           {"type":"RLIMIT_NPROC","hard":10,"soft":5}],
                "noNewPrivileges":true}"#,
        );
        let s = translate(&p).unwrap();
        assert_eq!(s.args, vec!["sh", "-c", "true"]);
        assert_eq!(s.env, vec!["PATH=/bin", "A=b=c"]);
        assert_eq!(s.cwd, "/tmp");
        assert_eq!((s.uid, s.gid), (1000, 100));
        assert_eq!(s.additional_gids, vec![10, 11]);
        assert!(s.terminal && s.no_new_privs);
        assert_eq!(
            s.rlimits,
            vec![
                Rlimit {
                    resource: 7,
                    soft: 1024,
                    hard: 1_048_576
                },
                Rlimit {
                    resource: 6,
                    soft: 5,
                    hard: 10
                },
            ]
        );
    }

    #[test]
    fn errors() {
        let p = process(r#"{"user":{"uid":0,"gid":0},"args":[],"cwd":"/"}"#);
        assert_eq!(translate(&p), Err(ProcessError::NoArgs));
        let p = process(r#"{"user":{"uid":0,"gid":0},"args":["x"],"cwd":"tmp"}"#);
        assert_eq!(translate(&p), Err(ProcessError::RelativeCwd("tmp".into())));
        let p = process(r#"{"user":{"uid":0,"gid":0},"args":["x"],"cwd":"/","env":["NOEQUALS"]}"#);
        assert_eq!(translate(&p), Err(ProcessError::BadEnv("NOEQUALS".into())));
    }
}
