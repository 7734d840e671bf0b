//! The `host` network mode (`--network=host`): the workload's inet sockets
//! are relayed to host sockets the Sentry creates in the network namespace
//! it runs in (the container's own, or the host's for `docker run
//! --network=host`). Weaker than the default mode, and an explicit choice:
//! the host kernel's TCP/IP stack parses what the workload sends, and the
//! Sentry's allowlist grows by the socket calls (SECURITY.md). The
//! workload still never holds a host descriptor: each Sentry socket keeps
//! its host socket and makes the calls for it, non-blocking, with the
//! Sentry's own blocking and readiness (an epoll thread moves the
//! generation every socket of this mode adds to its `event_seq`).

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;

use crate::errno::{Errno, SysResult};
use crate::kernel::events;

static ENABLED: AtomicBool = AtomicBool::new(false);
static EPOLL: OnceLock<OwnedFd> = OnceLock::new();
static GENERATION: AtomicU64 = AtomicU64::new(0);

/// Whether inet sockets are host sockets (the mode is on).
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

pub fn generation() -> u64 {
    GENERATION.load(Ordering::SeqCst)
}

/// Turns the mode on. Call before the jail (epoll_create1).
pub fn enable() -> io::Result<()> {
    // SAFETY: epoll_create1 with a constant flag; the result is checked.
    let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor we own.
    let _ = EPOLL.set(unsafe { OwnedFd::from_raw_fd(fd) });
    ENABLED.store(true, Ordering::Relaxed);
    Ok(())
}

/// Starts the thread that turns host readiness into kernel events.
pub fn start() -> io::Result<()> {
    let Some(ep) = EPOLL.get().map(|f| f.as_raw_fd()) else {
        return Ok(());
    };
    std::thread::Builder::new()
        .name("hostnet".into())
        .spawn(move || {
            let mut evs = [libc::epoll_event { events: 0, u64: 0 }; 64];
            loop {
                // SAFETY: epoll_wait writes at most 64 events into our array.
                let n = unsafe { libc::epoll_wait(ep, evs.as_mut_ptr(), 64, -1) };
                if n > 0 {
                    GENERATION.fetch_add(1, Ordering::SeqCst);
                    events::notify();
                }
            }
        })
        .map(|_| ())
}

fn errno() -> Errno {
    Errno(
        io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO),
    )
}

fn check(rc: libc::c_int) -> SysResult<libc::c_int> {
    if rc < 0 {
        Err(errno())
    } else {
        Ok(rc)
    }
}

fn check_len(rc: isize) -> SysResult<usize> {
    if rc < 0 {
        Err(errno())
    } else {
        Ok(rc as usize)
    }
}

/// A host socket of the workload's.
pub struct HostSocket {
    fd: OwnedFd,
    /// SOCK_STREAM: MSG_TRUNC would discard a stream's bytes.
    stream: bool,
}

/// A `sockaddr_storage` and its length, from an address.
fn raw_addr(addr: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    let bytes = super::inet::encode(addr);
    // SAFETY: an all-zero sockaddr_storage is valid; we copy at most its size.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let n = bytes
        .len()
        .min(std::mem::size_of::<libc::sockaddr_storage>());
    // SAFETY: copying n bytes into the storage, which is at least n long.
    unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), &mut ss as *mut _ as *mut u8, n) };
    (ss, n as libc::socklen_t)
}

fn parse_addr(ss: &libc::sockaddr_storage, len: libc::socklen_t) -> Option<SocketAddr> {
    // SAFETY: the storage is initialized; we read at most `len` of its bytes.
    let bytes = unsafe {
        std::slice::from_raw_parts(
            ss as *const _ as *const u8,
            (len as usize).min(std::mem::size_of::<libc::sockaddr_storage>()),
        )
    };
    let v6 = ss.ss_family as i32 == libc::AF_INET6;
    super::inet::parse(bytes, v6).ok()
}

impl HostSocket {
    /// A new non-blocking host socket.
    pub fn new(domain: i32, ty: i32, protocol: i32) -> SysResult<HostSocket> {
        // SAFETY: socket(2) with integer arguments; the result is checked.
        let fd = check(unsafe {
            libc::socket(
                domain,
                ty | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                protocol,
            )
        })?;
        // SAFETY: fd is a fresh descriptor we own.
        let s = HostSocket {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
            stream: ty == libc::SOCK_STREAM,
        };
        s.watch();
        Ok(s)
    }

    fn watch(&self) {
        if let Some(ep) = EPOLL.get() {
            let mut ev = libc::epoll_event {
                events: (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET) as u32,
                u64: self.fd.as_raw_fd() as u64,
            };
            // SAFETY: epoll_ctl reads one epoll_event from our stack.
            unsafe {
                libc::epoll_ctl(
                    ep.as_raw_fd(),
                    libc::EPOLL_CTL_ADD,
                    self.fd.as_raw_fd(),
                    &mut ev,
                )
            };
        }
    }

    fn raw(&self) -> i32 {
        self.fd.as_raw_fd()
    }

    pub fn bind(&self, addr: &SocketAddr) -> SysResult<()> {
        let (ss, len) = raw_addr(addr);
        // SAFETY: bind reads `len` bytes of our sockaddr_storage.
        check(unsafe { libc::bind(self.raw(), &ss as *const _ as *const libc::sockaddr, len) })
            .map(|_| ())
    }

    pub fn listen(&self, backlog: i32) -> SysResult<()> {
        // SAFETY: listen with integer arguments.
        check(unsafe { libc::listen(self.raw(), backlog) }).map(|_| ())
    }

    /// Starts a connect; EINPROGRESS while the handshake runs.
    pub fn connect(&self, addr: &SocketAddr) -> SysResult<()> {
        let (ss, len) = raw_addr(addr);
        // SAFETY: connect reads `len` bytes of our sockaddr_storage.
        check(unsafe { libc::connect(self.raw(), &ss as *const _ as *const libc::sockaddr, len) })
            .map(|_| ())
    }

    /// The next connection (EAGAIN when none is waiting).
    pub fn accept(&self) -> SysResult<HostSocket> {
        // SAFETY: accept4 without an address; the result is checked.
        let fd = check(unsafe {
            libc::accept4(
                self.raw(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            )
        })?;
        // SAFETY: fd is a fresh descriptor we own.
        let s = HostSocket {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
            stream: true,
        };
        s.watch();
        Ok(s)
    }

    fn name(&self, peer: bool) -> SysResult<SocketAddr> {
        // SAFETY: an all-zero sockaddr_storage is valid for the kernel to fill.
        let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        let p = &mut ss as *mut _ as *mut libc::sockaddr;
        // SAFETY: the kernel writes at most `len` bytes into our storage.
        let rc = unsafe {
            if peer {
                libc::getpeername(self.raw(), p, &mut len)
            } else {
                libc::getsockname(self.raw(), p, &mut len)
            }
        };
        check(rc)?;
        parse_addr(&ss, len).ok_or(Errno(libc::EINVAL))
    }

    pub fn local(&self) -> SysResult<SocketAddr> {
        self.name(false)
    }

    pub fn peer(&self) -> SysResult<SocketAddr> {
        self.name(true)
    }

    pub fn send(&self, data: &[u8], to: Option<&SocketAddr>) -> SysResult<usize> {
        let flags = libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;
        let n = match to {
            Some(a) => {
                let (ss, len) = raw_addr(a);
                // SAFETY: sendto reads our buffer and `len` bytes of the address.
                unsafe {
                    libc::sendto(
                        self.raw(),
                        data.as_ptr().cast(),
                        data.len(),
                        flags,
                        &ss as *const _ as *const libc::sockaddr,
                        len,
                    )
                }
            }
            // SAFETY: send reads our buffer.
            None => unsafe { libc::send(self.raw(), data.as_ptr().cast(), data.len(), flags) },
        };
        check_len(n)
    }

    /// Receives into `buf`: the length (or the datagram's full length with
    /// MSG_TRUNC semantics left to the caller) and the sender.
    pub fn recv(
        &self,
        buf: &mut [u8],
        peek: bool,
    ) -> SysResult<(usize, usize, Option<SocketAddr>)> {
        // SAFETY: an all-zero sockaddr_storage is valid for the kernel to fill.
        let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        // MSG_TRUNC: a datagram's full length (on a stream it would
        // discard the bytes instead).
        let mut flags = libc::MSG_DONTWAIT;
        if !self.stream {
            flags |= libc::MSG_TRUNC;
        }
        if peek {
            flags |= libc::MSG_PEEK;
        }
        // SAFETY: recvfrom writes at most buf.len() bytes and `len` of the address.
        let full = check_len(unsafe {
            libc::recvfrom(
                self.raw(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                flags,
                &mut ss as *mut _ as *mut libc::sockaddr,
                &mut len,
            )
        })?;
        Ok((full.min(buf.len()), full, parse_addr(&ss, len)))
    }

    pub fn shutdown(&self, how: i32) -> SysResult<()> {
        // SAFETY: shutdown with integer arguments.
        check(unsafe { libc::shutdown(self.raw(), how) }).map(|_| ())
    }

    /// poll(2) bits of the host socket, now.
    pub fn readiness(&self) -> i16 {
        let mut p = libc::pollfd {
            fd: self.raw(),
            events: libc::POLLIN | libc::POLLOUT | libc::POLLRDHUP | libc::POLLPRI,
            revents: 0,
        };
        // SAFETY: poll reads and writes one pollfd; zero timeout.
        unsafe { libc::poll(&mut p, 1, 0) };
        p.revents
    }

    pub fn get_option(&self, level: i32, name: i32) -> SysResult<Vec<u8>> {
        let mut buf = vec![0u8; 256];
        let mut len = buf.len() as libc::socklen_t;
        // SAFETY: the kernel writes at most `len` bytes into our buffer.
        check(unsafe {
            libc::getsockopt(self.raw(), level, name, buf.as_mut_ptr().cast(), &mut len)
        })?;
        buf.truncate(len as usize);
        Ok(buf)
    }

    pub fn set_option(&self, level: i32, name: i32, value: &[u8]) -> SysResult<()> {
        // SAFETY: the kernel reads value.len() bytes of our buffer.
        check(unsafe {
            libc::setsockopt(
                self.raw(),
                level,
                name,
                value.as_ptr().cast(),
                value.len() as libc::socklen_t,
            )
        })
        .map(|_| ())
    }

    /// SO_ERROR: the pending error, cleared (0: none).
    pub fn take_error(&self) -> i32 {
        self.get_option(libc::SOL_SOCKET, libc::SO_ERROR)
            .ok()
            .and_then(|v| {
                v.get(..4)
                    .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
            })
            .unwrap_or(0)
    }

    /// Bytes readable now (FIONREAD).
    pub fn readable_bytes(&self) -> usize {
        let mut n: libc::c_int = 0;
        // SAFETY: FIONREAD writes one int.
        unsafe { libc::ioctl(self.raw(), libc::FIONREAD, &mut n) };
        n.max(0) as usize
    }
}

impl Drop for HostSocket {
    fn drop(&mut self) {
        if let Some(ep) = EPOLL.get() {
            // SAFETY: removing our descriptor from our epoll set.
            unsafe {
                libc::epoll_ctl(
                    ep.as_raw_fd(),
                    libc::EPOLL_CTL_DEL,
                    self.fd.as_raw_fd(),
                    std::ptr::null_mut(),
                )
            };
        }
    }
}

/// The system calls the mode adds to the Sentry's allowlist.
/// (`socket` is added with a rule: inet families only.)
pub const JAIL_CALLS: &[i64] = &[
    libc::SYS_bind,
    libc::SYS_listen,
    libc::SYS_connect,
    libc::SYS_getsockname,
    libc::SYS_getpeername,
    libc::SYS_setsockopt,
    libc::SYS_getsockopt,
    libc::SYS_epoll_ctl,
    libc::SYS_epoll_wait,
];
