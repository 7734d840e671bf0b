//! Named pipes: a FIFO file, in any of the sandbox's file systems, names a
//! Sentry pipe shared by everyone who has it open. When the last end
//! closes, the pipe and any unread data go, as on Linux.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use super::pipe::Pipe;
use crate::kernel::process::lock;

type Key = (u64, u64);

static FIFOS: Mutex<Option<HashMap<Key, Weak<Pipe>>>> = Mutex::new(None);

/// Makes an anonymous pipe the one `(dev, ino)` names, so opening it
/// through /proc/PID/fd/N behaves as opening a FIFO of that pipe, as on
/// Linux.
pub fn register(dev: u64, ino: u64, pipe: &Arc<Pipe>) {
    let mut fifos = lock(&FIFOS);
    let map = fifos.get_or_insert_with(HashMap::new);
    map.retain(|_, w| w.strong_count() > 0);
    map.insert((dev, ino), Arc::downgrade(pipe));
}

/// The pipe behind the FIFO file with `dev` and `ino`.
pub fn pipe_for(dev: u64, ino: u64) -> Arc<Pipe> {
    let mut fifos = lock(&FIFOS);
    let map = fifos.get_or_insert_with(HashMap::new);
    if let Some(p) = map.get(&(dev, ino)).and_then(Weak::upgrade) {
        return p;
    }
    map.retain(|_, w| w.strong_count() > 0);
    let p = Pipe::new(Some(ino));
    map.insert((dev, ino), Arc::downgrade(&p));
    p
}
