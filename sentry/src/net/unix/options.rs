//! Socket options (SOL_SOCKET) of Unix sockets.

use std::time::Duration;

use super::{Conn, Ucred, UnixSocket, DEFAULT_BUF};
use crate::errno::{err, Errno, SysResult};
use crate::kernel::process::lock;

impl UnixSocket {
    /// getsockopt(SOL_SOCKET, name): the option's bytes.
    pub fn get_option(&self, name: i32) -> SysResult<Vec<u8>> {
        let int = |v: i32| Ok(v.to_ne_bytes().to_vec());
        let mut i = lock(&self.inner);
        match name {
            libc::SO_TYPE => int(self.kind.linux_type()),
            libc::SO_DOMAIN => int(libc::AF_UNIX),
            libc::SO_PROTOCOL => int(0),
            libc::SO_ERROR => int(std::mem::take(&mut i.error)),
            libc::SO_ACCEPTCONN => int(matches!(i.conn, Conn::Listening { .. }) as i32),
            libc::SO_PASSCRED => int(i.passcred as i32),
            libc::SO_SNDBUF => int(i.sndbuf as i32),
            libc::SO_RCVBUF => int(i.rcvbuf as i32),
            libc::SO_REUSEADDR | libc::SO_KEEPALIVE | libc::SO_BROADCAST | libc::SO_OOBINLINE => {
                int(0)
            }
            libc::SO_PEERCRED => {
                let c = i.peercred.unwrap_or(Ucred {
                    pid: 0,
                    uid: u32::MAX,
                    gid: u32::MAX,
                });
                let mut v = c.pid.to_ne_bytes().to_vec();
                v.extend_from_slice(&c.uid.to_ne_bytes());
                v.extend_from_slice(&c.gid.to_ne_bytes());
                Ok(v)
            }
            libc::SO_RCVTIMEO | libc::SO_SNDTIMEO => {
                let d = if name == libc::SO_RCVTIMEO {
                    i.rcvtimeo
                } else {
                    i.sndtimeo
                }
                .unwrap_or_default();
                let mut v = (d.as_secs() as i64).to_ne_bytes().to_vec();
                v.extend_from_slice(&(d.subsec_micros() as i64).to_ne_bytes());
                Ok(v)
            }
            libc::SO_LINGER => Ok(vec![0; 8]),
            _ => err(libc::ENOPROTOOPT),
        }
    }

    /// setsockopt(SOL_SOCKET, name, value).
    pub fn set_option(&self, name: i32, value: &[u8]) -> SysResult<()> {
        let int = || -> SysResult<i32> {
            let b: [u8; 4] = value
                .get(..4)
                .and_then(|b| b.try_into().ok())
                .ok_or(Errno(libc::EINVAL))?;
            Ok(i32::from_ne_bytes(b))
        };
        let mut i = lock(&self.inner);
        match name {
            libc::SO_PASSCRED => i.passcred = int()? != 0,
            // Linux doubles the value to allow for bookkeeping, within limits.
            libc::SO_SNDBUF => i.sndbuf = (int()?.max(2304) as usize * 2).min(2 * DEFAULT_BUF),
            libc::SO_RCVBUF => i.rcvbuf = (int()?.max(1152) as usize * 2).min(2 * DEFAULT_BUF),
            libc::SO_RCVTIMEO | libc::SO_SNDTIMEO => {
                if value.len() < 16 {
                    return err(libc::EINVAL);
                }
                let secs =
                    i64::from_ne_bytes(value[..8].try_into().map_err(|_| Errno(libc::EINVAL))?);
                let usecs =
                    i64::from_ne_bytes(value[8..16].try_into().map_err(|_| Errno(libc::EINVAL))?);
                if !(0..1_000_000).contains(&usecs) {
                    return err(libc::EDOM);
                }
                let d = (secs > 0 || usecs > 0)
                    .then(|| Duration::new(secs.max(0) as u64, usecs as u32 * 1000));
                if name == libc::SO_RCVTIMEO {
                    i.rcvtimeo = d;
                } else {
                    i.sndtimeo = d;
                }
            }
            libc::SO_REUSEADDR
            | libc::SO_KEEPALIVE
            | libc::SO_LINGER
            | libc::SO_BROADCAST
            | libc::SO_OOBINLINE
            | libc::SO_PRIORITY => {}
            _ => return err(libc::ENOPROTOOPT),
        }
        Ok(())
    }
}
