//! `hang`: the database stops answering without closing anything — a TCP proxy between
//! the service and PostgreSQL stops forwarding for longer than the service's deadline —
//! under booking and webhook load, then forwards again. Every answer must come within the
//! service's bound (pool wait + lock wait + statement timeout, with a second of slack),
//! those during the hang a 503 problem document; after it the service serves again on its
//! own (nothing stuck), and the mixed load's checks hold (nothing lost or doubled).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ledger_store::embedded::Durability;
use ledger_store::StoreSettings;

use super::mixed::{check_mixed, Mixed, Shape, Watcher};
use super::{answer, book_until_acked, secs, tally, Answer, FaultReport};
use crate::harness::{Api, Bench, Service, ServiceOptions, DB};
use crate::proxy::CountingProxy;

const SLOTS: usize = 10;
/// Load before the hang and after it.
const BEFORE: Duration = Duration::from_secs(5);
const AFTER: Duration = Duration::from_secs(10);
/// The service must serve a 201 again within this long after the proxy resumes.
const RECOVERY_LIMIT: Duration = Duration::from_secs(20);
const SLACK: Duration = Duration::from_secs(1);

/// (sent, answered, answer) of every booking attempt.
type Log = Arc<Mutex<Vec<(Instant, Instant, Answer)>>>;

pub async fn hang() -> anyhow::Result<FaultReport> {
    let bound = StoreSettings::default().request_deadline();
    // Longer than the bound: requests that arrive early in the hang reach their deadline.
    let hang_for = bound + Duration::from_secs(5);
    println!(
        "\n## hang: the database stops answering for {} s under load (the service's bound: {} s)\n",
        hang_for.as_secs(),
        bound.as_secs()
    );
    let bench = Bench::start("hang", Durability::Durable).await?;
    let proxy = CountingProxy::start(&bench.pg_config(DB)).await;
    let url = format!(
        "host=127.0.0.1 port={} user={} dbname={DB}",
        proxy.port(),
        bench.user()
    );
    let service = Service::start(
        &bench,
        &ServiceOptions {
            database_url: Some(url),
            ..ServiceOptions::default()
        },
    )
    .await?;
    let api = Api::new(service.base_url())?;
    let operator = bench.operator_token("fault");
    let slots = Arc::new(api.put_slots(&operator, "hang", SLOTS, 60).await?);
    // The load's slots can all be sold out before the hang ends (a fast machine sells them
    // out before it even starts), so that no 201 of the load could follow it: a booking on
    // a slot kept free, sent as the proxy resumes, shows the service serving again.
    let probe_slot = api
        .put_slots(&operator, "hang-after", 1, 10)
        .await?
        .remove(0);
    let tokens = Arc::new(bench.customer_tokens("fault-hang", 8));
    let log: Log = Arc::default();
    let watch: Watcher = {
        let log = log.clone();
        Arc::new(move |a: &Answer, sent: Instant, at: Instant| {
            log.lock().unwrap().push((sent, at, a.clone()))
        })
    };
    let shape = Shape {
        label: "hang",
        clients: 8,
        payers: 2,
        per_slot: 80,
        pace: Duration::from_millis(20),
        give_up: bound * 4,
    };
    let load = Mixed::start(&api, slots.clone(), tokens.clone(), shape, watch);
    tokio::time::sleep(BEFORE).await;
    proxy.pause();
    let paused_at = Instant::now();
    println!(
        "the proxy stopped forwarding after {} s of load",
        BEFORE.as_secs()
    );
    // A readiness probe during the hang: 503 within the bound too.
    let probe_api = api.clone();
    let ready_during = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let sent = Instant::now();
        let a = answer(probe_api.http.get(probe_api.url("/health/ready"))).await;
        (a, sent.elapsed())
    });
    // And a read sent one second into the hang, so a request is surely sent during it
    // (the load's clients may all be waiting on requests sent before the pause): its 503
    // must come within the bound, before the hang ends.
    let probe_api = api.clone();
    let probe_token = operator.clone();
    let read_during = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let sent = Instant::now();
        let path = format!("/v1/bookings/{}", uuid::Uuid::now_v7());
        let a = answer(
            probe_api
                .http
                .get(probe_api.url(&path))
                .bearer_auth(&probe_token),
        )
        .await;
        (sent, Instant::now(), a)
    });
    tokio::time::sleep(hang_for).await;
    proxy.resume();
    let resumed_at = Instant::now();
    println!(
        "the proxy forwards again after {}",
        secs(resumed_at - paused_at)
    );
    let probe = {
        let (api, token, slot, log) = (
            api.clone(),
            tokens[0].clone(),
            probe_slot.clone(),
            log.clone(),
        );
        tokio::spawn(async move {
            let mut see = |a: &Answer, sent: Instant, at: Instant| {
                log.lock().unwrap().push((sent, at, a.clone()))
            };
            book_until_acked(
                &api,
                &token,
                0,
                "hang-probe",
                &slot,
                RECOVERY_LIMIT,
                &mut see,
            )
            .await
        })
    };
    tokio::time::sleep(AFTER).await;
    let (ready, ready_took) = ready_during.await?;
    let (mut acked, paid) = load.finish().await?;
    // Its answer counts like the load's: checked to exist once, on its slot.
    acked.push(probe.await?.map_err(|e| {
        super::check_failed(format!("no booking was acknowledged after the hang: {e:#}"))
    })?);
    let mut checked_slots = slots.to_vec();
    checked_slots.push(probe_slot);

    let mut log = log.lock().unwrap().clone();
    log.push(read_during.await?);
    let slowest = log
        .iter()
        .map(|(sent, at, _)| *at - *sent)
        .max()
        .unwrap_or_default();
    let during: Vec<&Answer> = log
        .iter()
        .filter(|(sent, at, _)| *sent > paused_at && *at <= resumed_at)
        .map(|(_, _, a)| a)
        .collect();
    let recovered = log
        .iter()
        .filter(|(sent, _, a)| *sent >= resumed_at && a.label == "201")
        .map(|(_, at, _)| *at - resumed_at)
        .min();
    println!(
        "answers during the hang: {}; slowest answer {}; readiness during it {} in {}",
        tally(during.iter().map(|a| a.label.as_str())),
        secs(slowest),
        ready.label,
        secs(ready_took)
    );
    check!(
        slowest <= bound + SLACK,
        "an answer took {} (bound {} + {} slack)",
        secs(slowest),
        secs(bound),
        secs(SLACK)
    );
    check!(
        !during.is_empty(),
        "no request was answered during the hang"
    );
    let not_503: Vec<&&Answer> = during
        .iter()
        .filter(|a| {
            a.label != "503 unavailable" || !a.content_type.starts_with("application/problem+json")
        })
        .collect();
    check!(
        not_503.is_empty(),
        "{} answers during the hang were not 503 problem documents: {}",
        not_503.len(),
        tally(not_503.iter().map(|a| a.label.as_str()))
    );
    check!(
        ready.label.starts_with("503") && ready_took <= bound + SLACK,
        "/health/ready during the hang answered {} in {}",
        ready.label,
        secs(ready_took)
    );
    let recovered = recovered.ok_or_else(|| super::check_failed("no 201 after the hang"))?;
    check!(
        recovered <= RECOVERY_LIMIT,
        "the first 201 after the hang came {} after it",
        secs(recovered)
    );
    let (status, _) = api.get(None, "/health/ready").await?;
    check!(
        status == 200,
        "/health/ready answers {status} after the hang"
    );
    let checked = check_mixed(
        &api,
        &bench,
        &operator,
        &tokens,
        &checked_slots,
        &acked,
        &paid,
    )
    .await?;
    drop(service);
    Ok(FaultReport::passed(
        "hang",
        format!(
            "proxy between service and PostgreSQL stops forwarding for {} s under 8 booking clients + 2 payers",
            hang_for.as_secs()
        ),
        format!(
            "every answer within {} s + 1 s; 503 problem+json during the hang; serving again after; nothing lost or doubled; verify",
            bound.as_secs()
        ),
        format!(
            "answered during the hang: {} (all 503; the rest were in flight across it); slowest {}; first 201 {} after; {} bookings, {} sold_out, payments {}",
            during.len(),
            secs(slowest),
            secs(recovered),
            checked.created,
            checked.sold_out,
            checked.paid_statuses
        ),
    ))
}
