//! The terminal ioctls of a pty, on either side: settings, window size,
//! process groups, the controlling terminal, queues; and the master's own
//! (TIOCGPTN, TIOCSPTLCK, TIOCSIG).

use std::sync::Arc;

use super::ldisc::{TERMIOS2_SIZE, TERMIOS_SIZE};
use super::{ctty, Pty};
use crate::errno::{err, SysResult};
use crate::kernel::process::lock;
use crate::kernel::signal::{SigInfo, SI_KERNEL};
use crate::kernel::task::Task;

const TCGETS: u64 = 0x5401;
const TCSETS: u64 = 0x5402;
const TCSETSW: u64 = 0x5403;
const TCSETSF: u64 = 0x5404;
const TCSBRK: u64 = 0x5409;
const TCXONC: u64 = 0x540a;
const TCFLSH: u64 = 0x540b;
const TIOCSCTTY: u64 = 0x540e;
const TIOCGPGRP: u64 = 0x540f;
const TIOCSPGRP: u64 = 0x5410;
const TIOCOUTQ: u64 = 0x5411;
const TIOCGWINSZ: u64 = 0x5413;
const TIOCSWINSZ: u64 = 0x5414;
const FIONREAD: u64 = 0x541b;
const TIOCPKT: u64 = 0x5420;
const TIOCNOTTY: u64 = 0x5422;
const TCSBRKP: u64 = 0x5425;
const TIOCGSID: u64 = 0x5429;
const TCGETS2: u64 = 0x802c_542a;
const TCSETS2: u64 = 0x402c_542b;
const TCSETSW2: u64 = 0x402c_542c;
const TCSETSF2: u64 = 0x402c_542d;
const TIOCGPTN: u64 = 0x8004_5430;
const TIOCSPTLCK: u64 = 0x4004_5431;
const TIOCSIG: u64 = 0x4004_5436;
const TIOCGPTLCK: u64 = 0x8004_5439;

/// Makes the pty the caller's controlling terminal (TIOCSCTTY, or the
/// first open by a session leader without one). EPERM unless the caller
/// leads its session, has no terminal yet and the pty controls no other
/// session (`steal` lifts the last condition, as TIOCSCTTY 1 does for a
/// privileged caller).
pub(super) fn acquire(pty: &Arc<Pty>, steal: bool) -> SysResult<()> {
    let (pid, sid, pgid) = ctty::current_session().ok_or(crate::errno::Errno(libc::EPERM))?;
    let mut st = lock(&pty.state);
    if st.session == sid {
        return Ok(());
    }
    if pid != sid || ctty::has(sid) || (st.session != 0 && !steal) {
        return err(libc::EPERM);
    }
    if st.session != 0 {
        ctty::forget(st.session);
    }
    st.session = sid;
    st.fg_pgrp = pgid;
    drop(st);
    ctty::set(sid, pty.node());
    Ok(())
}

/// Is the pty the caller's controlling terminal?
fn controls_caller(pty: &Pty) -> bool {
    let sid = ctty::current_session().map(|(_, sid, _)| sid);
    let st = lock(&pty.state);
    st.session != 0 && Some(st.session) == sid
}

fn write_i32(t: &mut Task, arg: u64, v: i32) -> SysResult<u64> {
    t.mm.write(arg, &v.to_ne_bytes())?;
    Ok(0)
}

fn read_i32(t: &mut Task, arg: u64) -> SysResult<i32> {
    let mut b = [0u8; 4];
    t.mm.read(arg, &mut b)?;
    Ok(i32::from_ne_bytes(b))
}

/// An ioctl on the master (`master`) or on a slave.
pub(super) fn tty_ioctl(
    pty: &Arc<Pty>,
    master: bool,
    t: &mut Task,
    req: u64,
    arg: u64,
) -> SysResult<u64> {
    match req {
        TCGETS | TCGETS2 => {
            let st = lock(&pty.state);
            let tio = if master {
                st.master_termios
            } else {
                st.ld.termios
            };
            drop(st);
            let size = if req == TCGETS {
                TERMIOS_SIZE
            } else {
                TERMIOS2_SIZE
            };
            t.mm.write(arg, &tio.to_bytes()[..size])?;
            Ok(0)
        }
        TCSETS | TCSETSW | TCSETSF | TCSETS2 | TCSETSW2 | TCSETSF2 => {
            let two = matches!(req, TCSETS2 | TCSETSW2 | TCSETSF2);
            let mut b = [0u8; TERMIOS2_SIZE];
            let size = if two { TERMIOS2_SIZE } else { TERMIOS_SIZE };
            t.mm.read(arg, &mut b[..size])?;
            let mut st = lock(&pty.state);
            if master {
                st.master_termios = st.master_termios.from_bytes(&b[..size]);
            } else {
                let new = st.ld.termios.from_bytes(&b[..size]);
                if matches!(req, TCSETSF | TCSETSF2) {
                    st.ld.flush_input();
                }
                st.ld.set_termios(new);
            }
            drop(st);
            pty.seq.bump();
            Ok(0)
        }
        TIOCGWINSZ => {
            let ws = lock(&pty.state).winsize;
            t.mm.write(arg, &ws)?;
            Ok(0)
        }
        TIOCSWINSZ => {
            let mut ws = [0u8; 8];
            t.mm.read(arg, &mut ws)?;
            let changed = {
                let mut st = lock(&pty.state);
                let changed = st.winsize != ws;
                st.winsize = ws;
                changed
            };
            if changed {
                pty.signal_foreground(&[libc::SIGWINCH]);
            }
            Ok(0)
        }
        FIONREAD => {
            let st = lock(&pty.state);
            let n = if master {
                st.ld.output_len()
            } else {
                st.ld.input_len()
            };
            drop(st);
            write_i32(t, arg, n as i32)
        }
        TIOCOUTQ => {
            let n = if master {
                0
            } else {
                lock(&pty.state).ld.output_len()
            };
            write_i32(t, arg, n as i32)
        }
        TCFLSH => {
            let mut st = lock(&pty.state);
            let (input, output) = match arg as i32 {
                libc::TCIFLUSH => (true, false),
                libc::TCOFLUSH => (false, true),
                libc::TCIOFLUSH => (true, true),
                _ => return err(libc::EINVAL),
            };
            // The master's input is the slave's output, and the other way round.
            let (flush_in, flush_out) = if master {
                (output, input)
            } else {
                (input, output)
            };
            if flush_in {
                st.ld.flush_input();
            }
            if flush_out {
                st.ld.flush_output();
            }
            drop(st);
            pty.seq.bump();
            Ok(0)
        }
        TCXONC | TCSBRK | TCSBRKP => Ok(0),
        TIOCGPGRP => {
            if !master && !controls_caller(pty) {
                return err(libc::ENOTTY);
            }
            let pg = lock(&pty.state).fg_pgrp;
            write_i32(t, arg, pg)
        }
        TIOCSPGRP => {
            if !controls_caller(pty) {
                return err(libc::ENOTTY);
            }
            let pg = read_i32(t, arg)?;
            if pg < 0 {
                return err(libc::EINVAL);
            }
            let sid = lock(&pty.state).session;
            let in_session = t.kernel.all_processes().iter().any(|p| {
                let s = lock(&p.state);
                s.pgid == pg && s.sid == sid
            });
            if !in_session {
                return err(libc::EPERM);
            }
            lock(&pty.state).fg_pgrp = pg;
            Ok(0)
        }
        TIOCGSID => {
            let sid = lock(&pty.state).session;
            if sid == 0 || (!master && !controls_caller(pty)) {
                return err(libc::ENOTTY);
            }
            write_i32(t, arg, sid)
        }
        TIOCSCTTY => {
            // Stealing another session's terminal needs CAP_SYS_ADMIN.
            let steal = arg == 1
                && lock(&t.proc.state)
                    .creds
                    .has(crate::kernel::caps::SYS_ADMIN);
            acquire(pty, steal).map(|_| 0)
        }
        TIOCNOTTY => {
            if !controls_caller(pty) {
                return err(libc::ENOTTY);
            }
            let (pid, sid, _) = ctty::current_session().unwrap_or((0, 0, 0));
            if pid == sid {
                // The session leader gives it up: the session loses it.
                let mut st = lock(&pty.state);
                let pg = st.fg_pgrp;
                st.session = 0;
                st.fg_pgrp = 0;
                drop(st);
                ctty::forget(sid);
                if pg > 0 {
                    t.kernel
                        .signal_group(pg, SigInfo::new(libc::SIGHUP, SI_KERNEL));
                    t.kernel
                        .signal_group(pg, SigInfo::new(libc::SIGCONT, SI_KERNEL));
                }
            }
            Ok(0)
        }
        TIOCGPTN if master => write_i32(t, arg, pty.index as i32),
        TIOCSPTLCK if master => {
            let lock_it = read_i32(t, arg)? != 0;
            lock(&pty.state).locked = lock_it;
            Ok(0)
        }
        TIOCGPTLCK if master => {
            let l = lock(&pty.state).locked;
            write_i32(t, arg, l as i32)
        }
        TIOCPKT if master => {
            // Packet mode is not implemented; turning it off is a no-op.
            if read_i32(t, arg)? != 0 {
                return err(libc::EINVAL);
            }
            Ok(0)
        }
        TIOCSIG if master => {
            let sig = arg as i32;
            if !(1..=64).contains(&sig) {
                return err(libc::EINVAL);
            }
            pty.signal_foreground(&[sig]);
            Ok(0)
        }
        _ => err(libc::ENOTTY),
    }
}
