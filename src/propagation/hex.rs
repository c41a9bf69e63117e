//! Strict hexadecimal ids: what the text formats put in their headers.

/// Parses 1 to `max_digits` hex digits (either case) into a u128; nothing else allowed.
pub(crate) fn parse(text: &str, max_digits: usize) -> Result<u128, &'static str> {
    if text.is_empty() {
        return Err("empty id");
    }
    if text.len() > max_digits {
        return Err("id too long");
    }
    let mut value: u128 = 0;
    for byte in text.bytes() {
        let digit = match byte {
            b'0'..=b'9' => byte - b'0',
            b'a'..=b'f' => byte - b'a' + 10,
            b'A'..=b'F' => byte - b'A' + 10,
            _ => return Err("not a hexadecimal id"),
        };
        value = (value << 4) | u128::from(digit);
    }
    Ok(value)
}

/// Parses a non-zero 64-bit id of 1 to 16 hex digits.
pub(crate) fn parse_u64(text: &str) -> Result<u64, &'static str> {
    match parse(text, 16)? {
        0 => Err("id is zero"),
        id => Ok(id as u64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_parsing() {
        assert_eq!(parse_u64("ff"), Ok(255));
        assert_eq!(parse_u64("FFFFFFFFFFFFFFFF"), Ok(u64::MAX));
        for bad in ["", "0", "0x1f", "-1", " 1", "1 ", "g", "10000000000000000"] {
            assert!(parse_u64(bad).is_err(), "{bad:?}");
        }
    }
}
