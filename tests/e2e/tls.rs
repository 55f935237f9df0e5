//! TLS to PostgreSQL (API.md "Configuration": `sslmode`, `sslrootcert`), against a private
//! cluster of this test's own with `ssl=on` and a certificate made here: a CA, a server
//! certificate for `localhost` signed by it, and an unrelated CA.

use std::path::{Path, PathBuf};

use ledger_store::embedded::{Durability, SUPERUSER};
use ledger_store::tls::parse_database_url;
use ledger_store::{Store, StoreSettings};
use ledger_tests::cluster::{remove_at_exit, workspace_root, OwnCluster};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};

struct Certs {
    ca: PathBuf,
    other_ca: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
}

fn ca(name: &str) -> (rcgen::Certificate, KeyPair) {
    let key = KeyPair::generate().expect("CA key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    (params.self_signed(&key).expect("CA certificate"), key)
}

/// Writes the certificates under `dir`; the server's files belong to the server's user
/// (PostgreSQL refuses a key file that others can read, or that is not its own).
fn make_certs(dir: &Path) -> Certs {
    std::fs::create_dir_all(dir).unwrap();
    let (ca_cert, ca_key) = ca("ledger test CA");
    let (other_cert, _) = ca("some other CA");
    let key = KeyPair::generate().expect("server key");
    let params = CertificateParams::new(vec!["localhost".to_owned()]).expect("server params");
    let cert = params
        .signed_by(&key, &ca_cert, &ca_key)
        .expect("server certificate");
    let certs = Certs {
        ca: dir.join("ca.pem"),
        other_ca: dir.join("other-ca.pem"),
        server_cert: dir.join("server.crt"),
        server_key: dir.join("server.key"),
    };
    std::fs::write(&certs.ca, ca_cert.pem()).unwrap();
    std::fs::write(&certs.other_ca, other_cert.pem()).unwrap();
    std::fs::write(&certs.server_cert, cert.pem()).unwrap();
    std::fs::write(&certs.server_key, key.serialize_pem()).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&certs.server_key, std::fs::Permissions::from_mode(0o600)).unwrap();
    // SAFETY: geteuid has no preconditions; getpwnam reads a static entry, used at once.
    if unsafe { libc::geteuid() } == 0 {
        let user = std::ffi::CString::new("postgres").unwrap();
        let entry = unsafe { libc::getpwnam(user.as_ptr()) };
        assert!(!entry.is_null(), "running as root without a postgres user");
        let (uid, gid) = unsafe { ((*entry).pw_uid, (*entry).pw_gid) };
        for path in [dir, &certs.server_cert, &certs.server_key] {
            std::os::unix::fs::chown(path, Some(uid), Some(gid)).unwrap();
        }
    }
    certs
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Connects with `url` and tells whether the session is encrypted, or why it failed.
async fn session(url: &str) -> Result<bool, String> {
    let (pg, tls) = parse_database_url(url).map_err(|e| e.to_string())?;
    let store = Store::connect(
        pg,
        &StoreSettings {
            tls,
            pool_wait_timeout: std::time::Duration::from_secs(5),
            ..StoreSettings::default()
        },
    )
    .map_err(|e| e.to_string())?;
    let client = store.client().await.map_err(|e| e.to_string())?;
    let row = client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .map_err(|e| e.to_string())?;
    Ok(row.get(0))
}

#[tokio::test]
async fn sslmode_and_sslrootcert_are_honoured() {
    let dir = workspace_root()
        .join(".ledger")
        .join(format!("own-{}-certs", std::process::id()));
    remove_at_exit(dir.clone());
    let certs = make_certs(&dir);
    let port = free_port().to_string();
    let (cert, key) = (
        certs.server_cert.display().to_string(),
        certs.server_key.display().to_string(),
    );
    let _own = OwnCluster::start(
        "tls",
        Durability::Ephemeral,
        &[
            ("listen_addresses", "127.0.0.1"),
            ("port", &port),
            ("ssl", "on"),
            ("ssl_cert_file", &cert),
            ("ssl_key_file", &key),
        ],
    )
    .await;
    let url = |host: &str, rest: &str| {
        format!("host={host} port={port} user={SUPERUSER} dbname=ledger connect_timeout=5 {rest}")
    };
    let ca = certs.ca.display();
    let other = certs.other_ca.display();

    let full = session(&url(
        "localhost",
        &format!("sslmode=verify-full sslrootcert={ca}"),
    ))
    .await;
    assert_eq!(full, Ok(true), "verify-full with the right CA and name");
    let as_url = format!(
        "postgres://{SUPERUSER}@localhost:{port}/ledger?sslmode=verify-full&sslrootcert={ca}"
    );
    assert_eq!(session(&as_url).await, Ok(true), "the URL form too");

    let wrong_ca = session(&url(
        "localhost",
        &format!("sslmode=verify-full sslrootcert={other}"),
    ))
    .await;
    assert!(wrong_ca.is_err(), "a wrong CA is refused: {wrong_ca:?}");
    let wrong_name = session(&url(
        "127.0.0.1",
        &format!("sslmode=verify-full sslrootcert={ca}"),
    ))
    .await;
    assert!(
        wrong_name.is_err(),
        "the certificate names localhost only: {wrong_name:?}"
    );
    let ca_only = session(&url(
        "127.0.0.1",
        &format!("sslmode=verify-ca sslrootcert={ca}"),
    ))
    .await;
    assert_eq!(
        ca_only,
        Ok(true),
        "verify-ca checks the chain, not the name"
    );
    let ca_wrong = session(&url(
        "127.0.0.1",
        &format!("sslmode=verify-ca sslrootcert={other}"),
    ))
    .await;
    assert!(
        ca_wrong.is_err(),
        "verify-ca still checks the chain: {ca_wrong:?}"
    );
    let require_root = session(&url(
        "127.0.0.1",
        &format!("sslmode=require sslrootcert={other}"),
    ))
    .await;
    assert!(
        require_root.is_err(),
        "require with sslrootcert verifies like verify-ca, as libpq does: {require_root:?}"
    );

    assert_eq!(
        session(&url("127.0.0.1", "sslmode=require")).await,
        Ok(true)
    );
    assert_eq!(session(&url("127.0.0.1", "sslmode=prefer")).await, Ok(true));
    assert_eq!(
        session(&url("127.0.0.1", "sslmode=disable")).await,
        Ok(false)
    );
}
