//! The sandbox's network beyond loopback (issue 12): a container given a
//! network namespace with a veth, as Docker's bridge driver leaves it, is
//! reached from the host and reaches the host through the Sentry's own
//! TCP/IP stack. Each check runs under runc first (the control, in an
//! identical namespace), then under the sandbox on each platform and the
//! microvm backend where /dev/kvm is usable.
//!
//! Also: what the workload sees of the network (`ip addr`, `ip route`,
//! /proc/net/dev), Docker's embedded DNS at 127.0.0.11 reached through the
//! namespace's own redirection, `--network=none`, the refusal of the
//! host's namespace, and frames of garbage and floods from the host side
//! that must leave the Sentry alive and serving.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use sandbox_tests::cprog::build_static;
use sandbox_tests::netns::TestNet;
use sandbox_tests::{assert_clean, Bundle, DeleteOnPanic, Runtime, TempDir};

const PAGE: &str = "hello from inside the container\n";

/// Every runtime a check runs under: runc first (the control).
fn runtimes() -> Vec<Runtime> {
    Runtime::control_then_sandboxes()
}

fn label(rt: &Runtime) -> String {
    format!("{} {}", rt.name, rt.platform_name())
}

/// A busybox bundle in `net`'s namespace, with a web root and the test's
/// C transfer program.
fn bundle(tag: &str, net: &TestNet, script: &str) -> Bundle {
    let b = Bundle::sh(tag, script);
    let root = b.rootfs();
    std::fs::create_dir_all(root.join("www")).expect("mkdir www");
    std::fs::write(root.join("www/index.html"), PAGE).expect("write the page");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("programs/tcpxfer.c");
    build_static(&src, &root.join("bin/tcpxfer"));
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("programs/sockopts.c");
    build_static(&src, &root.join("bin/sockopts"));
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("programs/slowaccept.c");
    build_static(&src, &root.join("bin/slowaccept"));
    let mut spec = b.spec();
    net.join(&mut spec);
    b.write_spec(&spec);
    b
}

/// A container started in the background (create + start), deleted on drop.
struct Running<'a> {
    rt: &'a Runtime,
    id: String,
    out: TempDir,
    _guard: DeleteOnPanic<'a>,
}

impl<'a> Running<'a> {
    fn start(rt: &'a Runtime, b: &Bundle) -> Running<'a> {
        let out = TempDir::new("net-out");
        let path = b.path().to_string_lossy().into_owned();
        rt.exec_in(&["create", "--bundle", &path, &b.id], out.path())
            .assert_success();
        rt.exec(&["start", &b.id]).assert_success();
        Running {
            rt,
            id: b.id.clone(),
            out,
            _guard: DeleteOnPanic::new(rt, &b.id),
        }
    }

    fn stdout(&self) -> String {
        std::fs::read_to_string(self.out.path().join("stdout")).unwrap_or_default()
    }

    /// Waits until the container printed `what`.
    fn wait_for(&self, what: &str) {
        let start = Instant::now();
        while !self.stdout().contains(what) {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "{}: the container never printed {what:?}; stdout: {}; stderr: {}",
                self.rt.name,
                self.stdout(),
                std::fs::read_to_string(self.out.path().join("stderr")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for the container to exit by itself.
    fn wait_exit(&self) {
        let start = Instant::now();
        loop {
            let st = self.rt.exec(&["state", &self.id]);
            if !st.success() || st.stdout.contains("\"stopped\"") {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "{}: the container did not finish; stdout: {}",
                self.rt.name,
                self.stdout()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        let _ = self.rt.exec(&["kill", &self.id, "9"]);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.rt.exec(&["delete", "--force", &self.id]).success() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Accepts one connection within 60 s (a container that never connects
/// fails the test instead of hanging it); the stream times out too.
fn accept_within(listener: &TcpListener) -> TcpStream {
    listener
        .set_nonblocking(true)
        .expect("a non-blocking listener");
    let start = Instant::now();
    loop {
        match listener.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false).expect("a blocking stream");
                s.set_read_timeout(Some(Duration::from_secs(60)))
                    .expect("a read timeout");
                return s;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(
                    start.elapsed() < Duration::from_secs(60),
                    "the container did not connect within 60 s"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}

/// One HTTP/1.0 GET; the body.
fn http_get(addr: SocketAddr) -> Result<String, String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(10))
        .map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    s.write_all(b"GET /index.html HTTP/1.0\r\nHost: test\r\n\r\n")
        .map_err(|e| format!("send: {e}"))?;
    let mut resp = String::new();
    s.read_to_string(&mut resp)
        .map_err(|e| format!("read: {e}"))?;
    if !resp.starts_with("HTTP/1.") || !resp.contains(" 200 ") {
        return Err(format!("not a 200 response: {resp:?}"));
    }
    Ok(resp.split("\r\n\r\n").nth(1).unwrap_or("").to_string())
}

/// Retries a first GET while the server starts.
fn first_get(addr: SocketAddr) -> String {
    let start = Instant::now();
    loop {
        match http_get(addr) {
            Ok(body) => return body,
            Err(e) if start.elapsed() > Duration::from_secs(20) => {
                panic!("no answer from {addr} in 20 s: {e}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

#[test]
fn a_web_server_inside_is_reachable_from_the_host() {
    for rt in runtimes() {
        let net = TestNet::new();
        let b = bundle("web", &net, "exec httpd -f -p 80 -h /www");
        let c = Running::start(&rt, &b);
        let addr = SocketAddr::from((net.container_ip, 80));
        assert_eq!(first_get(addr), PAGE, "{}", label(&rt));
        for i in 0..100 {
            let body =
                http_get(addr).unwrap_or_else(|e| panic!("{}: request {i}: {e}", label(&rt)));
            assert_eq!(body, PAGE, "{}: request {i}", label(&rt));
        }
        // 20 clients at once, 5 requests each.
        let workers: Vec<_> = (0..20)
            .map(|_| std::thread::spawn(move || (0..5).map(|_| http_get(addr)).collect::<Vec<_>>()))
            .collect();
        for w in workers {
            for r in w.join().expect("a client thread") {
                assert_eq!(r.as_deref(), Ok(PAGE), "{}: concurrent request", label(&rt));
            }
        }
        drop(c);
    }
}

#[test]
fn the_container_reaches_a_server_on_the_host() {
    for rt in runtimes() {
        let net = TestNet::new();
        let listener = TcpListener::bind((net.host_ip, 0)).expect("bind on the host end");
        let port = listener.local_addr().expect("an address").port();
        let server = std::thread::spawn(move || {
            let mut s = accept_within(&listener);
            let mut req = [0u8; 1024];
            let _ = s.read(&mut req);
            let _ = s.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 14\r\n\r\nhello, client\n");
        });
        let b = bundle(
            "client",
            &net,
            &format!(
                "wget -q -O - http://{}:{port}/ && echo fetched",
                net.host_ip
            ),
        );
        let out = rt.run(&b);
        server.join().expect("the server thread");
        assert!(
            out.success() && out.stdout.contains("hello, client") && out.stdout.contains("fetched"),
            "{}: {out}",
            label(&rt)
        );
    }
}

/// FNV-1a of the xorshift64 stream tcpxfer sends: the same on both ends.
fn expected_stream(bytes: u64, seed: u64) -> String {
    let mut fnv: u64 = 1469598103934665603;
    let mut x = seed | 1;
    let mut sent = 0u64;
    while sent < bytes {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        for b in x.to_ne_bytes().iter().take((bytes - sent).min(8) as usize) {
            fnv ^= *b as u64;
            fnv = fnv.wrapping_mul(1099511628211);
        }
        sent += 8.min(bytes - sent);
    }
    format!("{bytes} {fnv:016x}")
}

#[test]
fn large_transfers_are_intact_in_both_directions() {
    const BYTES: u64 = 128 << 20;
    let want = expected_stream(BYTES, 42);
    for rt in runtimes() {
        let net = TestNet::new();
        // Host to container: the container receives and checksums.
        let b = bundle("xfer-in", &net, "exec tcpxfer recv 9000");
        let c = Running::start(&rt, &b);
        c.wait_for("listening");
        let mut s = TcpStream::connect_timeout(
            &SocketAddr::from((net.container_ip, 9000)),
            Duration::from_secs(10),
        )
        .expect("connect to the container");
        s.set_write_timeout(Some(Duration::from_secs(60)))
            .expect("a write timeout");
        let mut x: u64 = 42 | 1;
        let mut buf = vec![0u8; 1 << 16];
        let mut sent = 0u64;
        while sent < BYTES {
            for chunk in buf.chunks_mut(8) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                chunk.copy_from_slice(&x.to_ne_bytes()[..chunk.len()]);
            }
            s.write_all(&buf).expect("send to the container");
            sent += buf.len() as u64;
        }
        drop(s);
        c.wait_exit();
        assert!(
            c.stdout().contains(&want),
            "{}: received {:?}, want {want}",
            label(&rt),
            c.stdout()
        );
        drop(c);

        // Container to host: the host receives and checksums.
        net.reset();
        let listener = TcpListener::bind((net.host_ip, 0)).expect("bind on the host end");
        let port = listener.local_addr().expect("an address").port();
        let script = format!("exec tcpxfer send {} {port} {BYTES} 42", net.host_ip);
        let b = bundle("xfer-out", &net, &script);
        let c = Running::start(&rt, &b);
        let mut s = accept_within(&listener);
        let mut fnv: u64 = 1469598103934665603;
        let mut got = 0u64;
        loop {
            let n = s.read(&mut buf).expect("read from the container");
            if n == 0 {
                break;
            }
            for b in &buf[..n] {
                fnv ^= *b as u64;
                fnv = fnv.wrapping_mul(1099511628211);
            }
            got += n as u64;
        }
        drop(s);
        assert_eq!(
            format!("{got} {fnv:016x}"),
            want,
            "{}: host received",
            label(&rt)
        );
        c.wait_exit();
        assert!(
            c.stdout().contains(&want),
            "{}: sender says {:?}",
            label(&rt),
            c.stdout()
        );
    }
}

/// Socket options over the stack: two SO_REUSEPORT listeners inside share
/// the host's connections, TCP_INFO follows each (CLOSE_WAIT after the
/// host's FIN, the bytes received with the FIN, as Linux counts it), two
/// SO_REUSEPORT UDP sockets share its datagrams, and IP_RECVTTL/IP_RECVTOS
/// give the TTL and TOS the host sent with; a datagram the container sends
/// with IP_TTL 7 reaches the host with that TTL.
#[test]
fn socket_options_hold_over_the_stack() {
    const CONNS: usize = 16;
    // From as many source ports: the hash leaves one socket without any
    // with a chance of 2^-15.
    const DGRAMS: usize = 16;
    for rt in runtimes() {
        let net = TestNet::new();
        let ttl_probe = UdpSocket::bind((net.host_ip, 0)).expect("a host UDP socket");
        ttl_probe
            .set_read_timeout(Some(Duration::from_secs(60)))
            .expect("a read timeout");
        set_int_option(&ttl_probe, libc::IPPROTO_IP, libc::IP_RECVTTL, 1);
        let probe_port = ttl_probe.local_addr().expect("an address").port();
        let script = format!(
            "exec sockopts serve 9100 {CONNS} {DGRAMS} {} {probe_port}",
            net.host_ip
        );
        // The bundle outlives the container (dropping it deletes the root).
        let b = bundle("sockopts", &net, &script);
        let c = Running::start(&rt, &b);
        c.wait_for("listening");
        let addr = SocketAddr::from((net.container_ip, 9100));
        for i in 0..CONNS {
            let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(10))
                .unwrap_or_else(|e| panic!("{}: connection {i}: {e}", label(&rt)));
            s.set_read_timeout(Some(Duration::from_secs(30)))
                .expect("a read timeout");
            s.write_all(&[7u8; 1000]).expect("send to the container");
            s.shutdown(std::net::Shutdown::Write).expect("half-close");
            let mut rest = Vec::new();
            let _ = s.read_to_end(&mut rest);
        }
        for _ in 0..DGRAMS {
            let u = UdpSocket::bind((net.host_ip, 0)).expect("a host UDP socket");
            u.set_ttl(33).expect("IP_TTL");
            set_int_option(&u, libc::IPPROTO_IP, libc::IP_TOS, 0x10);
            u.send_to(b"d", addr).expect("send a datagram");
        }
        c.wait_exit();
        let out = c.stdout();
        let counts: Vec<usize> = out
            .lines()
            .find_map(|l| l.strip_prefix("tcp "))
            .map(|l| l.split(' ').filter_map(|w| w.parse().ok()).collect())
            .unwrap_or_default();
        assert!(
            counts.len() == 4 && counts[0] > 0 && counts[1] > 0 && counts[0] + counts[1] == CONNS,
            "{}: connections not spread over both listeners: {out}",
            label(&rt)
        );
        assert!(
            counts[2] > 0 && counts[3] > 0 && counts[2] + counts[3] == DGRAMS,
            "{}: datagrams not spread over both sockets: {out}",
            label(&rt)
        );
        let conns: Vec<&str> = out.lines().filter(|l| l.starts_with("conn ")).collect();
        assert!(
            conns.len() == CONNS && conns.iter().all(|l| *l == "conn state 8 received 1001"),
            "{}: TCP_INFO: {out}",
            label(&rt)
        );
        assert!(
            out.contains("dgram ttl 33 tos 16"),
            "{}: IP_RECVTTL/IP_RECVTOS: {out}",
            label(&rt)
        );
        assert_eq!(
            received_ttl(&ttl_probe),
            Some(7),
            "{}: the container's IP_TTL",
            label(&rt)
        );
    }
}

fn set_int_option(sock: &UdpSocket, level: i32, name: i32, value: libc::c_int) {
    // SAFETY: setsockopt on our own socket with a c_int we own.
    let r = unsafe {
        libc::setsockopt(
            std::os::fd::AsRawFd::as_raw_fd(sock),
            level,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(r, 0, "setsockopt({level}, {name})");
}

/// The TTL of the next datagram `sock` receives (IP_RECVTTL is on).
fn received_ttl(sock: &UdpSocket) -> Option<i32> {
    let mut data = [0u8; 64];
    let mut control = [0u64; 32];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    // SAFETY: a zeroed msghdr is valid; its pointers are set below.
    let mut mh: libc::msghdr = unsafe { std::mem::zeroed() };
    mh.msg_iov = &mut iov;
    mh.msg_iovlen = 1;
    mh.msg_control = control.as_mut_ptr().cast();
    mh.msg_controllen = std::mem::size_of_val(&control);
    // SAFETY: recvmsg writes into our buffers within the lengths given.
    let n = unsafe { libc::recvmsg(std::os::fd::AsRawFd::as_raw_fd(sock), &mut mh, 0) };
    if n < 0 {
        return None;
    }
    // SAFETY: the CMSG_* walk stays within the control data the kernel
    // wrote (msg_controllen), and reads an int for IP_TTL.
    unsafe {
        let mut cm = libc::CMSG_FIRSTHDR(&mh);
        while !cm.is_null() {
            if (*cm).cmsg_level == libc::IPPROTO_IP && (*cm).cmsg_type == libc::IP_TTL {
                return Some(std::ptr::read_unaligned(libc::CMSG_DATA(cm).cast::<i32>()));
            }
            cm = libc::CMSG_NXTHDR(&mh, cm);
        }
    }
    None
}

/// ping (busybox's, on a raw ICMP socket with CAP_NET_RAW, Docker's
/// default) reaches the host end of the veth and loopback, and reports the
/// loss to an address nobody answers for.
#[test]
fn ping_reaches_the_host_and_loopback() {
    for rt in runtimes() {
        let net = TestNet::new();
        // Nobody has .99 on the test's own /24 (on-link: the request
        // never leaves the veth).
        let o = net.container_ip.octets();
        let nobody = Ipv4Addr::new(o[0], o[1], o[2], 99);
        let script = format!(
            "ping -c 2 -W 3 {host} && ping -c 2 -W 3 127.0.0.1 && ! ping -c 1 -W 1 {nobody} && echo pinged",
            host = net.host_ip
        );
        let out = rt.run(&bundle("ping", &net, &script));
        assert!(
            out.success()
                && out.stdout.contains("pinged")
                && out
                    .stdout
                    .contains("2 packets transmitted, 2 packets received"),
            "{}: {out}",
            label(&rt)
        );
    }
}

#[test]
fn the_workload_sees_the_interface_docker_would_give_it() {
    for rt in runtimes() {
        let net = TestNet::new();
        let b = bundle(
            "ipaddr",
            &net,
            "ip addr show eth0; ip route; grep -c eth0: /proc/net/dev; cat /sys/class/net/eth0/mtu",
        );
        let out = rt.run(&b);
        let want_addr = format!("inet {}/24", net.container_ip);
        let want_route = format!("default via {} dev eth0", net.host_ip);
        assert!(
            out.success()
                && out.stdout.contains(&want_addr)
                && out.stdout.contains(&want_route)
                && out.stdout.contains("\n1\n1500"),
            "{}: {out}",
            label(&rt)
        );
    }
}

/// Docker's embedded DNS: `nameserver 127.0.0.11`, redirected inside the
/// namespace by iptables to the resolver's real ports. Here a small
/// resolver (python3) listens in the test's namespace on 127.0.0.11:5353,
/// UDP and TCP, and behaves as Docker's does (RFC 6891): every name is
/// 10.213.0.77 but `many.internal`, which has 60 addresses (10.213.0.1 to
/// .60, an answer of ~1000 bytes), so a UDP
/// answer comes back truncated unless the query's OPT record allows that
/// size (the answer then carries an OPT of its own); over TCP the whole
/// answer comes. busybox's nslookup asks over UDP, `dnstcp` over TCP
/// (two queries on one connection), and the TCP answers must be whole and
/// without an OPT record the asker did not send.
#[test]
fn dns_to_127_0_0_11_reaches_the_namespace_resolver() {
    let resolver = r#"
import socket, struct, threading
def answer(q, udp):
    i = 12
    while q[i] != 0:
        i += 1 + q[i]
    end = i + 5
    opt = q[end:end + 11] if struct.unpack(">H", q[10:12])[0] == 1 else b""
    size = struct.unpack(">H", opt[3:5])[0] if len(opt) == 11 and opt[1:3] == b"\x00\x29" else 512
    hosts = range(1, 61) if q[12:17] == b"\x04many" else [77]
    recs = b"".join(b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04" + bytes([10, 213, 0, n]) for n in hosts)
    r = q[:2] + b"\x81\x80" + q[4:6] + struct.pack(">H", len(hosts)) + b"\x00\x00" + (b"\x00\x01" if opt else b"\x00\x00") + q[12:end] + recs + opt
    if udp and len(r) > size:
        r = q[:2] + b"\x83\x80" + q[4:6] + b"\x00\x00\x00\x00\x00\x00" + q[12:end]
    return r
def serve_tcp(c):
    while True:
        n = c.recv(2, socket.MSG_WAITALL)
        if len(n) < 2:
            break
        q = c.recv(struct.unpack(">H", n)[0], socket.MSG_WAITALL)
        r = answer(q, False)
        c.sendall(struct.pack(">H", len(r)) + r)
    c.close()
def tcp():
    l = socket.socket()
    l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind(("127.0.0.11", 5353))
    l.listen(8)
    while True:
        threading.Thread(target=serve_tcp, args=(l.accept()[0],), daemon=True).start()
threading.Thread(target=tcp, daemon=True).start()
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.11", 5353))
s.settimeout(120)
while True:
    q, a = s.recvfrom(4096)
    s.sendto(answer(q, True), a)
"#;
    let dnstcp = Path::new(env!("CARGO_MANIFEST_DIR")).join("programs/dnstcp.c");
    for rt in runtimes() {
        let net = TestNet::new();
        for proto in ["udp", "tcp"] {
            net.exec(&[
                "iptables",
                "-t",
                "nat",
                "-A",
                "OUTPUT",
                "-d",
                "127.0.0.11",
                "-p",
                proto,
                "--dport",
                "53",
                "-j",
                "DNAT",
                "--to-destination",
                "127.0.0.11:5353",
            ]);
        }
        let mut child = Command::new("ip")
            .args(["netns", "exec", &net.name, "python3", "-c", resolver])
            .spawn()
            .expect("python3 runs in the namespace");
        std::thread::sleep(Duration::from_millis(300));
        let b = bundle(
            "dns",
            &net,
            "nslookup web.internal 127.0.0.11; dnstcp 127.0.0.11 many.internal",
        );
        build_static(&dnstcp, &b.rootfs().join("bin/dnstcp"));
        std::fs::write(
            b.rootfs().join("etc/resolv.conf"),
            "nameserver 127.0.0.11\n",
        )
        .expect("resolv.conf");
        let out = rt.run(&b);
        let _ = child.kill();
        let _ = child.wait();
        let whole = |id: &str| {
            format!("answer {id} rcode 0 tc 0 an 60 ar 0 first 10.213.0.1 last 10.213.0.60")
        };
        assert!(
            out.success()
                && out.stdout.contains("10.213.0.77")
                && out.stdout.contains(&whole("0x1111"))
                && out.stdout.contains(&whole("0x2222"))
                && out.stdout.contains("\neof\n"),
            "{}: {out}",
            label(&rt)
        );
    }
}

#[test]
fn network_none_keeps_only_loopback() {
    let net = TestNet::new();
    let mut rt = Runtime::sandbox();
    rt.add_global("--network=none");
    let b = bundle("none", &net, "cat /proc/net/dev; ip addr");
    let out = rt.run(&b);
    assert!(out.success(), "{out}");
    assert!(out.stdout.contains("lo:"), "{out}");
    assert!(!out.stdout.contains("eth0"), "{out}");
    // The namespace kept its addresses: nothing was taken.
    let kept = Command::new("ip")
        .args([
            "netns", "exec", &net.name, "ip", "-4", "addr", "show", "eth0",
        ])
        .output()
        .expect("ip runs");
    assert!(String::from_utf8_lossy(&kept.stdout).contains(&net.container_ip.to_string()));
}

#[test]
fn the_hosts_network_namespace_is_refused_with_the_fix_named() {
    let rt = Runtime::sandbox();
    let b = Bundle::sh("hostnet", "echo ran");
    let mut spec = b.spec();
    if let Some(nss) = spec["linux"]["namespaces"].as_array_mut() {
        nss.retain(|n| n["type"] != "network");
    }
    b.write_spec(&spec);
    let out = rt.run(&b);
    assert!(!out.success(), "{out}");
    assert!(!out.stdout.contains("ran"), "{out}");
    assert!(
        out.stderr.contains("network namespace") && out.stderr.contains("--network=none"),
        "{out}"
    );
    assert_clean(rt.root(), &b.id, b.path());
    // The control: runc runs the same spec in the host's namespace.
    let runc = Runtime::runc();
    runc.run(&b).assert_success();
}

/// Frames a hostile network could send: random bytes, truncated and
/// inconsistent headers, fragments, out-of-window segments, SYN floods.
fn hostile_frames(dst_mac: [u8; 6], dst: Ipv4Addr, src: Ipv4Addr, n: usize) -> Vec<Vec<u8>> {
    let mut x: u64 = 0x9e3779b97f4a7c15;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let mut f = Vec::with_capacity(1514);
        f.extend_from_slice(&dst_mac);
        f.extend_from_slice(&[0x02, 0, 0, 0, 0, 1]);
        let kind = i % 8;
        let ethertype: u16 = match kind {
            6 => 0x86dd,
            7 => 0x0806,
            _ => 0x0800,
        };
        f.extend_from_slice(&ethertype.to_be_bytes());
        let r = rnd();
        match kind {
            // Random bytes after a valid Ethernet header.
            0 | 6 | 7 => {
                for _ in 0..(r % 180) {
                    f.push(rnd() as u8);
                }
            }
            _ => {
                // An IPv4 header, then TCP or UDP, with a twist per kind.
                let proto = if kind == 5 { 17u8 } else { 6u8 };
                let total_len: u16 = match kind {
                    1 => 20,    // claims no payload at all
                    2 => 60000, // claims far more than the frame holds
                    _ => 20 + 20 + 32,
                };
                let flags_frag: u16 = if kind == 3 {
                    0x2000 | (r as u16 & 0x1fff) // more fragments, random offset
                } else {
                    0
                };
                let mut ip = vec![0x45, 0];
                ip.extend_from_slice(&total_len.to_be_bytes());
                ip.extend_from_slice(&(r as u16).to_be_bytes());
                ip.extend_from_slice(&flags_frag.to_be_bytes());
                ip.push(64);
                ip.push(proto);
                ip.extend_from_slice(&[0, 0]);
                // Spoofed sources, all on the test's own /24: the stack's
                // answers to them are on-link (ARP on the veth, nobody
                // replies), so nothing is ever routed off this machine.
                let s = if kind == 4 {
                    let o = src.octets();
                    Ipv4Addr::new(o[0], o[1], o[2], 100 + (r >> 16) as u8 % 150)
                } else {
                    src
                };
                ip.extend_from_slice(&s.octets());
                ip.extend_from_slice(&dst.octets());
                let mut sum: u32 = ip
                    .chunks(2)
                    .map(|c| u16::from_be_bytes([c[0], c[1]]) as u32)
                    .sum();
                while sum > 0xffff {
                    sum = (sum & 0xffff) + (sum >> 16);
                }
                let csum = !(sum as u16);
                ip[10..12].copy_from_slice(&csum.to_be_bytes());
                f.extend_from_slice(&ip);
                // TCP to port 80: SYNs (kind 4: a flood), or segments with
                // random sequence numbers and flags (out of any window).
                f.extend_from_slice(&((r >> 20) as u16 | 1024).to_be_bytes());
                f.extend_from_slice(&80u16.to_be_bytes());
                f.extend_from_slice(&(rnd() as u32).to_be_bytes());
                f.extend_from_slice(&(rnd() as u32).to_be_bytes());
                f.push(0x50);
                f.push(if kind == 4 { 0x02 } else { rnd() as u8 });
                f.extend_from_slice(&[0xff, 0xff, 0, 0, 0, 0]);
                for _ in 0..32 {
                    f.push(rnd() as u8);
                }
            }
        }
        out.push(f);
    }
    out
}

fn send_frames(ifname: &str, frames: &[Vec<u8>]) {
    // SAFETY: socket(2) with constant arguments; the result is checked.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0) };
    assert!(
        fd >= 0,
        "a packet socket: {}",
        std::io::Error::last_os_error()
    );
    let name = std::ffi::CString::new(ifname).expect("an interface name");
    // SAFETY: if_nametoindex reads a NUL-terminated string.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    assert!(index > 0, "no interface {ifname}");
    // SAFETY: an all-zero sockaddr_ll is valid; we fill what sendto needs.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_ifindex = index as i32;
    sll.sll_halen = 6;
    for f in frames {
        // SAFETY: sendto reads the frame and the sockaddr_ll from our memory.
        unsafe {
            libc::sendto(
                fd,
                f.as_ptr().cast(),
                f.len(),
                0,
                (&sll as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
    }
    // SAFETY: closing the descriptor we opened.
    unsafe { libc::close(fd) };
}

/// The MAC of `eth0` inside the namespace.
fn container_mac(net: &TestNet) -> [u8; 6] {
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            &net.name,
            "cat",
            "/sys/class/net/eth0/address",
        ])
        .output()
        .expect("ip runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut mac = [0u8; 6];
    for (i, part) in text.trim().split(':').enumerate().take(6) {
        mac[i] = u8::from_str_radix(part, 16).expect("a MAC address");
    }
    mac
}

/// The received-packet count of eth0 in the container's /proc/net/dev.
fn rx_packets(rt: &Runtime, id: &str) -> u64 {
    let out = rt.exec(&["exec", id, "cat", "/proc/net/dev"]);
    out.stdout
        .lines()
        .find(|l| l.trim_start().starts_with("eth0:"))
        .and_then(|l| l.split(':').nth(1))
        .and_then(|rest| rest.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[test]
fn garbage_and_floods_leave_the_sentry_serving() {
    const FRAMES: usize = 40_000;
    for mut rt in [Runtime::sandbox()]
        .into_iter()
        .chain(Runtime::sandbox_vm())
    {
        if rt.name == "sandbox" {
            rt.set_platform("seccomp");
        }
        let net = TestNet::new();
        let b = bundle("hostile", &net, "exec httpd -f -p 80 -h /www");
        let c = Running::start(&rt, &b);
        let addr = SocketAddr::from((net.container_ip, 80));
        assert_eq!(first_get(addr), PAGE, "{}: before", label(&rt));
        let before = rx_packets(&rt, &c.id);
        let frames = hostile_frames(container_mac(&net), net.container_ip, net.host_ip, FRAMES);
        for _ in 0..2 {
            send_frames(&net.host_if, &frames);
        }
        // The control that the attack is real: the frames reached the
        // stack (the Sentry counts what its link received).
        let after = rx_packets(&rt, &c.id);
        eprintln!(
            "{}: the stack received {} of {} hostile frames",
            label(&rt),
            after.saturating_sub(before),
            2 * FRAMES
        );
        // (A flood overflows the packet socket's queue; a quarter is plenty.)
        assert!(
            after >= before + FRAMES as u64 / 4,
            "{}: the stack saw {} frames of {}",
            label(&rt),
            after.saturating_sub(before),
            2 * FRAMES
        );
        // Alive and serving, at once and repeatedly.
        for i in 0..20 {
            assert_eq!(
                http_get(addr).unwrap_or_else(|e| panic!(
                    "{}: after the flood, request {i}: {e}",
                    label(&rt)
                )),
                PAGE
            );
        }
        let st = rt.exec(&["state", &c.id]);
        assert!(st.stdout.contains("\"running\""), "{}: {st}", label(&rt));
    }
}

/// The workload's own changes with CAP_NET_ADMIN (busybox's `ip`, over
/// rtnetlink): an address added to eth0, the default route deleted and
/// added again (a second add is refused), eth0 taken down (its routes go)
/// and up again (its subnet route comes back). runc's kernel is the
/// control: the sandbox must show the same addresses and routes at each
/// step, and the added address must then serve HTTP to the host, which
/// only works if the stack itself answers for it.
#[test]
fn netlink_changes_apply_to_the_sandbox_network() {
    let mut control: Option<String> = None;
    for rt in runtimes() {
        let net = TestNet::new();
        let [a, b, c, _] = net.container_ip.octets();
        let extra = Ipv4Addr::new(a, b, c, 77);
        let gw = net.host_ip;
        let routes = "ip route | sed 's/ *$//' | sort";
        let script = format!(
            "ip addr add {extra}/24 dev eth0 || echo add failed
             echo '== addresses'; ip -4 addr show dev eth0 | grep -o 'inet [0-9./]*' | sort
             echo '== routes'; {routes}
             ip route del default; echo '== no default'; {routes}
             ip route add default via {gw}; echo '== default again'; {routes}
             ip route add default via {gw} 2>/dev/null && echo dup added || echo dup refused
             ip link set eth0 down; echo '== down'; {routes}
             ip link set eth0 up; sleep 1; echo '== up'; {routes}
             ip route add default via {gw}
             echo '== end'
             httpd -p 80 -h /www && echo ready; sleep 60"
        );
        let bnd = bundle("ifchange", &net, &script);
        let mut spec = bnd.spec();
        for set in ["bounding", "effective", "permitted"] {
            if let Some(caps) = spec["process"]["capabilities"][set].as_array_mut() {
                caps.push("CAP_NET_ADMIN".into());
            }
        }
        bnd.write_spec(&spec);
        let run = Running::start(&rt, &bnd);
        run.wait_for("ready");
        let out = run.stdout();
        // Each namespace has a subnet of its own.
        let steps = out
            .split("== end")
            .next()
            .unwrap_or_default()
            .replace(&format!("{a}.{b}.{c}."), "NET.");
        match &control {
            None => {
                assert!(
                    steps.contains("inet NET.77/24") && steps.contains("dup refused"),
                    "the runc control: {out}"
                );
                control = Some(steps);
            }
            Some(want) => assert_eq!(&steps, want, "{}: the steps differ from runc's", label(&rt)),
        }
        for ip in [extra, net.container_ip] {
            let body = first_get(SocketAddr::from((ip, 80)));
            assert_eq!(body, PAGE, "{}: http://{ip}/", label(&rt));
        }
        drop(run);
    }
}

/// A listener on 0.0.0.0 takes IPv4 connections only, when the container
/// also has an IPv6 address (Linux's port spaces are per family unless an
/// IPv6 socket clears IPV6_V6ONLY). tcpxfer binds 0.0.0.0: a connection to
/// the container's IPv6 address must be refused, one to its IPv4 address
/// served. runc's kernel is the control.
#[test]
fn an_ipv4_listener_does_not_take_ipv6_connections() {
    for rt in runtimes() {
        let net = TestNet::new();
        let [_, _, c, _] = net.container_ip.octets();
        let (host6, inside6) = (format!("fd00:213:{c}::1"), format!("fd00:213:{c}::2"));
        let out = Command::new("ip")
            .args([
                "addr",
                "add",
                &format!("{host6}/64"),
                "dev",
                &net.host_if,
                "nodad",
            ])
            .output()
            .expect("ip runs");
        assert!(out.status.success(), "{out:?}");
        net.exec(&[
            "ip",
            "addr",
            "add",
            &format!("{inside6}/64"),
            "dev",
            "eth0",
            "nodad",
        ]);
        let b = bundle("v4only", &net, "echo listening; exec tcpxfer recv 9000");
        let run = Running::start(&rt, &b);
        run.wait_for("listening");
        let v4 = SocketAddr::from((net.container_ip, 9000));
        let v6: SocketAddr = format!("[{inside6}]:9000").parse().expect("an address");
        // The IPv4 side must be up first (the listener is there).
        let start = Instant::now();
        let mut conn = loop {
            match TcpStream::connect_timeout(&v4, Duration::from_secs(5)) {
                Ok(c) => break c,
                Err(e) => {
                    assert!(
                        start.elapsed() < Duration::from_secs(30),
                        "{}: {e}",
                        label(&rt)
                    );
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        };
        let refused = TcpStream::connect_timeout(&v6, Duration::from_secs(10));
        assert!(
            refused
                .as_ref()
                .is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionRefused),
            "{}: a connection to [{inside6}]:9000 should be refused: {refused:?}",
            label(&rt)
        );
        conn.write_all(b"hi").expect("send");
        drop(conn);
        run.wait_exit();
        assert!(
            run.stdout().contains("\n2 "),
            "{}: {}",
            label(&rt),
            run.stdout()
        );
    }
}

/// A burst of connections to a server that does not accept yet: its
/// queue (backlog 1) overflows, and every client must still be served
/// once it accepts: under Linux the dropped SYNs come back with the
/// client's retries; the sandbox holds them for a moment instead (and
/// drops those held too long, which the 1.5 s wait exercises).
#[test]
fn a_burst_beyond_the_backlog_is_served_once_the_server_accepts() {
    const CLIENTS: usize = 8;
    for rt in runtimes() {
        for delay_ms in [300, 1500] {
            let net = TestNet::new();
            let script = format!("exec slowaccept 9100 {CLIENTS} {delay_ms}");
            let b = bundle("slowaccept", &net, &script);
            let run = Running::start(&rt, &b);
            run.wait_for("listening");
            let addr = SocketAddr::from((net.container_ip, 9100));
            let clients: Vec<_> = (0..CLIENTS)
                .map(|_| {
                    std::thread::spawn(move || -> Result<String, String> {
                        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(30))
                            .map_err(|e| format!("connect: {e}"))?;
                        s.set_read_timeout(Some(Duration::from_secs(30)))
                            .map_err(|e| e.to_string())?;
                        s.write_all(b"x").map_err(|e| format!("send: {e}"))?;
                        let mut answer = String::new();
                        s.read_to_string(&mut answer)
                            .map_err(|e| format!("read: {e}"))?;
                        Ok(answer)
                    })
                })
                .collect();
            for c in clients {
                let answer = c.join().expect("a client thread");
                assert_eq!(
                    answer.as_deref(),
                    Ok("ok\n"),
                    "{} (accepting after {delay_ms} ms): {}",
                    label(&rt),
                    run.stdout()
                );
            }
            run.wait_exit();
            assert!(
                run.stdout().contains(&format!("served {CLIENTS}")),
                "{} (accepting after {delay_ms} ms): {}",
                label(&rt),
                run.stdout()
            );
        }
    }
}

/// One connection from local port `port` of the host to `to`: sends a
/// byte, reads the answer to end of file (the server closes first), then
/// closes. The connect gives up after 5 s (SO_SNDTIMEO).
fn exchange_from_port(port: u16, to: SocketAddr) -> Result<String, String> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let SocketAddr::V4(v4) = to else {
        return Err(format!("{to} is not IPv4"));
    };
    let sin = |ip: Ipv4Addr, port: u16| libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(ip).to_be(),
        },
        sin_zero: [0; 8],
    };
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    let last = || std::io::Error::last_os_error();
    // SAFETY: socket(2) with constant arguments; the result is checked.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(format!("socket: {}", last()));
    }
    // SAFETY: a fresh descriptor we own.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let one: libc::c_int = 1;
    let timeout = libc::timeval {
        tv_sec: 5,
        tv_usec: 0,
    };
    let local = sin(Ipv4Addr::UNSPECIFIED, port);
    let remote = sin(*v4.ip(), v4.port());
    // SAFETY: each call reads a value of the stated size from our stack.
    unsafe {
        if libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_REUSEADDR,
            (&one as *const libc::c_int).cast(),
            4,
        ) != 0
            || libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_SNDTIMEO,
                (&timeout as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            ) != 0
        {
            return Err(format!("setsockopt: {}", last()));
        }
        if libc::bind(
            fd.as_raw_fd(),
            (&local as *const libc::sockaddr_in).cast(),
            len,
        ) != 0
        {
            return Err(format!("bind to port {port}: {}", last()));
        }
        if libc::connect(
            fd.as_raw_fd(),
            (&remote as *const libc::sockaddr_in).cast(),
            len,
        ) != 0
        {
            return Err(format!("connect from port {port}: {}", last()));
        }
    }
    let mut s = TcpStream::from(fd);
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    s.write_all(b"x").map_err(|e| format!("send: {e}"))?;
    let mut answer = String::new();
    s.read_to_string(&mut answer)
        .map_err(|e| format!("read: {e}"))?;
    Ok(answer)
}

/// The server closes first, so its side of the connection waits in
/// TIME-WAIT and the client's does not: a client may connect again from
/// the same port at once, and Linux takes that SYN as a new connection.
/// (smoltcp's TIME-WAIT swallowed it: the client hung in connect.)
#[test]
fn a_client_reconnects_from_its_port_after_the_server_closed_first() {
    let port = 40000 + (std::process::id() % 2000) as u16;
    for rt in runtimes() {
        let net = TestNet::new();
        let b = bundle("twice", &net, "exec slowaccept 9200 2 0");
        let run = Running::start(&rt, &b);
        run.wait_for("listening");
        let to = SocketAddr::from((net.container_ip, 9200));
        for round in 1..=2 {
            // The client's own side may still wait for the server's last
            // ACK (LAST-ACK) for a moment: its port is not free until then.
            let start = Instant::now();
            let answer = loop {
                match exchange_from_port(port, to) {
                    Err(e)
                        if e.contains("Cannot assign requested address")
                            && start.elapsed() < Duration::from_secs(5) =>
                    {
                        std::thread::sleep(Duration::from_millis(50))
                    }
                    r => break r,
                }
            };
            assert_eq!(
                answer.as_deref(),
                Ok("ok\n"),
                "{}: connection {round} from port {port}",
                label(&rt)
            );
        }
        run.wait_exit();
        assert!(
            run.stdout().contains("served 2"),
            "{}: {}",
            label(&rt),
            run.stdout()
        );
    }
}
