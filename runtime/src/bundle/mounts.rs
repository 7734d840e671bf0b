//! OCI mounts as the file systems the Sentry provides. The Sentry builds
//! the workload's mount table itself; the host mounts nothing for it.

use std::path::Path;

use oci_spec::runtime::Mount;
use sentry::{DevptsOptions, MountFlags, MountKind, MountSpec};
use tracing::debug;

/// Whether `m` is a bind mount (by type or option).
fn is_bind(m: &Mount) -> bool {
    let options = m.options().as_deref().unwrap_or_default();
    m.typ().as_deref() == Some("bind") || options.iter().any(|o| o == "bind" || o == "rbind")
}

/// Translates one mount; None (logged at debug level) for types the
/// Sentry does not implement. A cgroup file system is the Sentry's own
/// (the workload never sees the host's cgroups).
pub fn translate(m: &Mount, bundle: &Path) -> Option<MountSpec> {
    let typ = m.typ().as_deref().unwrap_or("none");
    let options = m.options().as_deref().unwrap_or_default();
    let destination = {
        let d = m.destination().to_string_lossy();
        // OCI wants absolute destinations; runc reads relative ones as
        // relative to the container's root, and so do we.
        if d.starts_with('/') {
            d.into_owned()
        } else {
            format!("/{d}")
        }
    };
    let kind = if is_bind(m) {
        let Some(source) = m.source() else {
            debug!(destination, "skipping a bind mount without a source");
            return None;
        };
        // Bind sources may be relative to the bundle.
        MountKind::Bind {
            source: bundle.join(source),
            // Filled in from the host's mount table by `create`.
            host: None,
        }
    } else {
        match typ {
            "proc" => MountKind::Proc,
            "sysfs" => MountKind::Sysfs,
            "tmpfs" | "shm" => MountKind::Tmpfs {
                size: option_value(options, "size").and_then(parse_size),
                mode: option_value(options, "mode").and_then(|m| u32::from_str_radix(m, 8).ok()),
            },
            "devpts" => {
                let octal =
                    |k| option_value(options, k).and_then(|m| u32::from_str_radix(m, 8).ok());
                let linux = DevptsOptions::default();
                MountKind::Devpts(DevptsOptions {
                    gid: option_value(options, "gid").and_then(|g| g.parse().ok()),
                    mode: octal("mode").unwrap_or(linux.mode),
                    ptmxmode: octal("ptmxmode").unwrap_or(linux.ptmxmode),
                })
            }
            "mqueue" => MountKind::Mqueue,
            // The Sentry's own cgroup file system, never the host's.
            "cgroup" | "cgroup2" => MountKind::Cgroup,
            other => {
                debug!(
                    destination,
                    r#type = other,
                    "skipping a mount the Sentry does not provide"
                );
                return None;
            }
        }
    };
    let source = m
        .source()
        .as_ref()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "none".into());
    Some(MountSpec {
        destination,
        source,
        kind,
        // A bind's flags start from its host mount's (`describe_binds`).
        flags: MountFlags::with_options(MountFlags::default(), options),
    })
}

/// Where each bind mount's source, and the root, lie on the host, from
/// the runtime's /proc/self/mountinfo: what runc's binds show in the
/// container's mountinfo. A bind keeps its host mount's per-mount flags
/// (atime mode included) with the spec's options applied over them, and
/// is read-only if either says so.
pub fn describe_host(sandbox: &mut sentry::SandboxSpec, spec_mounts: &[Mount]) {
    let table = match std::fs::read_to_string("/proc/self/mountinfo") {
        Ok(t) => crate::hostmounts::parse(&t),
        Err(e) => {
            debug!("reading /proc/self/mountinfo: {e}");
            return;
        }
    };
    sandbox.root_host = crate::hostmounts::lookup(&table, &sandbox.rootfs);
    // The spec's options of each bind `translate` kept, in order.
    let mut binds = spec_mounts
        .iter()
        .filter(|m| is_bind(m) && m.source().is_some())
        .map(|m| m.options().clone().unwrap_or_default());
    for ms in &mut sandbox.mounts {
        if let MountKind::Bind { source, host } = &mut ms.kind {
            let options = binds.next().unwrap_or_default();
            *host = crate::hostmounts::lookup(&table, source);
            if let Some(h) = host {
                // `rw` does not make a read-only host mount writable: runc
                // remounts a bind only to add flags.
                let readonly = h.flags.readonly || ms.flags.readonly;
                ms.flags = MountFlags::with_options(h.flags, &options);
                ms.flags.readonly = readonly;
            }
        }
    }
}

fn option_value<'a>(options: &'a [String], key: &str) -> Option<&'a str> {
    options.iter().rev().find_map(|o| {
        let (k, v) = o.split_once('=')?;
        (k == key).then_some(v)
    })
}

/// tmpfs sizes: bytes, or with a k/m/g suffix. Percentages of RAM are not
/// a fixed size and are left to the Sentry's default.
fn parse_size(s: &str) -> Option<u64> {
    let (digits, mult) = match s.chars().last()? {
        'k' | 'K' => (&s[..s.len() - 1], 1u64 << 10),
        'm' | 'M' => (&s[..s.len() - 1], 1 << 20),
        'g' | 'G' => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    digits.parse::<u64>().ok()?.checked_mul(mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mount(json: &str) -> Mount {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("65536k"), Some(65536 * 1024));
        assert_eq!(parse_size("64m"), Some(64 << 20));
        assert_eq!(parse_size("1G"), Some(1 << 30));
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("50%"), None);
        assert_eq!(parse_size(""), None);
    }

    #[test]
    fn tmpfs_with_options() {
        let m = mount(
            r#"{"destination":"/dev/shm","type":"tmpfs","source":"shm",
                "options":["nosuid","noexec","nodev","mode=1777","size=65536k"]}"#,
        );
        let t = translate(&m, Path::new("/b")).unwrap();
        assert_eq!(t.destination, "/dev/shm");
        assert_eq!(
            t.kind,
            MountKind::Tmpfs {
                size: Some(67_108_864),
                mode: Some(0o1777)
            }
        );
        assert!(!t.flags.readonly);
        assert_eq!(t.source, "shm");
        assert_eq!(t.flags.render(), "rw,nosuid,nodev,noexec,relatime");
    }

    #[test]
    fn devpts_options() {
        let m = mount(
            r#"{"destination":"/dev/pts","type":"devpts","source":"devpts",
                "options":["nosuid","noexec","newinstance","ptmxmode=0666","mode=0620","gid=5"]}"#,
        );
        let t = translate(&m, Path::new("/b")).unwrap();
        assert_eq!(
            t.kind,
            MountKind::Devpts(DevptsOptions {
                gid: Some(5),
                mode: 0o620,
                ptmxmode: 0o666
            })
        );
        let m = mount(r#"{"destination":"/dev/pts","type":"devpts","source":"devpts"}"#);
        let t = translate(&m, Path::new("/b")).unwrap();
        assert_eq!(t.kind, MountKind::Devpts(DevptsOptions::default()));
    }

    #[test]
    fn binds_resolve_relative_sources_against_the_bundle() {
        let m = mount(
            r#"{"destination":"/data","type":"none","source":"data","options":["rbind","ro"]}"#,
        );
        let t = translate(&m, Path::new("/b")).unwrap();
        assert_eq!(
            t.kind,
            MountKind::Bind {
                source: "/b/data".into(),
                host: None
            }
        );
        assert!(t.flags.readonly);
        let m = mount(
            r#"{"destination":"/etc/hosts","type":"bind","source":"/var/lib/x/hosts","options":["rbind","rprivate"]}"#,
        );
        let t = translate(&m, Path::new("/b")).unwrap();
        assert_eq!(
            t.kind,
            MountKind::Bind {
                source: "/var/lib/x/hosts".into(),
                host: None
            }
        );
        assert!(!t.flags.readonly);
    }

    #[test]
    fn cgroup_is_the_sentrys_and_unknown_is_skipped() {
        let m = mount(
            r#"{"destination":"/sys/fs/cgroup","type":"cgroup","source":"cgroup","options":["ro"]}"#,
        );
        let t = translate(&m, Path::new("/b")).unwrap();
        assert_eq!(t.kind, MountKind::Cgroup);
        assert!(t.flags.readonly);
        let m = mount(r#"{"destination":"/x","type":"nfs","source":"h:/x"}"#);
        assert_eq!(translate(&m, Path::new("/b")), None);
    }

    #[test]
    fn ro_rw_last_wins() {
        let ro = |o: &[&str]| MountFlags::with_options(MountFlags::default(), o).readonly;
        assert!(ro(&["rw", "ro"]));
        assert!(!ro(&["ro", "rw"]));
        assert!(!ro(&[]));
    }

    #[test]
    fn flags_render_as_linux() {
        let f = |o: &[&str]| MountFlags::with_options(MountFlags::default(), o).render();
        assert_eq!(f(&["nosuid", "strictatime", "mode=755"]), "rw,nosuid");
        assert_eq!(
            f(&["nosuid", "noexec", "nodev", "ro"]),
            "ro,nosuid,nodev,noexec,relatime"
        );
        assert_eq!(f(&["noatime", "nodiratime"]), "rw,noatime,nodiratime");
    }
}
