//! The conversation between `create` and the container's init process it
//! forked: one socketpair, one JSON message per line.
//!
//! ```text
//! parent                         child (the container's init)
//!   joins child to the cgroup
//!   Go               ─────────▶
//!                                enters namespaces
//!                    ◀───────── NamespacesReady
//!   runs prestart / createRuntime hooks (they need the namespaces)
//!   Continue         ─────────▶
//!                                opens the sandbox, jails itself, loads init
//!                    ◀───────── Created | Failed { error }
//! ```

use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;

use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("cannot create the channel to the container's init: {0}")]
    Pair(std::io::Error),
    #[error("lost contact with the container's init: {0}")]
    Io(std::io::Error),
    #[error("the container's init process ended before reporting")]
    Closed,
    #[error("garbled message from the container's init: {0}")]
    Garbled(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Msg {
    Go,
    NamespacesReady,
    Continue,
    Created,
    Failed { error: String },
}

pub struct Channel {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Channel {
    /// Two connected ends: one for the parent, one for the child.
    pub fn pair() -> Result<(Channel, Channel), SyncError> {
        let (a, b) = UnixStream::pair().map_err(SyncError::Pair)?;
        Ok((Channel::new(a)?, Channel::new(b)?))
    }

    fn new(s: UnixStream) -> Result<Channel, SyncError> {
        let writer = s.try_clone().map_err(SyncError::Pair)?;
        Ok(Channel {
            reader: BufReader::new(s),
            writer,
        })
    }

    pub fn raw_fds(&self) -> [RawFd; 2] {
        [self.reader.get_ref().as_raw_fd(), self.writer.as_raw_fd()]
    }

    pub fn send(&mut self, msg: &Msg) -> Result<(), SyncError> {
        let mut line = serde_json::to_string(msg).map_err(|e| SyncError::Garbled(e.to_string()))?;
        line.push('\n');
        self.writer
            .write_all(line.as_bytes())
            .map_err(SyncError::Io)
    }

    pub fn recv(&mut self) -> Result<Msg, SyncError> {
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) => Err(SyncError::Closed),
            Ok(_) => {
                serde_json::from_str(line.trim_end()).map_err(|e| SyncError::Garbled(e.to_string()))
            }
            Err(e) => Err(SyncError::Io(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_cross_and_eof_is_closed() {
        let (mut a, mut b) = Channel::pair().unwrap();
        a.send(&Msg::Go).unwrap();
        b.send(&Msg::Failed {
            error: "exec: \"x\": not found".into(),
        })
        .unwrap();
        assert_eq!(b.recv().unwrap(), Msg::Go);
        assert_eq!(
            a.recv().unwrap(),
            Msg::Failed {
                error: "exec: \"x\": not found".into()
            }
        );
        drop(b);
        assert!(matches!(a.recv(), Err(SyncError::Closed)));
    }
}
