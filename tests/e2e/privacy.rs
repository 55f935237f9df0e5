//! Invariant 13 (DESIGN.md "Personal data"): a customer who booked and paid by Mercado
//! Pago (payer with e-mail, phone and identification) and by Pix (payer name and CPF) is
//! erased; afterwards none of those values is readable anywhere — not in any table of the
//! database read directly, not in an export, not in any API answer — while every hash
//! chain verifies and the money figures are unchanged. Erasing replays with its key and is
//! 404 for a subject the ledger holds nothing of; an altered ciphertext reads as unreadable
//! without failing the request.

use ledger_store::Store;
use ledger_tests::app::{spawn_app_with, status_json, test_providers, token, TestApp};
use ledger_tests::fakes::{FakeMercadoPago, FakePix};
use ledger_tests::{fresh_db, TestDb};
use replay_tools::import::import;
use replay_tools::state::{state, StatePoint};
use replay_tools::verify::verify;
use replay_tools::Output;
use serde_json::{json, Value};

use crate::api_support::{book, put_slot, put_slot_with};
use crate::webhook_support::{booking, post_mercadopago, post_pix, MP_SECRET};

const SUB: &str = "cust-privacy";
const EMAIL: &str = "ana.souza.privacy@example.com";
const PHONE: &str = "+54 9 11 5555-0101";
const PHONE_DIGITS: &str = "1155550101";
const DNI: &str = "30111222";
const MP_FIRST: &str = "Anastacia";
const MP_LAST: &str = "Souzalima";
const PIX_NAME: &str = "Joaquim Pereirinha";
const CPF: &str = "52998224725";
const CPF_TYPED: &str = "529.982.247-25";

/// Every personal value the flow uses, as they could appear in any form.
fn personal_values() -> Vec<&'static str> {
    vec![
        EMAIL,
        PHONE,
        PHONE_DIGITS,
        DNI,
        MP_FIRST,
        MP_LAST,
        PIX_NAME,
        CPF,
        CPF_TYPED,
    ]
}

fn assert_none_in(what: &str, text: &str) {
    for value in personal_values() {
        assert!(
            !text.contains(value),
            "{what} holds the personal value {value:?}"
        );
    }
}

fn customer() -> String {
    token(SUB, &["customer"])
}

fn admin() -> String {
    token("admin-1", &["admin"])
}

fn auditor() -> String {
    token("aud-1", &["auditor"])
}

/// Every table of the database, every row as text.
async fn whole_database(db: &TestDb) -> String {
    let client = db.client().await;
    let tables: Vec<String> = client
        .query(
            "SELECT quote_ident(tablename) FROM pg_tables WHERE schemaname = 'public'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(tables.iter().any(|t| t == "events"));
    let mut all = String::new();
    for table in tables {
        let rows = client
            .query(&format!("SELECT t::text FROM {table} t"), &[])
            .await
            .unwrap();
        for row in rows {
            all.push_str(row.get::<_, &str>(0));
            all.push('\n');
        }
    }
    all
}

async fn export_text(store: &Store) -> String {
    String::from_utf8(crate::replay_cli::export_all(store).await).unwrap()
}

async fn verified_clean(store: &Store) {
    let report = verify(store, &Output::new(true, false).bar(0, "verify"))
        .await
        .expect("verify runs");
    assert!(report.is_clean(), "{:?}", report.breach);
}

async fn get_text(app: &TestApp, path: &str, token: &str) -> String {
    let resp = app.get(path, Some(token)).await;
    assert_eq!(resp.status().as_u16(), 200, "{path}");
    resp.text().await.unwrap()
}

async fn erase(app: &TestApp, sub: &str, key: &str) -> (u16, Value, bool) {
    let resp = app
        .post(
            &format!("/v1/admin/subjects/{sub}/erase"),
            &admin(),
            key,
            &json!({}),
        )
        .await;
    let replayed = resp.headers().get("idempotent-replayed").is_some();
    let (status, body) = status_json(resp).await;
    (status, body, replayed)
}

struct Paid {
    app: TestApp,
    db: TestDb,
    mp: FakeMercadoPago,
    pix: FakePix,
    ars: String,
    brl: String,
}

/// One ARS booking paid by Mercado Pago and one BRL booking paid by Pix, both by `SUB`,
/// with the payer's data given at payment start and echoed in the providers' payloads.
async fn paid_by_mercadopago_and_pix() -> Paid {
    let (mp, pix) = (FakeMercadoPago::start().await, FakePix::start().await);
    let mut providers = test_providers(Some(mp.url.clone()), None);
    providers.pix_api_url = Some(pix.url.clone());
    let db = fresh_db().await;
    let app = spawn_app_with(db.store(), providers).await;

    put_slot(&app, "glaciar", 5).await;
    let (status, placed) = book(&app, &customer(), "ars", &[("glaciar", 2)]).await;
    assert_eq!(status, 201, "{placed}");
    let ars = placed["booking_id"].as_str().unwrap().to_owned();
    let payer = json!({"name": format!("{MP_FIRST} {MP_LAST}"), "email": EMAIL, "phone": PHONE,
                       "identification": {"type": "DNI", "number": DNI}});
    let (status, body) = status_json(
        app.post(
            &format!("/v1/bookings/{ars}/payments"),
            &customer(),
            "pay-mp",
            &json!({"provider": "mercadopago", "payer": payer}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    mp.set_payment(
        "777001",
        json!({"id": 777001, "status": "approved", "transaction_amount": 90000.00,
               "currency_id": "ARS", "external_reference": ars,
               "payer": {"email": EMAIL, "first_name": MP_FIRST, "last_name": MP_LAST,
                         "identification": {"type": "DNI", "number": DNI},
                         "phone": {"area_code": "11", "number": "55550101"}}}),
    );
    let (status, body) = post_mercadopago(&app, "777001", 880001, MP_SECRET).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("applied")));

    put_slot_with(&app, "rio", json!({"activity_id": "rio-walk", "starts_at": "2026-12-01T09:00:00-03:00",
        "capacity": 5, "price": {"amount_minor": 5500, "currency": "BRL"}, "time_zone": "America/Sao_Paulo",
        "cutoff": {"kind": "minutes_before", "minutes": 60}})).await;
    let (status, placed) = book(&app, &customer(), "brl", &[("rio", 2)]).await;
    assert_eq!(status, 201, "{placed}");
    let brl = placed["booking_id"].as_str().unwrap().to_owned();
    let (status, body) = status_json(
        app.post(
            &format!("/v1/bookings/{brl}/payments"),
            &customer(),
            "pay-pix",
            &json!({"provider": "pix", "payer": {"name": PIX_NAME,
                    "identification": {"type": "CPF", "number": CPF_TYPED}}}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (_, cob) = pix.puts.lock().unwrap()[0].clone();
    assert_eq!(
        cob["devedor"],
        json!({"cpf": CPF, "nome": PIX_NAME}),
        "the charge names its payer (BCB devedor)"
    );
    let txid = brl.replace('-', "");
    let entry = json!({"endToEndId": "E12345678202611201200abcdef01", "txid": txid,
                       "valor": "110.00", "horario": "2026-11-20T12:00:00Z",
                       "infoPagador": format!("pago por {PIX_NAME}"),
                       "pagador": {"cpf": CPF, "nome": PIX_NAME}});
    let (status, body) = post_pix(&app, "msg_privacy_1", &json!({"pix": [entry]})).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("applied")));
    Paid {
        app,
        db,
        mp,
        pix,
        ars,
        brl,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erased_customer_leaves_no_readable_personal_datum_and_every_chain_verifies() {
    let Paid {
        app,
        db,
        mp: _mp,
        pix: _pix,
        ars,
        brl,
    } = paid_by_mercadopago_and_pix().await;
    let store = db.store();

    // Before: the operator reads the payer; the ledger never held it in clear.
    let before_ars = booking(&app, &ars).await;
    let before_brl = booking(&app, &brl).await;
    assert_eq!(before_ars["status"], "paid", "{before_ars}");
    assert_eq!(before_brl["status"], "paid", "{before_brl}");
    assert_eq!(before_ars["payer"]["email"], EMAIL, "{before_ars}");
    assert_eq!(before_ars["payer"]["identification"]["number"], DNI);
    assert_eq!(before_brl["payer"]["name"], PIX_NAME, "{before_brl}");
    assert_none_in(
        "the database before the erasure",
        &whole_database(&db).await,
    );
    let stream = ledger_core::StreamId::parse(&format!("booking-{ars}")).unwrap();
    let opened = state(&store, &stream, StatePoint::Latest).await.unwrap();
    assert_eq!(opened.state["requests"][0]["payer"]["email"], EMAIL);

    // Erase: 200 with the count; the same key replays; a new key answers the same record.
    let (status, erased, replayed) = erase(&app, SUB, "erase-1").await;
    assert_eq!(status, 200, "{erased}");
    assert!(!replayed);
    assert_eq!(erased["subject"], SUB);
    assert_eq!(
        erased["events"], 4,
        "two PaymentRequested and two ProviderEventReceived held their data: {erased}"
    );
    let (status, again, replayed) = erase(&app, SUB, "erase-1").await;
    assert_eq!((status, replayed), (200, true));
    assert_eq!(again, erased);
    let (status, later, replayed) = erase(&app, SUB, "erase-2").await;
    assert_eq!((status, replayed), (200, false));
    assert_eq!(later, erased, "nothing left: the last erasure again");
    let (status, unknown, _) = erase(&app, "nobody-we-know", "erase-3").await;
    assert_eq!(
        (status, unknown["code"].as_str()),
        (404, Some("subject_not_found"))
    );
    // Only an admin erases.
    let resp = app
        .post(
            &format!("/v1/admin/subjects/{SUB}/erase"),
            &customer(),
            "erase-4",
            &json!({}),
        )
        .await;
    assert_eq!(resp.status().as_u16(), 403);

    // After: the API shows erased fields, money unchanged.
    let after_ars = booking(&app, &ars).await;
    let after_brl = booking(&app, &brl).await;
    assert_eq!(after_ars["payer"], json!({"erased": true}), "{after_ars}");
    assert_eq!(after_brl["payer"], json!({"erased": true}), "{after_brl}");
    for (before, after) in [(&before_ars, &after_ars), (&before_brl, &after_brl)] {
        for field in ["status", "total", "paid", "payments"] {
            assert_eq!(before[field], after[field], "{field} unchanged");
        }
    }
    // No byte of any value anywhere: tables, API answers, export, state.
    assert_none_in("the database after the erasure", &whole_database(&db).await);
    let mut answers = String::new();
    for (path, tok) in [
        (format!("/v1/bookings/{ars}"), customer()),
        (format!("/v1/bookings/{brl}"), token("op-1", &["operator"])),
        ("/v1/events?limit=1000".to_owned(), auditor()),
        (format!("/v1/streams/booking-{ars}/events"), auditor()),
    ] {
        answers.push_str(&get_text(&app, &path, &tok).await);
    }
    assert_none_in("the API's answers", &answers);
    let feed: Value =
        serde_json::from_str(&get_text(&app, "/v1/events?limit=1000", &auditor()).await).unwrap();
    let marked: Vec<&str> = feed["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["erased"] == true)
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        marked.len(),
        4,
        "the events that held the data say so: {marked:?}"
    );
    let erasure: Vec<&Value> = feed["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event_type"] == "SubjectErased")
        .collect();
    assert_eq!(
        erasure.len(),
        1,
        "one audited erasure (the others had nothing left)"
    );
    assert_eq!(erasure[0]["payload"]["subject"], SUB);

    // The live feed (SSE) says the same, message by message.
    let total = feed["events"].as_array().unwrap().len();
    let mut live = app.get("/v1/events/live", Some(&auditor())).await;
    let (mut text, mut messages) = (String::new(), 0);
    while messages < total {
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(10), live.chunk())
            .await
            .expect("in time")
            .unwrap()
            .expect("open");
        text.push_str(&String::from_utf8_lossy(&chunk));
        messages = text.matches("event: ledger\n").count();
    }
    drop(live);
    assert_none_in("the live feed", &text);
    assert_eq!(text.matches("\"erased\":true").count(), 4);

    let exported = export_text(&store).await;
    assert_none_in("the export", &exported);
    assert_eq!(exported.matches("\"erased\":true").count(), 4);
    let folded = state(&store, &stream, StatePoint::Latest).await.unwrap();
    assert_eq!(
        folded.state["requests"][0]["payer"],
        json!({"erased": true})
    );
    verified_clean(&store).await;

    // An import of the export keeps it erased: keys never travel.
    let target = fresh_db().await;
    let path = std::env::temp_dir().join(format!("ledger-privacy-{}.jsonl", std::process::id()));
    std::fs::write(&path, &exported).unwrap();
    import(
        &target.store(),
        &path,
        &Output::new(true, false).bar(0, "import"),
    )
    .await
    .expect("import");
    std::fs::remove_file(&path).ok();
    verified_clean(&target.store()).await;
    assert_none_in("the imported database", &whole_database(&target).await);
    let imported = state(&target.store(), &stream, StatePoint::Latest)
        .await
        .unwrap();
    assert_eq!(
        imported.state["requests"][0]["payer"],
        json!({"erased": true})
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_altered_ciphertext_reads_as_unreadable_and_the_chain_names_it() {
    let Paid {
        app,
        db,
        mp: _mp,
        pix: _pix,
        ars,
        ..
    } = paid_by_mercadopago_and_pix().await;
    assert_eq!(booking(&app, &ars).await["payer"]["email"], EMAIL);
    let client = db.client().await;
    // Flip one character of the sealed payer in the booking's read model row.
    let tables: Vec<String> = client
        .query(
            "SELECT tablename FROM pg_tables WHERE tablename LIKE 'rm_booking_status_g%' AND tablename NOT LIKE '%_entries'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    for table in &tables {
        client
            .execute(
                &format!(
                    "UPDATE {table} SET state = jsonb_set(state, '{{requests,0,payer,sealed,ct}}',
                       to_jsonb(translate(state #>> '{{requests,0,payer,sealed,ct}}', 'ABCDEFGHabcdefgh', 'BCDEFGHAbcdefgha')))
                     WHERE stream_id = $1"
                ),
                &[&format!("booking-{ars}")],
            )
            .await
            .unwrap();
    }
    let shown = booking(&app, &ars).await;
    assert_eq!(shown["payer"], json!({"unreadable": true}), "{shown}");
    assert_eq!(shown["status"], "paid");

    // The same alteration in the ledger itself (past its append-only trigger): verify
    // names the event.
    client
        .batch_execute("SET session_replication_role = replica")
        .await
        .unwrap();
    client
        .execute(
            "UPDATE events SET payload = jsonb_set(payload, '{payer,sealed,ct}',
               to_jsonb(translate(payload #>> '{payer,sealed,ct}', 'ABCDEFGHabcdefgh', 'BCDEFGHAbcdefgha')))
             WHERE stream_id = $1 AND event_type = 'PaymentRequested'",
            &[&format!("booking-{ars}")],
        )
        .await
        .unwrap();
    let report = verify(&db.store(), &Output::new(true, false).bar(0, "verify"))
        .await
        .expect("verify runs");
    let breach = report.breach.expect("an altered event is a breach");
    assert_eq!(
        breach.stream_id.as_deref(),
        Some(format!("booking-{ars}").as_str()),
        "{breach:?}"
    );
    app.stop().await;
}

/// `ledger-replay verify` checks invariant 13 itself: with the key-encryption keys, a key
/// row that no longer opens its data is a breach even though every chain holds; without
/// them it cannot tell and says nothing; and a payment provider's payload written in clear
/// by this version is a breach.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_names_personal_data_that_does_not_open_or_is_in_clear() {
    let Paid {
        app,
        db,
        mp: _mp,
        pix: _pix,
        ..
    } = paid_by_mercadopago_and_pix().await;
    let with_keys = db
        .store()
        .with_data_keys(ledger_store::personal::Kek::ephemeral());
    verified_clean(&with_keys).await;
    let client = db.client().await;
    client
        .execute(
            "UPDATE subject_keys SET wrapped = set_byte(wrapped, 20, get_byte(wrapped, 20) # 1)
              WHERE subject = $1",
            &[&SUB],
        )
        .await
        .unwrap();
    let report = verify(&with_keys, &Output::new(true, false).bar(0, "verify"))
        .await
        .unwrap();
    let breach = report.breach.expect("a key that does not open is a breach");
    assert_eq!(breach.invariant.number(), 13, "{breach:?}");
    // An auditor without the keys sees the chains whole and cannot open anything anyway.
    verified_clean(&db.store()).await;

    // A provider payload in clear, written as version 2: a breach whatever the keys.
    let fresh = fresh_db().await;
    let stream = ledger_core::provider_log::log_stream("stripe", "evt_clear").unwrap();
    let payload = json!({"provider": "stripe", "event_id": "evt_clear", "event_type": "charge.succeeded",
                         "source": "webhook", "outcome": "ignored",
                         "payload": {"billing_details": {"email": EMAIL}}});
    fresh
        .store()
        .append(ledger_store::AppendBatch {
            streams: vec![ledger_store::StreamAppend::new(
                stream,
                vec![ledger_store::NewEvent {
                    event_id: ledger_core::EventId::from_uuid(uuid::Uuid::now_v7()).unwrap(),
                    event_type: "ProviderEventReceived".into(),
                    schema_version: 2,
                    payload,
                    metadata: json!({}),
                }],
            )],
            ..Default::default()
        })
        .await
        .unwrap();
    let report = verify(&fresh.store(), &Output::new(true, false).bar(0, "verify"))
        .await
        .unwrap();
    let breach = report.breach.expect("a clear payload is a breach");
    assert_eq!(breach.invariant.number(), 13);
    assert!(breach.detail.contains("in clear"), "{breach:?}");
    app.stop().await;
}

/// A delivery the ledger does not use is sealed too: under its booking's customer when the
/// payload names one (a Stripe charge carries the intent's metadata), else under a key of
/// its own, erasable as `payer:<provider>:<event id>`.
#[tokio::test]
async fn unused_deliveries_are_sealed_under_their_customer_or_a_key_of_their_own() {
    use crate::webhook_support::{held_booking, post_stripe, provider_log, stripe_event};
    let app = ledger_tests::app::spawn_app(fresh_db().await.store()).await;
    let id = held_booking(&app, "u1", 5).await; // placed by cust-1
    let charge = json!({"id": "ch_1", "object": "charge", "metadata": {"booking_id": id},
                        "billing_details": {"email": EMAIL, "name": PIX_NAME}});
    let (status, body) =
        post_stripe(&app, &stripe_event("evt_named", "charge.succeeded", charge)).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ignored")));
    let stray = json!({"id": "ch_2", "object": "charge", "billing_details": {"email": EMAIL}});
    post_stripe(&app, &stripe_event("evt_stray", "charge.succeeded", stray)).await;
    let log = provider_log(&app, "stripe").await;
    assert_eq!(log.len(), 2);
    for e in &log {
        assert!(
            ledger_core::personal::Sealed::of(&e.payload["payload"]).is_some(),
            "{}",
            e.payload
        );
        assert_none_in("a provider log event", &e.payload.to_string());
    }
    // The stray one is its own subject; the named one is the customer's.
    let (status, erased, _) = erase(&app, "payer:stripe:evt_stray", "e-stray").await;
    assert_eq!(
        (status, erased["events"].as_i64()),
        (200, Some(1)),
        "{erased}"
    );
    let (status, erased, _) = erase(&app, "cust-1", "e-cust").await;
    assert_eq!(
        (status, erased["events"].as_i64()),
        (200, Some(1)),
        "{erased}"
    );
    app.stop().await;
}
