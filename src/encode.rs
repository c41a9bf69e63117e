//! Readying span records for the wire (clock conversion, log limits) and building report
//! bodies around them.

use crate::endpoint::Secret;
use crate::event::{emit, Event, UnsupportedValue};
use crate::proto::collector as pb;
use crate::proto::Timestamp;
use crate::record::{LogRecord, Moment, SpanRecord};
use crate::reporter::batch::Entry;
use crate::reporter::core::{Encoder, Meta};
use crate::wire;
use crate::Value;
use prost::Message;
use std::collections::vec_deque;
use std::time::SystemTime;

/// Converts monotonic readings to wall-clock time, from one (wall, monotonic) pair.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    wall: SystemTime,
    mono: quanta::Instant,
}

impl Clock {
    pub(crate) fn now() -> Clock {
        Clock {
            wall: SystemTime::now(),
            mono: crate::record::clock().now(),
        }
    }

    pub(crate) fn wall(&self, moment: Moment) -> SystemTime {
        match moment {
            Moment::Wall(time) => time,
            Moment::Mono(raw) => {
                let at = crate::record::clock().scaled(raw);
                match self.mono.checked_duration_since(at) {
                    Some(before) => self.wall - before,
                    None => self.wall + at.duration_since(self.mono),
                }
            }
        }
    }
}

pub(crate) fn timestamp(time: SystemTime) -> Timestamp {
    let (seconds, nanos) = wire::seconds_nanos(time);
    Timestamp { seconds, nanos }
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

/// Readies a finished record for encoding, on the reporter thread: monotonic readings
/// become wall-clock times, log keys and values are cut to their limits, non-finite tag
/// and log numbers become strings (each with an `UnsupportedValue` event), and dropped
/// logs get their summary. Returns how many values could not be sent as given.
pub(crate) fn normalize(record: &mut SpanRecord, clock: &Clock, limits: Limits) -> u64 {
    record.start = Moment::Wall(clock.wall(record.start));
    record.finish = Moment::Wall(clock.wall(record.finish));
    let mut encoding_errors = 0;
    let non_finite = |(_, value): &(_, Value)| matches!(value, Value::Float(x) if !x.is_finite());
    if record.tags.iter().any(non_finite) {
        // Rare: the tags are rebuilt with each non-finite number as its text.
        record.tags = record
            .tags
            .iter()
            .map(|(key, value)| match value {
                Value::Float(x) if !x.is_finite() => {
                    encoding_errors += 1;
                    let sent_as = x.to_string();
                    emit(Event::UnsupportedValue(UnsupportedValue {
                        key: key.to_string(),
                        reason: "a tag cannot carry a non-finite number",
                        sent_as: sent_as.clone(),
                    }));
                    (key.clone(), Value::String(sent_as.into()))
                }
                _ => (key.clone(), value.clone()),
            })
            .collect();
    }
    for log in &mut record.logs {
        log.at = Moment::Wall(clock.wall(log.at));
        for (key, value) in &mut log.fields {
            if key.len() > limits.max_log_key_len {
                *key = truncate(key, limits.max_log_key_len).into();
            }
            match value {
                Value::String(s) if s.len() > limits.max_log_value_len => {
                    *s = truncate(s, limits.max_log_value_len).into();
                }
                Value::Json(j) if j.len() > limits.max_log_value_len => {
                    // A cut JSON document is no longer JSON: send it as a string.
                    *value = Value::String(truncate(j, limits.max_log_value_len).into());
                }
                Value::Float(x) if !x.is_finite() => {
                    encoding_errors += 1;
                    let sent_as = x.to_string();
                    emit(Event::UnsupportedValue(UnsupportedValue {
                        key: key.to_string(),
                        reason: "a log field cannot carry a non-finite number",
                        sent_as: sent_as.clone(),
                    }));
                    *value = Value::String(sent_as.into());
                }
                _ => {}
            }
        }
    }
    if record.dropped_logs > 0 {
        // `SpanRecord::push_log` keeps the first half of the logs in place once it drops;
        // the summary goes between them and the newest.
        let at = record.logs.len() / 2;
        let summary = LogRecord {
            at: record.logs.get(at).map_or(record.finish, |log| log.at),
            fields: vec![
                ("event".into(), Value::from("dropped logs")),
                ("dropped_logs".into(), Value::from(record.dropped_logs)),
            ],
        };
        record.logs.insert(at, summary);
        record.dropped_logs = 0;
    }
    encoding_errors
}

/// Builds report bodies from the fixed parts of every request. (No `Debug`: it holds
/// the access token.)
pub(crate) struct ReportBuilder {
    reporter: pb::Reporter,
    auth: pb::Auth,
    overhead: usize,
}

impl ReportBuilder {
    pub(crate) fn new(reporter: pb::Reporter, token: &Secret) -> ReportBuilder {
        use prost::encoding::message::encoded_len;
        let auth = pb::Auth {
            access_token: token.expose().to_owned(),
        };
        // Room for the internal metrics, whose counts vary, is included.
        let overhead = encoded_len(1, &reporter) + encoded_len(2, &auth) + 128;
        ReportBuilder {
            reporter,
            auth,
            overhead,
        }
    }
}

impl Encoder for ReportBuilder {
    fn overhead(&self) -> usize {
        self.overhead
    }

    fn span_len(&self, record: &SpanRecord) -> usize {
        wire::span_len(record)
    }

    /// Encodes a `ReportRequest` field by field.
    fn encode(&self, spans: vec_deque::Iter<'_, Entry>, meta: &Meta) -> Vec<u8> {
        use prost::encoding::message;
        let metrics = pb::InternalMetrics {
            start_timestamp: Some(timestamp(meta.period_start)),
            duration_micros: meta
                .period_end
                .duration_since(meta.period_start)
                .unwrap_or_default()
                .as_micros() as u64,
            logs: Vec::new(),
            counts: vec![
                count_sample("spans.dropped", meta.dropped),
                count_sample("log_encoder.errors", meta.encoding_errors),
            ],
            gauges: Vec::new(),
        };
        let spans_len: usize = spans.clone().map(Entry::size).sum();
        let mut body = Vec::with_capacity(self.overhead + spans_len + metrics.encoded_len());
        message::encode(1, &self.reporter, &mut body);
        message::encode(2, &self.auth, &mut body);
        for entry in spans {
            wire::put_span(3, &entry.record, entry.len, &mut body);
        }
        message::encode(6, &metrics, &mut body);
        body
    }
}

fn count_sample(name: &str, value: u64) -> pb::MetricsSample {
    pb::MetricsSample {
        name: name.to_owned(),
        value: Some(pb::metrics_sample::Value::IntValue(
            i64::try_from(value).unwrap_or(i64::MAX),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

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
        let earlier = Moment::now();
        std::thread::sleep(Duration::from_millis(10));
        let clock = Clock::now();
        let before = clock.wall.duration_since(clock.wall(earlier)).unwrap();
        assert!(
            before >= Duration::from_millis(9) && before < Duration::from_secs(5),
            "{before:?}"
        );
    }
}
