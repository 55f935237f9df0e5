//! One private cluster: initialised once, started as our child, stopped cleanly.

use std::fs::{self, File};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::os::{self, RunAs};
use super::{EmbeddedError, PgBinaries};

/// The cluster's superuser. Only reachable through the socket inside our own folder.
pub const SUPERUSER: &str = "ledger";
/// The socket is private to our folder, so the standard port never collides with another
/// server on the machine (it only names the socket file).
const PORT: u16 = 5432;
/// initdb plus first start on a loaded 2-core machine stay well under this.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// A fast shutdown rolls back and checkpoints; a stuck one is escalated after this.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
const POLL_INTERVAL: Duration = Duration::from_millis(20);
const LOG_TAIL_LINES: usize = 20;
/// A unix socket path must fit in 108 bytes with `/.s.PGSQL.5432` and a NUL appended.
const MAX_SOCKET_DIR_LEN: usize = 92;
/// Tests open a pool per database; two test threads plus admin connections fit easily.
const MAX_CONNECTIONS: u32 = 200;

/// How much a cluster cares about surviving a power cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// The development cluster: default PostgreSQL durability.
    Durable,
    /// Test clusters: fsync off, thrown away after the run.
    Ephemeral,
}

#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// Folder for the data directory, socket and logs (created if missing).
    pub dir: PathBuf,
    pub durability: Durability,
    /// Server settings given last on the command line (`-c name=value`), so they win over
    /// the defaults above them: tests that need TCP (`listen_addresses`) or TLS.
    pub settings: Vec<(String, String)>,
}

#[derive(Default)]
struct Exited {
    done: Mutex<bool>,
    cond: Condvar,
}

impl Exited {
    fn set(&self) {
        *self.done.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.cond.notify_all();
    }

    fn is_set(&self) -> bool {
        *self.done.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// True if the process exited within `timeout`.
    fn wait(&self, timeout: Duration) -> bool {
        let guard = self.done.lock().unwrap_or_else(|e| e.into_inner());
        let (guard, _) = self
            .cond
            .wait_timeout_while(guard, timeout, |done| !*done)
            .unwrap_or_else(|e| e.into_inner());
        *guard
    }
}

/// A running private server. Stops the server when dropped.
pub struct EmbeddedCluster {
    dir: PathBuf,
    port: u16,
    pid: u32,
    exited: Arc<Exited>,
    stopped: bool,
}

impl std::fmt::Debug for EmbeddedCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedCluster")
            .field("dir", &self.dir)
            .field("pid", &self.pid)
            .finish()
    }
}

fn io_err(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> EmbeddedError {
    let path = path.to_path_buf();
    move |source| EmbeddedError::Io { what, path, source }
}

fn log_tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
}

/// Creates `dir`, owned by the server's user, mode 0700.
fn make_private_dir(dir: &Path, run_as: Option<RunAs>) -> Result<PathBuf, EmbeddedError> {
    fs::create_dir_all(dir).map_err(io_err("creating the cluster folder", dir))?;
    let dir = fs::canonicalize(dir).map_err(io_err("resolving the cluster folder", dir))?;
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))
        .map_err(io_err("protecting the cluster folder", &dir))?;
    os::chown(&dir, run_as).map_err(io_err("handing the cluster folder to postgres", &dir))?;
    Ok(dir)
}

/// The temp-dir folder used instead of `dir` (canonical) when the server's user cannot use
/// it: FNV-1a of the path, a stable, short name per checkout.
fn fallback_dir(dir: &Path) -> PathBuf {
    let hash = dir
        .as_os_str()
        .as_encoded_bytes()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
        });
    std::env::temp_dir().join(format!("ledger-pg-{hash:016x}"))
}

/// Connection settings for `dbname` on the private cluster of `preferred` when a server
/// (another process, `ledger-http`) is running it: its folder or the temp-dir fallback,
/// whichever holds a `postmaster.pid` and the socket. `None` when none is running.
pub fn running_cluster(preferred: &Path, dbname: &str) -> Option<tokio_postgres::Config> {
    let dir = fs::canonicalize(preferred).ok()?;
    let running = [fallback_dir(&dir), dir].into_iter().find(|d| {
        d.join("data").join("postmaster.pid").is_file()
            && d.join(format!(".s.PGSQL.{PORT}")).exists()
    })?;
    let mut pg = tokio_postgres::Config::new();
    pg.host_path(&running)
        .port(PORT)
        .user(SUPERUSER)
        .dbname(dbname);
    Some(pg)
}

/// The folder to use: `preferred`, unless the server's user cannot reach it (a checkout
/// under /root, say) or the socket path would be too long; then a folder in the temp dir.
fn choose_dir(
    preferred: &Path,
    run_as: Option<RunAs>,
    bins: &PgBinaries,
) -> Result<PathBuf, EmbeddedError> {
    let dir = make_private_dir(preferred, run_as)?;
    let usable = dir.as_os_str().len() <= MAX_SOCKET_DIR_LEN
        && os::can_enter(&dir, run_as, &bins.postgres());
    if usable {
        return Ok(dir);
    }
    let fallback = fallback_dir(&dir);
    tracing::warn!(preferred = %dir.display(), fallback = %fallback.display(),
        "the postgres user cannot use the cluster folder; using a temporary one");
    make_private_dir(&fallback, run_as)
}

fn log_file(path: &Path) -> Result<(File, File), EmbeddedError> {
    let file = File::options()
        .create(true)
        .append(true)
        .open(path)
        .map_err(io_err("opening the log", path))?;
    let second = file.try_clone().map_err(io_err("opening the log", path))?;
    Ok((file, second))
}

fn initdb(
    bins: &PgBinaries,
    dir: &Path,
    run_as: Option<RunAs>,
    durability: Durability,
) -> Result<(), EmbeddedError> {
    let staging = dir.join("data.init");
    if staging.exists() {
        fs::remove_dir_all(&staging)
            .map_err(io_err("removing a half-made data folder", &staging))?;
    }
    let log = dir.join("initdb.log");
    let (out, err) = log_file(&log)?;
    let mut cmd = Command::new(bins.initdb());
    cmd.arg("-D").arg(&staging);
    cmd.args(["-U", SUPERUSER, "-A", "trust", "-E", "UTF8", "--locale=C"]);
    if durability == Durability::Ephemeral {
        cmd.arg("--no-sync");
    }
    cmd.current_dir(dir)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    os::configure(&mut cmd, run_as, libc::SIGKILL);
    let status = cmd
        .status()
        .map_err(io_err("running initdb", &bins.initdb()))?;
    if !status.success() {
        return Err(EmbeddedError::Failed {
            what: "initdb",
            log: log_tail(&log),
            path: log,
        });
    }
    // Renamed only once complete, so an interrupted initdb is simply redone.
    let data = dir.join("data");
    fs::rename(&staging, &data).map_err(io_err("moving the new data folder", &data))
}

/// Starts the server on a thread that lives as long as it does: the parent-death signal
/// follows the spawning *thread*, so that thread must not be a short-lived one.
fn spawn_server(mut cmd: Command) -> Result<(u32, Arc<Exited>), std::io::Error> {
    let exited = Arc::new(Exited::default());
    let watcher = exited.clone();
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("ledger-postgres".into())
        .spawn(move || match cmd.spawn() {
            Ok(mut child) => {
                let _ = tx.send(Ok(child.id()));
                let _ = child.wait();
                watcher.set();
            }
            Err(e) => {
                let _ = tx.send(Err(e));
            }
        })?;
    let pid = rx
        .recv()
        .map_err(|_| std::io::Error::other("the server thread ended early"))??;
    Ok((pid, exited))
}

impl EmbeddedCluster {
    /// Initialises the cluster if needed, starts it and waits until it accepts connections.
    pub fn start(opts: ClusterOptions) -> Result<EmbeddedCluster, EmbeddedError> {
        let bins = PgBinaries::locate()?;
        let run_as = os::run_as()?;
        let dir = choose_dir(&opts.dir, run_as, &bins)?;
        let data = dir.join("data");
        if !data.join("PG_VERSION").is_file() {
            initdb(&bins, &dir, run_as, opts.durability)?;
        }
        let log = dir.join("postgres.log");
        let (out, err) = log_file(&log)?;
        // A `port` among the settings moves the socket too (and the TCP port, if listening).
        let port = opts
            .settings
            .iter()
            .find(|(name, _)| name == "port")
            .and_then(|(_, value)| value.parse().ok())
            .unwrap_or(PORT);
        let mut cmd = Command::new(bins.postgres());
        cmd.arg("-D")
            .arg(&data)
            .arg("-k")
            .arg(&dir)
            .arg("-p")
            .arg(port.to_string());
        cmd.args(["-c", "listen_addresses="]);
        cmd.arg("-c")
            .arg(format!("max_connections={MAX_CONNECTIONS}"));
        if opts.durability == Durability::Ephemeral {
            cmd.args([
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ]);
        }
        for (name, value) in opts.settings.iter().filter(|(name, _)| name != "port") {
            cmd.arg("-c").arg(format!("{name}={value}"));
        }
        // Own process group: a Ctrl-C in the terminal reaches us, and we stop the server
        // after draining requests.
        cmd.current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0);
        os::configure(&mut cmd, run_as, libc::SIGINT);
        let (pid, exited) =
            spawn_server(cmd).map_err(io_err("starting postgres", &bins.postgres()))?;
        let cluster = EmbeddedCluster {
            dir,
            port,
            pid,
            exited,
            stopped: false,
        };
        cluster.wait_ready(&data, &log)?;
        tracing::info!(dir = %cluster.dir.display(), pid, "private PostgreSQL cluster ready");
        Ok(cluster)
    }

    /// Polls `postmaster.pid` until the server writes "ready" in it.
    fn wait_ready(&self, data: &Path, log: &Path) -> Result<(), EmbeddedError> {
        let deadline = Instant::now() + START_TIMEOUT;
        let pid_file = data.join("postmaster.pid");
        loop {
            if self.exited.is_set() {
                return Err(EmbeddedError::Failed {
                    what: "PostgreSQL",
                    log: log_tail(log),
                    path: log.to_path_buf(),
                });
            }
            let text = fs::read_to_string(&pid_file).unwrap_or_default();
            let lines: Vec<&str> = text.lines().map(str::trim).collect();
            if lines.first() == Some(&self.pid.to_string().as_str())
                && lines.get(7) == Some(&"ready")
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(EmbeddedError::Timeout {
                    secs: START_TIMEOUT.as_secs(),
                    log: log.to_path_buf(),
                });
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    /// The folder holding the data directory, the socket and the logs.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Connection settings for `dbname` over the private socket.
    pub fn pg_config(&self, dbname: &str) -> tokio_postgres::Config {
        let mut pg = tokio_postgres::Config::new();
        pg.host_path(&self.dir)
            .port(self.port)
            .user(SUPERUSER)
            .dbname(dbname);
        pg
    }

    /// SIGKILL to the postmaster, as in a crash: the next start replays the WAL. Blocks
    /// until it has exited (its backends follow on their own, noticing its death).
    pub fn crash(&mut self) {
        if std::mem::replace(&mut self.stopped, true) {
            return;
        }
        os::signal(self.pid, libc::SIGKILL);
        if !self.exited.wait(Duration::from_secs(10)) {
            tracing::error!(pid = self.pid, "PostgreSQL did not exit on SIGKILL");
        }
    }

    /// Fast shutdown (SIGINT), escalated to immediate (SIGQUIT) and then SIGKILL if the
    /// server does not exit in time. Blocks until it has exited.
    pub fn stop(&mut self) {
        if std::mem::replace(&mut self.stopped, true) {
            return;
        }
        for (signal, wait) in [
            (libc::SIGINT, STOP_TIMEOUT),
            (libc::SIGQUIT, Duration::from_secs(5)),
            (libc::SIGKILL, Duration::from_secs(5)),
        ] {
            os::signal(self.pid, signal);
            if self.exited.wait(wait) {
                tracing::info!(dir = %self.dir.display(), "private PostgreSQL cluster stopped");
                return;
            }
        }
        tracing::error!(pid = self.pid, "PostgreSQL did not exit");
    }
}

impl Drop for EmbeddedCluster {
    fn drop(&mut self) {
        self.stop();
    }
}
