//! The sysctls are the Sentry's globals: one test walks through them in
//! order, so that parallel tests never see each other's values.

use super::*;

#[test]
fn writes_validate_and_take_effect() {
    // Docker's spec.
    apply(&[
        ("net.ipv4.ip_unprivileged_port_start".into(), "0".into()),
        ("net/ipv4/ping_group_range".into(), "0 2147483647".into()),
        ("net.ipv4.ip_forward".into(), "1".into()),
    ])
    .expect("docker's sysctls");
    assert_eq!(unprivileged_port_start(), 0);
    assert!(may_ping([1000]));
    assert_eq!(Key::PingGroupRange.text(), "0\t2147483647\n");

    let range = Key::LocalPortRange;
    assert_eq!(range.write(b"40000 40010\n"), Ok(12));
    assert_eq!(local_port_range(), (40000, 40010));
    assert_eq!(range.text(), "40000\t40010\n");
    // One value: the high end stays.
    assert_eq!(range.write(b"40005"), Ok(5));
    assert_eq!(local_port_range(), (40005, 40010));
    // Equal ends are a range of one port.
    assert!(range.write(b"40010 40010").is_ok());
    assert!(matches!(
        range.write(b"50000 40000"),
        Err(SysctlError::Inverted { .. })
    ));
    assert!(matches!(
        range.write(b"0 100"),
        Err(SysctlError::OutOfRange { .. })
    ));
    assert!(matches!(
        range.write(b"1 65536"),
        Err(SysctlError::OutOfRange { .. })
    ));
    assert_eq!(local_port_range(), (40010, 40010));

    // The ephemeral range and the privileged ports may not overlap.
    assert_eq!(Key::UnprivilegedPortStart.write(b"1024"), Ok(4));
    assert!(matches!(
        range.write(b"1000 2000"),
        Err(SysctlError::Overlap { .. })
    ));
    assert!(range.write(b"32768 60999").is_ok());
    assert!(matches!(
        Key::UnprivilegedPortStart.write(b"40000"),
        Err(SysctlError::Overlap { .. })
    ));
    assert!(apply(&[("net.ipv4.ip_local_port_range".into(), "9 8".into())]).is_err());

    assert_eq!(Key::Somaxconn.write(b"16"), Ok(2));
    assert_eq!(
        (listen_backlog(100), listen_backlog(-1), listen_backlog(3)),
        (16, 16, 3)
    );
    assert!(Key::Somaxconn.write(b"-1").is_err());
    assert!(Key::Somaxconn.write(b"4096").is_ok());

    // An empty ping range closes ping sockets to all.
    assert!(Key::PingGroupRange.write(b"10 5").is_ok());
    assert_eq!(ping_group_range(), (1, 0));
    assert!(!may_ping([0, 10]));
    assert!(Key::PingGroupRange.write(b"100 200").is_ok());
    assert!(may_ping([5, 150]));
    assert!(!may_ping([5]));
}
