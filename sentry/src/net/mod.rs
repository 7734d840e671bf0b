//! Sockets. The sandbox has no network of its own yet: Unix domain sockets
//! live entirely inside the Sentry ([`unix`]), named in the abstract
//! namespace or by socket files in the sandbox's file systems ([`names`]).

pub mod addr;
pub mod names;
pub mod unix;

pub use addr::UnixAddr;
pub use unix::{Kind, UnixSocket};
