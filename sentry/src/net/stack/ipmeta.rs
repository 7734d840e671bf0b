//! The IP header fields a UDP receiver may ask for (IP_RECVTTL,
//! IP_RECVTOS, IPV6_RECVHOPLIMIT, IPV6_RECVTCLASS) that smoltcp does not
//! keep: the link reads them from each frame as it hands it over and packs
//! them into the frame's `PacketMeta::id`, which smoltcp passes through to
//! the UDP socket's `UdpMetadata`.

/// Set in an id that carries header fields (0 means nothing known).
const KNOWN: u32 = 1 << 16;

/// The id for `frame` (an Ethernet frame): its TTL or hop limit and its
/// TOS or traffic class, or 0 when it is neither IPv4 nor IPv6 or too
/// short.
pub fn of_frame(frame: &[u8]) -> u32 {
    const ETHER: usize = 14;
    let Some(ethertype) = frame.get(12..14).map(|b| u16::from_be_bytes([b[0], b[1]])) else {
        return 0;
    };
    let fields = match ethertype {
        0x0800 => frame
            .get(ETHER + 1)
            .zip(frame.get(ETHER + 8))
            .map(|(tos, ttl)| (*ttl, *tos)),
        0x86dd => frame.get(ETHER..ETHER + 8).map(|h| {
            let class = (h[0] << 4) | (h[1] >> 4);
            (h[7], class)
        }),
        _ => None,
    };
    fields.map_or(0, |(hops, class)| {
        KNOWN | u32::from(hops) << 8 | u32::from(class)
    })
}

/// The (TTL or hop limit, TOS or class) an id carries.
pub fn decode(id: u32) -> Option<(u8, u8)> {
    (id & KNOWN != 0).then_some(((id >> 8) as u8, id as u8))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ipv4_and_ipv6_headers() {
        let mut f = vec![0u8; 14 + 40];
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        f[14] = 0x45;
        f[15] = 0x10;
        f[14 + 8] = 33;
        assert_eq!(decode(of_frame(&f)), Some((33, 0x10)));
        f[12..14].copy_from_slice(&[0x86, 0xdd]);
        f[14] = 0x62; // version 6, class 0x2_
        f[15] = 0x00; // class _0
        f[14 + 7] = 17;
        assert_eq!(decode(of_frame(&f)), Some((17, 0x20)));
        assert_eq!(decode(of_frame(&f[..16])), None);
        f[12..14].copy_from_slice(&[0x08, 0x06]);
        assert_eq!(decode(of_frame(&f)), None);
    }
}
