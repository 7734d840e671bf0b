//! Just enough of the DNS message format (RFC 1035 4.1, RFC 6891) to let
//! a query that came over TCP travel as one UDP datagram: the OPT record
//! that advertises how large a UDP answer the asker takes. A resolver that
//! follows RFC 6891 (Docker's embedded one does) truncates a UDP answer to
//! 512 bytes unless the query carries OPT with a larger size; a TCP asker
//! expects the whole answer, so its query is sent with the largest size,
//! and an OPT the asker did not send is taken out of the answer again.

/// The OPT pseudo-record's type.
const TYPE_OPT: u16 = 41;
/// The UDP payload size a relayed TCP query advertises: all of it.
const MAX_UDP_PAYLOAD: u16 = u16::MAX;
/// A DNS header: id, flags and the four section counts.
const HEADER: usize = 12;
/// The additional section's count (ARCOUNT) in the header.
const ARCOUNT_AT: usize = 10;
/// An OPT record with the root name, no options: name, type, size (the
/// class field), extended rcode and flags (the TTL field), rdlength.
const OPT_RECORD: [u8; 11] = [0, 0, 41, 0xff, 0xff, 0, 0, 0, 0, 0, 0];

fn u16_at(m: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*m.get(at)?, *m.get(at + 1)?]))
}

/// The offset past the (possibly compressed) name at `at`.
fn skip_name(m: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let len = *m.get(at)? as usize;
        match len & 0xc0 {
            0 if len == 0 => return Some(at + 1),
            0 => at += 1 + len,
            // A pointer ends the name.
            0xc0 => return (at + 2 <= m.len()).then_some(at + 2),
            _ => return None,
        }
    }
}

/// Where the OPT record of message `m` starts and ends, if it has one
/// (None also for a message that does not parse).
fn find_opt(m: &[u8]) -> Option<Option<(usize, usize)>> {
    let counts: Vec<u16> = (0..4)
        .map(|i| u16_at(m, 4 + 2 * i))
        .collect::<Option<_>>()?;
    let mut at = HEADER;
    for _ in 0..counts[0] {
        at = skip_name(m, at)? + 4;
    }
    let records = counts[1] as usize + counts[2] as usize;
    for n in 0..records + counts[3] as usize {
        let start = at;
        let fixed = skip_name(m, at)?;
        let ty = u16_at(m, fixed)?;
        let rdlen = u16_at(m, fixed + 8)? as usize;
        at = fixed + 10 + rdlen;
        if at > m.len() {
            return None;
        }
        if n >= records && ty == TYPE_OPT {
            return Some(Some((start, at)));
        }
    }
    Some(None)
}

/// Makes query `q` ask for the largest UDP answer. Returns whether an OPT
/// record was added (the answer's must then be taken out); a query that
/// does not parse is left as it is.
pub fn widen_query(q: &mut Vec<u8>) -> bool {
    match find_opt(q) {
        Some(Some((start, _))) => {
            // The payload size is the OPT record's class, after the name
            // (the root: one zero byte) and the type.
            if let Some(size) = q.get_mut(start + 3..start + 5) {
                size.copy_from_slice(&MAX_UDP_PAYLOAD.to_be_bytes());
            }
            false
        }
        Some(None) if q.len() + OPT_RECORD.len() <= usize::from(u16::MAX) => {
            let Some(ar) = u16_at(q, ARCOUNT_AT).and_then(|c| c.checked_add(1)) else {
                return false;
            };
            q[ARCOUNT_AT..ARCOUNT_AT + 2].copy_from_slice(&ar.to_be_bytes());
            q.extend_from_slice(&OPT_RECORD);
            true
        }
        _ => false,
    }
}

/// Takes the OPT record out of answer `a` (the asker did not send one, so
/// RFC 6891 6.1.1 says it must not get one).
pub fn strip_opt(a: &mut Vec<u8>) {
    let Some(Some((start, end))) = find_opt(a) else {
        return;
    };
    let Some(ar) = u16_at(a, ARCOUNT_AT).and_then(|c| c.checked_sub(1)) else {
        return;
    };
    a[ARCOUNT_AT..ARCOUNT_AT + 2].copy_from_slice(&ar.to_be_bytes());
    a.drain(start..end);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A query for `example.` of type A, without OPT.
    fn query() -> Vec<u8> {
        let mut q = vec![0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        q.extend_from_slice(b"\x07example\x00\x00\x01\x00\x01");
        q
    }

    #[test]
    fn a_query_without_opt_gains_one_and_its_answer_loses_it() {
        let mut q = query();
        assert!(widen_query(&mut q));
        assert_eq!(u16_at(&q, ARCOUNT_AT), Some(1));
        let (start, end) = find_opt(&q).flatten().expect("the OPT record");
        assert_eq!(u16_at(&q, start + 3), Some(u16::MAX));
        assert_eq!(end, q.len());
        // An answer: the question, one A record (compressed name), the OPT.
        let mut a = query();
        a[7] = 1;
        a.extend_from_slice(b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\x0a\x00\x00\x01");
        a[11] = 1;
        a.extend_from_slice(&OPT_RECORD);
        strip_opt(&mut a);
        assert_eq!(u16_at(&a, ARCOUNT_AT), Some(0));
        assert_eq!(find_opt(&a), Some(None));
        assert!(a.ends_with(&[0x0a, 0, 0, 1]));
    }

    #[test]
    fn an_existing_opt_is_widened_in_place() {
        let mut q = query();
        q[11] = 1;
        q.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
        let len = q.len();
        assert!(!widen_query(&mut q));
        assert_eq!(q.len(), len);
        assert_eq!(u16_at(&q, len - 8), Some(u16::MAX));
    }

    #[test]
    fn garbage_is_left_alone() {
        for mut m in [vec![], vec![0; 11], {
            let mut q = query();
            q[5] = 9; // nine questions, one present
            q
        }] {
            let before = m.clone();
            assert!(!widen_query(&mut m));
            strip_opt(&mut m);
            assert_eq!(m, before);
        }
        // A name of labels pointing past the end.
        let mut m = query();
        m[12] = 0x3f;
        assert_eq!(find_opt(&m), None);
    }
}
