//! DNS over TCP to 127.0.0.11:53 (RFC 7766: each message preceded by its
//! length as two bytes). glibc falls back to TCP when a UDP answer comes
//! back truncated (a name with many addresses: a scaled Compose service)
//! and uses it always with `options use-vc`. The workload's TCP
//! connection to the resolver ends in the Sentry: a `Session` takes the
//! queries out of the byte stream and sends each through the UDP relay
//! (asking for an answer of any size, `edns`), then gives the answers back
//! as the stream's bytes. The host side stays the one connected UDP
//! socket: no TCP socket of the host is ever made for it.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::errno::{err, SysResult};
use crate::net::socket::Socket;

/// Bytes of answers a session holds for its reader before it stops taking
/// queries (EAGAIN on send): a client that never reads cannot make the
/// Sentry hold more.
const MAX_ANSWER_BYTES: usize = 1 << 20;
/// The length prefix.
const PREFIX: usize = 2;

#[derive(Default)]
pub struct Session {
    /// Bytes of a query not yet complete.
    partial: Vec<u8>,
    /// Answers, length-prefixed, for the reader.
    answers: VecDeque<u8>,
    /// Queries relayed and not yet answered.
    in_flight: usize,
    /// The workload shut its writing side: once every query is answered
    /// and read, reads see end of file, as after the resolver's close.
    write_shut: bool,
    read_shut: bool,
}

impl Session {
    /// The workload's bytes: every query they complete goes to the relay.
    /// `sock` is the workload's socket, where answers will go.
    pub fn send(&mut self, sock: &Arc<Socket>, data: &[u8]) -> SysResult<usize> {
        if self.write_shut {
            return err(libc::EPIPE);
        }
        if self.answers.len() >= MAX_ANSWER_BYTES {
            return err(libc::EAGAIN);
        }
        self.partial.extend_from_slice(data);
        while self.partial.len() >= PREFIX {
            let len = usize::from(u16::from_be_bytes([self.partial[0], self.partial[1]]));
            if self.partial.len() < PREFIX + len {
                break;
            }
            let query: Vec<u8> = self.partial.drain(..PREFIX + len).skip(PREFIX).collect();
            if super::query_for_stream(sock, query) {
                self.in_flight += 1;
            }
        }
        Ok(data.len())
    }

    /// An answer from the relay, for the reader.
    pub fn answer(&mut self, answer: &[u8]) {
        self.in_flight = self.in_flight.saturating_sub(1);
        let Ok(len) = u16::try_from(answer.len()) else {
            return;
        };
        if self.read_shut {
            return;
        }
        self.answers.extend(len.to_be_bytes());
        self.answers.extend(answer);
    }

    /// Reads up to `max` bytes of answers; Ok(empty) is end of file.
    pub fn recv(&mut self, max: usize, peek: bool) -> SysResult<Vec<u8>> {
        if self.answers.is_empty() {
            return if self.at_eof() {
                Ok(Vec::new())
            } else {
                err(libc::EAGAIN)
            };
        }
        let n = max.min(self.answers.len());
        Ok(if peek {
            self.answers.iter().take(n).copied().collect()
        } else {
            self.answers.drain(..n).collect()
        })
    }

    fn at_eof(&self) -> bool {
        self.read_shut || (self.write_shut && self.in_flight == 0)
    }

    pub fn shutdown(&mut self, rd: bool, wr: bool) {
        if rd {
            self.read_shut = true;
            self.answers.clear();
        }
        if wr {
            self.write_shut = true;
        }
    }

    /// poll(2) bits: always writable while the writing side is open.
    pub fn readiness(&self) -> i16 {
        let mut r = 0;
        if !self.answers.is_empty() || self.at_eof() {
            r |= libc::POLLIN | libc::POLLRDNORM;
        }
        if self.at_eof() {
            r |= libc::POLLRDHUP;
        }
        if !self.write_shut && self.answers.len() < MAX_ANSWER_BYTES {
            r |= libc::POLLOUT | libc::POLLWRNORM;
        }
        r
    }

    /// FIONREAD.
    pub fn readable_bytes(&self) -> usize {
        self.answers.len()
    }
}
