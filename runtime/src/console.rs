//! Terminals for containers: a pty whose slave becomes the workload's
//! stdio and whose master goes to whoever asked for it over the
//! `--console-socket` (containerd's shim), as runc does it: one sendmsg
//! carrying the master with SCM_RIGHTS and its name as the payload.

use std::io::IoSlice;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use nix::pty::{openpty, Winsize};
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};

#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("cannot allocate a pty: {0}")]
    Open(nix::Error),
    #[error("cannot connect to the console socket {path}: {source}")]
    Connect {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot send the pty master over the console socket {path}: {source}")]
    Send { path: PathBuf, source: nix::Error },
    #[error("process.terminal is set but no --console-socket was given: pass one to receive the pty master")]
    NoSocket,
}

/// A fresh pty pair.
pub struct Pty {
    pub master: OwnedFd,
    pub slave: OwnedFd,
}

/// Opens a pty, sized when the spec gives a console size.
pub fn open(size: Option<(u16, u16)>) -> Result<Pty, ConsoleError> {
    let ws = size.map(|(rows, cols)| Winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    });
    let p = openpty(ws.as_ref(), None).map_err(ConsoleError::Open)?;
    Ok(Pty {
        master: p.master,
        slave: p.slave,
    })
}

/// Sends `master` over the Unix socket at `socket`.
pub fn send_master(socket: &Path, master: &OwnedFd) -> Result<(), ConsoleError> {
    let stream = UnixStream::connect(socket).map_err(|source| ConsoleError::Connect {
        path: socket.to_path_buf(),
        source,
    })?;
    // The shim names the received file after the payload; runc sends the
    // name of the multiplexer it opened.
    let name = b"/dev/ptmx";
    let iov = [IoSlice::new(name)];
    let fds = [master.as_raw_fd()];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    sendmsg::<()>(stream.as_raw_fd(), &iov, &cmsg, MsgFlags::empty(), None).map_err(|source| {
        ConsoleError::Send {
            path: socket.to_path_buf(),
            source,
        }
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::IoSliceMut;
    use std::os::unix::net::UnixListener;

    use nix::sys::socket::{recvmsg, ControlMessageOwned};

    #[test]
    fn master_travels_over_the_socket() {
        let dir = std::env::temp_dir().join(format!("sandbox-console-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("console.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let pty = open(Some((24, 80))).unwrap();
        send_master(&path, &pty.master).unwrap();
        let (conn, _) = listener.accept().unwrap();
        let mut buf = [0u8; 64];
        let mut iov = [IoSliceMut::new(&mut buf)];
        let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 1]);
        let msg = recvmsg::<()>(
            conn.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::empty(),
        )
        .unwrap();
        let got_fd = msg
            .cmsgs()
            .unwrap()
            .any(|c| matches!(c, ControlMessageOwned::ScmRights(f) if f.len() == 1));
        let n = msg.bytes;
        assert!(got_fd);
        assert_eq!(&buf[..n], b"/dev/ptmx");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
