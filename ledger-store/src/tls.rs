//! TLS to PostgreSQL, with rustls: `sslmode` and `sslrootcert` of `DATABASE_URL`, read as
//! libpq reads them.
//!
//! | sslmode | encrypted | server certificate checked |
//! |---|---|---|
//! | `disable` | never | — |
//! | `prefer` (the default) | if the server offers it | no |
//! | `require` | always | no; with `sslrootcert` given, as `verify-ca` (libpq does the same) |
//! | `verify-ca` | always | chain to `sslrootcert` |
//! | `verify-full` | always | chain to `sslrootcert`, and the host name (or IP address) |
//!
//! `sslrootcert` defaults to `~/.postgresql/root.crt`, as in libpq. tokio-postgres itself
//! knows only `disable`, `prefer` and `require`: [`parse_database_url`] takes both options
//! out of the string and keeps them here.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres::config::SslMode as DriverSslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::PgConfig;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SslMode {
    Disable,
    #[default]
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(value: &str) -> Result<SslMode, TlsError> {
        Ok(match value {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            // libpq's `allow` (plain first, TLS if refused) is not offered by the driver.
            other => return Err(TlsError::Mode(other.to_owned())),
        })
    }
}

/// How connections to the database are secured.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tls {
    pub mode: SslMode,
    /// `sslrootcert`, when the connection string gives it.
    pub root_cert: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("sslmode {0:?} is not one of disable, prefer, require, verify-ca, verify-full")]
    Mode(String),
    #[error("the connection string is not valid: {0}")]
    Syntax(String),
    #[error("sslrootcert {path}: {reason}")]
    RootCert { path: PathBuf, reason: String },
    #[error("TLS set-up: {0}")]
    Setup(String),
}

/// Parses a connection string (URL or `key=value` form), honouring `sslmode` and
/// `sslrootcert` beyond what the driver knows. Errors never repeat the string (it may hold
/// a password).
pub fn parse_database_url(url: &str) -> Result<(PgConfig, Tls), TlsError> {
    let (rest, options) = if url.contains("://") {
        split_url(url)
    } else {
        split_key_values(url)?
    };
    let mut tls = Tls::default();
    for (key, value) in options {
        match key.as_str() {
            "sslmode" => tls.mode = SslMode::parse(&value)?,
            _ => tls.root_cert = Some(PathBuf::from(value)),
        }
    }
    let mut pg: PgConfig = rest
        .parse()
        .map_err(|e: tokio_postgres::Error| TlsError::Syntax(e.to_string()))?;
    pg.ssl_mode(match tls.mode {
        SslMode::Disable => DriverSslMode::Disable,
        SslMode::Prefer => DriverSslMode::Prefer,
        SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => DriverSslMode::Require,
    });
    Ok((pg, tls))
}

const OURS: [&str; 2] = ["sslmode", "sslrootcert"];

/// `postgres://…?a=1&sslmode=…`: the URL without our options, and their decoded values.
fn split_url(url: &str) -> (String, Vec<(String, String)>) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_owned(), Vec::new());
    };
    let mut kept = Vec::new();
    let mut ours = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if OURS.contains(&key) {
            let value = percent_encoding::percent_decode_str(value)
                .decode_utf8_lossy()
                .into_owned();
            ours.push((key.to_owned(), value));
        } else {
            kept.push(pair);
        }
    }
    let rest = match kept.is_empty() {
        true => base.to_owned(),
        false => format!("{base}?{}", kept.join("&")),
    };
    (rest, ours)
}

/// `host=… sslmode=…`: libpq's key/value form (values may be single-quoted, with `\`
/// escapes). Returns the string without our options, re-quoted.
fn split_key_values(s: &str) -> Result<(String, Vec<(String, String)>), TlsError> {
    let mut chars = s.chars().peekable();
    let mut kept = Vec::new();
    let mut ours = Vec::new();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            break;
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            return Err(TlsError::Syntax(format!("expected = after {key:?}")));
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    Some('\\') => value.extend(chars.next()),
                    Some('\'') => break,
                    Some(c) => value.push(c),
                    None => return Err(TlsError::Syntax("unterminated quoted value".into())),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                match c {
                    '\\' => value.extend(chars.next()),
                    c => value.push(c),
                }
            }
        }
        if OURS.contains(&key.as_str()) {
            ours.push((key, value));
        } else {
            let quoted = value.replace('\\', "\\\\").replace('\'', "\\'");
            kept.push(format!("{key}='{quoted}'"));
        }
    }
    Ok((kept.join(" "), ours))
}

/// PostgreSQL has no TLS on Unix-domain sockets (libpq ignores `sslmode` there), and the
/// rustls connector cannot even be made for one (it has no server name): a configuration
/// naming only socket folders connects without TLS.
pub(crate) fn sockets_only(pg: &PgConfig) -> bool {
    !pg.get_hosts().is_empty()
        && pg
            .get_hosts()
            .iter()
            .all(|h| matches!(h, tokio_postgres::config::Host::Unix(_)))
}

/// A connection's messages (notices, notifications), polled by whoever drives it.
pub(crate) type Messages = std::pin::Pin<
    Box<
        dyn futures_util::Stream<Item = Result<tokio_postgres::AsyncMessage, tokio_postgres::Error>>
            + Send,
    >,
>;

/// One connection of its own with this TLS policy (none on Unix sockets): the client, and
/// the connection as the stream of its messages, which must be polled for the client to
/// work (until it ends, when the connection does).
pub(crate) async fn connect(
    pg: &PgConfig,
    tls: &Tls,
) -> Result<(tokio_postgres::Client, Messages), crate::StoreError> {
    fn messages<S, T>(mut connection: tokio_postgres::Connection<S, T>) -> Messages
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
        T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        Box::pin(futures_util::stream::poll_fn(move |cx| {
            connection.poll_message(cx)
        }))
    }
    if sockets_only(pg) {
        let (client, connection) = pg.connect(tokio_postgres::NoTls).await?;
        return Ok((client, messages(connection)));
    }
    let connector = tls
        .connector()
        .map_err(|e| crate::StoreError::Database(e.to_string()))?;
    let (client, connection) = pg.connect(connector).await?;
    Ok((client, messages(connection)))
}

impl Tls {
    /// The driver's TLS connector for this policy. Reads `sslrootcert` when it is needed.
    pub fn connector(&self) -> Result<MakeRustlsConnect, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verify_chain = match self.mode {
            SslMode::VerifyCa | SslMode::VerifyFull => true,
            SslMode::Require => self.root_cert.is_some(),
            SslMode::Disable | SslMode::Prefer => false,
        };
        let verifier: Arc<dyn ServerCertVerifier> = if verify_chain {
            let roots = Arc::new(load_roots(&self.root_path()?)?);
            let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
                .build()
                .map_err(|e| TlsError::Setup(e.to_string()))?;
            match self.mode {
                SslMode::VerifyFull => webpki,
                _ => Arc::new(ChainOnly(webpki)),
            }
        } else {
            Arc::new(Unchecked(provider.clone()))
        };
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Setup(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Ok(MakeRustlsConnect::new(config))
    }

    fn root_path(&self) -> Result<PathBuf, TlsError> {
        if let Some(path) = &self.root_cert {
            return Ok(path.clone());
        }
        let home = std::env::var_os("HOME").ok_or_else(|| TlsError::RootCert {
            path: PathBuf::from("~/.postgresql/root.crt"),
            reason: "no sslrootcert given and HOME is not set".into(),
        })?;
        Ok(Path::new(&home).join(".postgresql").join("root.crt"))
    }
}

fn load_roots(path: &Path) -> Result<RootCertStore, TlsError> {
    let failed = |reason: String| TlsError::RootCert {
        path: path.to_owned(),
        reason,
    };
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path).map_err(|e| failed(e.to_string()))? {
        let cert = cert.map_err(|e| failed(e.to_string()))?;
        roots.add(cert).map_err(|e| failed(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(failed("no certificate in the file".into()));
    }
    Ok(roots)
}

/// `verify-ca`: the chain must lead to a trusted root; the name is not checked.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // The chain is checked before the name: a name error means the chain was good.
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// `prefer` and `require` without a root certificate: encrypted, the certificate not
/// checked (libpq's behaviour). The handshake's signatures are still verified.
#[derive(Debug)]
struct Unchecked(Arc<CryptoProvider>);

impl ServerCertVerifier for Unchecked {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_modes_are_taken_out_of_a_url() {
        let (pg, tls) = parse_database_url(
            "postgres://u:pw@a:5432,b:5433/db?target_session_attrs=read-write&sslmode=verify-full&sslrootcert=%2Ftmp%2Fca%20x.pem",
        )
        .unwrap();
        assert_eq!(tls.mode, SslMode::VerifyFull);
        assert_eq!(tls.root_cert, Some(PathBuf::from("/tmp/ca x.pem")));
        assert_eq!(pg.get_hosts().len(), 2);
        assert_eq!(pg.get_ssl_mode(), DriverSslMode::Require);
        assert_eq!(
            pg.get_target_session_attrs(),
            tokio_postgres::config::TargetSessionAttrs::ReadWrite
        );
    }

    #[test]
    fn the_modes_are_taken_out_of_key_values() {
        let (pg, tls) = parse_database_url(
            "host=h port=5433 user='a b' sslmode = verify-ca sslrootcert='/x/it\\'s.pem' dbname=d",
        )
        .unwrap();
        assert_eq!(tls.mode, SslMode::VerifyCa);
        assert_eq!(tls.root_cert, Some(PathBuf::from("/x/it's.pem")));
        assert_eq!(pg.get_user(), Some("a b"));
        assert_eq!(pg.get_dbname(), Some("d"));
        assert_eq!(pg.get_ports(), &[5433]);
    }

    #[test]
    fn the_default_is_prefer_and_disable_is_kept() {
        let (pg, tls) = parse_database_url("postgres://h/db").unwrap();
        assert_eq!((tls.mode, tls.root_cert), (SslMode::Prefer, None));
        assert_eq!(pg.get_ssl_mode(), DriverSslMode::Prefer);
        let (pg, tls) = parse_database_url("postgres://h/db?sslmode=disable").unwrap();
        assert_eq!(tls.mode, SslMode::Disable);
        assert_eq!(pg.get_ssl_mode(), DriverSslMode::Disable);
    }

    #[test]
    fn an_unknown_mode_or_a_missing_root_is_refused_without_the_secret() {
        let e = parse_database_url("postgres://u:s3cret@h/db?sslmode=allow").unwrap_err();
        assert!(matches!(e, TlsError::Mode(_)));
        assert!(!e.to_string().contains("s3cret"));
        let tls = Tls {
            mode: SslMode::VerifyFull,
            root_cert: Some(PathBuf::from("/nonexistent/ca.pem")),
        };
        let e = tls.connector().err().expect("no such file");
        assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
    }
}
