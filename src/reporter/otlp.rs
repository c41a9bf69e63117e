//! The OTLP wire: `ExportTraceServiceRequest` protobuf in an HTTP/1.1 POST to
//! `{collector_url}/v1/traces` (`Content-Type: application/x-protobuf`, the token in
//! `Lightstep-Access-Token`), judged by the OTLP/HTTP specification's rules. The encoding
//! and the mapping are `crate::otlp`'s; batching, retries and accounting are the core's.

use super::batch::Entry;
use super::core::{Encoder, Meta};
use super::http::{cause, describe, Target};
use super::retry::{parse_retry_after, Retry};
use super::transport::{Accepted, Attempt, Failure, Transport};
use crate::endpoint::{Endpoint, Secret};
use crate::error::{CollectorStatus, ReportError};
use crate::event::{ErrorKind, FlushState};
use crate::options::Options;
use crate::otlp::{interpret_response, OtlpAnswer, OtlpEncoder};
use crate::record::SpanRecord;
use crate::Error;
use std::collections::vec_deque;
use std::time::{Duration, SystemTime};

/// Where OTLP/HTTP receivers take traces, under the collector URL.
pub(crate) const TRACES_PATH: &str = "/v1/traces";

/// LightStep's public OTLP ingest, the default `collector_url` with `use_otlp`.
pub(crate) const DEFAULT_OTLP_URL: &str = "https://ingest.lightstep.com:443";

impl Encoder for OtlpEncoder {
    fn overhead(&self) -> usize {
        OtlpEncoder::overhead(self)
    }

    fn span_len(&self, record: &SpanRecord) -> usize {
        OtlpEncoder::span_len(self, record)
    }

    /// OTLP has no field for the dropped count: it reaches the user through the events
    /// and `Tracer::stats` only.
    fn encode(&self, spans: vec_deque::Iter<'_, Entry>, _meta: &Meta) -> Vec<u8> {
        self.encode_each(spans.map(|entry| (&entry.record, entry.len)))
    }

    fn carries_dropped_count(&self) -> bool {
        false
    }
}

pub(crate) struct OtlpTransport {
    target: Target,
}

impl OtlpTransport {
    pub(crate) fn new(
        options: &Options,
        endpoint: &Endpoint,
        token: &Secret,
    ) -> Result<OtlpTransport, Error> {
        Ok(OtlpTransport {
            target: Target::new(options, endpoint, token, TRACES_PATH)?,
        })
    }

    /// The agent (shared: clones use one connection pool).
    pub(crate) fn agent(&self) -> ureq::Agent {
        self.target.agent()
    }
}

impl Transport for OtlpTransport {
    fn send(&mut self, body: &[u8], timeout: Duration) -> Attempt {
        self.target
            .send("application/x-protobuf", body, timeout, |answer| {
                let retry_after = answer
                    .retry_after
                    .as_deref()
                    .and_then(|v| parse_retry_after(v, SystemTime::now()));
                match answer.body {
                    Ok(body) => judge(answer.status, &body, retry_after),
                    Err(e) if (200..300).contains(&answer.status) => Attempt::Accepted(Accepted {
                        unreadable: Some(Error::Collector(
                            ReportError::new(format!(
                                "the receiver accepted the spans but its answer could not be read: {}",
                                describe(&e)
                            ))
                            .with_status(CollectorStatus::Http(answer.status))
                            .with_source(cause(e)),
                        )),
                        ..Accepted::default()
                    }),
                    Err(_) => judge(answer.status, &[], retry_after),
                }
            })
    }
}

/// An OTLP/HTTP answer as an attempt: 429, 502, 503 and 504 are retried (honouring
/// `Retry-After`), 413 splits the report, other statuses are refusals; a partial success
/// counts its rejected spans as dropped, with the receiver's message.
fn judge(status: u16, body: &[u8], retry_after: Option<Duration>) -> Attempt {
    match interpret_response(status, body) {
        OtlpAnswer::Accepted {
            rejected_spans,
            message,
        } => Attempt::Accepted(Accepted {
            errors: if rejected_spans > 0 || !message.is_empty() {
                vec![format!(
                    "the receiver rejected {rejected_spans} spans (counted dropped): {message}"
                )]
            } else {
                Vec::new()
            },
            rejected: rejected_spans,
            ..Accepted::default()
        }),
        OtlpAnswer::Unreadable { status, error } => Attempt::Accepted(Accepted {
            unreadable: Some(Error::Collector(
                ReportError::new(format!(
                    "the receiver accepted the spans (HTTP {status}) but its answer is unreadable: \
                     not an ExportTraceServiceResponse: {error}"
                ))
                .with_status(CollectorStatus::Http(status))
                .with_source(error),
            )),
            ..Accepted::default()
        }),
        OtlpAnswer::Refused {
            status,
            message,
            retryable,
        } => {
            let retry = match status {
                413 => Retry::Split,
                _ if retryable => Retry::Later,
                _ => Retry::Refused,
            };
            let detail = if message.is_empty() {
                String::new()
            } else {
                format!(": {message}")
            };
            let mut failure = Failure::new(
                ErrorKind::Flush(FlushState::Report),
                Error::Collector(
                    ReportError::new(format!("HTTP status {status}{detail}"))
                        .with_status(CollectorStatus::Http(status)),
                ),
                retry,
            );
            failure.retry_after = retry_after;
            Attempt::Failed(failure)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn otlp_statuses_follow_the_specification() {
        for (status, retry) in [
            (429, Retry::Later),
            (502, Retry::Later),
            (503, Retry::Later),
            (504, Retry::Later),
            (413, Retry::Split),
            (400, Retry::Refused),
            (401, Retry::Refused),
            (404, Retry::Refused),
            (408, Retry::Refused),
            (500, Retry::Refused),
        ] {
            match judge(status, b"", Some(Duration::from_secs(1))) {
                Attempt::Failed(failure) => {
                    assert_eq!(failure.retry, retry, "{status}");
                    assert_eq!(failure.retry_after, Some(Duration::from_secs(1)));
                }
                other => panic!("{status}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_partial_success_counts_the_rejected_spans() {
        use crate::proto::opentelemetry::proto::collector::trace::v1::{
            ExportTracePartialSuccess, ExportTraceServiceResponse,
        };
        use prost::Message;
        let body = ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess {
                rejected_spans: 3,
                error_message: "too old".into(),
            }),
        }
        .encode_to_vec();
        match judge(200, &body, None) {
            Attempt::Accepted(accepted) => {
                assert_eq!(accepted.rejected, 3);
                assert!(
                    accepted.errors[0].contains("too old"),
                    "{:?}",
                    accepted.errors
                );
            }
            other => panic!("{other:?}"),
        }
        match judge(200, b"\xff\xff", None) {
            Attempt::Accepted(accepted) => assert!(accepted.unreadable.is_some()),
            other => panic!("{other:?}"),
        }
    }
}
