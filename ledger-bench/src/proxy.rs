//! A loopback TCP proxy in front of the database that counts round trips: a "flight" is
//! a burst of client bytes sent after the server has spoken (or first). Pipelined
//! statements travel in one flight; each wait for an answer starts a new one.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use ledger_store::PgConfig;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UnixStream};
use tokio_postgres::config::Host;

#[derive(Clone)]
pub struct CountingProxy {
    port: u16,
    flights: Arc<AtomicUsize>,
    /// While set, nothing is forwarded either way (a database that hangs).
    paused: Arc<AtomicBool>,
}

#[derive(Clone)]
enum Target {
    Unix(PathBuf),
    Tcp(String, u16),
}

impl CountingProxy {
    /// The loopback port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Client round trips since the last reset.
    pub fn flights(&self) -> usize {
        self.flights.load(Ordering::SeqCst)
    }

    /// Stops forwarding (bytes wait in the proxy), as a database or network that hangs.
    pub fn pause(&self) {
        self.paused.store(true, Ordering::SeqCst);
    }

    pub fn resume(&self) {
        self.paused.store(false, Ordering::SeqCst);
    }

    pub fn reset(&self) {
        self.flights.store(0, Ordering::SeqCst);
    }

    /// `pg` with its host replaced by the proxy.
    pub fn config(&self, pg: &PgConfig) -> PgConfig {
        let mut through = PgConfig::new();
        through.host("127.0.0.1").port(self.port);
        if let Some(user) = pg.get_user() {
            through.user(user);
        }
        if let Some(db) = pg.get_dbname() {
            through.dbname(db);
        }
        if let Some(pw) = pg.get_password() {
            through.password(pw);
        }
        through
    }

    /// Starts a proxy to the server `pg` points at.
    pub async fn start(pg: &PgConfig) -> CountingProxy {
        let port = pg.get_ports().first().copied().unwrap_or(5432);
        let target = match pg.get_hosts().first().expect("a host") {
            Host::Unix(dir) => Target::Unix(dir.join(format!(".s.PGSQL.{port}"))),
            Host::Tcp(host) => Target::Tcp(host.clone(), port),
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let proxy = CountingProxy {
            port: listener.local_addr().expect("proxy addr").port(),
            flights: Arc::new(AtomicUsize::new(0)),
            paused: Arc::new(AtomicBool::new(false)),
        };
        let (flights, paused) = (proxy.flights.clone(), proxy.paused.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (target, flights, paused) = (target.clone(), flights.clone(), paused.clone());
                tokio::spawn(async move {
                    let _ = match target {
                        Target::Unix(path) => {
                            let server = UnixStream::connect(path).await?;
                            relay(client, server, flights, paused).await
                        }
                        Target::Tcp(h, p) => {
                            let server = TcpStream::connect((h, p)).await?;
                            relay(client, server, flights, paused).await
                        }
                    };
                    Ok::<(), std::io::Error>(())
                });
            }
        });
        proxy
    }
}

/// Waits while the proxy is paused.
async fn unpaused(paused: &AtomicBool) {
    while paused.load(Ordering::SeqCst) {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

async fn relay<S>(
    client: TcpStream,
    server: S,
    flights: Arc<AtomicUsize>,
    paused: Arc<AtomicBool>,
) -> std::io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let server_spoke = Arc::new(AtomicBool::new(true));
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = tokio::io::split(server);
    let spoke = server_spoke.clone();
    let paused_up = paused.clone();
    let up = async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            unpaused(&paused_up).await;
            let n = cr.read(&mut buf).await?;
            if n == 0 {
                return Ok::<(), std::io::Error>(());
            }
            if spoke.swap(false, Ordering::SeqCst) {
                flights.fetch_add(1, Ordering::SeqCst);
            }
            unpaused(&paused_up).await;
            sw.write_all(&buf[..n]).await?;
        }
    };
    let down = async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            unpaused(&paused).await;
            let n = sr.read(&mut buf).await?;
            if n == 0 {
                return Ok::<(), std::io::Error>(());
            }
            server_spoke.store(true, Ordering::SeqCst);
            unpaused(&paused).await;
            cw.write_all(&buf[..n]).await?;
        }
    };
    let _ = tokio::join!(up, down);
    Ok(())
}
