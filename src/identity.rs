//! Who is reporting: the reporter id and the `lightstep.*` reporter tags.

use crate::encode::key_value;
use crate::event::{emit, Event, MissingService};
use crate::options::Options;
use crate::proto::collector as pb;
use crate::Value;

/// The tracer's version, reported as `lightstep.tracer_version`.
pub(crate) const TRACER_VERSION: &str = env!("CARGO_PKG_VERSION");
/// The compiler version, reported as `lightstep.tracer_platform_version`.
pub(crate) const PLATFORM_VERSION: &str = env!("LIGHTSTEP_RUSTC_VERSION");

/// The `Reporter` message sent with every report: user tags first, then the tracer's own.
pub(crate) fn reporter(options: &Options, reporter_id: u64) -> pb::Reporter {
    let component = match &options.component_name {
        Some(name) => name.clone(),
        None => {
            let name = executable_name();
            emit(Event::MissingService(MissingService {
                default_name: name.clone(),
            }));
            name
        }
    };
    let mut tags: Vec<pb::KeyValue> = options
        .tags
        .iter()
        .map(|(k, v)| key_value(k.to_string(), v))
        .collect();
    let user_has = |key: &str| options.tags.iter().any(|(k, _)| k == key);
    let command_line = options.report_command_line.then(|| {
        (
            "lightstep.command_line",
            Value::from(command_line(&options.access_token)),
        )
    });
    let own = [
        Some(("lightstep.component_name", Value::from(component))),
        Some(("lightstep.hostname", Value::from(hostname()))),
        command_line,
        Some(("lightstep.tracer_platform", Value::from("rust"))),
        Some((
            "lightstep.tracer_platform_version",
            Value::from(PLATFORM_VERSION),
        )),
        Some(("lightstep.tracer_version", Value::from(TRACER_VERSION))),
        Some(("lightstep.guid", Value::from(format!("{reporter_id:x}")))),
    ];
    for (key, value) in own.into_iter().flatten() {
        if !user_has(key) {
            tags.push(key_value(key.to_owned(), &value));
        }
    }
    pb::Reporter { reporter_id, tags }
}

fn executable_name() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|path| path.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .or_else(|| std::env::args().next())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "unknown_service".to_owned())
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// The process's command line, with any copy of the access token masked (sent only with
/// [`Options::report_command_line`]).
fn command_line(token: &str) -> String {
    let line = std::env::args_os()
        .map(|arg| arg.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    if token.is_empty() {
        line
    } else {
        line.replace(token, "<redacted>")
    }
}
