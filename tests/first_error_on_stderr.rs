//! With no event handler set, the first error event is printed to standard error, once,
//! without the access token; later errors are not printed. The test runs this binary again
//! as a child process (only the child sets `LIGHTSTEP_STDERR_CHILD`) and reads its stderr.

use lightstep::{Options, Tracer};
use std::net::TcpListener;
use std::process::Command;
use std::time::Duration;

const TOKEN: &str = "secret-token-3b91d0";
const CHILD: &str = "LIGHTSTEP_STDERR_CHILD";

/// Run in the child: two failing flushes to a closed port, and nothing else.
#[test]
fn child_two_failing_flushes_without_a_handler() {
    if std::env::var_os(CHILD).is_none() {
        return; // the parent test below runs this in a process of its own
    }
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let tracer = Tracer::new(
        Options::new(TOKEN)
            .collector_url(format!("http://127.0.0.1:{port}"))
            .component_name("stderr-test"),
    )
    .expect("tracer starts");
    for _ in 0..2 {
        tracer.span("lost").start().finish();
        assert!(tracer.flush(Duration::from_secs(5)).is_err());
    }
    let _ = tracer.close(Duration::from_millis(100));
    // The events' thread prints; flush waited for it to handle its events.
    std::thread::sleep(Duration::from_millis(200));
}

#[test]
fn the_first_error_is_printed_once_without_the_token() {
    let output = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "child_two_failing_flushes_without_a_handler",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .output()
        .expect("the child runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "child failed: {}\n{stderr}",
        output.status
    );
    let printed: Vec<&str> = stderr
        .lines()
        .filter(|line| line.starts_with("lightstep: "))
        .collect();
    assert_eq!(printed.len(), 1, "stderr:\n{stderr}");
    assert!(
        printed[0].contains("further errors are not printed; set an event handler"),
        "{}",
        printed[0]
    );
    assert!(!stderr.contains(TOKEN), "the token leaked: {stderr}");
}
