//! Where reports go and the credential they carry: the collector URL, parsed once and
//! strictly into the [`Endpoint`] every transport uses, and the access token, held as a
//! [`Secret`] that never shows.

use std::fmt;
use std::net::Ipv6Addr;
use std::sync::Arc;

/// A collector URL taken apart: `http(s)://host[:port][/path]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    tls: bool,
    /// The host as written (lower-cased), an IPv6 address in brackets.
    host: String,
    port: u16,
    /// The path prefix, without a trailing slash ("" for none).
    path: String,
}

impl Endpoint {
    /// Parses a collector URL. The scheme is matched without regard to case; credentials,
    /// queries, fragments and anything after the port are refused. Errors never repeat
    /// credentials (the URL is shown without them).
    pub(crate) fn parse(url: &str) -> Result<Endpoint, String> {
        let shown = without_userinfo(url);
        let bad = |why: &str| format!("`{shown}` {why}");
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| bad("must start with http:// or https://"))?;
        let tls = if scheme.eq_ignore_ascii_case("https") {
            true
        } else if scheme.eq_ignore_ascii_case("http") {
            false
        } else {
            return Err(bad("must start with http:// or https://"));
        };
        if rest.contains('?') {
            return Err(bad(
                "has a query (`?…`), which a collector URL may not have",
            ));
        }
        if rest.contains('#') {
            return Err(bad(
                "has a fragment (`#…`), which a collector URL may not have",
            ));
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        if authority.contains('@') {
            return Err(bad(
                "carries credentials (`user:password@`); give the access token to Options::new",
            ));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (address, after) = v6
                .split_once(']')
                .ok_or_else(|| bad("has an unclosed IPv6 bracket"))?;
            if address.parse::<Ipv6Addr>().is_err() {
                return Err(bad("has an IPv6 host that is not an IPv6 address"));
            }
            let port = match after {
                "" => None,
                _ => Some(after.strip_prefix(':').ok_or_else(|| {
                    bad("has something other than `:port` after the IPv6 address")
                })?),
            };
            (format!("[{}]", address.to_ascii_lowercase()), port)
        } else {
            let (host, port) = match authority.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            };
            let valid = !host.is_empty()
                && !host.starts_with(['.', '-'])
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c));
            if !valid {
                return Err(bad("has no valid host"));
            }
            (host.to_ascii_lowercase(), port)
        };
        let port = match port {
            None if tls => 443,
            None => 80,
            Some(digits) => match digits.parse::<u16>() {
                Ok(port) if port != 0 && digits.bytes().all(|b| b.is_ascii_digit()) => port,
                _ => return Err(bad("has an invalid port (1 to 65535)")),
            },
        };
        if path.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("has a path with spaces or control characters"));
        }
        Ok(Endpoint {
            tls,
            host,
            port,
            path: path.to_owned(),
        })
    }

    #[cfg_attr(not(feature = "grpc"), allow(dead_code))]
    pub(crate) fn tls(&self) -> bool {
        self.tls
    }

    /// The host, an IPv6 address in brackets.
    pub(crate) fn host(&self) -> &str {
        &self.host
    }

    pub(crate) fn path(&self) -> &str {
        &self.path
    }

    /// `host:port`, for messages.
    pub(crate) fn authority(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// `scheme://host:port`.
    pub(crate) fn origin(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}:{}", self.host, self.port)
    }

    /// The URL of `suffix` under the endpoint's path prefix.
    pub(crate) fn url(&self, suffix: &str) -> String {
        format!("{}{}{suffix}", self.origin(), self.path)
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.origin(), self.path)
    }
}

/// `url` with any `user:password@` cut out, to show in a message. A password may hold
/// `/`, `?` or `#`, so everything up to the last `@` goes.
fn without_userinfo(url: &str) -> String {
    let shown = match (url.split_once("://"), url.rfind('@')) {
        (Some((scheme, _)), Some(at)) => format!("{scheme}://<credentials>@{}", &url[at + 1..]),
        (None, Some(at)) => format!("<credentials>@{}", &url[at + 1..]),
        (_, None) => url.to_owned(),
    };
    crate::encode::truncate(&shown, 256)
}

/// The access token. Its `Debug` and `Display` show `<redacted>`; only the transports read
/// it, with [`Secret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Secret(Arc<str>);

impl Secret {
    pub(crate) fn new(token: &str) -> Secret {
        Secret(token.into())
    }

    /// The token itself, to put on the wire.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_taken_apart() {
        let url = Endpoint::parse("https://collector.lightstep.com:443").unwrap();
        assert_eq!(
            (url.tls(), url.host(), url.authority().as_str(), url.path()),
            (
                true,
                "collector.lightstep.com",
                "collector.lightstep.com:443",
                ""
            )
        );
        let url = Endpoint::parse("http://127.0.0.1:8360/base/").unwrap();
        assert_eq!(
            url.url("/api/v2/reports"),
            "http://127.0.0.1:8360/base/api/v2/reports"
        );
        let url = Endpoint::parse("HTTP://[::1]:9").unwrap();
        assert_eq!((url.tls(), url.authority().as_str()), (false, "[::1]:9"));
        assert_eq!(
            Endpoint::parse("HTTPS://H").unwrap().origin(),
            "https://h:443"
        );
        assert_eq!(Endpoint::parse("http://h").unwrap().authority(), "h:80");
    }

    #[test]
    fn bad_urls_are_refused_with_the_reason() {
        for (bad, reason) in [
            ("", "must start with"),
            ("collector:443", "must start with"),
            ("ftp://x", "must start with"),
            ("http://", "no valid host"),
            ("http://host:0", "invalid port"),
            ("http://host:99999", "invalid port"),
            ("http://host:port", "invalid port"),
            ("http://host:+80", "invalid port"),
            ("http://user@host", "credentials"),
            ("http://ho st", "no valid host"),
            ("http://[::1", "unclosed IPv6"),
            ("http://[::1]x:18033", "after the IPv6 address"),
            ("http://[zz]:1", "not an IPv6 address"),
            ("http://127.0.0.1:1?x=1", "query"),
            ("http://host/a?b", "query"),
            ("http://host#top", "fragment"),
            ("http://-host", "no valid host"),
            ("http://host/a b", "path"),
        ] {
            match Endpoint::parse(bad) {
                Err(why) => assert!(why.contains(reason), "{bad:?}: {why}"),
                Ok(endpoint) => panic!("{bad:?} accepted as {endpoint}"),
            }
        }
    }

    #[test]
    fn credentials_in_a_url_are_never_repeated() {
        let why = Endpoint::parse("https://svc:hunter2-token@collector.example:443").unwrap_err();
        assert!(!why.contains("hunter2"), "{why}");
        assert!(why.contains("collector.example:443"), "{why}");
        assert!(!Endpoint::parse("https://svc:s3cret@host:443?x")
            .unwrap_err()
            .contains("s3cret"));
    }

    #[test]
    fn a_secret_never_shows() {
        let secret = Secret::new("s3cret-token");
        assert_eq!(format!("{secret} {secret:?}"), "<redacted> <redacted>");
        assert_eq!(secret.expose(), "s3cret-token");
    }
}
