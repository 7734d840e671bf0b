//! The host's mount table, to say where a host path lies: runc's bind
//! mounts (and its root) show in the container's mountinfo as their
//! source's host mount shows, with the path within that file system.

use std::path::Path;

use sentry::{Atime, HostMount, MountFlags};

/// One line of a mountinfo file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    root: String,
    mount_point: String,
    flags: String,
    fstype: String,
    source: String,
    super_options: String,
}

/// The lines of a mountinfo file, in order; malformed ones are skipped.
pub fn parse(text: &str) -> Vec<Entry> {
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let f: Vec<&str> = left.split(' ').collect();
            let r: Vec<&str> = right.split(' ').collect();
            if f.len() < 6 || r.len() < 3 {
                return None;
            }
            Some(Entry {
                root: unmangle(f[3]),
                mount_point: unmangle(f[4]),
                flags: f[5].into(),
                fstype: r[0].into(),
                source: unmangle(r[1]),
                super_options: r[2].into(),
            })
        })
        .collect()
}

/// Undoes the kernel's octal escapes (`\040` for a space).
fn unmangle(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match (b[i], octal) {
            (b'\\', Some(d)) => {
                let v = d.iter().fold(0u32, |v, c| v * 8 + u32::from(c - b'0'));
                out.push(v as u8);
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The host mount `path` (canonicalized) lies on, and `path` within its
/// file system. None if `path` does not resolve.
pub fn lookup(table: &[Entry], path: &Path) -> Option<HostMount> {
    let path = std::fs::canonicalize(path).ok()?;
    let path = path.to_str()?;
    let below = |mp: &str| -> Option<String> {
        if mp == "/" {
            return Some(path.trim_start_matches('/').to_string());
        }
        let rest = path.strip_prefix(mp)?;
        (rest.is_empty() || rest.starts_with('/')).then(|| rest.trim_start_matches('/').into())
    };
    // The longest mount point above `path`; of several, the last mounted.
    let (e, rel) = table
        .iter()
        .filter_map(|e| below(&e.mount_point).map(|rel| (e, rel)))
        .rev()
        .max_by_key(|(e, _)| e.mount_point.len())?;
    let root = match (e.root.as_str(), rel.as_str()) {
        (r, "") => r.to_string(),
        ("/", rel) => format!("/{rel}"),
        (r, rel) => format!("{r}/{rel}"),
    };
    // Without an atime option in the list the mount keeps strict atimes.
    let strict = MountFlags {
        atime: Atime::Strict,
        ..MountFlags::default()
    };
    let flags: Vec<&str> = e.flags.split(',').collect();
    Some(HostMount {
        root,
        fstype: e.fstype.clone(),
        source: e.source.clone(),
        flags: MountFlags::with_options(strict, &flags),
        super_options: e.super_options.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "\
22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw,discard
30 22 0:25 / /tmp rw,nosuid,nodev shared:5 - tmpfs tmpfs rw,size=1024k
31 22 0:26 /data/a\\040b /srv/x ro,noatime - xfs /dev/sdb ro
";

    #[test]
    fn parses_and_unmangles() {
        let t = parse(TABLE);
        assert_eq!(t.len(), 3);
        assert_eq!(t[2].root, "/data/a b");
        assert_eq!(t[1].fstype, "tmpfs");
        assert_eq!(unmangle("a\\134b\\040"), "a\\b ");
    }

    #[test]
    fn finds_the_longest_mount_point() {
        let t = parse(TABLE);
        // "/" resolves on every host; its host line here is the first.
        let h = lookup(&t, Path::new("/")).unwrap();
        assert_eq!(h.root, "/");
        assert_eq!(h.fstype, "ext4");
        assert_eq!(h.flags.render(), "rw,relatime");
        let h = lookup(&t, Path::new("/tmp")).unwrap();
        assert_eq!((h.root.as_str(), h.source.as_str()), ("/", "tmpfs"));
        assert_eq!(h.flags.render(), "rw,nosuid,nodev");
        assert_eq!(h.super_options, "rw,size=1024k");
    }
}
