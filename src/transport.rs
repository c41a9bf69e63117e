//! Sending one encoded report to the collector: over synchronous HTTP (`ureq`, rustls),
//! or over gRPC (feature `grpc`, `crate::grpc`). The reporter sees only [`Transport`].

use crate::event::{ErrorKind, FlushState};
use crate::options::{parse_collector_url, Options};
use crate::proto::collector::ReportResponse;
use crate::Error;
use prost::Message;
use std::sync::Arc;
use std::time::Duration;
use ureq::tls::{PemItem, RootCerts, TlsConfig};

/// The most response body read from the collector; a longer one is refused unread.
pub(crate) const MAX_RESPONSE_BYTES: u64 = 1024 * 1024;

/// What came of sending one report.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Status 200 with a decodable `ReportResponse`: the spans are delivered.
    Accepted(ReportResponse),
    /// Status 200 with a body that is not a `ReportResponse`: delivered all the same
    /// (resending would duplicate spans), and reported as an error.
    AcceptedBadBody(Error),
    /// No acceptance: the batch is kept for another attempt.
    Failed(ErrorKind, Error),
}

/// The way reports travel; everything else (batching, splitting, accounting, events)
/// is the reporter's and the same for both.
pub(crate) enum Transport {
    Http(HttpTransport),
    #[cfg(feature = "grpc")]
    Grpc(Box<crate::grpc::GrpcTransport>),
}

impl Transport {
    /// The transport `options` ask for, its settings checked.
    pub(crate) fn new(options: &Options) -> Result<Transport, Error> {
        match options.transport {
            crate::options::Transport::Http => Ok(Transport::Http(HttpTransport::new(options)?)),
            #[cfg(feature = "grpc")]
            crate::options::Transport::Grpc => Ok(Transport::Grpc(Box::new(
                crate::grpc::GrpcTransport::new(options)?,
            ))),
            #[cfg(not(feature = "grpc"))]
            crate::options::Transport::Grpc => Err(crate::options::grpc_unavailable()),
        }
    }

    /// Sends one encoded `ReportRequest`, waiting at most `timeout` for the whole exchange.
    pub(crate) fn send(&mut self, body: &[u8], timeout: Duration) -> Outcome {
        match self {
            Transport::Http(http) => http.send(body, timeout),
            #[cfg(feature = "grpc")]
            Transport::Grpc(grpc) => grpc.send(body, timeout),
        }
    }

    /// The HTTP agent of the HTTP transport (shared: clones use one connection pool).
    pub(crate) fn http_agent(&self) -> Option<ureq::Agent> {
        match self {
            Transport::Http(http) => Some(http.agent.clone()),
            #[cfg(feature = "grpc")]
            Transport::Grpc(_) => None,
        }
    }

    /// The largest report body this transport can carry, given the configured one.
    pub(crate) fn max_report_bytes(&self, configured: usize) -> usize {
        match self {
            Transport::Http(_) => configured,
            #[cfg(feature = "grpc")]
            Transport::Grpc(_) => crate::grpc::GrpcTransport::max_report_bytes(configured),
        }
    }
}

pub(crate) struct HttpTransport {
    agent: ureq::Agent,
    url: String,
    token: String,
}

impl HttpTransport {
    pub(crate) fn new(options: &Options) -> Result<HttpTransport, Error> {
        let parsed = parse_collector_url(&options.collector_url)
            .map_err(|e| Error::invalid("collector_url", e))?;
        let scheme = if parsed.tls { "https" } else { "http" };
        let url = format!(
            "{scheme}://{}:{}{}/api/v2/reports",
            parsed.host, parsed.port, parsed.path
        );
        Ok(HttpTransport {
            agent: http_agent(options)?,
            url,
            token: options.access_token.clone(),
        })
    }

    /// POSTs one `ReportRequest` body, waiting at most `timeout` for the whole exchange.
    pub(crate) fn send(&self, body: &[u8], timeout: Duration) -> Outcome {
        match post(&self.agent, &self.url, &self.token, body, timeout) {
            Ok((status, body)) => match interpret(status, body) {
                Outcome::Failed(kind, error) => Outcome::Failed(kind, error.redacted(&self.token)),
                Outcome::AcceptedBadBody(error) => {
                    Outcome::AcceptedBadBody(error.redacted(&self.token))
                }
                accepted => accepted,
            },
            Err((kind, error)) => Outcome::Failed(kind, error.redacted(&self.token)),
        }
    }
}

/// An HTTP agent with the options' TLS roots and `report_timeout`, no redirects, and
/// statuses left to the caller.
pub(crate) fn http_agent(options: &Options) -> Result<ureq::Agent, Error> {
    let roots = match &options.root_certificates_pem {
        None => RootCerts::WebPki,
        Some(pem) => RootCerts::Specific(Arc::new(parse_certificates(pem)?)),
    };
    let config = ureq::Agent::config_builder()
        .timeout_global(Some(options.report_timeout))
        .http_status_as_error(false)
        .max_redirects(0)
        .user_agent(concat!("lightstep-rust/", env!("CARGO_PKG_VERSION")))
        .tls_config(TlsConfig::builder().root_certs(roots).build())
        .build();
    Ok(config.into())
}

/// A status and the response body (or why it could not be read).
pub(crate) type Answer = (u16, Result<Vec<u8>, String>);

/// POSTs a protobuf body with the access token header, waiting at most `timeout` for the
/// whole exchange: the status and the response body (read up to `MAX_RESPONSE_BYTES`),
/// or why no answer came.
pub(crate) fn post(
    agent: &ureq::Agent,
    url: &str,
    token: &str,
    body: &[u8],
    timeout: Duration,
) -> Result<Answer, (ErrorKind, Error)> {
    let request = agent
        .post(url)
        .header("Content-Type", "application/octet-stream")
        .header("Accept", "application/octet-stream")
        .header("Lightstep-Access-Token", token)
        .config()
        .timeout_global(Some(timeout))
        .build();
    let response = match request.send(body) {
        Ok(response) => response,
        Err(e) => return Err((classify(&e), Error::Transport(describe(&e)))),
    };
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .with_config()
        .limit(MAX_RESPONSE_BYTES)
        .read_to_vec()
        .map_err(|e| describe(&e));
    Ok((status, body))
}

/// Judges the collector's answer: status 200 means the spans were taken, whatever the body.
pub(crate) fn interpret(status: u16, body: Result<Vec<u8>, String>) -> Outcome {
    if status != 200 {
        let detail = body
            .ok()
            .and_then(|bytes| ReportResponse::decode(bytes.as_slice()).ok())
            .map(|r| r.errors.join("; "))
            .filter(|errors| !errors.is_empty())
            .map(|errors| format!(": {}", crate::encode::truncate(&errors, 512)))
            .unwrap_or_default();
        return Outcome::Failed(
            ErrorKind::Flush(FlushState::Report),
            Error::Collector(format!("HTTP status {status}{detail}")),
        );
    }
    match body {
        Ok(bytes) => match ReportResponse::decode(bytes.as_slice()) {
            Ok(response) => Outcome::Accepted(response),
            Err(e) => Outcome::AcceptedBadBody(Error::Collector(format!(
                "the collector accepted the report but its response is not a ReportResponse ({} bytes): {e}",
                bytes.len()
            ))),
        },
        Err(e) => Outcome::AcceptedBadBody(Error::Collector(format!(
            "the collector accepted the report but its response could not be read: {e}"
        ))),
    }
}

/// Checks that `pem` holds at least one certificate, as `root_certificates_pem` must.
#[cfg(feature = "grpc")]
pub(crate) fn check_certificates(pem: &[u8]) -> Result<(), Error> {
    parse_certificates(pem).map(drop)
}

fn parse_certificates(pem: &[u8]) -> Result<Vec<ureq::tls::Certificate<'static>>, Error> {
    let mut certificates = Vec::new();
    for item in ureq::tls::parse_pem(pem) {
        match item {
            Ok(PemItem::Certificate(certificate)) => certificates.push(certificate),
            Ok(_) => {}
            Err(e) => return Err(Error::invalid("root_certificates_pem", e.to_string())),
        }
    }
    if certificates.is_empty() {
        return Err(Error::invalid(
            "root_certificates_pem",
            "no PEM certificate found",
        ));
    }
    Ok(certificates)
}

fn classify(error: &ureq::Error) -> ErrorKind {
    use std::io::ErrorKind as Io;
    match error {
        ureq::Error::HostNotFound | ureq::Error::ConnectionFailed | ureq::Error::Tls(_) => {
            ErrorKind::Connection
        }
        ureq::Error::Io(e)
            if matches!(
                e.kind(),
                Io::ConnectionRefused | Io::AddrNotAvailable | Io::NotConnected
            ) =>
        {
            ErrorKind::Connection
        }
        ureq::Error::Io(e) if e.to_string().contains("certificate") => ErrorKind::Connection,
        _ => ErrorKind::Flush(FlushState::Transport),
    }
}

/// A description of a ureq error (which never carries request headers, so no token).
fn describe(error: &ureq::Error) -> String {
    match error {
        ureq::Error::Timeout(_) => "no answer from the collector within report_timeout".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::SmallRng, RngExt, SeedableRng};

    #[test]
    fn random_responses_never_panic_and_status_decides_delivery() {
        let mut rng = SmallRng::seed_from_u64(0x5eed);
        for case in 0..100_000 {
            let len = rng.random_range(0..64);
            let bytes: Vec<u8> = (0..len).map(|_| rng.random()).collect();
            let status = [200, 200, 401, 500, 503, 302][case % 6];
            let body = if case.is_multiple_of(17) {
                Err("reset".to_owned())
            } else {
                Ok(bytes)
            };
            match (status, interpret(status, body)) {
                (200, Outcome::Accepted(_) | Outcome::AcceptedBadBody(_)) => {}
                (200, other) => panic!("status 200 judged {other:?}"),
                (_, Outcome::Failed(kind, _)) => {
                    assert_eq!(kind, ErrorKind::Flush(FlushState::Report))
                }
                (status, other) => panic!("status {status} judged {other:?}"),
            }
        }
    }

    #[test]
    fn collector_errors_are_kept_short() {
        let response = ReportResponse {
            errors: vec!["x".repeat(100_000)],
            ..Default::default()
        };
        match interpret(503, Ok(response.encode_to_vec())) {
            Outcome::Failed(_, error) => assert!(error.to_string().len() < 600),
            other => panic!("{other:?}"),
        }
    }
}
