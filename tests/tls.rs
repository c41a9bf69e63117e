//! TLS: a loopback HTTPS collector with a self-signed certificate is refused by default
//! (verified TLS, web roots) and accepted once its certificate is given as a root.

mod common;

use common::*;
use lightstep::collector::LocalCollector;
use lightstep::{ErrorKind, Event, Options, Tracer};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

static EVENTS: Mutex<Vec<Event>> = Mutex::new(Vec::new());
static SERIAL: Mutex<()> = Mutex::new(());

/// Reads one HTTP message (head and `Content-Length` body) as raw bytes.
fn read_message(reader: &mut impl BufRead) -> Option<Vec<u8>> {
    let mut message = Vec::new();
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().ok()?;
            }
        }
        message.extend_from_slice(line.as_bytes());
        if line == "\r\n" {
            break;
        }
    }
    let start = message.len();
    message.resize(start + length, 0);
    reader.read_exact(&mut message[start..]).ok()?;
    Some(message)
}

/// An HTTPS front for `backend`: terminates TLS with the given certificate and relays each
/// request to the plain-HTTP collector.
fn https_front(
    backend: SocketAddr,
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
) -> SocketAddr {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocols")
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .expect("server config");
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let config = Arc::clone(&config);
            std::thread::spawn(move || {
                let Ok(connection) = rustls::ServerConnection::new(config) else {
                    return;
                };
                let tls = rustls::StreamOwned::new(connection, client);
                let mut tls = BufReader::new(tls);
                let Ok(upstream) = TcpStream::connect(backend) else {
                    return;
                };
                let Ok(mut upstream_writer) = upstream.try_clone() else {
                    return;
                };
                let mut upstream = BufReader::new(upstream);
                while let Some(request) = read_message(&mut tls) {
                    if upstream_writer.write_all(&request).is_err() {
                        return;
                    }
                    let Some(response) = read_message(&mut upstream) else {
                        return;
                    };
                    if tls.get_mut().write_all(&response).is_err() || tls.get_mut().flush().is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    addr
}

fn self_signed() -> (String, CertificateDer<'static>, PrivateKeyDer<'static>) {
    let certified =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()])
            .expect("certificate");
    let pem = certified.cert.pem();
    let der = certified.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        certified.signing_key.serialize_der(),
    ));
    (pem, der, key)
}

#[test]
fn a_self_signed_collector_is_refused_by_default_and_trusted_on_request() {
    let _guard = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    lightstep::set_global_event_handler(|event| {
        EVENTS
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(event.clone());
    });
    let collector = LocalCollector::start().expect("collector");
    let (pem, der, key) = self_signed();
    let front = https_front(collector.addr(), der, key);
    let url = format!("https://127.0.0.1:{}", front.port());

    let strict = Tracer::new(Options::new(TOKEN).collector_url(url.clone())).expect("tracer");
    strict.span("refused").start().finish();
    let error = strict
        .flush(WAIT)
        .expect_err("an unknown issuer must be refused");
    let certificate_error = || {
        EVENTS
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .any(|e| {
                matches!(e, Event::Error(e) if e.kind() == ErrorKind::Connection
                && e.to_string().contains("certificate"))
            })
    };
    assert!(
        eventually(certificate_error),
        "no certificate error event ({error})"
    );
    assert_eq!(collector.span_count(), 0);
    // The refusal keeps rustls' own error as its source, and names the collector.
    let tls = std::error::Error::source(&error).and_then(|e| e.downcast_ref::<rustls::Error>());
    assert!(
        matches!(tls, Some(rustls::Error::InvalidCertificate(_))),
        "{error:?}"
    );
    let address = format!("127.0.0.1:{}", front.port());
    assert!(
        matches!(&error, lightstep::Error::Transport(e) if e.collector() == Some(address.as_str())),
        "{error:?}"
    );

    let trusting = Tracer::new(
        Options::new(TOKEN)
            .collector_url(url)
            .root_certificates_pem(pem),
    )
    .expect("tracer");
    trusting.span("accepted").start().finish();
    trusting.flush(WAIT).expect("trusted certificate");
    assert_eq!(names(&collector.spans()), vec!["accepted"]);
    assert_eq!(collector.reports()[0].token_header.as_deref(), Some(TOKEN));
    for event in EVENTS.lock().unwrap_or_else(|p| p.into_inner()).iter() {
        assert!(!format!("{event} {event:?}").contains(TOKEN));
    }
}

#[test]
fn plaintext_is_refused_where_tls_is_expected() {
    let _guard = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    lightstep::set_global_event_handler(|event| {
        EVENTS
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(event.clone());
    });
    EVENTS.lock().unwrap_or_else(|p| p.into_inner()).clear();
    // An https URL pointing at a plain HTTP collector must fail, not fall back.
    let collector = LocalCollector::start().expect("collector");
    let url = format!("https://{}", collector.addr());
    let tracer = Tracer::new(Options::new(TOKEN).collector_url(url)).expect("tracer");
    tracer.span("never").start().finish();
    assert!(tracer.flush(WAIT).is_err());
    assert_eq!(collector.span_count(), 0);
    // It says so in plain words, as a connection error naming the collector.
    // (Events of the other test's tracers may arrive too: only this collector's count.)
    let address = collector.addr().to_string();
    let events = EVENTS.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let error = events
        .iter()
        .find_map(|e| match e {
            Event::Error(e) if e.to_string().contains(&address) => Some(e.clone()),
            _ => None,
        })
        .expect("an error event");
    assert_eq!(error.kind(), ErrorKind::Connection, "{error}");
    let text = error.to_string();
    assert!(text.contains("plaintext port"), "{text}");
    let tls =
        std::error::Error::source(error.error()).and_then(|e| e.downcast_ref::<rustls::Error>());
    assert!(
        matches!(tls, Some(rustls::Error::InvalidMessage(_))),
        "{:?}",
        error.error()
    );
    // A TLS failure is not retried within the flush: one attempt.
    assert_eq!(error.attempt(), Some(1));
}
