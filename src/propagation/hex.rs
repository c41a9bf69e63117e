//! Strict hexadecimal ids: what the text formats put in their headers.
//!
//! An id is 1 to 32 hex digits (either case), nothing else. Leading zeros are allowed up
//! to that length whenever the value fits the id's width: real tracers zero-pad ids they
//! received (a LightStep tracer in another language writes `0000000000000000ff` for
//! `ff`), and Go's `ParseUint` and Python's `int(x, 16)` read them.

/// The most digits an id may have, leading zeros included.
const MAX_DIGITS: usize = 32;

/// Parses 1 to 32 hex digits into a value of at most `bits` bits (64 or 128).
pub(crate) fn parse(text: &str, bits: u32) -> Result<u128, &'static str> {
    if text.is_empty() {
        return Err("empty id");
    }
    if text.len() > MAX_DIGITS {
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
    if bits < 128 && value >> bits != 0 {
        return Err(if bits == 64 {
            "id too long: it does not fit in 64 bits"
        } else {
            "id too long"
        });
    }
    Ok(value)
}

/// Parses a non-zero 64-bit id of 1 to 32 hex digits (leading zeros allowed).
pub(crate) fn parse_u64(text: &str) -> Result<u64, &'static str> {
    match parse(text, 64)? {
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

    #[test]
    fn leading_zeros_are_read_when_the_value_fits() {
        assert_eq!(parse_u64("0000000000000000ff"), Ok(255));
        assert_eq!(parse_u64(&format!("{:0>32}", "ab")), Ok(0xab));
        assert_eq!(parse_u64("0000000000000000ffffffffffffffff"), Ok(u64::MAX));
        assert!(parse_u64(&format!("{:0>33}", "1")).is_err());
        assert!(parse_u64("00000000000000010000000000000000").is_err());
        assert!(parse_u64("00000000000000000000000000000000").is_err());
        assert_eq!(parse(&"f".repeat(32), 128), Ok(u128::MAX));
    }
}
