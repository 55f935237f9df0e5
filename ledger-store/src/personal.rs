//! Crypto-shredding (DESIGN.md "Personal data"): personal fields are sealed with
//! AES-256-GCM (`ring`) under a key of their data subject before they enter an event; the
//! subject keys live in `subject_keys`, outside the ledger, wrapped by the key-encryption
//! key (KEK) of `LEDGER_DATA_KEY_FILE`. Erasing a subject deletes its keys in the same
//! transaction that appends `SubjectErased`; every envelope they sealed then reads as
//! erased, while the events and their hash chains stay as they were.
//!
//! Nonces are 96 random bits from the system's CSPRNG, one per encryption; a data key
//! seals one subject's few fields, far below the 2^32 messages after which random nonces
//! would need care. Each envelope names its key id and algorithm, and each wrapped key
//! its KEK id, so keys can be rotated. Data keys for sealing are cached for
//! [`SEALING_CACHE_TTL`]; opening always reads the key rows, so once an erasure has
//! committed no replica opens what it sealed.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use base64::Engine;
use chrono::{DateTime, Utc};
use ledger_core::personal::{
    envelopes, erasure_stream, replace_envelopes, Envelope, Sealed, SubjectErased, SEALED_ALG,
    SUBJECT_ERASED, SUBJECT_ERASED_SCHEMA_VERSION,
};
use ledger_core::{truncate_to_micros, EventId, RequestFingerprint};
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::append::{AppendBatch, NewEvent, OutcomeToStore, StreamAppend};
use crate::outcome::DedupKey;
use crate::{Cursor, Store, StoreError};

/// Bytes of a data key and of a key-encryption key (AES-256).
pub const KEY_LEN: usize = 32;
/// How long a data key stays cached for sealing. An erasure on another replica is seen by
/// this one's sealing at the latest after this; what it seals meanwhile with the deleted
/// key can be opened by nobody (it reads as erased), so the window can lose a new datum of
/// an erased subject but never reveal one.
pub const SEALING_CACHE_TTL: Duration = Duration::from_secs(30);
/// Most subjects whose sealing key is cached (the cache is emptied when full).
const SEALING_CACHE_MAX: usize = 10_000;

/// Additional data bound to every envelope: its algorithm and key id, so an envelope
/// cannot be passed off under another key id.
fn envelope_aad(kid: &str) -> String {
    format!("ledger-personal-v1|{SEALED_ALG}|{kid}")
}

/// Additional data bound to a wrapped data key: the key id it is stored under.
fn wrapping_aad(kid: &str) -> String {
    format!("ledger-subject-key-v1|{kid}")
}

/// Why a personal field or key cannot be used. Never carries the data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PersonalError {
    /// The ciphertext, nonce or tag was altered, or the key is not the one that sealed it.
    #[error("the ciphertext does not open with its key (altered, or another key)")]
    Tampered,
    /// An envelope or wrapped key this version does not read.
    #[error("unsupported envelope: {0}")]
    Unsupported(&'static str),
    /// A subject key wrapped by a key-encryption key that is not configured here.
    #[error("subject key {kid} is wrapped by key-encryption key {kek_id}, which is not configured (LEDGER_DATA_KEY_FILE)")]
    UnknownKek { kid: String, kek_id: String },
    /// The system's random source failed.
    #[error("no randomness available")]
    Random,
    /// The field is not JSON that can be sealed.
    #[error("the field cannot be serialised")]
    Serialise,
}

fn random<const N: usize>(rng: &SystemRandom) -> Result<[u8; N], PersonalError> {
    let mut bytes = [0u8; N];
    rng.fill(&mut bytes).map_err(|_| PersonalError::Random)?;
    Ok(bytes)
}

fn aead(key: &[u8; KEY_LEN]) -> LessSafeKey {
    // AES_256_GCM takes exactly KEY_LEN bytes, which the type guarantees.
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).unwrap_or_else(|_| unreachable!()))
}

/// Encrypts `clear` in place (appending the tag) under a fresh random nonce.
fn seal_bytes(
    key: &[u8; KEY_LEN],
    aad: &str,
    rng: &SystemRandom,
    clear: &mut Vec<u8>,
) -> Result<[u8; NONCE_LEN], PersonalError> {
    let iv = random::<NONCE_LEN>(rng)?;
    aead(key)
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(iv),
            Aad::from(aad.as_bytes()),
            clear,
        )
        .map_err(|_| PersonalError::Serialise)?;
    Ok(iv)
}

fn open_bytes(
    key: &[u8; KEY_LEN],
    aad: &str,
    iv: &[u8],
    sealed: &mut [u8],
) -> Result<usize, PersonalError> {
    let iv: [u8; NONCE_LEN] = iv.try_into().map_err(|_| PersonalError::Tampered)?;
    aead(key)
        .open_in_place(
            Nonce::assume_unique_for_key(iv),
            Aad::from(aad.as_bytes()),
            sealed,
        )
        .map(|clear| clear.len())
        .map_err(|_| PersonalError::Tampered)
}

/// A subject's data key, unwrapped. `Debug` shows the id only.
#[derive(Clone)]
pub struct DataKey {
    kid: String,
    key: [u8; KEY_LEN],
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataKey").field("kid", &self.kid).finish()
    }
}

impl DataKey {
    /// A new random key with a new id (UUID v7).
    pub fn generate(rng: &SystemRandom) -> Result<DataKey, PersonalError> {
        Ok(DataKey {
            kid: uuid::Uuid::now_v7().to_string(),
            key: random::<KEY_LEN>(rng)?,
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Seals `clear` (any JSON) under this key with a fresh nonce.
    pub fn seal(&self, clear: &Value, rng: &SystemRandom) -> Result<Sealed, PersonalError> {
        let mut bytes = serde_json::to_vec(clear).map_err(|_| PersonalError::Serialise)?;
        let iv = seal_bytes(&self.key, &envelope_aad(&self.kid), rng, &mut bytes)?;
        Ok(Sealed {
            sealed: Envelope {
                alg: SEALED_ALG.to_owned(),
                kid: self.kid.clone(),
                iv: URL_SAFE_NO_PAD.encode(iv),
                ct: URL_SAFE_NO_PAD.encode(bytes),
            },
        })
    }

    /// Opens an envelope this key sealed.
    pub fn open(&self, envelope: &Envelope) -> Result<Value, PersonalError> {
        if envelope.alg != SEALED_ALG {
            return Err(PersonalError::Unsupported("algorithm"));
        }
        if envelope.kid != self.kid {
            return Err(PersonalError::Tampered);
        }
        let iv = URL_SAFE_NO_PAD
            .decode(&envelope.iv)
            .map_err(|_| PersonalError::Tampered)?;
        let mut bytes = URL_SAFE_NO_PAD
            .decode(&envelope.ct)
            .map_err(|_| PersonalError::Tampered)?;
        let len = open_bytes(&self.key, &envelope_aad(&self.kid), &iv, &mut bytes)?;
        serde_json::from_slice(&bytes[..len]).map_err(|_| PersonalError::Tampered)
    }
}

/// One key-encryption key and its id (the first 16 hex digits of SHA-256 over a label
/// and the key: names it without revealing it).
#[derive(Clone)]
struct WrappingKey {
    id: String,
    key: [u8; KEY_LEN],
}

impl WrappingKey {
    fn new(key: [u8; KEY_LEN]) -> WrappingKey {
        let mut digest = Sha256::new();
        digest.update(b"ledger-kek-id|");
        digest.update(key);
        WrappingKey {
            id: hex::encode(&digest.finalize()[..8]),
            key,
        }
    }
}

/// The key-encryption keys: the first wraps new subject keys, the others (older ones,
/// during a rotation) still unwrap. `Debug` shows ids only.
#[derive(Clone)]
pub struct Kek {
    keys: Vec<WrappingKey>,
}

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|k| k.id.as_str()).collect();
        f.debug_struct("Kek").field("ids", &ids).finish()
    }
}

/// Why a key file cannot be used. Names the problem, never the content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KekError {
    #[error("cannot read the key file")]
    Unreadable,
    #[error("the key file holds no key")]
    Empty,
    #[error("line {0} of the key file is not 32 bytes in base64 or 64 hex digits")]
    BadLine(usize),
    #[error("the key file can be read by other users (chmod 600 it)")]
    TooOpen,
    #[error("cannot create the key file")]
    Create,
}

/// Longest key file read (a few keys; a bound stops a mistaken path to a big file).
const MAX_KEY_FILE_BYTES: u64 = 16 * 1024;

impl Kek {
    /// Parses a key file: one key per line (32 bytes as base64, or as 64 hex digits), the
    /// first being the current one; blank lines and `#` comments are ignored.
    pub fn parse(text: &str) -> Result<Kek, KekError> {
        let mut keys = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bytes = if line.len() == 2 * KEY_LEN && line.bytes().all(|b| b.is_ascii_hexdigit())
            {
                hex::decode(line).ok()
            } else {
                STANDARD
                    .decode(line)
                    .or_else(|_| STANDARD_NO_PAD.decode(line))
                    .ok()
            };
            let key: [u8; KEY_LEN] = bytes
                .and_then(|b| b.try_into().ok())
                .ok_or(KekError::BadLine(n + 1))?;
            keys.push(WrappingKey::new(key));
        }
        if keys.is_empty() {
            return Err(KekError::Empty);
        }
        Ok(Kek { keys })
    }

    /// Reads `path` (refusing a file other users can read).
    pub fn load(path: &Path) -> Result<Kek, KekError> {
        use std::io::Read;
        let file = std::fs::File::open(path).map_err(|_| KekError::Unreadable)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = file
                .metadata()
                .map_err(|_| KekError::Unreadable)?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                return Err(KekError::TooOpen);
            }
        }
        let mut text = String::new();
        file.take(MAX_KEY_FILE_BYTES)
            .read_to_string(&mut text)
            .map_err(|_| KekError::Unreadable)?;
        Kek::parse(&text)
    }

    /// Development: reads `path`, or creates it (mode 0600) with a new random key.
    pub fn load_or_create(path: &Path) -> Result<Kek, KekError> {
        if path.exists() {
            return Kek::load(path);
        }
        let key = random::<KEY_LEN>(&SystemRandom::new()).map_err(|_| KekError::Create)?;
        let text = format!(
            "# Key-encryption key of personal data (development). Losing it makes every\n\
             # sealed personal field unreadable; never commit or share it.\n{}\n",
            STANDARD.encode(key)
        );
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|_| KekError::Create)?;
        }
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        match options.open(path) {
            Ok(mut file) => {
                use std::io::Write;
                file.write_all(text.as_bytes())
                    .and_then(|()| file.sync_all())
                    .map_err(|_| KekError::Create)?;
                Ok(Kek {
                    keys: vec![WrappingKey::new(key)],
                })
            }
            // Another process created it first: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Kek::load(path),
            Err(_) => Err(KekError::Create),
        }
    }

    /// One random key for this process, the same for every store it opens (tests, and
    /// tools that never seal). Nothing it wraps outlives the process's database.
    pub fn ephemeral() -> Kek {
        static KEY: OnceLock<[u8; KEY_LEN]> = OnceLock::new();
        let key = KEY.get_or_init(|| {
            random::<KEY_LEN>(&SystemRandom::new()).unwrap_or_else(|_| {
                // No CSPRNG: a process-unique key from the time and pid, hashed; only
                // for the throw-away databases this is used with.
                let seed = format!("{:?}|{}", Instant::now(), std::process::id());
                Sha256::digest(seed.as_bytes()).into()
            })
        });
        Kek {
            keys: vec![WrappingKey::new(*key)],
        }
    }

    /// The current key's id.
    pub fn current_id(&self) -> &str {
        &self.keys[0].id
    }

    fn wrap(&self, data: &DataKey, rng: &SystemRandom) -> Result<(String, Vec<u8>), PersonalError> {
        let current = &self.keys[0];
        let mut bytes = data.key.to_vec();
        let iv = seal_bytes(&current.key, &wrapping_aad(&data.kid), rng, &mut bytes)?;
        let mut wrapped = iv.to_vec();
        wrapped.extend_from_slice(&bytes);
        Ok((current.id.clone(), wrapped))
    }

    fn unwrap(&self, kid: &str, kek_id: &str, wrapped: &[u8]) -> Result<DataKey, PersonalError> {
        let kek =
            self.keys
                .iter()
                .find(|k| k.id == kek_id)
                .ok_or_else(|| PersonalError::UnknownKek {
                    kid: kid.to_owned(),
                    kek_id: kek_id.to_owned(),
                })?;
        if wrapped.len() < NONCE_LEN {
            return Err(PersonalError::Tampered);
        }
        let (iv, rest) = wrapped.split_at(NONCE_LEN);
        let mut bytes = rest.to_vec();
        let len = open_bytes(&kek.key, &wrapping_aad(kid), iv, &mut bytes)?;
        let key: [u8; KEY_LEN] = bytes[..len]
            .try_into()
            .map_err(|_| PersonalError::Tampered)?;
        Ok(DataKey {
            kid: kid.to_owned(),
            key,
        })
    }
}

/// The KEK and the sealing cache of one store.
pub(crate) struct Keyring {
    kek: Kek,
    /// Whether the KEK was configured (`with_data_keys`), not the process's ephemeral one.
    configured: bool,
    rng: SystemRandom,
    sealing: Mutex<HashMap<String, (Arc<DataKey>, Instant)>>,
}

impl Keyring {
    pub(crate) fn new(kek: Kek, configured: bool) -> Keyring {
        Keyring {
            kek,
            configured,
            rng: SystemRandom::new(),
            sealing: Mutex::new(HashMap::new()),
        }
    }

    fn cached(&self, subject: &str) -> Option<Arc<DataKey>> {
        let cache = self.sealing.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .get(subject)
            .filter(|(_, at)| at.elapsed() < SEALING_CACHE_TTL)
            .map(|(key, _)| key.clone())
    }

    fn remember(&self, subject: &str, key: Arc<DataKey>) {
        let mut cache = self.sealing.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= SEALING_CACHE_MAX {
            cache.clear();
        }
        cache.insert(subject.to_owned(), (key, Instant::now()));
    }

    fn forget(&self, subject: &str) {
        let mut cache = self.sealing.lock().unwrap_or_else(|p| p.into_inner());
        cache.remove(subject);
    }
}

/// Creates the subject's key unless it has one, and returns the one it has. When two
/// replicas create it at once, the insert of one waits for the other's and does nothing;
/// its snapshot then predates the winner's row, so the statement is run again.
const SUBJECT_KEY: &str = "WITH created AS (
        INSERT INTO subject_keys (key_id, subject, kek_id, wrapped) VALUES ($1, $2, $3, $4)
        ON CONFLICT (subject) DO NOTHING
        RETURNING key_id, kek_id, wrapped)
    SELECT key_id, kek_id, wrapped FROM created
    UNION ALL
    SELECT key_id, kek_id, wrapped FROM subject_keys
     WHERE subject = $2 AND NOT EXISTS (SELECT 1 FROM created)";

/// A subject erased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErasureRecord {
    pub subject: String,
    pub erased_at: DateTime<Utc>,
    /// Events that held data sealed with the deleted keys.
    pub events: i64,
}

/// What [`Store::erase_subject`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Erasure {
    /// Keys deleted and `SubjectErased` appended now.
    Erased {
        record: ErasureRecord,
        cursor: Option<Cursor>,
    },
    /// Nothing left to erase: the subject's last erasure.
    AlreadyErased(ErasureRecord),
    /// No key and no erasure: the ledger holds no personal data of this subject.
    Unknown,
}

/// Renders the stored answer (status, body) of an erasure.
pub type RenderErasure = Box<dyn Fn(&ErasureRecord) -> (u16, Value) + Send + Sync>;

/// How an erasure is keyed and answered (a client command).
pub struct EraseCommand {
    pub subject: String,
    pub event_id: EventId,
    /// Of the `SubjectErased` event: who asked (no personal data).
    pub metadata: Value,
    /// The client's idempotency key and request fingerprint.
    pub key: Option<(DedupKey, RequestFingerprint)>,
    /// The stored answer (status, body) of an erasure done now.
    pub render: RenderErasure,
}

impl Store {
    /// Uses `kek` for the subject keys this store creates and opens. A store opened
    /// without one uses [`Kek::ephemeral`].
    pub fn with_data_keys(mut self, kek: Kek) -> Store {
        self.keyring = Arc::new(Keyring::new(kek, true));
        self
    }

    /// Whether this store was given the key-encryption keys (else it can tell an erased
    /// field from a live one, but open neither).
    pub fn has_data_keys(&self) -> bool {
        self.keyring.configured
    }

    /// For each payload: whether a sealed field in it has a key that still exists but does
    /// not open it (an altered ciphertext or key row, or a KEK not configured here).
    pub async fn unopened_payloads<'a>(
        &self,
        payloads: impl Iterator<Item = &'a Value>,
    ) -> Result<Vec<bool>, StoreError> {
        let per_event: Vec<Vec<Envelope>> = payloads.map(envelopes).collect();
        let keys = self.data_keys(&key_ids(per_event.iter().flatten())).await?;
        Ok(per_event
            .iter()
            .map(|found| {
                found.iter().any(|envelope| match keys.get(&envelope.kid) {
                    None => false, // erased
                    Some(Ok(key)) => key.open(envelope).is_err(),
                    Some(Err(_)) => true,
                })
            })
            .collect())
    }

    /// The data key of `subject` for sealing, created on first use.
    pub async fn subject_key(&self, subject: &str) -> Result<Arc<DataKey>, StoreError> {
        if let Some(key) = self.keyring.cached(subject) {
            return Ok(key);
        }
        let keyring = &self.keyring;
        let fresh = DataKey::generate(&keyring.rng).map_err(personal_failure)?;
        let (kek_id, wrapped) = keyring
            .kek
            .wrap(&fresh, &keyring.rng)
            .map_err(personal_failure)?;
        let conn = self.client().await?;
        let statement = conn.prepare_cached(SUBJECT_KEY).await?;
        for _ in 0..3 {
            let row = conn
                .query_opt(&statement, &[&fresh.kid, &subject, &kek_id, &wrapped])
                .await?;
            if let Some(row) = row {
                let kid: String = row.try_get(0)?;
                let kek_id: String = row.try_get(1)?;
                let wrapped: Vec<u8> = row.try_get(2)?;
                let key = Arc::new(
                    keyring
                        .kek
                        .unwrap(&kid, &kek_id, &wrapped)
                        .map_err(personal_failure)?,
                );
                keyring.remember(subject, key.clone());
                return Ok(key);
            }
        }
        Err(StoreError::Unavailable(
            "the subject's key is being created and erased at once".into(),
        ))
    }

    /// Seals `clear` with `subject`'s data key. Returns the envelope and the key id.
    pub async fn seal_personal(
        &self,
        subject: &str,
        clear: &Value,
    ) -> Result<(Sealed, String), StoreError> {
        let key = self.subject_key(subject).await?;
        let sealed = key
            .seal(clear, &self.keyring.rng)
            .map_err(personal_failure)?;
        Ok((sealed, key.kid.clone()))
    }

    /// The data keys of `kids` that still exist, unwrapped (a key that does not unwrap is
    /// `Err` under its id).
    async fn data_keys(
        &self,
        kids: &[String],
    ) -> Result<HashMap<String, Result<DataKey, PersonalError>>, StoreError> {
        if kids.is_empty() {
            return Ok(HashMap::new());
        }
        let conn = self.client().await?;
        let rows = conn
            .query(
                "SELECT key_id, kek_id, wrapped FROM subject_keys WHERE key_id = ANY($1)",
                &[&kids],
            )
            .await?;
        let mut found = HashMap::new();
        for row in rows {
            let kid: String = row.try_get(0)?;
            let kek_id: String = row.try_get(1)?;
            let wrapped: Vec<u8> = row.try_get(2)?;
            let key = self.keyring.kek.unwrap(&kid, &kek_id, &wrapped);
            found.insert(kid, key);
        }
        Ok(found)
    }

    /// Replaces every envelope in `value` by its clear value, `{"erased": true}` when its
    /// key is gone, or `{"unreadable": true}` when it does not open (logged by key id).
    /// Returns how many did not open.
    pub async fn open_personal(&self, value: &mut Value) -> Result<usize, StoreError> {
        let found = envelopes(value);
        if found.is_empty() {
            return Ok(0);
        }
        let keys = self.data_keys(&key_ids(found.iter())).await?;
        let mut unreadable = 0;
        replace_envelopes(value, &mut |envelope| match keys.get(&envelope.kid) {
            None => ledger_core::personal::erased_view(),
            Some(Ok(key)) => key.open(envelope).unwrap_or_else(|e| {
                unreadable += 1;
                tracing::warn!(kid = %envelope.kid, error = %e, "a personal field does not open");
                ledger_core::personal::unreadable_view()
            }),
            Some(Err(e)) => {
                unreadable += 1;
                tracing::warn!(kid = %envelope.kid, error = %e, "a subject key does not unwrap");
                ledger_core::personal::unreadable_view()
            }
        });
        Ok(unreadable)
    }

    /// Of `kids`, those whose key no longer exists (erased, or never in this database).
    pub async fn erased_keys(&self, kids: &[String]) -> Result<HashSet<String>, StoreError> {
        if kids.is_empty() {
            return Ok(HashSet::new());
        }
        let conn = self.client().await?;
        let rows = conn
            .query(
                "SELECT k FROM unnest($1::text[]) AS k
                  WHERE NOT EXISTS (SELECT 1 FROM subject_keys WHERE key_id = k)",
                &[&kids],
            )
            .await?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }

    /// Marks each event (its JSON as the auditor API and exports show it, with a
    /// `payload`) whose sealed fields can no longer be opened with `"erased": true`, beside
    /// the hashed members: the payload stays exactly as the chain covers it.
    pub async fn mark_erased(&self, events: &mut [Value]) -> Result<(), StoreError> {
        let flags = self
            .erased_payloads(
                events
                    .iter()
                    .map(|e| e.get("payload").unwrap_or(&Value::Null)),
            )
            .await?;
        for (event, erased) in events.iter_mut().zip(flags) {
            if erased {
                event["erased"] = Value::Bool(true);
            }
        }
        Ok(())
    }

    /// For each payload: whether it holds a sealed field whose key no longer exists.
    pub async fn erased_payloads<'a>(
        &self,
        payloads: impl Iterator<Item = &'a Value>,
    ) -> Result<Vec<bool>, StoreError> {
        let per_event: Vec<Vec<Envelope>> = payloads.map(envelopes).collect();
        let gone = self
            .erased_keys(&key_ids(per_event.iter().flatten()))
            .await?;
        Ok(per_event
            .iter()
            .map(|found| found.iter().any(|e| gone.contains(&e.kid)))
            .collect())
    }

    /// Erases a data subject: deletes its keys, counts the events that held data sealed
    /// with them, records the erasure and appends `SubjectErased` to
    /// `subject-<hash>`, with the client's key and answer, in one transaction.
    pub async fn erase_subject(&self, command: EraseCommand) -> Result<Erasure, StoreError> {
        let stream = erasure_stream(&command.subject);
        let locked = self.lock(std::slice::from_ref(&stream)).await?;
        let conn = locked.conn();
        let deleted = conn
            .query(
                "DELETE FROM subject_keys WHERE subject = $1 RETURNING key_id",
                &[&command.subject],
            )
            .await?;
        if deleted.is_empty() {
            let last = conn
                .query_opt(
                    "SELECT erased_at, events FROM subject_erasures WHERE subject = $1",
                    &[&command.subject],
                )
                .await?;
            locked.rollback().await?;
            return Ok(match last {
                Some(row) => Erasure::AlreadyErased(ErasureRecord {
                    subject: command.subject,
                    erased_at: row.try_get(0)?,
                    events: row.try_get(1)?,
                }),
                None => Erasure::Unknown,
            });
        }
        let mut key_ids = deleted
            .iter()
            .map(|r| r.try_get::<_, String>(0))
            .collect::<Result<Vec<_>, _>>()?;
        key_ids.sort();
        let events: i64 = conn
            .query_one(
                "SELECT count(*) FROM events
                  WHERE payload ? 'data_key' AND payload->>'data_key' = ANY($1)",
                &[&key_ids],
            )
            .await?
            .try_get(0)?;
        let record = ErasureRecord {
            subject: command.subject.clone(),
            erased_at: truncate_to_micros(self.clock().now()),
            events,
        };
        conn.execute(
            "INSERT INTO subject_erasures (subject, erased_at, events) VALUES ($1, $2, $3)
             ON CONFLICT (subject) DO UPDATE SET erased_at = excluded.erased_at, events = excluded.events",
            &[&record.subject, &record.erased_at, &record.events],
        )
        .await?;
        let payload = SubjectErased {
            subject: command.subject.clone(),
            key_ids,
            events,
        }
        .to_payload();
        let (dedup, outcome) = match command.key {
            Some((dedup, fingerprint)) => {
                let (status, body) = (command.render)(&record);
                let outcome = OutcomeToStore {
                    fingerprint,
                    status,
                    body,
                    cursor_in_body: false,
                };
                (Some(dedup), Some(outcome))
            }
            None => (None, None),
        };
        let batch = AppendBatch {
            streams: vec![StreamAppend::new(
                stream,
                vec![NewEvent {
                    event_id: command.event_id,
                    event_type: SUBJECT_ERASED.to_owned(),
                    schema_version: SUBJECT_ERASED_SCHEMA_VERSION,
                    payload,
                    metadata: command.metadata,
                }],
            )],
            dedup,
            outcome,
        };
        let committed = locked.commit(batch).await?;
        self.keyring.forget(&command.subject);
        Ok(Erasure::Erased {
            record,
            cursor: committed.cursor,
        })
    }
}

/// The distinct key ids of `found`, sorted (one row read per key).
fn key_ids<'a>(found: impl Iterator<Item = &'a Envelope>) -> Vec<String> {
    let mut kids: Vec<String> = found.map(|e| e.kid.clone()).collect();
    kids.sort();
    kids.dedup();
    kids
}

fn personal_failure(e: PersonalError) -> StoreError {
    match e {
        PersonalError::UnknownKek { .. } => StoreError::Corrupt(e.to_string()),
        other => StoreError::Database(other.to_string()),
    }
}

#[cfg(test)]
mod tests;
