//! A test network: a network namespace of the test's own with a veth pair,
//! the container's end (`eth0`) inside with an address, a route and the
//! host's end outside, as Docker's bridge driver would leave it after its
//! prestart hook. The container is given the namespace by path. Every
//! address is on this machine; nothing leaves it.

use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// One namespace and its veth pair; removed on drop.
pub struct TestNet {
    pub name: String,
    /// The host end of the veth.
    pub host_if: String,
    pub host_ip: Ipv4Addr,
    pub container_ip: Ipv4Addr,
}

fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .expect("ip runs (apt-get install iproute2)");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl TestNet {
    /// A namespace whose `eth0` has 10.213.N.2/24 and a default route via
    /// the host end, 10.213.N.1, where N is unique to this test.
    pub fn new() -> TestNet {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let subnet = ((std::process::id() * 7 + n) % 250 + 1) as u8;
        let name = format!("sbt-{}-{n}", std::process::id());
        let host_if = format!("sbv{}x{n}", std::process::id() % 100_000);
        let host_ip = Ipv4Addr::new(10, 213, subnet, 1);
        let container_ip = Ipv4Addr::new(10, 213, subnet, 2);
        let net = TestNet {
            name,
            host_if,
            host_ip,
            container_ip,
        };
        net.configure();
        net
    }

    fn configure(&self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
        ip(&["netns", "add", &self.name]);
        ip(&[
            "link",
            "add",
            &self.host_if,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            &self.name,
        ]);
        ip(&[
            "addr",
            "add",
            &format!("{}/24", self.host_ip),
            "dev",
            &self.host_if,
        ]);
        ip(&["link", "set", &self.host_if, "up"]);
        self.exec(&["ip", "link", "set", "eth0", "up"]);
        self.exec(&["ip", "link", "set", "lo", "up"]);
        self.address_eth0();
    }

    /// eth0's address and the default route through the host end.
    fn address_eth0(&self) {
        let cidr = format!("{}/24", self.container_ip);
        self.exec(&["ip", "addr", "add", &cidr, "dev", "eth0"]);
        let gateway = self.host_ip.to_string();
        self.exec(&["ip", "route", "add", "default", "via", &gateway]);
    }

    /// Runs `args` inside the namespace (ip netns exec); asserts success.
    pub fn exec(&self, args: &[&str]) {
        let mut full = vec!["netns", "exec", &self.name];
        full.extend_from_slice(args);
        ip(&full);
    }

    /// The namespace's path, for the spec's `linux.namespaces`.
    pub fn path(&self) -> String {
        format!("/var/run/netns/{}", self.name)
    }

    /// Gives the addresses back to `eth0` after a sandbox took them (the
    /// sandbox removes them from the host kernel while it serves them).
    pub fn reset(&self) {
        let _ = Command::new("ip")
            .args([
                "netns", "exec", &self.name, "ip", "addr", "flush", "dev", "eth0",
            ])
            .output();
        self.address_eth0();
    }

    /// Points a bundle's spec at this namespace.
    pub fn join(&self, spec: &mut serde_json::Value) {
        let Some(nss) = spec["linux"]["namespaces"].as_array_mut() else {
            panic!("the spec has no linux.namespaces");
        };
        nss.retain(|n| n["type"] != "network");
        nss.push(serde_json::json!({ "type": "network", "path": self.path() }));
    }
}

impl Default for TestNet {
    fn default() -> TestNet {
        TestNet::new()
    }
}

impl Drop for TestNet {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_if])
            .output();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}
