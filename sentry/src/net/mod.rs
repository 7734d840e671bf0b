//! Sockets. Unix domain sockets and inet sockets between the sandbox's own
//! addresses (loopback, its interfaces' addresses) live entirely inside the
//! Sentry ([`socket`]), found by name ([`names`]): a socket file, an
//! abstract name, or a port. Inet traffic to and from anywhere else goes
//! through the Sentry's TCP/IP stack ([`stack`]), over the interfaces it
//! took over from the container's network namespace ([`iface`]).

pub mod addr;
pub mod dns;
pub mod hostnet;
pub mod iface;
pub mod ifconfig;
pub mod ifioctl;
pub mod inet;
pub mod names;
pub mod netlink;
pub mod socket;
pub mod stack;
pub mod sysctl;

pub use addr::{SockAddr, UnixAddr};
pub use socket::{Family, Kind, Socket};
