//! A minimal HTTP/1.1 server for the local collector: keep-alive, `Content-Length` and
//! chunked request bodies, and direct control of the socket so faults can be injected.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// The largest request head and body accepted.
const MAX_HEAD_BYTES: usize = 64 * 1024;
pub(crate) const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// A parsed request.
pub(crate) struct Request {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
    keep_alive: bool,
}

impl Request {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What to do with a connection once its request head has been read.
pub(crate) enum Reply {
    /// Answer with this status and body.
    Respond(u16, Vec<u8>),
    /// Answer with this status, these extra headers (`Retry-After`, `Location`) and body.
    RespondWith(u16, Vec<(String, String)>, Vec<u8>),
    /// Answer with this status and a plain-text body (for clients that are not LightStep
    /// protobuf tracers, to read in their logs).
    Text(u16, String),
    /// Answer 200 but declare more body than is sent, then hang up.
    Truncate(Vec<u8>),
    /// Answer 200 with a body of this many bytes.
    Huge(usize),
    /// Hang up without answering (and without reading the body: the peer sees a reset).
    Reset,
}

/// Decides the reply to each request; `before_body` may cut a connection short before
/// the body is read.
pub(crate) trait Handler: Send + Sync + 'static {
    /// Called with the request head; `Some(reply)` answers without reading the body.
    fn before_body(&self, head: &Request) -> Option<Reply>;
    /// Called with the whole request.
    fn handle(&self, request: &Request) -> Reply;
    /// Whether connections should be accepted and then ignored.
    fn blackhole(&self) -> bool;
    /// Called when a request cannot even be read (answered 400); `method` and `path` are
    /// empty when its head could not be read.
    fn unreadable(&self, method: &str, path: &str, reason: &str);
}

pub(crate) struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<TcpStream>>>,
    accept: Option<JoinHandle<()>>,
}

impl Server {
    pub(crate) fn start(listener: TcpListener, handler: Arc<dyn Handler>) -> io::Result<Server> {
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let connections: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let accept = {
            let stop = Arc::clone(&stop);
            let connections = Arc::clone(&connections);
            std::thread::Builder::new()
                .name("lightstep-collector-accept".into())
                .spawn(move || {
                    for stream in listener.incoming() {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        let Ok(stream) = stream else { continue };
                        if let Ok(clone) = stream.try_clone() {
                            lock(&connections).push(clone);
                        }
                        let handler = Arc::clone(&handler);
                        let stop = Arc::clone(&stop);
                        let _ = std::thread::Builder::new()
                            .name("lightstep-collector-conn".into())
                            .spawn(move || serve_connection(stream, &*handler, &stop));
                    }
                })?
        };
        Ok(Server {
            addr,
            stop,
            connections,
            accept: Some(accept),
        })
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop, then cut every open connection.
        let _ = TcpStream::connect(self.addr);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
        for connection in lock(&self.connections).drain(..) {
            let _ = connection.shutdown(Shutdown::Both);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn serve_connection(stream: TcpStream, handler: &dyn Handler, stop: &AtomicBool) {
    if handler.blackhole() {
        // Hold the connection open, read nothing, answer nothing.
        while !stop.load(Ordering::SeqCst) {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        return;
    }
    let Ok(write_half) = stream.try_clone() else {
        return;
    };
    let mut writer = write_half;
    let mut reader = BufReader::new(stream);
    loop {
        let mut request = match read_head(&mut reader) {
            Ok(Some(request)) => request,
            Ok(None) => return, // the peer closed the connection
            Err(e) => {
                handler.unreadable("", "", &e.to_string());
                let _ = respond(&mut writer, 400, TEXT, &[], e.to_string().as_bytes(), false);
                // Hang up: the server keeps a clone of the socket, so dropping ours would
                // leave the connection open. Only the sending side: closing with unread
                // bytes would reset the connection before the peer reads the answer.
                let _ = writer.shutdown(Shutdown::Write);
                return;
            }
        };
        let mut body_read = false;
        let reply = match handler.before_body(&request) {
            Some(reply) => reply,
            None => match read_body(&mut reader, &request) {
                Ok(body) => {
                    body_read = true;
                    request.body = body;
                    handler.handle(&request)
                }
                Err(e) => {
                    handler.unreadable(&request.method, &request.path, &e.to_string());
                    Reply::Text(400, e.to_string())
                }
            },
        };
        // Answered before the body was read (or when it could not be): what follows on
        // the connection is not a request, so it is closed after the answer.
        let keep_alive = request.keep_alive && body_read;
        let done = match reply {
            Reply::Respond(status, body) => {
                respond(&mut writer, status, PROTOBUF, &[], &body, keep_alive).is_err()
            }
            Reply::RespondWith(status, headers, body) => {
                respond(&mut writer, status, PROTOBUF, &headers, &body, keep_alive).is_err()
            }
            Reply::Text(status, text) => {
                respond(&mut writer, status, TEXT, &[], text.as_bytes(), keep_alive).is_err()
            }
            Reply::Truncate(body) => {
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
                    body.len() + 64
                );
                let _ = writer.write_all(head.as_bytes());
                let _ = writer.write_all(&body[..body.len() / 2]);
                let _ = writer.flush();
                true
            }
            Reply::Huge(size) => {
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {size}\r\n\r\n"
                );
                let chunk = vec![0u8; 64 * 1024];
                let mut sent = 0;
                let mut failed = writer.write_all(head.as_bytes()).is_err();
                while !failed && sent < size {
                    let n = chunk.len().min(size - sent);
                    failed = writer.write_all(&chunk[..n]).is_err();
                    sent += n;
                }
                true
            }
            Reply::Reset => {
                // Let the body arrive unread: closing then makes the kernel send a reset.
                std::thread::sleep(std::time::Duration::from_millis(20));
                true
            }
        };
        if done || !keep_alive {
            let _ = writer.shutdown(Shutdown::Both);
            return;
        }
    }
}

const PROTOBUF: &str = "application/octet-stream";
const TEXT: &str = "text/plain; charset=utf-8";

fn respond(
    writer: &mut TcpStream,
    status: u16,
    content_type: &str,
    headers: &[(String, String)],
    body: &[u8],
    keep_alive: bool,
) -> io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        302 => "Found",
        307 => "Temporary Redirect",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        415 => "Unsupported Media Type",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    };
    let connection = if keep_alive { "keep-alive" } else { "close" };
    let extra: String = headers
        .iter()
        .map(|(name, value)| format!("{name}: {value}\r\n"))
        .collect();
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: {connection}\r\n{extra}\r\n",
        body.len()
    );
    let mut message = head.into_bytes();
    message.extend_from_slice(body);
    writer.write_all(&message)?;
    writer.flush()
}

fn invalid(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.to_owned())
}

/// One CRLF-terminated line, within the head limit; `None` at a clean end of stream.
fn read_line(reader: &mut impl BufRead, budget: &mut usize) -> io::Result<Option<String>> {
    let mut line = Vec::new();
    let n = reader
        .take(*budget as u64 + 1)
        .read_until(b'\n', &mut line)?;
    if n == 0 {
        return Ok(None);
    }
    if n > *budget {
        return Err(invalid("request head too large"));
    }
    *budget -= n;
    if line.last() != Some(&b'\n') {
        return Err(invalid("truncated request head"));
    }
    while matches!(line.last(), Some(b'\n' | b'\r')) {
        line.pop();
    }
    String::from_utf8(line)
        .map(Some)
        .map_err(|_| invalid("request head is not UTF-8"))
}

fn read_head(reader: &mut impl BufRead) -> io::Result<Option<Request>> {
    let mut budget = MAX_HEAD_BYTES;
    let Some(request_line) = read_line(reader, &mut budget)? else {
        return Ok(None);
    };
    let mut parts = request_line.split(' ');
    let (Some(method), Some(path), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid("malformed request line"));
    };
    let mut headers = Vec::new();
    loop {
        let line =
            read_line(reader, &mut budget)?.ok_or_else(|| invalid("truncated request head"))?;
        if line.is_empty() {
            break;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| invalid("malformed header"))?;
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    let mut request = Request {
        method: method.to_owned(),
        path: path.to_owned(),
        headers,
        body: Vec::new(),
        keep_alive: version == "HTTP/1.1",
    };
    if let Some(connection) = request.header("Connection") {
        request.keep_alive = !connection.eq_ignore_ascii_case("close");
    }
    Ok(Some(request))
}

fn read_body(reader: &mut impl BufRead, head: &Request) -> io::Result<Vec<u8>> {
    let chunked = head
        .header("Transfer-Encoding")
        .is_some_and(|te| te.eq_ignore_ascii_case("chunked"));
    if chunked {
        return read_chunked(reader);
    }
    let length = match head.header("Content-Length") {
        None => 0,
        Some(text) => text
            .parse::<usize>()
            .map_err(|_| invalid("bad Content-Length"))?,
    };
    if length > MAX_BODY_BYTES {
        return Err(invalid("request body too large"));
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok(body)
}

fn read_chunked(reader: &mut impl BufRead) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut budget = 1024;
        let line = read_line(reader, &mut budget)?.ok_or_else(|| invalid("truncated chunk"))?;
        let size = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size, 16).map_err(|_| invalid("bad chunk size"))?;
        if body.len() + size > MAX_BODY_BYTES {
            return Err(invalid("request body too large"));
        }
        if size == 0 {
            // Trailers, up to the empty line.
            let mut budget = MAX_HEAD_BYTES;
            while let Some(line) = read_line(reader, &mut budget)? {
                if line.is_empty() {
                    break;
                }
            }
            return Ok(body);
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..])?;
        let mut crlf = [0u8; 2];
        reader.read_exact(&mut crlf)?;
        if &crlf != b"\r\n" {
            return Err(invalid("chunk not followed by CRLF"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &[u8]) -> io::Result<Request> {
        let mut reader = BufReader::new(raw);
        let mut request = read_head(&mut reader)?.ok_or_else(|| invalid("empty"))?;
        request.body = read_body(&mut reader, &request)?;
        Ok(request)
    }

    #[test]
    fn content_length_and_chunked_bodies() {
        let r = parse(b"POST /api/v2/reports HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc").unwrap();
        assert_eq!(
            (r.method.as_str(), r.path.as_str(), &r.body[..]),
            ("POST", "/api/v2/reports", &b"abc"[..])
        );
        assert!(r.keep_alive);
        let r = parse(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n").unwrap();
        assert_eq!(&r.body[..], b"abcde");
        assert!(!r.keep_alive);
    }

    #[test]
    fn malformed_requests_are_errors() {
        for raw in [
            &b"GARBAGE\r\n\r\n"[..],
            b"POST / HTTP/1.1\r\nno-colon\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nshort",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 999999999999\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: x",
        ] {
            assert!(parse(raw).is_err(), "{}", String::from_utf8_lossy(raw));
        }
    }
}
