//! Framing of control messages.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;

use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::spec::{ContainerFsSpec, ProcessSpec};

/// Largest frame accepted: a process spec with a large environment fits.
const MAX_FRAME: usize = 1 << 20;

/// Most descriptors one frame may carry: a joining container's stdio,
/// root and bind sources (Kubernetes gives a dozen binds or so).
pub const MAX_FDS: usize = 128;

#[derive(Debug, Serialize, Deserialize)]
pub enum Request {
    /// Let the init process begin (`sandbox start`).
    Start,
    /// Start another process in `container` ("" is the sandbox's first
    /// container); its stdio arrives with the frame.
    Exec {
        process: ProcessSpec,
        #[serde(default)]
        container: String,
    },
    /// Deliver a signal to a container's init, or to every process of the
    /// container with `all`.
    Signal {
        signal: i32,
        all: bool,
        #[serde(default)]
        container: String,
    },
    /// Host pids of the processes that run a container's workload.
    Ps {
        #[serde(default)]
        container: String,
    },
    /// A pod's later container joins the sandbox: its init is made, not
    /// started. The frame carries its stdio, its root and its bind
    /// sources (in that order). The connection stays open: `Exited` comes
    /// when the container's init ends.
    CreateContainer { spec: Box<JoinSpec> },
    /// Let a joined container's init begin.
    StartContainer { id: String },
    /// Stop every thread of the workload from running (`sandbox pause`).
    Pause,
    /// Let a paused workload run again (`sandbox resume`).
    Resume,
    /// The sandbox's figures (`sandbox events --stats`).
    Stats,
}

#[derive(Debug, Serialize, Deserialize)]
pub enum Response {
    Ok,
    Error {
        message: String,
    },
    /// An exec'd process began.
    Started,
    /// An exec'd process ended with this shell-style status.
    Exited {
        status: i32,
    },
    Pids {
        pids: Vec<i32>,
    },
    Stats(SandboxStats),
}

/// What a joining container brings: its id, file system, first process.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JoinSpec {
    pub id: String,
    pub fs: ContainerFsSpec,
    pub process: ProcessSpec,
    /// One entry per bind mount of `fs`, in order: the file's name within
    /// the directory whose descriptor came, or None for a directory.
    pub bind_files: Vec<Option<String>>,
    /// Whether the container has a pid namespace of its own: then its
    /// init reaps its orphans and its end kills the container's other
    /// processes, as a pid namespace's init does.
    pub own_pid_namespace: bool,
    /// Whether it has an IPC namespace of its own (SysV IPC, POSIX
    /// message queues); otherwise it shares the sandbox's.
    #[serde(default)]
    pub own_ipc_namespace: bool,
}

/// What `sandbox events --stats` reports from inside the sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxStats {
    /// The platform (`kvm`, `seccomp`, `ptrace`).
    pub platform: String,
    /// Live processes of the workload.
    pub processes: u64,
    /// The platform's counters (kvm: guest exits by kind), in its order.
    pub counters: Vec<(String, u64)>,
}

/// Sends one frame, with `fds` attached.
pub fn send_frame<T: Serialize>(sock: &UnixStream, msg: &T, fds: &[RawFd]) -> Result<(), Error> {
    let body = serde_json::to_vec(msg).map_err(|e| Error::Protocol(e.to_string()))?;
    let len = (body.len() as u32).to_le_bytes();
    let iov = [IoSlice::new(&len), IoSlice::new(&body)];
    let cmsg = [ControlMessage::ScmRights(fds)];
    let cmsgs: &[ControlMessage] = if fds.is_empty() { &[] } else { &cmsg };
    let total = len.len() + body.len();
    let sent = sendmsg::<()>(sock.as_raw_fd(), &iov, cmsgs, MsgFlags::MSG_NOSIGNAL, None)
        .map_err(|e| Error::Protocol(format!("send: {e}")))?;
    if sent != total {
        // The descriptors went with the first bytes; finish the rest plainly.
        use std::io::Write;
        let mut rest = Vec::with_capacity(total);
        rest.extend_from_slice(&len);
        rest.extend_from_slice(&body);
        (&*sock).write_all(&rest[sent..])?;
    }
    Ok(())
}

/// Receives one frame and the descriptors that came with it.
pub fn recv_frame<T: for<'de> Deserialize<'de>>(
    sock: &UnixStream,
) -> Result<(T, Vec<OwnedFd>), Error> {
    let mut len = [0u8; 4];
    let mut fds = Vec::new();
    let mut got = 0;
    while got < 4 {
        let mut cmsg_buf = nix::cmsg_space!([RawFd; MAX_FDS]);
        let mut iov = [IoSliceMut::new(&mut len[got..])];
        let msg = recvmsg::<()>(
            sock.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg_buf),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .map_err(|e| Error::Protocol(format!("receive: {e}")))?;
        if msg.bytes == 0 {
            return Err(Error::Protocol("the peer closed the connection".into()));
        }
        got += msg.bytes;
        if let Ok(cmsgs) = msg.cmsgs() {
            for c in cmsgs {
                if let ControlMessageOwned::ScmRights(list) = c {
                    // SAFETY: the kernel just installed these descriptors for
                    // us; nothing else owns them.
                    fds.extend(
                        list.into_iter()
                            .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
                    );
                }
            }
        }
    }
    let n = u32::from_le_bytes(len) as usize;
    if n > MAX_FRAME {
        return Err(Error::Protocol(format!("frame of {n} bytes is too large")));
    }
    let mut body = vec![0u8; n];
    use std::io::Read;
    (&*sock).read_exact(&mut body)?;
    let msg = serde_json::from_slice(&body).map_err(|e| Error::Protocol(e.to_string()))?;
    Ok((msg, fds))
}
