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
    let (a, b) = UnixSocket::pair(Kind::Stream, Ucred::default());
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
    let (a, b) = UnixSocket::pair(Kind::SeqPacket, Ucred::default());
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
    let (a, b) = UnixSocket::pair(Kind::Stream, Ucred::default());
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
    let (a, b) = UnixSocket::pair(Kind::Stream, Ucred::default());
    b.send(out(b"unread")).expect("send");
    a.close();
    assert_eq!(b.recv(8, false).err(), Some(Errno(libc::ECONNRESET)));
    assert_eq!(b.recv(8, false).map(|r| r.data.len()).ok(), Some(0));
}
