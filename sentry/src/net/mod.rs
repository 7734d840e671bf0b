//! Sockets. The sandbox has no network of its own: Unix domain sockets and
//! loopback inet sockets (TCP and UDP on 127.0.0.0/8 and ::1) both live
//! entirely inside the Sentry ([`socket`]), found by name ([`names`]): a
//! socket file, an abstract name, or a port.

pub mod addr;
pub mod iface;
pub mod ifioctl;
pub mod inet;
pub mod names;
pub mod netlink;
pub mod socket;

pub use addr::{SockAddr, UnixAddr};
pub use socket::{Family, Kind, Socket};
