//! The netlink wire format: `struct nlmsghdr` and the `struct rtattr`
//! attributes that follow a message's fixed header, as Linux lays them out
//! (native byte order, every message and attribute padded to 4 bytes).

/// NLMSG_HDRLEN: the size of `struct nlmsghdr`.
pub const HDRLEN: usize = 16;
/// The size of `struct rtattr` (and `struct nlattr`).
const ATTR_HDRLEN: usize = 4;

pub const NLMSG_NOOP: u16 = 1;
pub const NLMSG_ERROR: u16 = 2;
pub const NLMSG_DONE: u16 = 3;
/// Types below this are control messages the kernel does not dispatch.
pub const NLMSG_MIN_TYPE: u16 = 0x10;

pub const NLM_F_REQUEST: u16 = 0x1;
pub const NLM_F_MULTI: u16 = 0x2;
pub const NLM_F_ACK: u16 = 0x4;
pub const NLM_F_ROOT: u16 = 0x100;
pub const NLM_F_MATCH: u16 = 0x200;
pub const NLM_F_DUMP: u16 = NLM_F_ROOT | NLM_F_MATCH;
/// On an ack: the request's payload was left out.
pub const NLM_F_CAPPED: u16 = 0x100;

/// Why a buffer is not a well-formed netlink message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("shorter than a netlink message header")]
    Short,
    #[error("nlmsg_len {0} is below the header size or beyond the buffer")]
    BadLength(u32),
}

/// NLMSG_ALIGN / RTA_ALIGN.
pub fn align(n: usize) -> usize {
    (n + 3) & !3
}

/// `struct nlmsghdr`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Header {
    pub len: u32,
    pub ty: u16,
    pub flags: u16,
    pub seq: u32,
    pub pid: u32,
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

impl Header {
    /// The header at the start of `b`.
    pub fn parse(b: &[u8]) -> Result<Header, WireError> {
        let short = WireError::Short;
        Ok(Header {
            len: u32_at(b, 0).ok_or(short)?,
            ty: u16_at(b, 4).ok_or(short)?,
            flags: u16_at(b, 6).ok_or(short)?,
            seq: u32_at(b, 8).ok_or(short)?,
            pid: u32_at(b, 12).ok_or(short)?,
        })
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.len.to_ne_bytes());
        out.extend_from_slice(&self.ty.to_ne_bytes());
        out.extend_from_slice(&self.flags.to_ne_bytes());
        out.extend_from_slice(&self.seq.to_ne_bytes());
        out.extend_from_slice(&self.pid.to_ne_bytes());
    }
}

/// One message of a datagram: its header and everything after it up to
/// `nlmsg_len` (the header's bytes included, as an ack echoes them).
#[derive(Clone, Copy, Debug)]
pub struct Message<'a> {
    pub header: Header,
    pub bytes: &'a [u8],
}

impl<'a> Message<'a> {
    /// The payload after the header.
    pub fn payload(&self) -> &'a [u8] {
        &self.bytes[HDRLEN..]
    }
}

/// Splits a datagram into its messages the way Linux's netlink_rcv_skb
/// walks one: it stops at the first message whose length is below the
/// header size or runs past the end (what came before is still handled).
pub fn messages(buf: &[u8]) -> (Vec<Message<'_>>, Option<WireError>) {
    let mut out = Vec::new();
    let mut off = 0;
    while buf.len() - off >= HDRLEN {
        let rest = &buf[off..];
        let header = match Header::parse(rest) {
            Ok(h) => h,
            Err(e) => return (out, Some(e)),
        };
        let len = header.len as usize;
        if len < HDRLEN || len > rest.len() {
            return (out, Some(WireError::BadLength(header.len)));
        }
        out.push(Message {
            header,
            bytes: &rest[..len],
        });
        off += align(len).min(rest.len());
    }
    (out, None)
}

/// The attributes in `b` (after a message's fixed header): (type, value).
/// A malformed attribute ends the list, as nla_for_each_attr does. The
/// NLA_F_NESTED and NLA_F_NET_BYTEORDER bits are masked off the type.
pub fn attributes(b: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    let mut off = 0;
    while b.len() - off >= ATTR_HDRLEN {
        let (Some(len), Some(ty)) = (u16_at(b, off), u16_at(b, off + 2)) else {
            break;
        };
        let len = len as usize;
        if len < ATTR_HDRLEN || off + len > b.len() {
            break;
        }
        out.push((ty & 0x3fff, &b[off + ATTR_HDRLEN..off + len]));
        off += align(len).min(b.len() - off);
    }
    out
}

/// Builds one message: a header, a fixed part, then attributes.
pub struct Builder {
    buf: Vec<u8>,
}

impl Builder {
    pub fn new(ty: u16, flags: u16, seq: u32, pid: u32) -> Builder {
        let mut buf = Vec::with_capacity(256);
        Header {
            len: 0,
            ty,
            flags,
            seq,
            pid,
        }
        .encode(&mut buf);
        Builder { buf }
    }

    /// Appends raw bytes (a fixed header such as `struct ifinfomsg`),
    /// padded to 4 bytes.
    pub fn bytes(mut self, b: &[u8]) -> Builder {
        self.buf.extend_from_slice(b);
        self.buf.resize(align(self.buf.len()), 0);
        self
    }

    pub fn attr(mut self, ty: u16, value: &[u8]) -> Builder {
        let len = ATTR_HDRLEN + value.len();
        // Attribute values of ours are small; a length that does not fit
        // the 16-bit field would be a bug here, and is clamped, not wrapped.
        self.buf
            .extend_from_slice(&(len.min(u16::MAX as usize) as u16).to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(value);
        self.buf.resize(align(self.buf.len()), 0);
        self
    }

    pub fn u8(self, ty: u16, v: u8) -> Builder {
        self.attr(ty, &[v])
    }

    pub fn u32(self, ty: u16, v: u32) -> Builder {
        self.attr(ty, &v.to_ne_bytes())
    }

    /// A NUL-terminated string attribute.
    pub fn str(self, ty: u16, s: &str) -> Builder {
        let mut v = s.as_bytes().to_vec();
        v.push(0);
        self.attr(ty, &v)
    }

    /// The finished message, its nlmsg_len filled in.
    pub fn finish(mut self) -> Vec<u8> {
        let len = self.buf.len() as u32;
        self.buf[..4].copy_from_slice(&len.to_ne_bytes());
        self.buf
    }
}

/// An NLMSG_ERROR message answering `req` with `errno` (0: an ack). An
/// error echoes the whole request unless `cap_ack`; an ack echoes only
/// its header and says so with NLM_F_CAPPED, as Linux's netlink_ack.
pub fn error_message(req: &Message, errno: i32, portid: u32, cap_ack: bool) -> Vec<u8> {
    let whole = errno != 0 && !cap_ack;
    let flags = if whole { 0 } else { NLM_F_CAPPED };
    let echoed = if whole {
        req.bytes
    } else {
        &req.bytes[..HDRLEN]
    };
    Builder::new(NLMSG_ERROR, flags, req.header.seq, portid)
        .bytes(&(-errno).to_ne_bytes())
        .bytes(echoed)
        .finish()
}

/// The NLMSG_DONE that ends a dump.
pub fn done_message(seq: u32, portid: u32) -> Vec<u8> {
    Builder::new(NLMSG_DONE, NLM_F_MULTI, seq, portid)
        .bytes(&0i32.to_ne_bytes())
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(ty: u16, flags: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
        Builder::new(ty, flags, seq, 0).bytes(payload).finish()
    }

    #[test]
    fn header_round_trips() {
        let h = Header {
            len: 20,
            ty: 18,
            flags: NLM_F_REQUEST | NLM_F_DUMP,
            seq: 7,
            pid: 42,
        };
        let mut b = Vec::new();
        h.encode(&mut b);
        assert_eq!(b.len(), HDRLEN);
        assert_eq!(Header::parse(&b), Ok(h));
        assert_eq!(Header::parse(&b[..10]), Err(WireError::Short));
    }

    #[test]
    fn a_datagram_splits_into_aligned_messages() {
        // A 17-byte message (padded to 20) followed by a 16-byte one.
        let mut d = request(18, NLM_F_REQUEST, 1, &[2]);
        assert_eq!(d.len(), 20, "the payload is padded");
        d[..4].copy_from_slice(&17u32.to_ne_bytes());
        d.extend(request(22, NLM_F_REQUEST, 2, &[]));
        let (msgs, err) = messages(&d);
        assert_eq!(err, None);
        assert_eq!(msgs.len(), 2);
        assert_eq!(msgs[0].payload(), &[2]);
        assert_eq!(msgs[1].header.seq, 2);
    }

    #[test]
    fn a_bad_length_stops_the_walk_after_the_good_messages() {
        let mut d = request(18, NLM_F_REQUEST, 1, &[0; 4]);
        let mut bad = request(18, NLM_F_REQUEST, 2, &[0; 4]);
        bad[..4].copy_from_slice(&200u32.to_ne_bytes());
        d.extend(bad);
        let (msgs, err) = messages(&d);
        assert_eq!(msgs.len(), 1);
        assert_eq!(err, Some(WireError::BadLength(200)));
        let tiny = 8u32.to_ne_bytes().repeat(4);
        assert_eq!(messages(&tiny).1, Some(WireError::BadLength(8)));
    }

    #[test]
    fn attributes_are_padded_and_parsed_back() {
        let m = Builder::new(16, NLM_F_MULTI, 3, 9)
            .bytes(&[0; 16])
            .str(3, "lo")
            .u32(4, 65536)
            .u8(16, 0)
            .attr(1, &[0; 6])
            .finish();
        assert_eq!(m.len() % 4, 0);
        let h = Header::parse(&m).expect("header");
        assert_eq!(h.len as usize, m.len());
        let attrs = attributes(&m[HDRLEN + 16..]);
        let types: Vec<u16> = attrs.iter().map(|a| a.0).collect();
        assert_eq!(types, [3, 4, 16, 1]);
        assert_eq!(attrs[0].1, b"lo\0");
        assert_eq!(attrs[1].1, 65536u32.to_ne_bytes());
        assert_eq!(attrs[3].1.len(), 6);
    }

    #[test]
    fn a_truncated_attribute_ends_the_list() {
        let mut b = Vec::new();
        b.extend_from_slice(&8u16.to_ne_bytes());
        b.extend_from_slice(&(1u16 | 0x8000).to_ne_bytes());
        b.extend_from_slice(&5u32.to_ne_bytes());
        b.extend_from_slice(&12u16.to_ne_bytes());
        b.extend_from_slice(&2u16.to_ne_bytes());
        let attrs = attributes(&b);
        assert_eq!(attrs.len(), 1);
        assert_eq!(attrs[0].0, 1, "NLA_F_NESTED is masked off");
    }

    #[test]
    fn errors_echo_the_request_and_acks_only_its_header() {
        let req = request(16, NLM_F_REQUEST | NLM_F_ACK, 5, &[0; 16]);
        let (msgs, _) = messages(&req);
        let e = error_message(&msgs[0], libc::EPERM, 77, false);
        let h = Header::parse(&e).expect("header");
        assert_eq!((h.ty, h.flags, h.seq, h.pid), (NLMSG_ERROR, 0, 5, 77));
        assert_eq!(
            i32::from_ne_bytes(e[16..20].try_into().expect("4")),
            -libc::EPERM
        );
        assert_eq!(&e[20..], &req[..]);
        let ack = error_message(&msgs[0], 0, 77, false);
        assert_eq!(ack.len(), HDRLEN + 4 + HDRLEN);
        assert_eq!(Header::parse(&ack).expect("h").flags, NLM_F_CAPPED);
        assert_eq!(&ack[20..], &req[..HDRLEN]);
        let done = done_message(5, 77);
        assert_eq!(done.len(), 20);
        assert_eq!(Header::parse(&done).expect("h").ty, NLMSG_DONE);
    }
}
