//! Netlink sockets (`socket(AF_NETLINK, ..., NETLINK_ROUTE)`): how `ip`,
//! glibc's getifaddrs and getaddrinfo(AI_ADDRCONFIG) learn the sandbox's
//! interfaces, addresses, routes and neighbours. The Sentry plays the
//! kernel's part: [`wire`] is the message format, [`route`] the
//! rtnetlink answers rendered from `net::iface`, [`socket`] the file.
//! Other netlink protocols are not offered (EPROTONOSUPPORT).

pub mod route;
pub mod socket;
pub mod wire;

pub use socket::{NetlinkSocket, NlAddr, Sender};
