//! The `Injector` and `Extractor` traits, and their implementations for std maps (and,
//! with the cargo feature `http`, for `http::HeaderMap`).

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

/// A carrier that span contexts can be written into (a header map, a text map).
///
/// Implemented for `HashMap<String, String>`, `BTreeMap<String, String>` and, with the
/// cargo feature `http`, `http::HeaderMap`. Keys are written in lower case.
///
/// ```
/// use std::collections::BTreeMap;
/// let tracer = lightstep::global();
/// let context = lightstep::SpanContext::new(0xf1e2d3c4b5a69788, 0xff);
/// let mut carrier = BTreeMap::new();
/// tracer.inject(&context, &mut carrier);
/// assert_eq!(carrier["ot-tracer-spanid"], "ff");
/// ```
pub trait Injector {
    /// Sets `key` to `value`, replacing any previous value.
    fn set(&mut self, key: &str, value: String);
}

/// A carrier that span contexts can be read from.
///
/// Only [`pairs`](Extractor::pairs) is required; [`get`](Extractor::get) defaults to a
/// case-insensitive search through it. Extraction keeps at most 1024 baggage items and
/// 64 KiB of baggage; what a carrier has beyond that is dropped (the context is kept) and
/// reported with an [`Event::BaggageDropped`](crate::Event::BaggageDropped).
///
/// ```
/// use std::collections::HashMap;
/// let tracer = lightstep::global();
/// let headers: HashMap<String, String> = [
///     ("OT-Tracer-TraceId", "f1e2d3c4b5a69788"),
///     ("OT-Tracer-SpanId", "ff"),
///     ("OT-Tracer-Sampled", "true"),
///     ("OT-Baggage-User.ID", "alice"),
/// ]
/// .into_iter()
/// .map(|(k, v)| (k.to_owned(), v.to_owned()))
/// .collect();
/// let context = tracer.extract(&headers).unwrap().unwrap();
/// assert_eq!(context.span_id(), 0xff);
/// assert_eq!(context.baggage_item("user.id"), Some("alice"));
/// ```
pub trait Extractor {
    /// The value of `key`, matched without regard to ASCII case.
    fn get(&self, key: &str) -> Option<&str> {
        self.pairs()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    }

    /// Every key and value of the carrier (values that are not text are left out).
    fn pairs(&self) -> Box<dyn Iterator<Item = (&str, &str)> + '_>;

    /// Every key and value, with values that are not UTF-8 decoded as this carrier's
    /// protocol reads them rather than left out; baggage is read through it. The default
    /// is [`pairs`](Extractor::pairs); `http::HeaderMap` decodes such values as
    /// ISO-8859-1, as HTTP/1.1 servers do.
    fn decoded_pairs(&self) -> Box<dyn Iterator<Item = (&str, Cow<'_, str>)> + '_> {
        Box::new(self.pairs().map(|(k, v)| (k, Cow::Borrowed(v))))
    }

    /// Whether `key` is present with a value that is not UTF-8 text, which
    /// [`get`](Extractor::get) cannot return; extraction then reports the key as corrupt
    /// rather than missing. Carriers whose values are always text keep the default,
    /// `false`.
    fn has_non_text_value(&self, key: &str) -> bool {
        let _ = key;
        false
    }
}

impl<S: std::hash::BuildHasher> Injector for HashMap<String, String, S> {
    fn set(&mut self, key: &str, value: String) {
        self.insert(key.to_owned(), value);
    }
}

impl<S: std::hash::BuildHasher> Extractor for HashMap<String, String, S> {
    fn get(&self, key: &str) -> Option<&str> {
        match HashMap::get(self, key) {
            Some(value) => Some(value),
            None => self
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v.as_str()),
        }
    }

    fn pairs(&self) -> Box<dyn Iterator<Item = (&str, &str)> + '_> {
        Box::new(self.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }
}

impl Injector for BTreeMap<String, String> {
    fn set(&mut self, key: &str, value: String) {
        self.insert(key.to_owned(), value);
    }
}

impl Extractor for BTreeMap<String, String> {
    fn get(&self, key: &str) -> Option<&str> {
        match BTreeMap::get(self, key) {
            Some(value) => Some(value),
            None => self
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v.as_str()),
        }
    }

    fn pairs(&self) -> Box<dyn Iterator<Item = (&str, &str)> + '_> {
        Box::new(self.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }
}

/// Header names are case-insensitive (stored in lower case). A key that is not a valid
/// header name, or a value that is not a valid header value (control characters), is left
/// out; UTF-8 values are kept.
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
impl Injector for http::HeaderMap {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            http::header::HeaderName::from_bytes(key.as_bytes()),
            http::header::HeaderValue::from_str(&value),
        ) {
            self.insert(name, value);
        }
    }
}

/// Values are read as UTF-8 (not only visible ASCII, as `HeaderValue::to_str` would), so
/// UTF-8 baggage survives; of a repeated header, [`get`](Extractor::get) gives the first
/// value (the W3C format reads every `tracestate` value, as one list, and refuses two
/// `traceparent` headers). Baggage values
/// that are not UTF-8 are decoded as ISO-8859-1 (each byte one character), which is how
/// HTTP/1.1 reads header values; ids that are not UTF-8 are corrupt.
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
impl Extractor for http::HeaderMap {
    fn get(&self, key: &str) -> Option<&str> {
        http::HeaderMap::get(self, key).and_then(|v| std::str::from_utf8(v.as_bytes()).ok())
    }

    fn pairs(&self) -> Box<dyn Iterator<Item = (&str, &str)> + '_> {
        Box::new(self.iter().filter_map(|(k, v)| {
            std::str::from_utf8(v.as_bytes())
                .ok()
                .map(|v| (k.as_str(), v))
        }))
    }

    fn decoded_pairs(&self) -> Box<dyn Iterator<Item = (&str, Cow<'_, str>)> + '_> {
        Box::new(self.iter().map(|(k, v)| {
            let value = match std::str::from_utf8(v.as_bytes()) {
                Ok(text) => Cow::Borrowed(text),
                Err(_) => Cow::Owned(v.as_bytes().iter().map(|&b| char::from(b)).collect()),
            };
            (k.as_str(), value)
        }))
    }

    fn has_non_text_value(&self, key: &str) -> bool {
        http::HeaderMap::get(self, key).is_some_and(|v| std::str::from_utf8(v.as_bytes()).is_err())
    }
}
