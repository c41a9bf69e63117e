//! Sending one encoded report to the collector over synchronous HTTP (`ureq`, rustls).

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
        Ok(HttpTransport {
            agent: config.into(),
            url,
            token: options.access_token.clone(),
        })
    }

    /// POSTs one `ReportRequest` body, waiting at most `timeout` for the whole exchange.
    pub(crate) fn send(&self, body: &[u8], timeout: Duration) -> Outcome {
        let request = self
            .agent
            .post(&self.url)
            .header("Content-Type", "application/octet-stream")
            .header("Accept", "application/octet-stream")
            .header("Lightstep-Access-Token", &self.token)
            .config()
            .timeout_global(Some(timeout))
            .build();
        let response = match request.send(body) {
            Ok(response) => response,
            Err(e) => return Outcome::Failed(classify(&e), Error::Transport(describe(&e))),
        };
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .with_config()
            .limit(MAX_RESPONSE_BYTES)
            .read_to_vec();
        if status != 200 {
            let detail = body
                .ok()
                .and_then(|bytes| ReportResponse::decode(bytes.as_slice()).ok())
                .map(|r| r.errors.join("; "))
                .filter(|errors| !errors.is_empty())
                .map(|errors| format!(": {errors}"))
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
                "the collector accepted the report but its response could not be read: {}",
                describe(&e)
            ))),
        }
    }
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
