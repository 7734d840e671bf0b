//! The descriptor table of a process.

use std::sync::Arc;

use super::OpenFile;
use crate::errno::{err, SysResult};

#[derive(Clone)]
struct Slot {
    file: Arc<OpenFile>,
    cloexec: bool,
}

#[derive(Clone, Default)]
pub struct FdTable {
    slots: Vec<Option<Slot>>,
}

/// The default RLIMIT_NOFILE.
pub const DEFAULT_NOFILE: u64 = 1024 * 1024;

impl FdTable {
    pub fn get(&self, fd: i32) -> SysResult<Arc<OpenFile>> {
        let idx = usize::try_from(fd).map_err(|_| crate::errno::Errno(libc::EBADF))?;
        match self.slots.get(idx) {
            Some(Some(s)) => Ok(s.file.clone()),
            _ => err(libc::EBADF),
        }
    }

    pub fn cloexec(&self, fd: i32) -> SysResult<bool> {
        match usize::try_from(fd).ok().and_then(|i| self.slots.get(i)) {
            Some(Some(s)) => Ok(s.cloexec),
            _ => err(libc::EBADF),
        }
    }

    pub fn set_cloexec(&mut self, fd: i32, on: bool) -> SysResult<()> {
        match usize::try_from(fd).ok().and_then(|i| self.slots.get_mut(i)) {
            Some(Some(s)) => {
                s.cloexec = on;
                Ok(())
            }
            _ => err(libc::EBADF),
        }
    }

    /// Installs `file` at the lowest free descriptor >= `min`, below `limit`.
    pub fn install_from(
        &mut self,
        min: i32,
        file: Arc<OpenFile>,
        cloexec: bool,
        limit: u64,
    ) -> SysResult<i32> {
        let start = usize::try_from(min).map_err(|_| crate::errno::Errno(libc::EINVAL))?;
        let mut idx = start;
        while idx < self.slots.len() && self.slots[idx].is_some() {
            idx += 1;
        }
        if idx as u64 >= limit {
            return err(libc::EMFILE);
        }
        if idx >= self.slots.len() {
            self.slots.resize(idx + 1, None);
        }
        self.slots[idx] = Some(Slot { file, cloexec });
        Ok(idx as i32)
    }

    pub fn install(&mut self, file: Arc<OpenFile>, cloexec: bool, limit: u64) -> SysResult<i32> {
        self.install_from(0, file, cloexec, limit)
    }

    /// Puts `file` at exactly `fd`, returning what was there.
    pub fn install_at(
        &mut self,
        fd: i32,
        file: Arc<OpenFile>,
        cloexec: bool,
        limit: u64,
    ) -> SysResult<Option<Arc<OpenFile>>> {
        let idx = usize::try_from(fd).map_err(|_| crate::errno::Errno(libc::EBADF))?;
        if idx as u64 >= limit {
            return err(libc::EBADF);
        }
        if idx >= self.slots.len() {
            self.slots.resize(idx + 1, None);
        }
        Ok(self.slots[idx]
            .replace(Slot { file, cloexec })
            .map(|s| s.file))
    }

    pub fn remove(&mut self, fd: i32) -> SysResult<Arc<OpenFile>> {
        match usize::try_from(fd).ok().and_then(|i| self.slots.get_mut(i)) {
            Some(slot @ Some(_)) => Ok(slot
                .take()
                .map(|s| s.file)
                .ok_or(crate::errno::Errno(libc::EBADF))?),
            _ => err(libc::EBADF),
        }
    }

    /// Closes every close-on-exec descriptor (execve).
    pub fn close_on_exec(&mut self) {
        for slot in self.slots.iter_mut() {
            if slot.as_ref().is_some_and(|s| s.cloexec) {
                *slot = None;
            }
        }
    }

    /// Closes descriptors in `[first, last]`; returns the files closed.
    pub fn close_range(&mut self, first: u32, last: u32) -> Vec<Arc<OpenFile>> {
        let mut closed = Vec::new();
        for (i, slot) in self.slots.iter_mut().enumerate() {
            if (first as usize..=last as usize).contains(&i) {
                if let Some(s) = slot.take() {
                    closed.push(s.file);
                }
            }
        }
        closed
    }

    /// Marks descriptors in `[first, last]` close-on-exec.
    pub fn cloexec_range(&mut self, first: u32, last: u32) {
        for (i, slot) in self.slots.iter_mut().enumerate() {
            if (first as usize..=last as usize).contains(&i) {
                if let Some(s) = slot.as_mut() {
                    s.cloexec = true;
                }
            }
        }
    }

    pub fn clear(&mut self) {
        self.slots.clear();
    }

    /// Open descriptors in order, for /proc/PID/fd.
    pub fn list(&self) -> Vec<(i32, Arc<OpenFile>)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|s| (i as i32, s.file.clone())))
            .collect()
    }
}
