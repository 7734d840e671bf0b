//! Controlling terminals: a session has at most one, which /dev/tty opens
//! for any process of the session (ENXIO for a session without one, as on
//! Linux). A Sentry runs one sandbox, so the table is the process's own.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::errno::{err, SysResult};
use crate::kernel::process::lock;
use crate::vfs::{FileOps, FileType, Inode, OpenCtx, Stat};

static CTTYS: Mutex<BTreeMap<i32, Arc<dyn Inode>>> = Mutex::new(BTreeMap::new());

/// Makes `terminal` (the node /dev/tty will open) session `sid`'s
/// controlling terminal.
pub fn set(sid: i32, terminal: Arc<dyn Inode>) {
    lock(&CTTYS).insert(sid, terminal);
}

/// Session `sid` has a controlling terminal.
pub fn has(sid: i32) -> bool {
    lock(&CTTYS).contains_key(&sid)
}

/// The device number of session `sid`'s controlling terminal (0: none),
/// for /proc/PID/stat's tty_nr.
pub fn rdev_of(sid: i32) -> u64 {
    let terminal = lock(&CTTYS).get(&sid).cloned();
    terminal.and_then(|t| t.stat().ok()).map_or(0, |s| s.rdev)
}

/// Session `sid` loses its controlling terminal.
pub fn forget(sid: i32) {
    lock(&CTTYS).remove(&sid);
}

/// The calling process's session, if a task runs on this thread.
pub fn current_session() -> Option<(i32, i32, i32)> {
    let (p, _) = crate::kernel::thread::current()?;
    let st = lock(&p.state);
    Some((p.pid, st.sid, st.pgid))
}

/// /dev/tty (5:0): whatever terminal controls the caller's session.
pub struct TtyDevice {
    pub dev: u64,
    pub ino: u64,
}

impl Inode for TtyDevice {
    fn stat(&self) -> SysResult<Stat> {
        let mut s = Stat::synthetic(self.dev, self.ino, FileType::CharDevice, 0o666, 0);
        s.rdev = super::makedev(5, 0);
        Ok(s)
    }
    fn open(self: Arc<Self>, flags: i32, ctx: &OpenCtx) -> SysResult<Arc<dyn FileOps>> {
        let Some((_, sid, _)) = current_session() else {
            return err(libc::ENXIO);
        };
        let Some(terminal) = lock(&CTTYS).get(&sid).cloned() else {
            return err(libc::ENXIO);
        };
        terminal.open(flags | libc::O_NOCTTY, ctx)
    }
    device_node_attrs!(dev);
}
