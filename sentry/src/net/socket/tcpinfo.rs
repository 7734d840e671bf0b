//! getsockopt(IPPROTO_TCP, TCP_INFO): Linux's `struct tcp_info`
//! (include/uapi/linux/tcp.h, the 248-byte layout of Linux 6.7 and later)
//! filled from the connection: the socket core's for loopback, smoltcp's
//! for connections over the stack (`stack::tcp::Conn::info`).
//!
//! What neither side can know stays 0, as Linux leaves a field it does not
//! track: congestion-avoidance state, retransmission and loss counts,
//! SACK/reordering figures, pacing and delivery rates, the time fields
//! (last_data_sent and friends), ssthresh and the receive-side RTT.

use super::{Conn, Inner, Socket, RCV_SHUTDOWN, SEND_SHUTDOWN};
use crate::kernel::process::lock;

/// sizeof(struct tcp_info) on Linux 6.7+ (up to tcpi_total_rto_time).
pub const TCP_INFO_LEN: usize = 248;

/// Linux's TCP states (include/net/tcp_states.h).
pub const ESTABLISHED: u8 = 1;
pub const SYN_SENT: u8 = 2;
pub const SYN_RECV: u8 = 3;
pub const FIN_WAIT1: u8 = 4;
pub const FIN_WAIT2: u8 = 5;
pub const CLOSE: u8 = 7;
pub const CLOSE_WAIT: u8 = 8;
pub const LAST_ACK: u8 = 9;
pub const LISTEN: u8 = 10;
pub const CLOSING: u8 = 11;

/// tcpi_options bits.
pub const OPT_TIMESTAMPS: u8 = 1;
pub const OPT_SACK: u8 = 2;
pub const OPT_WSCALE: u8 = 4;

/// The fields this runtime can fill; the rest of the structure is 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpInfo {
    pub state: u8,
    pub options: u8,
    pub snd_wscale: u8,
    pub rcv_wscale: u8,
    /// Microseconds, as Linux reports them.
    pub rto: u32,
    pub snd_mss: u32,
    pub rcv_mss: u32,
    /// Segments sent and not yet acknowledged.
    pub unacked: u32,
    pub pmtu: u32,
    pub rtt: u32,
    pub rttvar: u32,
    pub snd_cwnd: u32,
    pub advmss: u32,
    pub bytes_acked: u64,
    pub bytes_received: u64,
    pub segs_out: u32,
    pub segs_in: u32,
    pub notsent_bytes: u32,
    pub data_segs_in: u32,
    pub data_segs_out: u32,
    pub bytes_sent: u64,
    pub snd_wnd: u32,
    pub rcv_wnd: u32,
}

impl TcpInfo {
    /// The structure's bytes, at Linux's offsets.
    pub fn encode(&self) -> Vec<u8> {
        let mut b = vec![0u8; TCP_INFO_LEN];
        let mut put = |off: usize, v: &[u8]| b[off..off + v.len()].copy_from_slice(v);
        put(0, &[self.state]);
        put(5, &[self.options]);
        put(6, &[(self.snd_wscale & 0xf) | (self.rcv_wscale << 4)]);
        put(8, &self.rto.to_ne_bytes());
        put(16, &self.snd_mss.to_ne_bytes());
        put(20, &self.rcv_mss.to_ne_bytes());
        put(24, &self.unacked.to_ne_bytes());
        put(60, &self.pmtu.to_ne_bytes());
        put(68, &self.rtt.to_ne_bytes());
        put(72, &self.rttvar.to_ne_bytes());
        put(80, &self.snd_cwnd.to_ne_bytes());
        put(84, &self.advmss.to_ne_bytes());
        // tcpi_reordering: Linux's initial sysctl_tcp_reordering.
        put(88, &3u32.to_ne_bytes());
        put(120, &self.bytes_acked.to_ne_bytes());
        put(128, &self.bytes_received.to_ne_bytes());
        put(136, &self.segs_out.to_ne_bytes());
        put(140, &self.segs_in.to_ne_bytes());
        put(144, &self.notsent_bytes.to_ne_bytes());
        put(152, &self.data_segs_in.to_ne_bytes());
        put(156, &self.data_segs_out.to_ne_bytes());
        put(200, &self.bytes_sent.to_ne_bytes());
        put(228, &self.snd_wnd.to_ne_bytes());
        put(232, &self.rcv_wnd.to_ne_bytes());
        b
    }
}

/// What the socket core counts of a loopback TCP connection.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Counters {
    /// The peer sent its FIN (closed or shut down for writing).
    pub peer_fin: bool,
    /// The connection ended by a reset.
    pub reset: bool,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub segs_out: u32,
    pub segs_in: u32,
}

/// Loopback's MSS as Linux has it (MTU 65536 less IP and TCP headers and
/// the timestamp option).
pub const LOOPBACK_MSS: u32 = 65483;
/// Linux's TCP_RTO_MIN, the RTO it shows on loopback (µs).
const RTO_MIN_US: u32 = 200_000;
/// Linux's initial congestion window (TCP_INIT_CWND).
const INIT_CWND: u32 = 10;

/// Segments a write of `n` bytes takes at `mss`.
pub fn segments(n: usize, mss: u32) -> u32 {
    n.div_ceil(mss.max(1) as usize)
        .try_into()
        .unwrap_or(u32::MAX)
}

impl Counters {
    /// Accounts a write of `n` bytes handed to the peer.
    pub fn sent(&mut self, n: usize) {
        self.bytes_sent += n as u64;
        self.segs_out = self.segs_out.saturating_add(segments(n, LOOPBACK_MSS));
    }

    pub fn received(&mut self, n: usize) {
        self.bytes_received += n as u64;
        self.segs_in = self.segs_in.saturating_add(segments(n, LOOPBACK_MSS));
    }
}

/// Linux counts the SYN's sequence number among the bytes acked once the
/// handshake is done.
fn syn_acked(conn: &Conn) -> u64 {
    matches!(conn, Conn::Connected) as u64
}

/// The state of a loopback TCP socket of the core.
fn core_state(i: &Inner) -> u8 {
    match &i.conn {
        Conn::Listening { .. } => LISTEN,
        Conn::Idle if i.pending.is_some() => SYN_SENT,
        Conn::Idle => CLOSE,
        Conn::Connected => {
            let c = &i.tcp;
            let wr = i.shutdown & SEND_SHUTDOWN != 0;
            if c.reset || (i.closed && i.shutdown & RCV_SHUTDOWN != 0) {
                return CLOSE;
            }
            // Both FINs exchanged: LAST_ACK is acknowledged at once on
            // loopback, and Linux hands TIME_WAIT to a mini socket of its
            // own, so the socket itself shows CLOSE either way.
            match (wr, c.peer_fin) {
                (false, false) => ESTABLISHED,
                (false, true) => CLOSE_WAIT,
                (true, false) => FIN_WAIT2,
                (true, true) => CLOSE,
            }
        }
    }
}

impl Socket {
    /// TCP_INFO of a loopback connection or listener of the core. The
    /// core has no wire: a write reaches the peer's queue within the
    /// call, so nothing is ever in flight or unacknowledged, and the RTT
    /// is reported as 1 µs (the smallest non-zero value Linux shows;
    /// programs divide by it). The MSS, RTO, window scale and options
    /// are what Linux negotiates with itself on loopback.
    pub(super) fn core_tcp_info(&self) -> TcpInfo {
        let i = lock(&self.inner);
        let state = core_state(&i);
        let c = i.tcp;
        let mut info = TcpInfo {
            state,
            rto: RTO_MIN_US,
            snd_cwnd: INIT_CWND,
            pmtu: 65536,
            advmss: LOOPBACK_MSS,
            // Our FIN is acknowledged at once on loopback; Linux counts
            // it among the bytes acked, and the peer's among the bytes
            // received.
            bytes_acked: c.bytes_sent
                + syn_acked(&i.conn)
                + u64::from(i.shutdown & SEND_SHUTDOWN != 0 && syn_acked(&i.conn) == 1),
            bytes_sent: c.bytes_sent,
            bytes_received: c.bytes_received + u64::from(c.peer_fin),
            segs_out: c.segs_out,
            segs_in: c.segs_in,
            data_segs_out: c.segs_out,
            data_segs_in: c.segs_in,
            // The room left in our queue.
            rcv_wnd: i
                .rcvbuf
                .saturating_sub(i.recv_cost)
                .try_into()
                .unwrap_or(u32::MAX),
            ..TcpInfo::default()
        };
        let peer = i.peer.clone();
        let sndbuf = i.sndbuf;
        if matches!(i.conn, Conn::Connected) {
            info.options = OPT_TIMESTAMPS | OPT_SACK | OPT_WSCALE;
            info.snd_wscale = 7;
            info.rcv_wscale = 7;
            info.snd_mss = LOOPBACK_MSS;
            info.rcv_mss = LOOPBACK_MSS;
            info.rtt = 1;
        }
        drop(i);
        // What a write may still put in the peer's queue (one socket's
        // lock at a time).
        if let Some(p) = peer.filter(|_| info.options != 0) {
            let queued = lock(&p.inner).recv_cost;
            info.snd_wnd = sndbuf.saturating_sub(queued).try_into().unwrap_or(u32::MAX);
        }
        info
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_land_at_linux_offsets() {
        let b = TcpInfo {
            state: ESTABLISHED,
            options: OPT_TIMESTAMPS,
            snd_wscale: 7,
            rcv_wscale: 9,
            bytes_acked: 0x0102,
            bytes_received: 0x0304,
            ..TcpInfo::default()
        }
        .encode();
        assert_eq!(b.len(), TCP_INFO_LEN);
        assert_eq!((b[0], b[5], b[6]), (1, 1, 0x97));
        assert_eq!(
            u64::from_ne_bytes(b[120..128].try_into().expect("8")),
            0x0102
        );
        assert_eq!(
            u64::from_ne_bytes(b[128..136].try_into().expect("8")),
            0x0304
        );
    }

    #[test]
    fn segments_round_up() {
        assert_eq!(segments(0, 1000), 0);
        assert_eq!(segments(1, 1000), 1);
        assert_eq!(segments(2001, 1000), 3);
    }
}
