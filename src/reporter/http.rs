//! The HTTP transport: one `POST {collector_url}/api/v2/reports` per report, over
//! synchronous HTTP/1.1 (`ureq`, rustls), judged into an [`Attempt`]. Also the HTTP
//! agent and POST helper that system metrics share.

use super::retry::{parse_retry_after, Retry};
use super::transport::{Accepted, Attempt, Failure, Transport};
use crate::endpoint::{Endpoint, Secret};
use crate::error::{mask, CollectorStatus, ReportError};
use crate::event::{ErrorKind, FlushState};
use crate::options::Options;
use crate::proto::collector::ReportResponse;
use crate::Error;
use prost::Message;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use ureq::tls::{PemItem, RootCerts, TlsConfig};

/// The most response body read from the collector; a longer one is refused unread.
pub(crate) const MAX_RESPONSE_BYTES: u64 = 1024 * 1024;

/// Where LightStep's HTTP transport posts reports, under the collector URL.
pub(crate) const REPORT_PATH: &str = "/api/v2/reports";

/// Where an HTTP wire posts its requests, and what it posts them with: the agent, the
/// full URL, the collector's `host:port` for messages, and the token.
pub(crate) struct Target {
    agent: ureq::Agent,
    url: String,
    collector: String,
    token: Secret,
}

impl Target {
    /// The target `path` under `endpoint`, refusing a collector URL that already ends in
    /// it (the tracer adds it itself).
    pub(crate) fn new(
        options: &Options,
        endpoint: &Endpoint,
        token: &Secret,
        path: &str,
    ) -> Result<Target, Error> {
        if endpoint.path().ends_with(path) {
            return Err(Error::invalid(
                "collector_url",
                format!(
                    "`{endpoint}` already ends in {path}, which the tracer adds itself: \
                     give the collector's address, e.g. `{}`",
                    endpoint.origin()
                ),
            ));
        }
        Ok(Target {
            agent: http_agent(options)?,
            url: endpoint.url(path),
            collector: endpoint.authority(),
            token: token.clone(),
        })
    }

    /// The agent (shared: clones use one connection pool).
    pub(crate) fn agent(&self) -> ureq::Agent {
        self.agent.clone()
    }

    /// POSTs `body` as `content_type` and judges the answer with `judge`; the attempt's
    /// texts name the collector and never the token.
    pub(crate) fn send(
        &self,
        content_type: &str,
        body: &[u8],
        timeout: Duration,
        judge: impl FnOnce(Answer) -> Attempt,
    ) -> Attempt {
        let token = self.token.expose();
        let attempt = match post(&self.agent, &self.url, token, content_type, body, timeout) {
            Ok(answer) => judge(answer),
            Err(failure) => Attempt::Failed(failure),
        };
        redact(attempt.at(&self.collector), token)
    }
}

/// LightStep's protobuf over HTTP.
pub(crate) struct HttpTransport {
    target: Target,
}

impl HttpTransport {
    pub(crate) fn new(
        options: &Options,
        endpoint: &Endpoint,
        token: &Secret,
    ) -> Result<HttpTransport, Error> {
        Ok(HttpTransport {
            target: Target::new(options, endpoint, token, REPORT_PATH)?,
        })
    }

    /// The agent (shared: clones use one connection pool).
    pub(crate) fn agent(&self) -> ureq::Agent {
        self.target.agent()
    }
}

impl Transport for HttpTransport {
    fn send(&mut self, body: &[u8], timeout: Duration) -> Attempt {
        self.target.send(PROTOBUF, body, timeout, judge)
    }
}

/// The content type of LightStep's protobuf reports (and of system metrics).
pub(crate) const PROTOBUF: &str = "application/octet-stream";

/// `attempt` with every copy of the token masked in its texts and its errors' sources (a
/// collector's answer may echo what it was sent).
pub(crate) fn redact(attempt: Attempt, token: &str) -> Attempt {
    match attempt {
        Attempt::Failed(mut failure) => {
            failure.error = failure.error.redacted(token);
            Attempt::Failed(failure)
        }
        Attempt::Accepted(mut accepted) => {
            accepted.unreadable = accepted.unreadable.map(|e| e.redacted(token));
            for error in &mut accepted.errors {
                *error = mask(error, token);
            }
            Attempt::Accepted(accepted)
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

/// The collector's answer to one POST.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    /// The `Retry-After` header.
    pub(crate) retry_after: Option<String>,
    /// The `Location` header (of a redirect, which is never followed).
    pub(crate) location: Option<String>,
    /// The body, or why it could not be read.
    pub(crate) body: Result<Vec<u8>, ureq::Error>,
}

/// POSTs a protobuf body with the access token header, waiting at most `timeout` for the
/// whole exchange: the answer (its body read up to `MAX_RESPONSE_BYTES`), or why none came.
pub(crate) fn post(
    agent: &ureq::Agent,
    url: &str,
    token: &str,
    content_type: &str,
    body: &[u8],
    timeout: Duration,
) -> Result<Answer, Failure> {
    let request = agent
        .post(url)
        .header("Content-Type", content_type)
        .header("Accept", content_type)
        .header("Lightstep-Access-Token", token)
        .config()
        .timeout_global(Some(timeout))
        .build();
    let response = match request.send(body) {
        Ok(response) => response,
        Err(e) => return Err(failure(e)),
    };
    let status = response.status().as_u16();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let retry_after = header("retry-after");
    let location = header("location");
    let body = response
        .into_body()
        .with_config()
        .limit(MAX_RESPONSE_BYTES)
        .read_to_vec();
    Ok(Answer {
        status,
        retry_after,
        location,
        body,
    })
}

/// Judges the collector's answer: status 200 means the spans were taken, whatever the body.
pub(crate) fn judge(answer: Answer) -> Attempt {
    let Answer {
        status,
        retry_after,
        location,
        body,
    } = answer;
    if status != 200 {
        let detail = body
            .ok()
            .and_then(|bytes| ReportResponse::decode(bytes.as_slice()).ok())
            .map(|r| r.errors.join("; "))
            .filter(|errors| !errors.is_empty())
            .map(|errors| format!(": {}", crate::encode::truncate(&errors, 512)))
            .unwrap_or_default();
        let text = match location.filter(|_| (300..400).contains(&status)) {
            Some(to) => format!(
                "HTTP status {status}, a redirect to {}, which is not followed (the token and \
                 the spans go to the configured collector only){detail}",
                crate::encode::truncate(&to, 256)
            ),
            None => format!("HTTP status {status}{detail}"),
        };
        let mut failure = Failure::new(
            ErrorKind::Flush(FlushState::Report),
            Error::Collector(ReportError::new(text).with_status(CollectorStatus::Http(status))),
            Retry::for_status(status),
        );
        failure.retry_after = retry_after
            .as_deref()
            .and_then(|value| parse_retry_after(value, SystemTime::now()));
        return Attempt::Failed(failure);
    }
    Attempt::Accepted(read_response(body))
}

/// What an accepted report's response body says (an unreadable one is noted, not fatal).
pub(crate) fn read_response(body: Result<Vec<u8>, ureq::Error>) -> Accepted {
    match body {
        Ok(bytes) => match ReportResponse::decode(bytes.as_slice()) {
            Ok(response) => Accepted {
                errors: response.errors,
                disable: response.commands.iter().any(|c| c.disable),
                ..Accepted::default()
            },
            Err(e) => Accepted {
                unreadable: Some(Error::Collector(
                    ReportError::new(format!(
                        "the collector accepted the report but its response is not a ReportResponse ({} bytes): {e}",
                        bytes.len()
                    ))
                    .with_source(e),
                )),
                ..Accepted::default()
            },
        },
        Err(e) => Accepted {
            unreadable: Some(Error::Collector(
                ReportError::new(format!(
                    "the collector accepted the report but its response could not be read: {}",
                    describe(&e)
                ))
                .with_source(cause(e)),
            )),
            ..Accepted::default()
        },
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

/// What a failed exchange means: its kind, and whether another attempt may pass. Judged
/// by the errors' types, never their texts; the error is kept as the source.
pub(crate) fn failure(error: ureq::Error) -> Failure {
    use std::io::ErrorKind as Io;
    // TLS errors come as they are, or inside an io::Error from the TLS stream.
    let tls = match &error {
        ureq::Error::Rustls(tls) => Some(tls.clone()),
        ureq::Error::Io(e) => e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            .cloned(),
        _ => None,
    };
    if let Some(tls) = tls {
        return tls_failure(tls);
    }
    let (kind, retry) = match &error {
        ureq::Error::HostNotFound | ureq::Error::ConnectionFailed => {
            (ErrorKind::Connection, Retry::Later)
        }
        // A certificate the tracer does not trust stays untrusted.
        ureq::Error::Tls(_) | ureq::Error::Pem(_) => (ErrorKind::Connection, Retry::Refused),
        ureq::Error::Io(e)
            if matches!(
                e.kind(),
                Io::ConnectionRefused | Io::AddrNotAvailable | Io::NotConnected
            ) =>
        {
            (ErrorKind::Connection, Retry::Later)
        }
        _ => (ErrorKind::Flush(FlushState::Transport), Retry::Later),
    };
    let text = match &error {
        ureq::Error::HostNotFound => "the collector's host name could not be resolved".into(),
        other => describe(other),
    };
    Failure::new(
        kind,
        Error::Transport(ReportError::new(text).with_source(cause(error))),
        retry,
    )
}

/// A TLS failure: a connection error that another attempt would meet again.
fn tls_failure(error: rustls::Error) -> Failure {
    let text = match &error {
        rustls::Error::InvalidMessage(_) => format!(
            "the collector did not answer in TLS; is it a plaintext port? \
             (use an http:// URL for plaintext) ({error})"
        ),
        rustls::Error::InvalidCertificate(_) => {
            format!("TLS: the certificate was refused: {error}")
        }
        _ => format!("TLS: {error}"),
    };
    Failure::new(
        ErrorKind::Connection,
        Error::Transport(ReportError::new(text).with_source(error)),
        Retry::Refused,
    )
}

/// A description of a ureq error (which never carries request headers, so no token).
pub(crate) fn describe(error: &ureq::Error) -> String {
    match error {
        ureq::Error::Timeout(_) => "no answer from the collector within report_timeout".into(),
        other => other.to_string(),
    }
}

/// The error under a ureq error, to be a source: the `io::Error` or TLS error it wraps
/// (ureq's own errors have no `source()`), else the ureq error itself.
pub(crate) fn cause(error: ureq::Error) -> Box<dyn std::error::Error + Send + Sync> {
    match error {
        ureq::Error::Io(e) => Box::new(e),
        ureq::Error::Rustls(e) => Box::new(e),
        ureq::Error::Other(e) => e,
        other => Box::new(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::SmallRng, RngExt, SeedableRng};

    fn answer(status: u16, body: Result<Vec<u8>, ureq::Error>) -> Answer {
        Answer {
            status,
            retry_after: None,
            location: None,
            body,
        }
    }

    #[test]
    fn random_responses_never_panic_and_status_decides_delivery() {
        let mut rng = SmallRng::seed_from_u64(0x5eed);
        for case in 0..100_000 {
            let len = rng.random_range(0..64);
            let bytes: Vec<u8> = (0..len).map(|_| rng.random()).collect();
            let status = [200, 200, 401, 500, 503, 302][case % 6];
            let body = if case.is_multiple_of(17) {
                Err(ureq::Error::Io(std::io::ErrorKind::ConnectionReset.into()))
            } else {
                Ok(bytes)
            };
            match (status, judge(answer(status, body))) {
                (200, Attempt::Accepted(_)) => {}
                (200, other) => panic!("status 200 judged {other:?}"),
                (_, Attempt::Failed(failure)) => {
                    assert_eq!(failure.kind, ErrorKind::Flush(FlushState::Report));
                    assert_eq!(failure.retry, Retry::for_status(status));
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
        match judge(answer(503, Ok(response.encode_to_vec()))) {
            Attempt::Failed(failure) => assert!(failure.error.to_string().len() < 600),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn retry_after_and_redirects_are_read() {
        let mut refused = answer(429, Ok(Vec::new()));
        refused.retry_after = Some("2".into());
        match judge(refused) {
            Attempt::Failed(failure) => {
                assert_eq!(failure.retry, Retry::Later);
                assert_eq!(failure.retry_after, Some(Duration::from_secs(2)));
            }
            other => panic!("{other:?}"),
        }
        let mut moved = answer(307, Ok(Vec::new()));
        moved.location = Some("http://127.0.0.1:1/elsewhere".into());
        match judge(moved) {
            Attempt::Failed(failure) => {
                assert_eq!(failure.retry, Retry::Refused);
                let text = failure.error.to_string();
                assert!(
                    text.contains("127.0.0.1:1/elsewhere") && text.contains("not followed"),
                    "{text}"
                );
            }
            other => panic!("{other:?}"),
        }
    }
}
