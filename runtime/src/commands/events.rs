//! `events`: a running container's figures as JSON, in runc's envelope
//! (`{"type":"stats","id":…,"data":{…}}`): the cgroup's CPU and memory
//! figures as runc reports them (`data.cpu`, `data.memory`) and the process
//! count (`data.pids`). What the sandbox adds under `data.sandbox`: its
//! platform and, for the microvm backend, the VMM's exit counters (system
//! calls, page faults, other exceptions, interruptions, KVM_RUN returns).
//! With `--stats` one object is printed; without, one every `--interval`
//! until the container stops.

use std::time::Duration;

use serde_json::{json, Map, Value};

use super::{container, Error};
use crate::cli::{EventsArgs, GlobalOpts};
use crate::state::State;
use crate::{cgroups, pod};

pub fn command(g: &GlobalOpts, a: &EventsArgs) -> Result<(), Error> {
    let interval = parse_interval(&a.interval)?;
    let c = container(g, &a.id)?;
    loop {
        let state = State::load(&c)?;
        if !state.init_alive() {
            return if a.stats {
                Err(Error::NotRunning)
            } else {
                Ok(())
            };
        }
        // A pod's later container reports its sandbox's figures.
        let stats = pod::address(&g.root, &c, &state)
            .map_err(|e| sentry::Error::Protocol(e.to_string()))
            .and_then(|addr| sentry::control::stats(&addr.socket.path))
            .map_err(|source| Error::Control {
                id: a.id.clone(),
                source,
            })?;
        let mut event = envelope(&a.id, &stats);
        if let Some(data) = event["data"].as_object_mut() {
            data.extend(cgroups::stats(&state.cgroup_paths));
        }
        println!("{event}");
        if a.stats {
            return Ok(());
        }
        std::thread::sleep(interval);
    }
}

/// runc's stats event with the sandbox's figures.
fn envelope(id: &str, s: &sentry::control::SandboxStats) -> Value {
    let mut sandbox = Map::new();
    sandbox.insert("platform".into(), json!(s.platform));
    if !s.counters.is_empty() {
        let exits: Map<String, Value> = s
            .counters
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        sandbox.insert("exits".into(), Value::Object(exits));
    }
    json!({
        "type": "stats",
        "id": id,
        "data": {
            "pids": { "current": s.processes },
            "sandbox": sandbox,
        }
    })
}

/// `5s`, `500ms`, `1m` or a plain number of seconds.
fn parse_interval(text: &str) -> Result<Duration, Error> {
    let bad = || Error::Usage(format!("invalid --interval {text:?}: use e.g. 5s or 500ms"));
    let t = text.trim();
    let (num, unit) = t
        .find(|c: char| !c.is_ascii_digit())
        .map_or((t, ""), |i| t.split_at(i));
    let n: u64 = num.parse().map_err(|_| bad())?;
    let d = match unit {
        "" | "s" => Duration::from_secs(n),
        "ms" => Duration::from_millis(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        _ => return Err(bad()),
    };
    if d.is_zero() {
        return Err(bad());
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals() {
        assert_eq!(parse_interval("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_interval("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_interval("2").unwrap(), Duration::from_secs(2));
        assert!(parse_interval("0s").is_err());
        assert!(parse_interval("fast").is_err());
        assert!(parse_interval("5h").is_err());
    }

    #[test]
    fn the_envelope_is_runcs_with_a_sandbox_section() {
        let s = sentry::control::SandboxStats {
            platform: "kvm".into(),
            processes: 2,
            counters: vec![("syscalls".into(), 10), ("page_faults".into(), 3)],
        };
        let v = envelope("c1", &s);
        assert_eq!(v["type"], "stats");
        assert_eq!(v["id"], "c1");
        assert_eq!(v["data"]["pids"]["current"], 2);
        assert_eq!(v["data"]["sandbox"]["platform"], "kvm");
        assert_eq!(v["data"]["sandbox"]["exits"]["syscalls"], 10);
        assert_eq!(v["data"]["sandbox"]["exits"]["page_faults"], 3);
        let plain = sentry::control::SandboxStats {
            platform: "seccomp".into(),
            processes: 1,
            counters: vec![],
        };
        assert!(envelope("c2", &plain)["data"]["sandbox"]
            .get("exits")
            .is_none());
    }
}
