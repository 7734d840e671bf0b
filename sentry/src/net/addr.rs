//! Unix socket addresses (`struct sockaddr_un`) as the workload passes and
//! receives them.

use crate::errno::{err, SysResult};

/// `offsetof(struct sockaddr_un, sun_path)`.
const PATH_OFFSET: usize = 2;
/// `sizeof(struct sockaddr_un)`.
pub const SOCKADDR_UN_LEN: usize = 110;

/// A Unix socket's name.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum UnixAddr {
    /// Not bound (or the peer of an unbound socket).
    Unnamed,
    /// A name in the abstract namespace (no file; the leading NUL is not stored).
    Abstract(Vec<u8>),
    /// A path in the sandbox's file system, as the caller gave it.
    Path(String),
}

/// What the caller asked for when it passed an address.
pub enum Requested {
    /// Only the family: bind asks for an automatic abstract name.
    Autobind,
    Addr(UnixAddr),
}

impl UnixAddr {
    /// Parses the bytes of a `sockaddr_un` of the caller's length.
    pub fn parse(raw: &[u8]) -> SysResult<Requested> {
        if raw.len() < PATH_OFFSET || raw.len() > SOCKADDR_UN_LEN {
            return err(libc::EINVAL);
        }
        let family = u16::from_ne_bytes([raw[0], raw[1]]);
        if family != libc::AF_UNIX as u16 {
            return err(libc::EINVAL);
        }
        let path = &raw[PATH_OFFSET..];
        match path.first() {
            None => Ok(Requested::Autobind),
            Some(0) => Ok(Requested::Addr(UnixAddr::Abstract(path[1..].to_vec()))),
            Some(_) => {
                // A path ends at its first NUL or at the given length.
                let end = path.iter().position(|&b| b == 0).unwrap_or(path.len());
                let s = std::str::from_utf8(&path[..end])
                    .map_err(|_| crate::errno::Errno(libc::EINVAL))?;
                Ok(Requested::Addr(UnixAddr::Path(s.to_string())))
            }
        }
    }

    /// The bytes of the `sockaddr_un` Linux reports for this name (its
    /// length is the length getsockname and friends return).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = (libc::AF_UNIX as u16).to_ne_bytes().to_vec();
        match self {
            UnixAddr::Unnamed => {}
            UnixAddr::Abstract(name) => {
                out.push(0);
                out.extend_from_slice(name);
            }
            UnixAddr::Path(p) => {
                out.extend_from_slice(p.as_bytes());
                out.push(0);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(path: &[u8]) -> Vec<u8> {
        let mut v = (libc::AF_UNIX as u16).to_ne_bytes().to_vec();
        v.extend_from_slice(path);
        v
    }

    #[test]
    fn parses_each_kind_of_name() {
        assert!(matches!(
            UnixAddr::parse(&raw(b"")),
            Ok(Requested::Autobind)
        ));
        assert!(matches!(
            UnixAddr::parse(&raw(b"\0abc")),
            Ok(Requested::Addr(UnixAddr::Abstract(n))) if n == b"abc"
        ));
        assert!(matches!(
            UnixAddr::parse(&raw(b"/tmp/s\0junk")),
            Ok(Requested::Addr(UnixAddr::Path(p))) if p == "/tmp/s"
        ));
    }

    #[test]
    fn refuses_bad_lengths_and_families() {
        assert!(UnixAddr::parse(&[1]).is_err());
        assert!(UnixAddr::parse(&[1u8; 200]).is_err());
        let mut inet = raw(b"/x");
        inet[0] = libc::AF_INET as u8;
        assert!(UnixAddr::parse(&inet).is_err());
    }

    #[test]
    fn encodes_as_linux_reports_lengths() {
        assert_eq!(UnixAddr::Unnamed.encode().len(), 2);
        assert_eq!(UnixAddr::Abstract(b"ab".to_vec()).encode().len(), 5);
        assert_eq!(UnixAddr::Path("/s".into()).encode().len(), 5);
    }
}
