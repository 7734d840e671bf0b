//! Path resolution: one component at a time, with "..", symbolic links and
//! mount points decided by the Sentry against the sandbox's root. A link's
//! target is resolved inside the sandbox ("/" is the container's root), and
//! ".." never climbs above it.

use std::sync::Arc;

use super::{FileType, Inode, Mounts};
use crate::errno::{err, Errno, SysResult};

const MAX_SYMLINKS: u32 = 40;
const PATH_MAX: usize = 4096;

/// A resolved file: its canonical path in the sandbox and its inode.
#[derive(Clone)]
pub struct Location {
    pub path: String,
    pub inode: Arc<dyn Inode>,
    /// Whether the mount it lies on is read-only.
    pub readonly: bool,
}

impl Location {
    pub fn is_dir(&self) -> bool {
        self.inode
            .stat()
            .map(|s| s.file_type() == FileType::Directory)
            .unwrap_or(false)
    }
}

pub fn join(dir: &str, name: &str) -> String {
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

fn parent_path(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

pub struct Resolver<'a> {
    pub mounts: &'a Mounts,
    pub root: &'a Location,
    /// Whose search permission every directory walked through must grant
    /// (None: the Sentry's own walks, e.g. building the mount table).
    pub searcher: Option<crate::kernel::creds::Creds>,
}

impl Resolver<'_> {
    /// Resolves `path` relative to `start` (ignored for absolute paths).
    pub fn resolve(&self, start: &Location, path: &str, follow_last: bool) -> SysResult<Location> {
        self.resolve_in(start, path, follow_last)
            .map(|(loc, _)| loc)
    }

    /// Like `resolve`, also returning the directory the file was found in
    /// (None for the root, a start directory, or the target of a magic link).
    pub fn resolve_in(
        &self,
        start: &Location,
        path: &str,
        follow_last: bool,
    ) -> SysResult<(Location, Option<Location>)> {
        if path.is_empty() {
            return err(libc::ENOENT);
        }
        if path.len() >= PATH_MAX {
            return err(libc::ENAMETOOLONG);
        }
        let mut depth = 0;
        let mut stack = self.walk(vec![start.clone()], path, follow_last, &mut depth)?;
        let loc = stack.pop().ok_or(Errno(libc::ENOENT))?;
        if path.ends_with('/') && !loc.is_dir() {
            return err(libc::ENOTDIR);
        }
        Ok((loc, stack.pop()))
    }

    /// Resolves all but the last component; returns the parent directory and
    /// the last name ("." for the root itself).
    pub fn resolve_parent(&self, start: &Location, path: &str) -> SysResult<(Location, String)> {
        if path.is_empty() {
            return err(libc::ENOENT);
        }
        if path.len() >= PATH_MAX {
            return err(libc::ENAMETOOLONG);
        }
        let trimmed = path.trim_end_matches('/');
        if trimmed.is_empty() {
            return Ok((self.root.clone(), ".".into()));
        }
        let (dir, name) = match trimmed.rfind('/') {
            Some(i) => (if i == 0 { "/" } else { &trimmed[..i] }, &trimmed[i + 1..]),
            None => (".", trimmed),
        };
        if name.len() > 255 {
            return err(libc::ENAMETOOLONG);
        }
        let parent = self.resolve(start, dir, true)?;
        if !parent.is_dir() {
            return err(libc::ENOTDIR);
        }
        Ok((parent, name.to_string()))
    }

    /// Linux's may_lookup: a lookup in directory `dir` needs search
    /// (execute) permission on it, unless CAP_DAC_OVERRIDE or
    /// CAP_DAC_READ_SEARCH waives it (checked first: no stat for root).
    fn may_search(&self, dir: &Location) -> SysResult<()> {
        let Some(c) = &self.searcher else {
            return Ok(());
        };
        if c.has(crate::kernel::caps::DAC_OVERRIDE) || c.has(crate::kernel::caps::DAC_READ_SEARCH) {
            return Ok(());
        }
        let st = dir.inode.stat()?;
        if st.file_type() != FileType::Directory {
            return err(libc::ENOTDIR);
        }
        if c.may_access(st.mode, st.uid, st.gid, 1, true) {
            Ok(())
        } else {
            err(libc::EACCES)
        }
    }

    fn walk(
        &self,
        mut stack: Vec<Location>,
        path: &str,
        follow_last: bool,
        depth: &mut u32,
    ) -> SysResult<Vec<Location>> {
        if path.starts_with('/') {
            stack = vec![self.root.clone()];
        }
        let comps: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
        let n = comps.len();
        for (i, comp) in comps.into_iter().enumerate() {
            let last = i + 1 == n;
            let cur = stack.last().cloned().ok_or(Errno(libc::ENOENT))?;
            self.may_search(&cur)?;
            match comp {
                "." => {
                    if !cur.is_dir() {
                        return err(libc::ENOTDIR);
                    }
                }
                ".." => {
                    if !cur.is_dir() {
                        return err(libc::ENOTDIR);
                    }
                    if stack.len() > 1 {
                        stack.pop();
                    } else if cur.path != "/" {
                        // We started below the root: walk to the parent afresh.
                        stack = self.walk(
                            vec![self.root.clone()],
                            parent_path(&cur.path),
                            true,
                            depth,
                        )?;
                    }
                }
                name => {
                    if name.len() > 255 {
                        return err(libc::ENAMETOOLONG);
                    }
                    let child_path = join(&cur.path, name);
                    let child = match self.mounts.get(&child_path) {
                        Some(m) => Location {
                            path: child_path,
                            inode: m.root.clone(),
                            readonly: m.flags.readonly,
                        },
                        None => {
                            let inode = cur.inode.lookup(name)?;
                            Location {
                                path: child_path,
                                inode,
                                readonly: cur.readonly,
                            }
                        }
                    };
                    let is_link = child.inode.stat()?.file_type() == FileType::Symlink;
                    if is_link && (!last || follow_last || path.ends_with('/')) {
                        *depth += 1;
                        if *depth > MAX_SYMLINKS {
                            return err(libc::ELOOP);
                        }
                        if let Some((path, inode)) = child.inode.magic_target() {
                            // A magic link: the open file itself, not its name.
                            let readonly = self
                                .mounts
                                .containing(&path)
                                .is_some_and(|(_, m)| m.flags.readonly);
                            stack = vec![Location {
                                path,
                                inode,
                                readonly,
                            }];
                            continue;
                        }
                        let target = child.inode.readlink()?;
                        stack = self.walk(stack, &target, true, depth)?;
                    } else {
                        stack.push(child);
                    }
                }
            }
        }
        Ok(stack)
    }
}
