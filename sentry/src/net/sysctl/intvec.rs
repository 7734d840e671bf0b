//! What a write to an integer sysctl means, as Linux's proc_dointvec
//! family reads it: up to N integers separated by blanks, tabs or
//! newlines, each in C's strtoul notation (decimal, 0x hex, 0 octal) with
//! an optional minus sign and within the table's bounds. Fewer integers
//! than N leave the rest as they were; bytes after the last integer that
//! are not blanks are left unconsumed (the write is short), as Linux does.

use super::SysctlError;

/// Linux's TMPBUFLEN: a number (with its sign) longer than this is refused.
const MAX_DIGITS: usize = 21;

fn blank(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n')
}

/// The integers written, over `current`, each in `min..=max`; and how
/// many bytes of `text` they took.
pub fn parse(
    text: &[u8],
    current: &[i32],
    min: i32,
    max: i32,
) -> Result<(Vec<i32>, usize), SysctlError> {
    let mut values = current.to_vec();
    let mut pos = 0;
    let mut parsed = 0;
    while parsed < values.len() {
        while pos < text.len() && blank(text[pos]) {
            pos += 1;
        }
        if pos == text.len() {
            break;
        }
        let (v, len) = number(&text[pos..])?;
        if v < i64::from(min) || v > i64::from(max) {
            return Err(SysctlError::OutOfRange { value: v, min, max });
        }
        values[parsed] = v as i32;
        parsed += 1;
        pos += len;
    }
    if parsed == 0 {
        return Err(SysctlError::NotNumbers);
    }
    while pos < text.len() && blank(text[pos]) {
        pos += 1;
    }
    Ok((values, pos))
}

/// One number at the start of `text` and its length: it must end at a
/// separator or at the end of the write.
fn number(text: &[u8]) -> Result<(i64, usize), SysctlError> {
    let neg = text.first() == Some(&b'-') && text.len() > 1;
    let start = usize::from(neg);
    let rest = &text[start..];
    let (radix, digits_at) = match rest {
        [b'0', b'x' | b'X', d, ..] if d.is_ascii_hexdigit() => (16, 2),
        [b'0', ..] => (8, 0),
        [d, ..] if d.is_ascii_digit() => (10, 0),
        _ => return Err(SysctlError::NotNumbers),
    };
    let digits = rest[digits_at..]
        .iter()
        .take_while(|b| (**b as char).is_digit(radix))
        .count();
    let len = start + digits_at + digits;
    if len >= MAX_DIGITS {
        return Err(SysctlError::NotNumbers);
    }
    if text.get(len).is_some_and(|b| !blank(*b)) {
        return Err(SysctlError::NotNumbers);
    }
    let s = std::str::from_utf8(&rest[digits_at..digits_at + digits])
        .map_err(|_| SysctlError::NotNumbers)?;
    let magnitude = u64::from_str_radix(s, radix).map_err(|_| SysctlError::NotNumbers)?;
    // Linux takes values up to INT_MAX (INT_MAX + 1 negated): beyond is
    // refused rather than wrapped.
    let v = i64::try_from(magnitude).map_err(|_| SysctlError::NotNumbers)?;
    let v = if neg { -v } else { v };
    if v > i64::from(i32::MAX) || v < i64::from(i32::MIN) {
        return Err(SysctlError::NotNumbers);
    }
    Ok((v, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_singles_and_notations() {
        assert_eq!(
            parse(b"40000 40010\n", &[1, 2], 1, 65535),
            Ok((vec![40000, 40010], 12))
        );
        assert_eq!(parse(b"\t5", &[1, 2], 1, 65535), Ok((vec![5, 2], 2)));
        assert_eq!(parse(b"0x10 010", &[1, 2], 1, 65535), Ok((vec![16, 8], 8)));
        // What follows the last value Linux reads is left unwritten.
        assert_eq!(parse(b"1 2 3", &[0, 0], 0, 9), Ok((vec![1, 2], 4)));
    }

    #[test]
    fn refusals() {
        assert_eq!(parse(b"", &[1], 0, 9), Err(SysctlError::NotNumbers));
        assert_eq!(parse(b" \n", &[1], 0, 9), Err(SysctlError::NotNumbers));
        assert_eq!(parse(b"abc", &[1], 0, 9), Err(SysctlError::NotNumbers));
        assert_eq!(parse(b"12abc", &[1], 0, 99), Err(SysctlError::NotNumbers));
        assert_eq!(
            parse(b"3000000000", &[1], 0, i32::MAX),
            Err(SysctlError::NotNumbers)
        );
        assert_eq!(
            parse(b"-1", &[1], 0, 9),
            Err(SysctlError::OutOfRange {
                value: -1,
                min: 0,
                max: 9
            })
        );
        assert_eq!(
            parse(b"0 70000", &[1, 2], 1, 65535),
            Err(SysctlError::OutOfRange {
                value: 0,
                min: 1,
                max: 65535
            })
        );
    }
}
