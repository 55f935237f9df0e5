//! The `ledger-replay` binary as an auditor runs it: no DATABASE_URL, so it starts the
//! private cluster under LEDGER_DATA_DIR (through `ledger_store::bootstrap::open`, as
//! `ledger-http` does) for each command and stops it after. A tampered export is refused
//! with exit 1 and imports nothing; the original imports (0), verifies (0), exports back
//! byte for byte and folds; a second import (2), `rebuild` and `diff` and a bad DATABASE_URL (2,
//! password not repeated) fail as errors. (Besides ledger-http's binary test, the only test
//! outside the e2e binary that starts a cluster: it tests exactly that start-up path.)

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use ledger_core::{EventId, Hash, RecordedEvent, StreamId};
use serde_json::{json, Value};

/// initdb and a first start on a loaded 2-core machine; later starts take a second or two.
const COMMAND_DEADLINE: Duration = Duration::from_secs(180);

/// Removes the data folder even when an assertion fails.
struct Cleanup(PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Ran {
    code: i32,
    stdout: String,
    stderr: String,
}

fn ledger_replay(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Ran {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ledger-replay"));
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("LEDGER_DATA_DIR", dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command.spawn().expect("spawn ledger-replay");
    let start = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if start.elapsed() > COMMAND_DEADLINE {
            let _ = child.kill();
            panic!("ledger-replay {args:?} did not finish");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("output");
    Ran {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn at(seconds: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).unwrap() + chrono::Duration::seconds(seconds)
}

/// A stream's events, chained as the store chains them.
fn chained(stream: &str, first_position: i64, events: &[(&str, Value)]) -> Vec<RecordedEvent> {
    let mut prev = Hash::ZERO;
    let mut out = Vec::new();
    for (i, (event_type, payload)) in events.iter().enumerate() {
        let mut event = RecordedEvent {
            global_position: first_position + i as i64,
            stream_id: StreamId::parse(stream).unwrap(),
            stream_version: i as i64 + 1,
            event_id: EventId::from_uuid(uuid::Uuid::now_v7()).unwrap(),
            event_type: (*event_type).to_owned(),
            schema_version: 1,
            recorded_at: at(60 * i as i64),
            payload: payload.clone(),
            metadata: json!({"source": "binary-test"}),
            prev_hash: prev,
            hash: Hash::ZERO,
        };
        event.hash = event.chained_fields().hash(&prev).unwrap();
        prev = event.hash;
        out.push(event);
    }
    out
}

fn export_lines() -> String {
    let booking = "0190f5d2-7c1a-7b3e-8f00-00000000beef";
    let mut events = chained(
        "slot-bin-0900",
        1,
        &[
            (
                "SlotScheduled",
                json!({"spec": {"activity_id": "glaciar-trek",
                    "starts_at": "2026-12-01T12:00:00Z", "capacity": 10,
                    "price": {"amount_minor": 4500000, "currency": "ARS"},
                    "time_zone": "America/Argentina/Buenos_Aires",
                    "cutoff": {"kind": "minutes_before", "minutes": 60}}}),
            ),
            (
                "SeatsHeld",
                json!({"booking_id": booking, "seats": 2,
                    "unit_price": {"amount_minor": 4500000, "currency": "ARS"},
                    "hold_expires_at": "2026-11-01T12:16:00Z"}),
            ),
        ],
    );
    events.extend(chained(
        "provider-stripe",
        3,
        &[("ProviderEventReceived", json!({"id": "evt_1"}))],
    ));
    events
        .iter()
        .map(|e| serde_json::to_string(e).unwrap() + "\n")
        .collect()
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn an_auditor_imports_verifies_exports_and_folds_through_the_binary() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(".ledger")
        .join(format!("replaytest-{}", std::process::id()));
    let _cleanup = Cleanup(dir.clone());
    std::fs::create_dir_all(&dir).unwrap();
    let lines = export_lines();
    let good = dir.join("events.jsonl");
    std::fs::write(&good, &lines).unwrap();
    let tampered = dir.join("tampered.jsonl");
    std::fs::write(&tampered, lines.replacen(r#""seats":2"#, r#""seats":3"#, 1)).unwrap();
    let path = |p: &Path| p.to_str().unwrap().to_owned();

    let refused = ledger_replay(&dir, &["import", &path(&tampered)], &[]);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    let breach = &json_lines(&refused.stdout)[0];
    assert_eq!(breach["kind"], "breach");
    assert_eq!(
        (
            &breach["invariant"],
            &breach["stream_id"],
            &breach["stream_version"]
        ),
        (&json!(7), &json!("slot-bin-0900"), &json!(2))
    );

    let imported = ledger_replay(&dir, &["import", &path(&good)], &[]);
    assert_eq!(imported.code, 0, "{}", imported.stderr);
    assert_eq!(
        json_lines(&imported.stdout),
        vec![json!({"kind": "imported", "streams": 2, "events": 3})]
    );

    let verified = ledger_replay(&dir, &["verify"], &[]);
    assert_eq!(verified.code, 0, "{}", verified.stderr);
    assert_eq!(
        json_lines(&verified.stdout),
        vec![json!({"kind": "summary", "ok": true, "streams": 2, "events": 3, "flagged": 0})]
    );

    let exported = ledger_replay(&dir, &["export"], &[]);
    assert_eq!(exported.code, 0, "{}", exported.stderr);
    assert_eq!(
        exported.stdout, lines,
        "the export of the import is the file"
    );
    assert!(exported.stderr.contains("--after"), "{}", exported.stderr);

    let folded = ledger_replay(
        &dir,
        &[
            "state",
            "--stream",
            "slot-bin-0900",
            "--at-time",
            "2026-11-01T09:00:30-03:00",
        ],
        &[],
    );
    assert_eq!(folded.code, 0, "{}", folded.stderr);
    let state = &json_lines(&folded.stdout)[0];
    assert_eq!(state["version"], 1);
    assert_eq!(state["state"]["spec"]["capacity"], 10);
    assert_eq!(state["state"]["held"], 0);

    let again = ledger_replay(&dir, &["import", &path(&good)], &[]);
    assert_eq!(again.code, 2);
    assert!(
        again.stderr.contains("already holds events"),
        "{}",
        again.stderr
    );

    // An unknown read model is a usage error (2); a real one rebuilds (0), then no drift.
    let unknown = ledger_replay(&dir, &["rebuild", "--projection", "availability"], &[]);
    assert_eq!(unknown.code, 2, "{}", unknown.stderr);
    let rebuild = ledger_replay(&dir, &["rebuild", "--projection", "slot_availability"], &[]);
    assert_eq!(rebuild.code, 0, "{}", rebuild.stderr);
    assert!(
        rebuild
            .stdout
            .contains("\"projection\":\"slot_availability\""),
        "{}",
        rebuild.stdout
    );
    let diff = ledger_replay(&dir, &["diff", "--projection", "slot_availability"], &[]);
    assert_eq!(diff.code, 0, "{} {}", diff.stdout, diff.stderr);

    let secret_url = "postgres://auditor:s3cret-pw@localhost:notaport/ledger";
    let bad = ledger_replay(&dir, &["verify"], &[("DATABASE_URL", secret_url)]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("DATABASE_URL"), "{}", bad.stderr);
    assert!(!bad.stderr.contains("s3cret") && !bad.stdout.contains("s3cret"));
}
