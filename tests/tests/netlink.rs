//! What the sandbox shows programs of its network interfaces: iproute2's
//! `ip` (NETLINK_ROUTE dumps and GETs), glibc's getifaddrs() and
//! getaddrinfo(AI_ADDRCONFIG) (netlink again) and the SIOCGIF* ioctls (a
//! small C program, static and dynamic), /proc/net and /sys/class/net.
//!
//! The control is runc, whose container gets a network namespace of its
//! own that, like the sandbox without a network, holds only `lo`. A new
//! namespace's `lo` is DOWN and has no address until brought up, while the
//! sandbox's loopback is always up with 127.0.0.1/8 and ::1/128; so the
//! script first runs `ip link set lo up` (both containers get
//! CAP_NET_ADMIN for it: runc's kernel obeys; the Sentry's `lo` is up
//! already, and stays so). After that
//! the outputs of `ip addr`, `ip link`, `ip route` and `ip neigh` and the
//! C program's must be the same line for line. What is not compared:
//! `ip -6 route`, because the host kernel (6.18) no longer lists ::1 in the
//! main table while the 6.1 the sandbox presents does, and the packet
//! counters of /proc/net/dev, which count the host's own loopback traffic
//! under runc.

use std::path::Path;
use std::process::Command;

use sandbox_tests::cprog::{build_both, install_libraries};
use sandbox_tests::{assert_clean, Bundle, Runtime};

/// The part of the script both containers must print the same.
const COMPARED: &str = r#"
/usr/sbin/ip link set lo up 2>/dev/null
echo "== ip addr"; /usr/sbin/ip addr
echo "== ip link"; /usr/sbin/ip link
echo "== ip -4 addr show dev lo"; /usr/sbin/ip -4 addr show dev lo
echo "== ip link show lo"; /usr/sbin/ip link show lo
echo "== ip route"; /usr/sbin/ip route
echo "== ip neigh"; /usr/sbin/ip neigh
echo "== ip route get"; /usr/sbin/ip route get 127.0.0.1 | /bin/head -1
echo "== ifaddrs"; /bin/ifaddrs | /bin/sort
echo "== ifaddrs-static"; /bin/ifaddrs-static | /bin/sort
echo "== proc"; /bin/head -2 /proc/net/dev; /bin/grep -c '^ *lo:' /proc/net/dev
/bin/cat /proc/net/if_inet6 /proc/net/route /proc/net/arp
/bin/cat /sys/class/net/lo/address /sys/class/net/lo/mtu /sys/class/net/lo/ifindex /sys/class/net/lo/type /sys/class/net/lo/flags
/bin/cat /proc/sys/net/ipv4/ip_local_port_range /proc/sys/net/core/somaxconn
echo "== end"
"#;

/// Checked in the sandbox only (see the module comment).
const SANDBOX_ONLY: &str = r#"
echo "== ip -6 route"; /usr/sbin/ip -6 route
echo "== ip -s link"; /usr/sbin/ip -s link show lo | /bin/head -3
echo "== snmp"; /bin/head -1 /proc/net/snmp
/bin/ls /proc/self/net/
"#;

fn bundle(tag: &str, script: &str) -> Bundle {
    let b = Bundle::sh(tag, script);
    let rootfs = b.rootfs();
    let ip = Path::new("/usr/sbin/ip");
    assert!(
        ip.exists(),
        "iproute2 is missing (tests/setup.sh installs it)"
    );
    let dst = rootfs.join("usr/sbin/ip");
    std::fs::create_dir_all(dst.parent().expect("a parent")).expect("mkdir usr/sbin");
    std::fs::copy(ip, &dst).expect("copy ip");
    install_libraries(&rootfs, ip);
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("programs/ifaddrs.c");
    build_both(&rootfs, &src, "ifaddrs", &[]);
    // Both runtimes get CAP_NET_ADMIN, for runc's `ip link set lo up`.
    let mut spec = b.spec();
    for set in ["bounding", "effective", "permitted"] {
        if let Some(caps) = spec["process"]["capabilities"][set].as_array_mut() {
            caps.push("CAP_NET_ADMIN".into());
        }
    }
    b.write_spec(&spec);
    b
}

/// The lines of `out` between the `== name` marker and the next one.
fn section<'a>(out: &'a str, name: &str) -> Vec<&'a str> {
    let marker = format!("== {name}");
    out.lines()
        .skip_while(|l| *l != marker)
        .skip(1)
        .take_while(|l| !l.starts_with("== "))
        .collect()
}

#[test]
fn interfaces_show_as_under_runc() {
    let have_runc = Command::new("runc").arg("--version").output().is_ok();
    let sandbox = Runtime::sandbox();
    let b = bundle("netlink", &format!("{COMPARED}{SANDBOX_ONLY}"));
    let out = sandbox.run(&b);
    assert_eq!(out.code(), Some(0), "sandbox:\n{out}");
    assert_clean(sandbox.root(), &b.id, b.path());
    let s = &out.stdout;

    // What must hold whatever the control says.
    let addr = section(s, "ip addr").join("\n");
    for want in [
        "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN group default qlen 1000",
        "    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00",
        "    inet 127.0.0.1/8 scope host lo",
        "    inet6 ::1/128 scope host ",
    ] {
        assert!(addr.contains(want), "`ip addr` shows {want:?}:\n{out}");
    }
    assert!(
        section(s, "ip -6 route")
            .iter()
            .any(|l| l.starts_with("::1 dev lo proto kernel metric 256")),
        "`ip -6 route` lists loopback:\n{out}"
    );
    let ifaddrs = section(s, "ifaddrs");
    for want in [
        "getifaddrs lo 127.0.0.1/255.0.0.0",
        "getifaddrs lo ::1/ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        "getifaddrs lo packet up=1 loopback=1",
        "ifconf lo 127.0.0.1 index=1 up=1 mask=255.0.0.0",
        "ifreq nosuch0 No such device",
        "getaddrinfo AI_ADDRCONFIG rc=0 127.0.0.1",
    ] {
        assert!(
            ifaddrs.contains(&want),
            "the C program shows {want:?}:\n{out}"
        );
    }
    assert_eq!(
        ifaddrs,
        section(s, "ifaddrs-static"),
        "static and dynamic agree"
    );
    assert!(
        s.contains("Ip: Forwarding DefaultTTL"),
        "/proc/net/snmp:\n{out}"
    );

    if !have_runc {
        eprintln!("SKIPPED: the runc comparison (runc is not installed)");
        return;
    }
    let runc = Runtime::runc();
    let rb = bundle("netlink-runc", COMPARED);
    let control = runc.run(&rb);
    assert_eq!(control.code(), Some(0), "runc:\n{control}");
    for name in [
        "ip addr",
        "ip link",
        "ip -4 addr show dev lo",
        "ip link show lo",
        "ip route",
        "ip neigh",
        "ip route get",
        "ifaddrs",
        "ifaddrs-static",
        "proc",
    ] {
        assert_eq!(
            section(s, name),
            section(&control.stdout, name),
            "`{name}` differs:\nsandbox:\n{out}\nrunc:\n{control}"
        );
    }
}
