//! A test service for the W3C Trace Context test suite (`w3c/trace-context`, folder
//! `test/`), built on this crate's `Propagator::TraceContext`.
//!
//!     cargo run --example w3c_service --features http -- 127.0.0.1:5000
//!     python test.py http://127.0.0.1:5000/test      # in the suite's test/ folder
//!
//! `.ci/w3c-trace-context PATH/TO/test` does both. The harness POSTs a JSON array of
//! `{"url": ..., "arguments": [...]}`; for each element the service starts a span (a
//! child of the context in the request's `traceparent`/`tracestate`, or a new trace), and
//! POSTs `arguments` to `url` with that span's context injected. The request headers are
//! handed to the tracer as they came, in an `http::HeaderMap` (repeated headers and all),
//! so the crate's own reading of them is what the suite tests. Spans go to an in-process
//! local collector.

use http::{HeaderMap, HeaderName, HeaderValue};
use lightstep::collector::LocalCollector;
use lightstep::{Options, Propagator, Tracer};
use std::collections::HashMap;
use std::error::Error;

fn main() -> Result<(), Box<dyn Error + Send + Sync>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:5000".to_owned());
    let collector = LocalCollector::start()?;
    let tracer = Tracer::new(
        Options::new("w3c-test-token")
            .collector_url(collector.url())
            .component_name("w3c_service")
            .propagators(&[Propagator::TraceContext]),
    )?;
    let server = tiny_http::Server::http(addr.as_str())?;
    let agent = ureq::Agent::new_with_defaults();
    println!("w3c_service listening on http://{addr}/test");
    for mut request in server.incoming_requests() {
        let mut body = String::new();
        let status = match request.as_reader().read_to_string(&mut body) {
            Ok(_) => match calls(&body) {
                Ok(calls) => {
                    serve(&tracer, &agent, &headers(&request), &calls);
                    200
                }
                Err(e) => {
                    eprintln!("w3c_service: bad request body: {e}");
                    400
                }
            },
            Err(_) => 400,
        };
        let _ = request.respond(tiny_http::Response::empty(status));
    }
    Ok(())
}

/// The request headers as a carrier, each value as sent (repeated headers kept apart).
fn headers(request: &tiny_http::Request) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for header in request.headers() {
        let name = HeaderName::from_bytes(header.field.as_str().as_bytes());
        let value = HeaderValue::from_bytes(header.value.as_bytes());
        if let (Ok(name), Ok(value)) = (name, value) {
            headers.append(name, value);
        }
    }
    headers
}

/// One outgoing call the harness asks for: its URL, and the JSON text to POST to it.
struct Call {
    url: String,
    arguments: String,
}

fn serve(tracer: &Tracer, agent: &ureq::Agent, headers: &HeaderMap, calls: &[Call]) {
    let parent = match tracer.extract(headers) {
        Ok(parent) => parent,
        Err(e) => {
            eprintln!("w3c_service: {e}; starting a new trace");
            None
        }
    };
    for call in calls {
        let builder = tracer.span("POST").tag("http.url", call.url.clone());
        let span = match &parent {
            Some(parent) => builder.child_of(parent).start(),
            None => builder.start(),
        };
        let mut outgoing = HashMap::new();
        tracer.inject(span.context(), &mut outgoing);
        let mut request = agent
            .post(call.url.as_str())
            .header("Content-Type", "application/json");
        for (key, value) in &outgoing {
            request = request.header(key.as_str(), value.as_str());
        }
        if let Err(e) = request.send(call.arguments.as_str()) {
            eprintln!("w3c_service: POST {}: {e}", call.url);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Just enough JSON: an array of objects with a string `url` and any `arguments` value,
// which is passed on as the text it came as.

fn calls(body: &str) -> Result<Vec<Call>, String> {
    let mut json = Json { text: body, at: 0 };
    json.space();
    json.expect(b'[')?;
    let mut calls = Vec::new();
    json.space();
    if json.eat(b']') {
        return Ok(calls);
    }
    loop {
        calls.push(json.call()?);
        json.space();
        if json.eat(b']') {
            return Ok(calls);
        }
        json.expect(b',')?;
    }
}

struct Json<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Json<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.at += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> bool {
        self.space();
        let found = self.peek() == Some(byte);
        if found {
            self.at += 1;
        }
        found
    }

    fn expect(&mut self, byte: u8) -> Result<(), String> {
        if self.eat(byte) {
            Ok(())
        } else {
            Err(format!("expected `{}` at byte {}", byte as char, self.at))
        }
    }

    fn call(&mut self) -> Result<Call, String> {
        self.expect(b'{')?;
        let (mut url, mut arguments) = (None, None);
        loop {
            self.space();
            let key = self.string()?;
            self.expect(b':')?;
            self.space();
            let start = self.at;
            match key.as_str() {
                "url" => url = Some(self.string()?),
                _ => {
                    self.skip_value()?;
                    if key == "arguments" {
                        arguments = Some(self.text[start..self.at].to_owned());
                    }
                }
            }
            if self.eat(b'}') {
                break;
            }
            self.expect(b',')?;
        }
        Ok(Call {
            url: url.ok_or("a call without a url")?,
            arguments: arguments.unwrap_or_else(|| "[]".to_owned()),
        })
    }

    /// A string without escapes beyond `\"`, `\\` and `\/` (URLs need no more).
    fn string(&mut self) -> Result<String, String> {
        self.expect(b'"')?;
        let mut out = String::new();
        let mut chars = self.text[self.at..].char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.at += i + 1;
                    return Ok(out);
                }
                '\\' => match chars.next() {
                    Some((_, e @ ('"' | '\\' | '/'))) => out.push(e),
                    _ => return Err("an unsupported escape in a string".into()),
                },
                c => out.push(c),
            }
        }
        Err("an unterminated string".into())
    }

    fn skip_value(&mut self) -> Result<(), String> {
        self.space();
        match self.peek() {
            Some(b'"') => self.string().map(drop),
            Some(open @ (b'[' | b'{')) => {
                let close = if open == b'[' { b']' } else { b'}' };
                self.at += 1;
                if self.eat(close) {
                    return Ok(());
                }
                loop {
                    if open == b'{' {
                        self.space();
                        self.string()?;
                        self.expect(b':')?;
                    }
                    self.skip_value()?;
                    if self.eat(close) {
                        return Ok(());
                    }
                    self.expect(b',')?;
                }
            }
            Some(_) => {
                while let Some(b) = self.peek() {
                    if b",]} \t\r\n".contains(&b) {
                        break;
                    }
                    self.at += 1;
                }
                Ok(())
            }
            None => Err("unexpected end of JSON".into()),
        }
    }
}
