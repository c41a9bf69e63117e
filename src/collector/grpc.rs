//! The local collector's gRPC server (features `collector` and `grpc`): tonic serving
//! `lightstep.collector.CollectorService/Report` on its own thread and its own
//! current-thread runtime, judging and keeping reports in the same store, with the same
//! behaviour, as the HTTP server.

use super::{lock, Fault, Shared};
use crate::grpc::generated::collector_service_server::{CollectorService, CollectorServiceServer};
use crate::grpc::{Encoded, GRPC_MESSAGE_LIMIT};
use std::future::Future;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;
use std::thread::JoinHandle;
use tokio::sync::oneshot;
use tonic::transport::server::TcpIncoming;
use tonic::{Code, Request, Response, Status};

/// The gRPC server of a `LocalCollector`; dropping it stops the server and cuts every
/// connection (a call in progress included).
pub(crate) struct GrpcServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl GrpcServer {
    pub(crate) fn start(listener: TcpListener, shared: Arc<Shared>) -> io::Result<GrpcServer> {
        let addr = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()?;
        let listener = {
            let _context = runtime.enter();
            tokio::net::TcpListener::from_std(listener)?
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("lightstep-collector-grpc".into())
            .spawn(move || {
                let service = CollectorServiceServer::new(Service { shared })
                    // As a collector: requests up to gRPC's default limit, as sent.
                    .max_decoding_message_size(GRPC_MESSAGE_LIMIT)
                    .max_encoding_message_size(usize::MAX);
                let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
                let serve =
                    tonic::transport::Server::builder().serve_with_incoming(service, incoming);
                runtime.block_on(first_of(serve, stopped));
                // Dropping the runtime ends every connection task.
                drop(runtime);
            })?;
        Ok(GrpcServer {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for GrpcServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Waits for whichever of two futures ends first.
async fn first_of(a: impl Future, b: impl Future) {
    let mut a = pin!(a);
    let mut b = pin!(b);
    std::future::poll_fn(|cx| {
        if a.as_mut().poll(cx).is_ready() || b.as_mut().poll(cx).is_ready() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await
}

struct Service {
    shared: Arc<Shared>,
}

#[tonic::async_trait]
impl CollectorService for Service {
    async fn report(&self, request: Request<Encoded>) -> Result<Response<Encoded>, Status> {
        let token = request
            .metadata()
            .get("lightstep-access-token")
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
        if lock(&self.shared.behaviour).fault == Fault::Blackhole {
            // As the HTTP blackhole: nothing is taken, nothing is answered.
            std::future::pending::<()>().await;
        }
        let body = request.into_inner().0;
        let verdict = self.shared.receive(&body, token, true);
        if let Fault::Slow(delay) = verdict.fault {
            tokio::time::sleep(delay).await;
        }
        if verdict.status != 200 {
            return Err(Status::new(grpc_code(verdict.status), verdict.reason));
        }
        let answer = match verdict.fault {
            Fault::Garbage => vec![0xff; 32],
            Fault::HugeResponse(size) => vec![0; size],
            _ => verdict.body,
        };
        Ok(Response::new(Encoded(answer.into())))
    }
}

/// The gRPC code for an HTTP status, as gRPC maps them (with a few more).
fn grpc_code(status: u16) -> Code {
    match status {
        200 => Code::Ok,
        400 | 500 => Code::Internal,
        401 => Code::Unauthenticated,
        403 => Code::PermissionDenied,
        404 => Code::Unimplemented,
        408 => Code::DeadlineExceeded,
        413 => Code::ResourceExhausted,
        429 | 502 | 503 | 504 => Code::Unavailable,
        _ => Code::Unknown,
    }
}
