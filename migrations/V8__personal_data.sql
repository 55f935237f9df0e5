-- Personal data (DESIGN.md "Personal data"): each data subject's key, outside the ledger,
-- wrapped by the key-encryption key of LEDGER_DATA_KEY_FILE. Events hold only ciphertext
-- sealed with these keys; erasing a subject deletes its rows, after which nothing can
-- open that ciphertext (crypto-shredding). Never exported, never in an event.
CREATE TABLE subject_keys (
    -- Named by every envelope it sealed (`kid`).
    key_id     text        PRIMARY KEY,
    -- The token's `sub`, or a key of its own for a payer no booking names.
    subject    text        NOT NULL,
    -- Which key-encryption key wrapped it (rotation: several may be configured).
    kek_id     text        NOT NULL,
    -- 96-bit nonce ‖ AES-256-GCM(KEK, data key) ‖ tag.
    wrapped    bytea       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT subject_keys_one_per_subject UNIQUE (subject)
);

-- The latest erasure of each subject: what `POST /v1/admin/subjects/{sub}/erase` answers
-- again for a subject with nothing left to erase. The audit trail is the ledger's
-- `SubjectErased` events; this is their index.
CREATE TABLE subject_erasures (
    subject   text        PRIMARY KEY,
    erased_at timestamptz NOT NULL,
    events    bigint      NOT NULL
);

-- The events that hold a subject's sealed data name its key (`data_key`), so an erasure
-- counts them without reading the ledger. Only such events are in the index.
CREATE INDEX events_data_key ON events ((payload->>'data_key')) WHERE payload ? 'data_key';
