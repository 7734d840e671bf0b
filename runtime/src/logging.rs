//! Log lines in the format containerd's shim reads back: with
//! `--log-format json`, one `{"level":...,"msg":...,"time":...}` object per
//! line, appended to `--log`. The shim shows the last error line to the
//! user, so the error that ends a command must be the last line we write.
//!
//! Implemented as a `tracing` layer so the Sentry's own `tracing` events
//! (it shares our process) land in the same file.

use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;

use crate::cli::LogFormat;

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("cannot open the log file {path}: {source} (check --log)")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Where lines go.
enum Sink {
    File(File),
    Stderr,
}

struct LineLayer {
    sink: Mutex<Sink>,
    format: LogFormat,
    max_level: Level,
}

/// Installs the global logger. Returns whether log lines go to a file (then
/// the caller also prints the final error on stderr).
pub fn init(path: Option<&Path>, format: LogFormat, debug: bool) -> Result<bool, LogError> {
    let sink = match path {
        Some(p) => {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .map_err(|source| LogError::Open {
                    path: p.to_path_buf(),
                    source,
                })?;
            Sink::File(file)
        }
        None => Sink::Stderr,
    };
    let to_file = matches!(sink, Sink::File(_));
    if let Sink::File(f) = &sink {
        let _ = LOG_FD.set(f.as_raw_fd());
    }
    let layer = LineLayer {
        sink: Mutex::new(sink),
        format,
        max_level: if debug { Level::DEBUG } else { Level::INFO },
    };
    // A second init (only in tests) keeps the first subscriber.
    let _ = tracing_subscriber::registry().with(layer).try_init();
    Ok(to_file)
}

/// The log file's descriptor, which a forked container init must keep.
static LOG_FD: OnceLock<RawFd> = OnceLock::new();

pub fn file_fd() -> Option<RawFd> {
    LOG_FD.get().copied()
}

#[derive(Default)]
struct Fields {
    msg: String,
    extra: Vec<(String, String)>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.msg = value.to_string();
        } else {
            self.extra
                .push((field.name().to_string(), value.to_string()));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.msg = format!("{value:?}");
        } else {
            self.extra
                .push((field.name().to_string(), format!("{value:?}")));
        }
    }
}

impl<S: Subscriber> Layer<S> for LineLayer {
    fn enabled(&self, metadata: &tracing::Metadata<'_>, _ctx: Context<'_, S>) -> bool {
        // Level ordering in tracing: ERROR < WARN < ... < TRACE.
        *metadata.level() <= self.max_level
    }

    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        if *event.metadata().level() > self.max_level {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        let level = level_name(event.metadata().level());
        let line = match self.format {
            LogFormat::Json => json_line(level, &fields, &rfc3339_now()),
            LogFormat::Text => text_line(level, &fields, &rfc3339_now()),
        };
        let mut sink = match self.sink.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        // A failed log write has nowhere better to be reported.
        let _ = match &mut *sink {
            Sink::File(f) => f.write_all(line.as_bytes()),
            Sink::Stderr => std::io::stderr().write_all(line.as_bytes()),
        };
    }
}

fn level_name(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "error",
        Level::WARN => "warning",
        Level::INFO => "info",
        Level::DEBUG => "debug",
        Level::TRACE => "trace",
    }
}

fn json_line(level: &str, fields: &Fields, time: &str) -> String {
    let mut obj = serde_json::Map::new();
    obj.insert("level".into(), level.into());
    obj.insert("msg".into(), fields.msg.clone().into());
    obj.insert("time".into(), time.into());
    for (k, v) in &fields.extra {
        obj.insert(k.clone(), v.clone().into());
    }
    let mut line = serde_json::Value::Object(obj).to_string();
    line.push('\n');
    line
}

fn text_line(level: &str, fields: &Fields, time: &str) -> String {
    let mut line = format!("time=\"{time}\" level={level} msg={:?}", fields.msg);
    for (k, v) in &fields.extra {
        let _ = write!(line, " {k}={v:?}");
    }
    line.push('\n');
    line
}

fn rfc3339_now() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339(now.as_secs(), now.subsec_nanos())
}

/// Formats a Unix time as RFC 3339 in UTC, e.g. `2024-05-01T12:00:00.123456789Z`.
pub fn rfc3339(secs: u64, nanos: u32) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
/// algorithm), so we need no date crate for one timestamp format.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(rfc3339(951_782_400, 5), "2000-02-29T00:00:00.000000005Z");
        assert_eq!(rfc3339(1_700_000_000, 0), "2023-11-14T22:13:20.000000000Z");
    }

    #[test]
    fn json_line_has_the_fields_containerd_reads() {
        let f = Fields {
            msg: "container \"x\" does not exist".into(),
            extra: vec![],
        };
        let line = json_line("error", &f, "T");
        let v: serde_json::Value = serde_json::from_str(line.trim_end()).unwrap();
        assert_eq!(v["level"], "error");
        assert_eq!(v["msg"], "container \"x\" does not exist");
        assert_eq!(v["time"], "T");
        assert!(line.ends_with('\n'));
    }
}
