//! The stack's own thread: sleeps in poll(2) on the links' packet sockets
//! and the wake eventfd, for at most as long as the stack's next timer
//! (retransmission, delayed ACK, TIME_WAIT), then polls the stack. It is
//! the only reader of frames; system calls only send what they queued
//! (`Stack::flush`).

use std::os::fd::AsRawFd;

use super::{lock, WAKE};

/// Starts the driver if the sandbox has a stack. Call after the jail (the
/// thread inherits the Sentry's confinement).
pub fn start() -> std::io::Result<()> {
    if !super::present() {
        return Ok(());
    }
    std::thread::Builder::new()
        .name("netstack".into())
        .spawn(run)
        .map(|_| ())
}

fn run() {
    let mut fds: Vec<libc::pollfd> = Vec::new();
    if let Some(s) = lock() {
        for l in &s.links {
            fds.push(libc::pollfd {
                fd: l.device.raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
        }
    }
    let dns_fd = crate::net::dns::raw_fd();
    if let Some(fd) = dns_fd {
        fds.push(libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        });
    }
    let wake_fd = WAKE.get().map(|f| f.as_raw_fd()).unwrap_or(-1);
    fds.push(libc::pollfd {
        fd: wake_fd,
        events: libc::POLLIN,
        revents: 0,
    });
    loop {
        let (progressed, delay) = match lock() {
            Some(mut s) => {
                let progressed = s.poll();
                (progressed, s.poll_delay())
            }
            None => return,
        };
        // Milliseconds, rounded up so a due timer is not polled early in a
        // busy loop; -1 (no timer) sleeps until a frame or a wake-up. A
        // timer that is due at once while the poll changed nothing waits a
        // millisecond: a stack that cannot progress must not spin a CPU.
        let mut timeout = delay
            .map(|d| d.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32)
            .unwrap_or(-1);
        if timeout == 0 && !progressed {
            timeout = 1;
        }
        for f in &mut fds {
            f.revents = 0;
        }
        // SAFETY: poll reads and writes our array of pollfds of the stated length.
        unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
        // (The relay's descriptor sits just before the wake eventfd.)
        if dns_fd.is_some() && fds[fds.len() - 2].revents & libc::POLLIN != 0 {
            crate::net::dns::deliver_answers();
        }
        if fds.last().is_some_and(|f| f.revents & libc::POLLIN != 0) {
            let mut buf = [0u8; 8];
            // SAFETY: draining our eventfd into an 8-byte buffer.
            unsafe { libc::read(wake_fd, buf.as_mut_ptr().cast(), 8) };
        }
    }
}
