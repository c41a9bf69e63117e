//! Turning span records into protobuf: clock conversion, log limits, and report bodies
//! that stay under `max_report_bytes`.

use crate::event::{emit, Event, UnsupportedValue};
use crate::proto::collector as pb;
use crate::proto::Timestamp;
use crate::record::{Fields, LogRecord, Moment, Relationship, SpanRecord};
use crate::Value;
use prost::Message;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Converts monotonic readings to wall-clock time, from one (wall, monotonic) pair.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    wall: SystemTime,
    mono: Instant,
}

impl Clock {
    pub(crate) fn now() -> Clock {
        Clock {
            wall: SystemTime::now(),
            mono: Instant::now(),
        }
    }

    pub(crate) fn wall(&self, moment: Moment) -> SystemTime {
        match moment {
            Moment::Wall(time) => time,
            Moment::Mono(at) => {
                if at <= self.mono {
                    self.wall - (self.mono - at)
                } else {
                    self.wall + (at - self.mono)
                }
            }
        }
    }
}

pub(crate) fn timestamp(time: SystemTime) -> Timestamp {
    match time.duration_since(UNIX_EPOCH) {
        Ok(d) => Timestamp {
            seconds: d.as_secs() as i64,
            nanos: d.subsec_nanos() as i32,
        },
        Err(before) => {
            let d = before.duration();
            let (mut seconds, mut nanos) = (-(d.as_secs() as i64), -(d.subsec_nanos() as i32));
            if nanos < 0 {
                seconds -= 1;
                nanos += 1_000_000_000;
            }
            Timestamp { seconds, nanos }
        }
    }
}

pub(crate) fn key_value(key: String, value: &Value) -> pb::KeyValue {
    use pb::key_value::Value as V;
    let value = match value {
        Value::String(s) => V::StringValue(s.to_string()),
        Value::Int(i) => V::IntValue(*i),
        Value::Float(x) => V::DoubleValue(*x),
        Value::Bool(b) => V::BoolValue(*b),
        Value::Json(j) => V::JsonValue(j.clone()),
    };
    pb::KeyValue {
        key,
        value: Some(value),
    }
}

/// Cuts `text` to at most `max` bytes on a char boundary, ending it with "…".
pub(crate) fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    const ELLIPSIS: &str = "…";
    let mut end = max.saturating_sub(ELLIPSIS.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut cut = String::with_capacity(end + ELLIPSIS.len());
    cut.push_str(&text[..end]);
    cut.push_str(ELLIPSIS);
    cut
}

/// Limits applied while converting.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) max_log_key_len: usize,
    pub(crate) max_log_value_len: usize,
}

/// Converts finished spans into protobuf, counting what could not be sent as given.
#[derive(Debug, Default)]
pub(crate) struct Converter {
    pub(crate) encoding_errors: u64,
}

impl Converter {
    pub(crate) fn span(&mut self, record: SpanRecord, clock: &Clock, limits: Limits) -> pb::Span {
        let start = clock.wall(record.start);
        let finish = clock.wall(record.finish);
        let duration = finish.duration_since(start).unwrap_or(Duration::ZERO);
        let references = record
            .references()
            .map(|r| pb::Reference {
                relationship: match r.relationship {
                    Relationship::ChildOf => pb::reference::Relationship::ChildOf as i32,
                    Relationship::FollowsFrom => pb::reference::Relationship::FollowsFrom as i32,
                },
                span_context: Some(pb::SpanContext {
                    trace_id: r.trace_id,
                    span_id: r.span_id,
                    baggage: Default::default(),
                }),
            })
            .collect();
        let tags = record
            .tags
            .iter()
            .map(|(k, v)| key_value(k.to_string(), v))
            .collect();
        // `SpanRecord::push_log` keeps the first half of the logs in place once it drops.
        let first_kept = record.logs.len() / 2;
        let mut logs = Vec::with_capacity(record.logs.len() + 1);
        for (i, log) in record.logs.iter().enumerate() {
            if i == first_kept && record.dropped_logs > 0 {
                logs.push(self.dropped_logs_summary(record.dropped_logs, clock.wall(log.at)));
            }
            logs.push(self.log(log, clock, limits));
        }
        let baggage = record
            .context
            .baggage()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        pb::Span {
            span_context: Some(pb::SpanContext {
                trace_id: record.context.trace_id,
                span_id: record.context.span_id,
                baggage,
            }),
            operation_name: record.operation.into_owned(),
            references,
            start_timestamp: Some(timestamp(start)),
            duration_micros: duration.as_micros().min(u128::from(u64::MAX)) as u64,
            tags,
            logs,
        }
    }

    fn log(&mut self, log: &LogRecord, clock: &Clock, limits: Limits) -> pb::Log {
        pb::Log {
            timestamp: Some(timestamp(clock.wall(log.at))),
            fields: self.fields(&log.fields, limits),
        }
    }

    fn fields(&mut self, fields: &Fields, limits: Limits) -> Vec<pb::KeyValue> {
        fields
            .iter()
            .map(|(key, value)| {
                let key = truncate(key, limits.max_log_key_len);
                let value = match value {
                    Value::String(s) if s.len() > limits.max_log_value_len => {
                        Value::String(truncate(s, limits.max_log_value_len).into())
                    }
                    Value::Json(j) if j.len() > limits.max_log_value_len => {
                        // A cut JSON document is no longer JSON: send it as a string.
                        Value::String(truncate(j, limits.max_log_value_len).into())
                    }
                    Value::Float(x) if !x.is_finite() => {
                        self.encoding_errors += 1;
                        let sent_as = x.to_string();
                        emit(Event::UnsupportedValue(UnsupportedValue {
                            key: key.clone(),
                            reason: "a log field cannot carry a non-finite number",
                            sent_as: sent_as.clone(),
                        }));
                        Value::String(sent_as.into())
                    }
                    other => other.clone(),
                };
                key_value(key, &value)
            })
            .collect()
    }

    fn dropped_logs_summary(&mut self, dropped: u64, at: SystemTime) -> pb::Log {
        pb::Log {
            timestamp: Some(timestamp(at)),
            fields: vec![
                key_value("event".into(), &Value::from("dropped logs")),
                key_value("dropped_logs".into(), &Value::from(dropped)),
            ],
        }
    }
}

/// The size a span adds to a `ReportRequest` (field 3, length-delimited).
pub(crate) fn span_size(span: &pb::Span) -> usize {
    prost::encoding::message::encoded_len(3, span)
}

/// Builds report bodies from the fixed parts of every request.
#[derive(Debug)]
pub(crate) struct ReportBuilder {
    reporter: pb::Reporter,
    auth: pb::Auth,
}

impl ReportBuilder {
    pub(crate) fn new(reporter: pb::Reporter, access_token: String) -> ReportBuilder {
        ReportBuilder {
            reporter,
            auth: pb::Auth { access_token },
        }
    }

    /// The bytes a report takes besides its spans (with room for the metrics).
    pub(crate) fn overhead(&self) -> usize {
        let base = pb::ReportRequest {
            reporter: Some(self.reporter.clone()),
            auth: Some(self.auth.clone()),
            ..Default::default()
        };
        base.encoded_len() + 128
    }

    /// Encodes a `ReportRequest` field by field, so the spans need not be copied into one.
    pub(crate) fn encode(
        &self,
        spans: &[(pb::Span, usize)],
        metrics: &pb::InternalMetrics,
    ) -> Vec<u8> {
        use prost::encoding::message;
        let size = self.overhead() + spans.iter().map(|(_, size)| size).sum::<usize>();
        let mut body = Vec::with_capacity(size + metrics.encoded_len() + 8);
        message::encode(1, &self.reporter, &mut body);
        message::encode(2, &self.auth, &mut body);
        for (span, _) in spans {
            message::encode(3, span, &mut body);
        }
        message::encode(6, metrics, &mut body);
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate("short", 10), "short");
        let cut = truncate("ééééé", 6);
        assert!(cut.len() <= 6, "{cut}");
        assert!(cut.ends_with('…'));
        assert_eq!(truncate("abcdefghij", 5), "ab…");
    }

    #[test]
    fn timestamps_before_the_epoch_are_normalised() {
        let t = UNIX_EPOCH - Duration::from_millis(1500);
        assert_eq!(
            timestamp(t),
            Timestamp {
                seconds: -2,
                nanos: 500_000_000
            }
        );
        let t = UNIX_EPOCH + Duration::new(1_700_000_000, 250_000_000);
        assert_eq!(
            timestamp(t),
            Timestamp {
                seconds: 1_700_000_000,
                nanos: 250_000_000
            }
        );
    }

    #[test]
    fn clock_converts_monotonic_readings() {
        let clock = Clock::now();
        let earlier = clock.mono - Duration::from_millis(10);
        let wall = clock.wall(Moment::Mono(earlier));
        assert_eq!(
            clock.wall.duration_since(wall).unwrap(),
            Duration::from_millis(10)
        );
    }
}
