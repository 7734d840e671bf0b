//! The network sysctls root may write in its container and the Sentry
//! enforces (issue 12): net.ipv4.ip_local_port_range (the ports of port-0
//! binds and connects), net.core.somaxconn (the cap on listen backlogs),
//! net.ipv4.ping_group_range and net.ipv4.ip_unprivileged_port_start, with
//! Linux's validation (EINVAL for a value out of bounds, an inverted
//! range, a range below the privileged ports, text), while read-only
//! sysctls refuse every write (EACCES) and a /proc/sys the spec makes
//! read-only refuses them all (EROFS). The spec's `linux.sysctl` sets the
//! same keys, and a value Linux refuses fails the container.
//!
//! The control is runc: its container has a network namespace of its own,
//! so its writes change that namespace only, never the host's (which is
//! why these checks are not in the conformance suite, whose native run
//! shares the host's namespace). Every sandbox platform must print what
//! runc printed, line for line.

use std::path::Path;

use sandbox_tests::cprog::build_static;
use sandbox_tests::{Bundle, Runtime};

const SCRIPT: &str = r#"
P=/proc/sys/net
echo "spec: $(cat $P/core/somaxconn) $(cat $P/ipv4/ping_group_range)"
echo "40000 40010" > $P/ipv4/ip_local_port_range; echo "range: $?"
echo "range now: $(cat $P/ipv4/ip_local_port_range)"
echo 1 > $P/core/somaxconn; echo "somaxconn: $?"
echo "somaxconn now: $(cat $P/core/somaxconn)"
/bin/portprobe 40000 40010
echo 4096 > $P/core/somaxconn
/bin/portprobe 40000 40010 | grep unix
echo "50000 40000" > $P/ipv4/ip_local_port_range; echo "inverted: $?"
echo "0 100" > $P/ipv4/ip_local_port_range; echo "port 0: $?"
echo "1 65536" > $P/ipv4/ip_local_port_range; echo "port 65536: $?"
echo "40005 40005" > $P/ipv4/ip_local_port_range; echo "one port: $?"
echo 40000 > $P/ipv4/ip_local_port_range; echo "low end only: $?"
echo "range now: $(cat $P/ipv4/ip_local_port_range)"
echo 40001 > $P/ipv4/ip_unprivileged_port_start; echo "privileged above the range: $?"
echo 1024 > $P/ipv4/ip_unprivileged_port_start; echo "unprivileged 1024: $?"
echo "1000 2000" > $P/ipv4/ip_local_port_range; echo "range below 1024: $?"
echo abc > $P/core/somaxconn; echo "text: $?"
echo -1 > $P/core/somaxconn; echo "negative: $?"
echo 0x20 > $P/core/somaxconn; echo "hex: $? $(cat $P/core/somaxconn)"
echo "100 200" > $P/ipv4/ping_group_range; echo "ping: $? $(cat $P/ipv4/ping_group_range)"
echo "10 5" > $P/ipv4/ping_group_range; echo "ping empty: $? $(cat $P/ipv4/ping_group_range)"
echo reno > $P/ipv4/tcp_available_congestion_control; echo "read-only: $?"
ls -l $P/core/somaxconn $P/ipv4/tcp_available_congestion_control | cut -c1-10
"#;

fn bundle(tag: &str, script: &str, sysctl: serde_json::Value, proc_sys_writable: bool) -> Bundle {
    let b = Bundle::sh(tag, &format!("exec 2>&1\n{script}"));
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("programs/portprobe.c");
    build_static(&src, &b.rootfs().join("bin/portprobe"));
    let mut spec = b.spec();
    if proc_sys_writable {
        // Docker mounts /proc/sys read-only; a privileged container or a
        // spec without it may write.
        if let Some(ro) = spec["linux"]["readonlyPaths"].as_array_mut() {
            ro.retain(|p| p != "/proc/sys");
        }
    }
    spec["linux"]["sysctl"] = sysctl;
    b.write_spec(&spec);
    b
}

/// The sandbox on every platform this host has.
fn sandboxes() -> Vec<Runtime> {
    Runtime::every_sandbox()
}

#[test]
fn root_writes_the_network_sysctls_and_the_sentry_enforces_them() {
    let sysctl = serde_json::json!({
        "net.core.somaxconn": "128",
        "net.ipv4.ping_group_range": "0 2147483647",
    });
    let runc = Runtime::runc();
    let b = bundle("sysctl-runc", SCRIPT, sysctl.clone(), true);
    let control = runc.run(&b);
    assert_eq!(control.code(), Some(0), "runc:\n{control}");
    let want = &control.stdout;
    for line in [
        "spec: 128 0\t2147483647",
        "range: 0",
        "range now: 40000\t40010",
        "somaxconn now: 1",
        "tcp bind: in range",
        "tcp connect: in range",
        "unix backlog 100 queues 2 of 4",
        "unix backlog 100 queues 4 of 4",
        "inverted: 1",
        "one port: 0",
        "range now: 40000\t40005",
        "text: 1",
        "hex: 0 32",
        "ping empty: 0 1\t0",
        "read-only: 1",
        "-rw-r--r--",
        "-r--r--r--",
    ] {
        assert!(
            want.lines().any(|l| l == line),
            "runc prints {line:?}:\n{control}"
        );
    }
    for rt in sandboxes() {
        let b = bundle("sysctl", SCRIPT, sysctl.clone(), true);
        let out = rt.run(&b);
        assert_eq!(out.code(), Some(0), "{}:\n{out}", rt.platform_name());
        assert_eq!(
            &out.stdout,
            want,
            "{} differs from runc:\n{out}\nrunc:\n{control}",
            rt.platform_name()
        );
    }
}

#[test]
fn a_read_only_proc_sys_and_a_refused_spec_value_are_as_under_runc() {
    let script = "echo 1 > /proc/sys/net/core/somaxconn; echo \"ro: $?\"";
    let bad = serde_json::json!({ "net.ipv4.ip_local_port_range": "60000 50000" });
    let runc = Runtime::runc();
    let control = runc.run(&bundle(
        "sysctl-ro-runc",
        script,
        serde_json::json!({}),
        false,
    ));
    assert_eq!(control.code(), Some(0), "runc:\n{control}");
    assert!(
        control.stdout.contains("Read-only file system") && control.stdout.contains("ro: 1"),
        "runc:\n{control}"
    );
    let refused = runc.run(&bundle("sysctl-bad-runc", "true", bad.clone(), true));
    assert_ne!(refused.code(), Some(0), "runc refuses the spec:\n{refused}");
    for rt in sandboxes() {
        let name = rt.platform_name();
        let out = rt.run(&bundle("sysctl-ro", script, serde_json::json!({}), false));
        assert_eq!(
            out.stdout, control.stdout,
            "{name}:\n{out}\nrunc:\n{control}"
        );
        let out = rt.run(&bundle("sysctl-bad", "true", bad.clone(), true));
        assert_ne!(out.code(), Some(0), "{name} refuses the spec:\n{out}");
        assert!(
            out.stderr.contains("net.ipv4.ip_local_port_range"),
            "{name} names the sysctl:\n{out}"
        );
    }
}
