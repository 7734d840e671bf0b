use super::*;
use crate::net::netlink::route::{RTM_GETADDR, RTM_GETLINK, RTM_NEWADDR, RTM_NEWLINK};
use crate::net::netlink::wire::{
    Builder, Header, NLMSG_DONE, NLMSG_ERROR, NLM_F_DUMP, NLM_F_MULTI,
};

fn sender(tgid: i32) -> Sender {
    Sender {
        tgid,
        net_admin: false,
    }
}

fn request(ty: u16, flags: u16, seq: u32) -> Vec<u8> {
    Builder::new(ty, NLM_F_REQUEST | flags, seq, 0)
        .bytes(&[0; 4])
        .finish()
}

/// Every message of every datagram queued on `s`.
fn drain(s: &NetlinkSocket) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while let Ok(d) = s.recv(65536, false) {
        assert_eq!(d.data.len(), d.full_len);
        let (msgs, bad) = wire::messages(&d.data);
        assert_eq!(bad, None);
        out.extend(msgs.iter().map(|m| m.bytes.to_vec()));
    }
    out
}

#[test]
fn addresses_encode_and_parse() {
    let a = NlAddr {
        pid: 77,
        groups: 0x11,
    };
    let raw = a.encode();
    assert_eq!(raw.len(), ADDR_LEN);
    assert_eq!(NlAddr::parse(&raw), Ok(a));
    assert_eq!(NlAddr::parse(&raw[..8]), Err(Errno(libc::EINVAL)));
    let mut unix = raw.clone();
    unix[0] = libc::AF_UNIX as u8;
    assert_eq!(NlAddr::parse(&unix), Err(Errno(libc::EINVAL)));
}

#[test]
fn port_ids_are_the_tgid_then_negative() {
    let a = NetlinkSocket::new(libc::SOCK_RAW);
    let b = NetlinkSocket::new(libc::SOCK_RAW);
    assert_eq!(a.local_addr().pid, 0, "unbound");
    a.bind(NlAddr::default(), 31_001).expect("autobind");
    assert_eq!(a.local_addr().pid, 31_001);
    b.bind(NlAddr::default(), 31_001).expect("autobind");
    assert!((b.local_addr().pid as i32) < 0);
    let c = NetlinkSocket::new(libc::SOCK_RAW);
    let taken = NlAddr {
        pid: 31_001,
        groups: 0,
    };
    assert_eq!(c.bind(taken, 5), Err(Errno(libc::EADDRINUSE)));
    // Rebinding to another port fails; groups may change.
    let other = NlAddr { pid: 9, groups: 1 };
    assert_eq!(a.bind(other, 31_001), Err(Errno(libc::EINVAL)));
    a.bind(NlAddr { pid: 0, groups: 1 }, 31_001)
        .expect("groups");
    assert_eq!(a.local_addr().groups, 1);
    a.close();
    c.bind(taken, 5).expect("freed by close");
}

#[test]
fn a_dump_ends_with_done_and_carries_seq_and_port() {
    let s = NetlinkSocket::new(libc::SOCK_RAW);
    let req = request(RTM_GETLINK, NLM_F_DUMP, 42);
    assert_eq!(s.send(&req, None, sender(31_002)), Ok(req.len()));
    assert_ne!(s.readiness() & libc::POLLIN, 0);
    let port = s.local_addr().pid;
    assert_eq!(port, 31_002, "sending autobinds");
    let msgs = drain(&s);
    let last = msgs.last().expect("messages");
    let done = Header::parse(last).expect("h");
    assert_eq!(
        (done.ty, done.flags, done.seq, done.pid),
        (NLMSG_DONE, NLM_F_MULTI, 42, port)
    );
    let first = Header::parse(&msgs[0]).expect("h");
    assert_eq!(
        (first.ty, first.flags, first.seq, first.pid),
        (RTM_NEWLINK, NLM_F_MULTI, 42, port)
    );
    assert_eq!(s.readiness() & libc::POLLIN, 0);
    assert_eq!(s.recv(100, false).err(), Some(Errno(libc::EAGAIN)));
}

#[test]
fn peek_and_trunc_size_a_datagram() {
    let s = NetlinkSocket::new(libc::SOCK_DGRAM);
    s.send(&request(RTM_GETADDR, NLM_F_DUMP, 1), None, sender(31_003))
        .expect("send");
    // iproute2: a zero-length peek learns the size...
    let peeked = s.recv(0, true).expect("peek");
    assert!(peeked.data.is_empty());
    assert!(peeked.full_len > 0);
    // ...and the datagram is still there, whole.
    let got = s.recv(peeked.full_len, false).expect("recv");
    assert_eq!(got.data.len(), peeked.full_len);
    // A short buffer loses the rest of the datagram.
    let rest = s.recv(4, false).expect("done");
    assert_eq!(rest.data.len(), 4);
    assert!(rest.full_len > 4);
    assert_eq!(s.recv(100, false).err(), Some(Errno(libc::EAGAIN)));
}

#[test]
fn acks_errors_and_busy_dumps() {
    let s = NetlinkSocket::new(libc::SOCK_RAW);
    let tgid = 31_004;
    // A change without CAP_NET_ADMIN: EPERM, the request echoed.
    let change = request(RTM_NEWADDR, NLM_F_ACK, 7);
    s.send(&change, None, sender(tgid)).expect("send");
    let msgs = drain(&s);
    assert_eq!(msgs.len(), 1);
    let h = Header::parse(&msgs[0]).expect("h");
    assert_eq!((h.ty, h.seq), (NLMSG_ERROR, 7));
    assert_eq!(
        i32::from_ne_bytes(msgs[0][16..20].try_into().expect("4")),
        -libc::EPERM
    );
    assert_eq!(&msgs[0][20..], &change[..]);
    // A control message with NLM_F_ACK gets a bare ack.
    let noop = Builder::new(wire::NLMSG_NOOP, NLM_F_REQUEST | NLM_F_ACK, 8, 0).finish();
    s.send(&noop, None, sender(tgid)).expect("send");
    let msgs = drain(&s);
    assert_eq!(msgs.len(), 1);
    assert_eq!(
        i32::from_ne_bytes(msgs[0][16..20].try_into().expect("4")),
        0
    );
    // Two dumps in one datagram: the second finds the first running.
    let mut two = request(RTM_GETLINK, NLM_F_DUMP, 10);
    two.extend(request(RTM_GETADDR, NLM_F_DUMP, 11));
    s.send(&two, None, sender(tgid)).expect("send");
    let msgs = drain(&s);
    let busy = msgs
        .iter()
        .find(|m| Header::parse(m).is_ok_and(|h| h.seq == 11))
        .expect("an answer to the second");
    assert_eq!(
        i32::from_ne_bytes(busy[16..20].try_into().expect("4")),
        -libc::EBUSY
    );
    // Unicast to another port: nobody is there.
    let to = NlAddr { pid: 5, groups: 0 };
    assert_eq!(
        s.send(&noop, Some(to), sender(tgid)),
        Err(Errno(libc::ECONNREFUSED))
    );
}

#[test]
fn a_full_queue_drops_replies_and_reports_enobufs() {
    let s = NetlinkSocket::new(libc::SOCK_RAW);
    s.set_option(
        libc::SOL_SOCKET,
        libc::SO_RCVBUF,
        &0i32.to_ne_bytes(),
        false,
    )
    .expect("rcvbuf");
    let noop = Builder::new(wire::NLMSG_NOOP, NLM_F_REQUEST | NLM_F_ACK, 1, 0).finish();
    let many: Vec<u8> = noop.repeat(200);
    s.send(&many, None, sender(31_005)).expect("send");
    assert_ne!(s.readiness() & libc::POLLERR, 0);
    assert_eq!(s.recv(100, false).err(), Some(Errno(libc::ENOBUFS)));
    assert!(s.recv(100, false).is_ok(), "what fitted is still there");
}

#[test]
fn options() {
    let s = NetlinkSocket::new(libc::SOCK_RAW);
    let one = 1i32.to_ne_bytes();
    for opt in [NETLINK_EXT_ACK, NETLINK_GET_STRICT_CHK, NETLINK_CAP_ACK] {
        s.set_option(SOL_NETLINK, opt, &one, false).expect("set");
        assert_eq!(s.get_option(SOL_NETLINK, opt), Ok(one.to_vec()));
    }
    s.set_option(
        libc::SOL_SOCKET,
        libc::SO_RCVBUF,
        &(1i32 << 20).to_ne_bytes(),
        false,
    )
    .expect("rcvbuf");
    assert_eq!(
        s.get_option(libc::SOL_SOCKET, libc::SO_RCVBUF),
        Ok(((2 * DEFAULT_BUF) as i32).to_ne_bytes().to_vec())
    );
    assert_eq!(
        s.set_option(libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, &one, false),
        Err(Errno(libc::EPERM))
    );
    s.set_option(
        SOL_NETLINK,
        NETLINK_ADD_MEMBERSHIP,
        &3i32.to_ne_bytes(),
        false,
    )
    .expect("join");
    assert_eq!(
        s.get_option(SOL_NETLINK, NETLINK_LIST_MEMBERSHIPS),
        Ok(4u64.to_ne_bytes().to_vec())
    );
    assert_eq!(
        s.set_option(
            SOL_NETLINK,
            NETLINK_ADD_MEMBERSHIP,
            &0i32.to_ne_bytes(),
            false
        ),
        Err(Errno(libc::EINVAL))
    );
    assert_eq!(
        s.get_option(libc::SOL_SOCKET, libc::SO_PROTOCOL),
        Ok(0i32.to_ne_bytes().to_vec())
    );
}
