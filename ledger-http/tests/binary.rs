//! The README's run command, as a user runs it: `ledger-http --demo` with no DATABASE_URL
//! starts its own PostgreSQL under the data folder, seeds the demo, prints tokens that
//! work for the printed booking, reports ready, and on SIGTERM stops it.
//! (This is the only test outside the e2e binary that starts a cluster: it tests exactly
//! that start-up path.)

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// initdb and first start on a loaded 2-core machine.
const READY_DEADLINE: Duration = Duration::from_secs(120);
const EXIT_DEADLINE: Duration = Duration::from_secs(60);
/// Provider settings come from the environment like everything else.
const STRIPE_SECRET: &str = "whsec_binary_test";

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(".ledger")
        .join(format!("bintest-{}", std::process::id()))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn spawn(dir: &Path, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_ledger-http"))
        .arg("--demo")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("LEDGER_DATA_DIR", dir)
        .env("LEDGER_BIND", format!("127.0.0.1:{port}"))
        .env("LEDGER_LOG_FORMAT", "json")
        .env("LEDGER_STRIPE_WEBHOOK_SECRET", STRIPE_SECRET)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ledger-http")
}

fn wait_exit(child: &mut Child, deadline: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(start.elapsed() < deadline, "ledger-http did not exit");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Stops the child and removes the folder even when an assertion fails.
struct Cleanup(Child, PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        let _ = std::fs::remove_dir_all(&self.1);
    }
}

#[tokio::test]
async fn run_command_serves_ready_on_its_own_cluster_and_stops_it_on_sigterm() {
    let (dir, port) = (data_dir(), free_port());
    let mut run = Cleanup(spawn(&dir, port), dir.clone());
    let http = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/health/ready");
    let start = Instant::now();
    loop {
        if let Ok(resp) = http.get(&url).send().await {
            if resp.status() == 200 {
                break;
            }
        }
        if let Some(status) = run.0.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(run.0.stderr.as_mut().unwrap(), &mut err).unwrap();
            panic!("ledger-http exited with {status}:\n{err}");
        }
        assert!(start.elapsed() < READY_DEADLINE, "not ready in time");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The printed customer token books a seat on the demo slot, with the demo coupon.
    let stdout = run.0.stdout.take().unwrap();
    let printed: Vec<String> = std::io::BufRead::lines(std::io::BufReader::new(stdout))
        .map_while(Result::ok)
        .take_while(|l| !l.starts_with("curl -s http"))
        .collect();
    let token = printed
        .iter()
        .find_map(|l| l.strip_prefix("export CUSTOMER_TOKEN='"))
        .and_then(|l| l.strip_suffix('\''))
        .expect("a customer token is printed");
    assert!(
        printed.iter().any(|l| l.starts_with("curl -s -X POST")),
        "a curl line is printed"
    );
    let booked = http
        .post(format!("http://127.0.0.1:{port}/v1/bookings"))
        .bearer_auth(token)
        .header("Idempotency-Key", "demo-1")
        .json(&serde_json::json!({"items": [{"slot_id": "glaciar-0900", "seats": 2}], "coupon_code": "VERANO10"}))
        .send()
        .await
        .unwrap();
    assert_eq!(booked.status(), 201, "{}", booked.text().await.unwrap());

    // The binary honours provider settings from its environment (it once built its state
    // without them and answered every webhook 503 provider_not_configured).
    let event =
        r#"{"id":"evt_binary_1","object":"event","type":"customer.created","data":{"object":{}}}"#;
    let signature = ledger_core::webhook::sign_stripe(
        event.as_bytes(),
        STRIPE_SECRET,
        chrono::Utc::now().timestamp(),
    );
    let delivered = http
        .post(format!("http://127.0.0.1:{port}/v1/webhooks/stripe"))
        .header("content-type", "application/json")
        .header("Stripe-Signature", signature)
        .body(event)
        .send()
        .await
        .unwrap();
    assert_eq!(delivered.status(), 200);
    assert_eq!(
        delivered.json::<serde_json::Value>().await.unwrap()["status"],
        "ignored"
    );

    let pid_file = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path().join("data").join("postmaster.pid"))
        .find(|p| p.exists());
    let pid_file = pid_file.expect("the private cluster lives under LEDGER_DATA_DIR");

    // SAFETY: kill has no memory-safety preconditions; the pid is our child's.
    unsafe { libc::kill(run.0.id() as libc::pid_t, libc::SIGTERM) };
    let status = wait_exit(&mut run.0, EXIT_DEADLINE);
    assert!(status.success(), "clean exit, got {status}");
    assert!(
        !pid_file.exists(),
        "PostgreSQL was stopped cleanly (postmaster.pid removed)"
    );

    // A second start reuses the initialised cluster and data.
    let mut again = spawn(&dir, port);
    let start = Instant::now();
    while http
        .get(&url)
        .send()
        .await
        .map(|r| r.status() != 200)
        .unwrap_or(true)
    {
        assert!(
            start.elapsed() < READY_DEADLINE && again.try_wait().unwrap().is_none(),
            "restart failed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // SAFETY: as above.
    unsafe { libc::kill(again.id() as libc::pid_t, libc::SIGINT) };
    assert!(wait_exit(&mut again, EXIT_DEADLINE).success());
}

#[test]
fn bad_settings_are_named_and_exit_2() {
    let run = |args: &[&str], vars: &[(&str, &str)]| {
        let out = Command::new(env!("CARGO_BIN_EXE_ledger-http"))
            .args(args)
            .envs(vars.iter().copied())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (code, err) = run(&["--demo"], &[("LEDGER_BIND", "not-an-address")]);
    assert_eq!(code, Some(2));
    assert!(err.contains("LEDGER_BIND"), "{err}");
    let (code, err) = run(&["--demo"], &[("LEDGER_ENV", "production")]);
    assert_eq!(code, Some(2));
    assert!(err.contains("--demo is refused in production"), "{err}");
    let (code, err) = run(&[], &[]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("LEDGER_JWKS_FILE"),
        "no JWKS and no --demo: {err}"
    );
}
