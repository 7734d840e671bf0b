//! The names Unix sockets are bound to: the abstract namespace, and socket
//! files in the sandbox's file systems (keyed by the file's identity, so a
//! rename or a second link still reaches the socket, as on Linux).
//!
//! One Sentry runs one sandbox, so the table is the Sentry's own.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use super::unix::UnixSocket;
use crate::errno::{err, SysResult};
use crate::kernel::process::lock;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum NameKey {
    Abstract(Vec<u8>),
    /// A socket file: its st_dev and st_ino.
    Node {
        dev: u64,
        ino: u64,
    },
}

static NAMES: Mutex<Option<HashMap<NameKey, Weak<UnixSocket>>>> = Mutex::new(None);

/// Binds `key` to `sock`; EADDRINUSE if a live socket holds it.
pub fn insert(key: NameKey, sock: &Arc<UnixSocket>) -> SysResult<()> {
    let mut names = lock(&NAMES);
    let map = names.get_or_insert_with(HashMap::new);
    if map.get(&key).is_some_and(|w| w.strong_count() > 0) {
        return err(libc::EADDRINUSE);
    }
    map.insert(key, Arc::downgrade(sock));
    Ok(())
}

/// The live socket bound to `key`.
pub fn lookup(key: &NameKey) -> Option<Arc<UnixSocket>> {
    lock(&NAMES).as_ref()?.get(key)?.upgrade()
}

/// Unbinds `key` if `sock` (or a dead socket) still holds it.
pub fn remove(key: &NameKey, sock: *const UnixSocket) {
    let mut names = lock(&NAMES);
    if let Some(map) = names.as_mut() {
        if map
            .get(key)
            .is_some_and(|w| w.strong_count() == 0 || std::ptr::eq(w.as_ptr(), sock))
        {
            map.remove(key);
        }
    }
}

/// Binds `sock` to a fresh abstract name of five hex digits (Linux's autobind).
pub fn autobind(sock: &Arc<UnixSocket>) -> SysResult<Vec<u8>> {
    let mut names = lock(&NAMES);
    let map = names.get_or_insert_with(HashMap::new);
    for n in 0..0x10_0000u32 {
        let name = format!("{n:05x}").into_bytes();
        let key = NameKey::Abstract(name.clone());
        if map.get(&key).is_none_or(|w| w.strong_count() == 0) {
            map.insert(key, Arc::downgrade(sock));
            return Ok(name);
        }
    }
    err(libc::ENOSPC)
}
