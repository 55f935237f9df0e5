//! The README's run command, as a user runs it: `ledger-http` with no DATABASE_URL starts
//! its own PostgreSQL under the data folder, reports ready, and on SIGTERM stops it.
//! (This is the only test outside the e2e binary that starts a cluster: it tests exactly
//! that start-up path.)

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// initdb and first start on a loaded 2-core machine.
const READY_DEADLINE: Duration = Duration::from_secs(120);
const EXIT_DEADLINE: Duration = Duration::from_secs(60);

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
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("LEDGER_DATA_DIR", dir)
        .env("LEDGER_BIND", format!("127.0.0.1:{port}"))
        .env("LEDGER_LOG_FORMAT", "json")
        .stdout(Stdio::null())
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
fn a_bad_variable_is_named_and_exits_2() {
    let out = Command::new(env!("CARGO_BIN_EXE_ledger-http"))
        .env("LEDGER_BIND", "not-an-address")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("LEDGER_BIND"), "{err}");
}
