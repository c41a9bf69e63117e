//! Tag and log field values.

use std::borrow::Cow;
use std::fmt;

/// The value of a span tag, a log field or a reporter tag.
///
/// Values keep their type on the wire (`int_value`, `double_value`, `bool_value`).
/// Conversions exist for the usual Rust types; a `u64` above `i64::MAX` becomes a
/// decimal string, as the Go tracer does.
///
/// ```
/// use lightstep::Value;
/// assert_eq!(Value::from(42u8), Value::Int(42));
/// assert_eq!(Value::from(u64::MAX), Value::String("18446744073709551615".into()));
/// assert_eq!(Value::from("static"), Value::String("static".into()));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A string; `&'static str` values are kept without copying.
    String(Cow<'static, str>),
    /// A signed integer.
    Int(i64),
    /// A floating point number.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// A JSON document, sent as `json_value`.
    Json(String),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::String(s) => f.write_str(s),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Json(j) => f.write_str(j),
        }
    }
}

impl From<&'static str> for Value {
    fn from(s: &'static str) -> Value {
        Value::String(Cow::Borrowed(s))
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::String(Cow::Owned(s))
    }
}

impl From<&String> for Value {
    fn from(s: &String) -> Value {
        Value::String(Cow::Owned(s.clone()))
    }
}

impl From<Cow<'static, str>> for Value {
    fn from(s: Cow<'static, str>) -> Value {
        Value::String(s)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

impl From<f64> for Value {
    fn from(x: f64) -> Value {
        Value::Float(x)
    }
}

impl From<f32> for Value {
    fn from(x: f32) -> Value {
        Value::Float(f64::from(x))
    }
}

macro_rules! from_lossless_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(i: $t) -> Value {
                Value::Int(i64::from(i))
            }
        }
    )*};
}
from_lossless_int!(i8, i16, i32, i64, u8, u16, u32);

macro_rules! from_wide_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(i: $t) -> Value {
                match i64::try_from(i) {
                    Ok(small) => Value::Int(small),
                    Err(_) => Value::String(Cow::Owned(i.to_string())),
                }
            }
        }
    )*};
}
from_wide_int!(u64, usize, isize, i128, u128);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_integers_fall_back_to_strings() {
        assert_eq!(Value::from(i64::MAX as u64), Value::Int(i64::MAX));
        assert_eq!(
            Value::from(i64::MAX as u64 + 1),
            Value::String("9223372036854775808".into())
        );
        assert_eq!(Value::from(-5i128), Value::Int(-5));
        assert_eq!(Value::from(0.5f32), Value::Float(0.5));
    }

    #[test]
    fn display_shows_the_plain_value() {
        assert_eq!(Value::from(true).to_string(), "true");
        assert_eq!(Value::Json("{\"a\":1}".into()).to_string(), "{\"a\":1}");
    }
}
