//! Unit tests of the socket core, without a task.

use super::*;

fn out(data: &[u8]) -> Outgoing<'_> {
    Outgoing {
        data,
        rights: &[],
        creds: Ucred::default(),
        to: None,
    }
}

#[test]
fn stream_pair_carries_bytes_and_eof() {
    let (a, b) = Socket::pair(Kind::Stream, Ucred::default());
    assert_eq!(a.send(out(b"hello ")).ok(), Some(6));
    assert_eq!(a.send(out(b"world")).ok(), Some(5));
    let got = b.recv(64, false).expect("data");
    assert_eq!(got.data, b"hello world");
    assert_eq!(b.recv(64, false).err(), Some(Errno(libc::EAGAIN)));
    a.close();
    assert_eq!(b.recv(64, false).map(|r| r.data.len()).ok(), Some(0));
    assert_eq!(b.send(out(b"x")).err(), Some(Errno(libc::EPIPE)));
}

#[test]
fn records_keep_boundaries_and_truncate() {
    let (a, b) = Socket::pair(Kind::SeqPacket, Ucred::default());
    a.send(out(b"abcdef")).expect("send");
    a.send(out(b"gh")).expect("send");
    let got = b.recv(3, false).expect("record");
    assert_eq!(
        (got.data.as_slice(), got.full_len, got.truncated),
        (&b"abc"[..], 6, true)
    );
    assert_eq!(b.recv(64, false).expect("record").data, b"gh");
}

#[test]
fn stream_fills_then_refuses_with_eagain() {
    let (a, b) = Socket::pair(Kind::Stream, Ucred::default());
    let chunk = vec![7u8; 65536];
    let mut total = 0;
    loop {
        match a.send(out(&chunk)) {
            Ok(n) => total += n,
            Err(e) => {
                assert_eq!(e, Errno(libc::EAGAIN));
                break;
            }
        }
    }
    assert_eq!(total, DEFAULT_BUF);
    assert!(b.readiness() & libc::POLLIN != 0);
    assert!(a.readiness() & libc::POLLOUT == 0);
    b.recv(1000, false).expect("drain some");
    assert!(a.readiness() & libc::POLLOUT != 0);
}

#[test]
fn closing_with_unread_data_resets_the_peer() {
    let (a, b) = Socket::pair(Kind::Stream, Ucred::default());
    b.send(out(b"unread")).expect("send");
    a.close();
    assert_eq!(b.recv(8, false).err(), Some(Errno(libc::ECONNRESET)));
    assert_eq!(b.recv(8, false).map(|r| r.data.len()).ok(), Some(0));
}

#[test]
fn proc_net_unix_lists_listeners_connections_and_embryos() {
    use super::unix_listing::*;
    let creds = Ucred::default();
    let l = Socket::new(Family::Unix, Kind::Stream);
    let name = format!("listing-test-{}", l.ino()).into_bytes();
    let addr = SockAddr::Unix(UnixAddr::Abstract(name.clone()));
    l.bind(Some((addr, NameKey::Abstract(name.clone()))))
        .expect("bind");
    l.listen(4, creds).expect("listen");
    let c = Socket::new(Family::Unix, Kind::Stream);
    c.connect(&l, creds, None).expect("connect");
    let find = |ino: u64| entries().into_iter().find(|e| e.ino == ino);
    let seen = find(l.ino()).expect("listener");
    assert_eq!(
        (seen.refs, seen.flags, seen.ty, seen.state),
        (2, SO_ACCEPTCON, libc::SOCK_STREAM, SS_UNCONNECTED)
    );
    assert_eq!(seen.name, UnixAddr::Abstract(name.clone()));
    let seen = find(c.ino()).expect("client");
    assert_eq!((seen.refs, seen.flags, seen.state), (3, 0, SS_CONNECTED));
    assert_eq!(seen.name, UnixAddr::Unnamed);
    // Not accepted yet: connecting, no inode, the listener's name.
    let embryo = entries()
        .into_iter()
        .find(|e| e.ino == 0 && e.name == UnixAddr::Abstract(name.clone()))
        .expect("embryo");
    assert_eq!((embryo.refs, embryo.state), (3, SS_CONNECTING));
    let s = l.accept().expect("accept");
    assert_eq!(find(s.ino()).map(|e| e.state), Some(SS_CONNECTED));
    s.close();
    assert_eq!(find(s.ino()), None);
    assert_eq!(find(c.ino()).map(|e| e.refs), Some(2));

    let (a, b) = Socket::pair(Kind::SeqPacket, creds);
    let seen = find(a.ino()).expect("pair");
    assert_eq!(
        (seen.refs, seen.ty, seen.state),
        (3, libc::SOCK_SEQPACKET, SS_CONNECTED)
    );
    drop(b);
    let d = Socket::new(Family::Unix, Kind::Dgram);
    assert_eq!(
        find(d.ino()).map(|e| (e.ty, e.state)),
        Some((libc::SOCK_DGRAM, SS_UNCONNECTED))
    );
}
