//! The real `ledger-http` binary, started against a bench cluster as a child process, and
//! the CPU it and PostgreSQL use.

use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use ledger_http::demo::{DEMO_AUDIENCE, DEMO_ISSUER};

use super::{free_port, Bench, DB, PANEL_OUTBOUND_SECRET, READY_TIMEOUT, STRIPE_SECRET};

/// Extra settings for a service start.
#[derive(Debug, Clone, Default)]
pub struct ServiceOptions {
    /// `LEDGER_PANEL_API_URL` (outbound deliveries), signed with [`PANEL_OUTBOUND_SECRET`].
    pub panel_url: Option<String>,
    /// Keep the same port across restarts (fault runs); a free one otherwise.
    pub bind: Option<SocketAddr>,
    /// The log's file name in the bench folder (`service.log` unless set): one per replica.
    pub log_name: Option<String>,
    /// `DATABASE_URL` instead of the bench cluster's own (a proxy in front of it).
    pub database_url: Option<String>,
    /// More environment (provider URLs and keys, shorter delays).
    pub env: Vec<(&'static str, String)>,
}

/// The release `ledger-http` binary, running as a child against a [`Bench`] cluster.
/// Killed if the bench process dies (parent-death signal) or the value is dropped.
pub struct Service {
    child: Child,
    addr: SocketAddr,
}

impl Service {
    /// `ledger-http` beside this executable (`cargo build --release` builds both), or the
    /// one `LEDGER_BENCH_SERVICE` names (to compare two builds on the same machine).
    pub fn binary() -> anyhow::Result<PathBuf> {
        let path = match std::env::var_os("LEDGER_BENCH_SERVICE") {
            Some(path) => PathBuf::from(path),
            None => std::env::current_exe()?.with_file_name("ledger-http"),
        };
        if !path.is_file() {
            bail!(
                "{} not found: build it first (cargo build --release -p ledger-http -p ledger-bench)",
                path.display()
            );
        }
        Ok(path)
    }

    /// Whether the service binary is an optimised build (figures from a debug build are
    /// only good for smoke runs).
    pub fn is_release() -> bool {
        Service::binary()
            .map(|p| p.components().any(|c| c.as_os_str() == "release"))
            .unwrap_or(false)
    }

    pub async fn start(bench: &Bench, options: &ServiceOptions) -> anyhow::Result<Service> {
        let addr = match options.bind {
            Some(addr) => addr,
            None => free_port()?,
        };
        let log_path = bench
            .dir()
            .join(options.log_name.as_deref().unwrap_or("service.log"));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)?;
        let mut command = std::process::Command::new(Service::binary()?);
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env(
                "DATABASE_URL",
                options
                    .database_url
                    .clone()
                    .unwrap_or_else(|| bench.database_url(DB)),
            )
            .env("LEDGER_BIND", addr.to_string())
            .env("LEDGER_DATA_DIR", bench.dir().join("service"))
            .env("LEDGER_JWKS_FILE", bench.jwks_path())
            .env("LEDGER_JWT_ISSUER", DEMO_ISSUER)
            .env("LEDGER_JWT_AUDIENCE", DEMO_AUDIENCE)
            .env("LEDGER_STRIPE_WEBHOOK_SECRET", STRIPE_SECRET)
            .env("LEDGER_LOG_FORMAT", "json")
            // The load comes from one address: the per-address limits would measure
            // themselves, not the ledger.
            .env(
                "LEDGER_RATE_LIMIT_PUBLIC",
                ledger_http::limits::MAX_PER_SECOND.to_string(),
            )
            .env(
                "LEDGER_RATE_LIMIT_WEBHOOKS",
                ledger_http::limits::MAX_PER_SECOND.to_string(),
            )
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        command.envs(options.env.iter().map(|(k, v)| (k, v)));
        if let Some(url) = &options.panel_url {
            command
                .env("LEDGER_PANEL_API_URL", url)
                .env("LEDGER_PANEL_OUTBOUND_SECRET", PANEL_OUTBOUND_SECRET);
        }
        // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn().context("starting ledger-http")?;
        let mut service = Service { child, addr };
        service.wait_ready(&log_path).await?;
        Ok(service)
    }

    async fn wait_ready(&mut self, log_path: &Path) -> anyhow::Result<()> {
        let http = reqwest::Client::new();
        let url = format!("{}/health/ready", self.base_url());
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "ledger-http exited during start-up ({status}); log: {}",
                    log_path.display()
                );
            }
            if let Ok(resp) = http.get(&url).timeout(Duration::from_secs(2)).send().await {
                if resp.status().is_success() {
                    return Ok(());
                }
            }
            if started.elapsed() > READY_TIMEOUT {
                bail!(
                    "ledger-http not ready after {READY_TIMEOUT:?}; log: {}",
                    log_path.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The process's peak resident set (`VmHWM`), in KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    /// CPU seconds (user + system) the service has used so far.
    pub fn cpu_seconds(&self) -> f64 {
        process_cpu(self.pid(), false).unwrap_or(0.0)
    }

    /// SIGKILL, no chance to clean up.
    pub fn kill9(&mut self) -> anyhow::Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }

    /// SIGTERM and wait (SIGKILL after 10 s).
    pub async fn stop(mut self) -> anyhow::Result<()> {
        // SAFETY: signalling our own child by pid.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let started = Instant::now();
        while self.child.try_wait()?.is_none() {
            if started.elapsed() > Duration::from_secs(10) {
                self.child.kill()?;
                self.child.wait()?;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Fields after the `(comm)` of `/proc/<pid>/stat` (the name may contain spaces).
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

pub(super) fn parent_of(pid: u32) -> Option<u32> {
    stat_fields(pid)?.get(1)?.parse().ok()
}

/// utime + stime (and, with `children`, the reaped children's), in seconds.
pub(super) fn process_cpu(pid: u32, children: bool) -> Option<f64> {
    let f = stat_fields(pid)?;
    // After `(comm)`: state is field 3, so utime (14) is index 11, stime 12, cutime 13, cstime 14.
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    let mut total = ticks(11) + ticks(12);
    if children {
        total += ticks(13) + ticks(14);
    }
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Some(total as f64 / hz)
}

/// CPU used by the service and by PostgreSQL between two readings.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuUse {
    pub service: f64,
    pub postgres: f64,
}

impl CpuUse {
    pub fn read(bench: &Bench, service: &Service) -> CpuUse {
        CpuUse {
            service: service.cpu_seconds(),
            postgres: bench.postgres_cpu_seconds(),
        }
    }

    pub fn since(self, earlier: CpuUse) -> CpuUse {
        CpuUse {
            service: self.service - earlier.service,
            postgres: self.postgres - earlier.postgres,
        }
    }
}
