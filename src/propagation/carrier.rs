//! The `Injector` and `Extractor` traits, and their implementations for std maps.

use std::collections::{BTreeMap, HashMap};

/// A carrier that span contexts can be written into (a header map, a text map).
pub trait Injector {
    /// Sets `key` to `value`, replacing any previous value.
    fn set(&mut self, key: &str, value: String);
}

/// A carrier that span contexts can be read from.
pub trait Extractor {
    /// The value of `key`, matched without regard to ASCII case.
    fn get(&self, key: &str) -> Option<&str> {
        self.pairs()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    }

    /// Every key and value of the carrier (values that are not text are left out).
    fn pairs(&self) -> Box<dyn Iterator<Item = (&str, &str)> + '_>;
}

impl Injector for HashMap<String, String> {
    fn set(&mut self, key: &str, value: String) {
        self.insert(key.to_owned(), value);
    }
}

impl Extractor for HashMap<String, String> {
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

#[cfg(feature = "http")]
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

#[cfg(feature = "http")]
impl Extractor for http::HeaderMap {
    fn get(&self, key: &str) -> Option<&str> {
        http::HeaderMap::get(self, key).and_then(|v| v.to_str().ok())
    }

    fn pairs(&self) -> Box<dyn Iterator<Item = (&str, &str)> + '_> {
        Box::new(
            self.iter()
                .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str(), v))),
        )
    }
}
