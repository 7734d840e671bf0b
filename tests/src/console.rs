//! The test's end of `--console-socket`, as containerd's shim has it.

/// Receives the pty master a runtime sends to `--console-socket`.
pub fn receive_master(listener: &std::os::unix::net::UnixListener) -> std::os::fd::OwnedFd {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    use std::os::fd::{AsRawFd, FromRawFd};
    let (conn, _) = listener.accept().expect("accept the console socket");
    let mut buf = [0u8; 256];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = recvmsg::<()>(
        conn.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::empty(),
    )
    .expect("recvmsg on the console socket");
    for c in msg.cmsgs().expect("control messages") {
        if let ControlMessageOwned::ScmRights(fds) = c {
            if let Some(&fd) = fds.first() {
                // SAFETY: SCM_RIGHTS gave us this descriptor; we own it now.
                return unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
            }
        }
    }
    panic!("no descriptor arrived on the console socket");
}

/// Types `typed` followed by a newline into a terminal's master, then
/// reads what the terminal shows until `got typed` appears, the terminal
/// closes, or 20 s pass; the text without carriage returns and without
/// the echoed line.
pub fn type_and_read(master: std::os::fd::OwnedFd) -> String {
    let mut master = std::fs::File::from(master);
    std::io::Write::write_all(&mut master, b"typed\n").expect("type into the terminal");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut all = Vec::new();
        let mut buf = [0u8; 4096];
        // EIO once the last slave closes.
        while let Ok(n) = std::io::Read::read(&mut master, &mut buf) {
            if n == 0 {
                break;
            }
            all.extend_from_slice(&buf[..n]);
            if all.windows(9).any(|w| w == b"got typed") {
                break;
            }
        }
        let _ = tx.send(all);
    });
    let all = rx
        .recv_timeout(std::time::Duration::from_secs(20))
        .unwrap_or_default();
    String::from_utf8_lossy(&all)
        .replace('\r', "")
        .lines()
        .filter(|l| *l != "typed")
        .map(|l| format!("{l}\n"))
        .collect()
}
