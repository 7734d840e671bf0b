//! OCI mounts as the file systems the Sentry provides. The Sentry builds
//! the workload's mount table itself; the host mounts nothing for it.

use std::path::Path;

use oci_spec::runtime::Mount;
use sentry::{MountKind, MountSpec};
use tracing::debug;

/// Translates one mount; None (logged at debug level) for mounts the
/// Sentry has no use for: cgroup file systems (the workload cannot see the
/// host's cgroups) and types it does not implement.
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
    let is_bind = typ == "bind" || options.iter().any(|o| o == "bind" || o == "rbind");
    let kind = if is_bind {
        let Some(source) = m.source() else {
            debug!(destination, "skipping a bind mount without a source");
            return None;
        };
        // Bind sources may be relative to the bundle.
        MountKind::Bind {
            source: bundle.join(source),
        }
    } else {
        match typ {
            "proc" => MountKind::Proc,
            "sysfs" => MountKind::Sysfs,
            "tmpfs" | "shm" => MountKind::Tmpfs {
                size: option_value(options, "size").and_then(parse_size),
                mode: option_value(options, "mode").and_then(|m| u32::from_str_radix(m, 8).ok()),
            },
            "devpts" => MountKind::Devpts,
            "mqueue" => MountKind::Mqueue,
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
    Some(MountSpec {
        destination,
        kind,
        readonly: is_readonly(options),
    })
}

/// The last of `ro` / `rw` wins, as with mount(8).
fn is_readonly(options: &[String]) -> bool {
    options
        .iter()
        .rev()
        .find_map(|o| match o.as_str() {
            "ro" => Some(true),
            "rw" => Some(false),
            _ => None,
        })
        .unwrap_or(false)
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
        assert!(!t.readonly);
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
                source: "/b/data".into()
            }
        );
        assert!(t.readonly);
        let m = mount(
            r#"{"destination":"/etc/hosts","type":"bind","source":"/var/lib/x/hosts","options":["rbind","rprivate"]}"#,
        );
        let t = translate(&m, Path::new("/b")).unwrap();
        assert_eq!(
            t.kind,
            MountKind::Bind {
                source: "/var/lib/x/hosts".into()
            }
        );
        assert!(!t.readonly);
    }

    #[test]
    fn skips_cgroup_and_unknown() {
        let m = mount(
            r#"{"destination":"/sys/fs/cgroup","type":"cgroup","source":"cgroup","options":["ro"]}"#,
        );
        assert_eq!(translate(&m, Path::new("/b")), None);
        let m = mount(r#"{"destination":"/x","type":"nfs","source":"h:/x"}"#);
        assert_eq!(translate(&m, Path::new("/b")), None);
    }

    #[test]
    fn ro_rw_last_wins() {
        assert!(is_readonly(&["rw".into(), "ro".into()]));
        assert!(!is_readonly(&["ro".into(), "rw".into()]));
        assert!(!is_readonly(&[]));
    }
}
