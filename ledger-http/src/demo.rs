//! `--demo` (development only): dev signing keys under the data folder, a demo activity
//! with slots and a coupon, and printed tokens plus a `curl` line that books a seat. Tokens
//! go to stdout for the developer, never to the logs.

use std::net::SocketAddr;
use std::path::Path;

use chrono::{DateTime, Days, NaiveTime, TimeZone, Utc};
use ledger_core::domain::{
    ChangeSlot, CouponCode, CouponSpec, Cutoff, Decide, Discount, IssueCoupon, Rejection,
    SlotChange, SlotSpec,
};
use ledger_core::{ActivityId, Currency, Money, SlotId};
use ledger_store::{Command, Executed};
use serde_json::json;

use crate::auth::dev::DevKeys;
use crate::auth::{AuthSettings, JwksSource};
use crate::startup::AppState;

pub const DEMO_ISSUER: &str = "ledger-demo";
pub const DEMO_AUDIENCE: &str = "ledger";
/// Demo tokens last a working day.
const DEMO_TOKEN_TTL_SECS: i64 = 12 * 3600;
pub const DEMO_ACTIVITY: &str = "glaciar-trek";
pub const DEMO_COUPON: &str = "VERANO10";

/// Dev keys (created once under `data_dir`) and the auth settings that trust them.
pub fn dev_auth(data_dir: &Path) -> anyhow::Result<(AuthSettings, DevKeys)> {
    std::fs::create_dir_all(data_dir)?;
    let keys = DevKeys::load_or_create(data_dir)?;
    let settings = AuthSettings {
        issuer: DEMO_ISSUER.into(),
        audience: DEMO_AUDIENCE.into(),
        jwks: JwksSource::File(keys.jwks_path().to_path_buf()),
    };
    Ok((settings, keys))
}

/// Slot `slot_id` starting `days` days from today at `hour`:00 in the default zone.
fn demo_slot(state: &AppState, days: u64, hour: u32) -> anyhow::Result<SlotSpec> {
    let tz = state.default_time_zone;
    let today = state.clock.now().with_timezone(&tz).date_naive();
    let day = today
        .checked_add_days(Days::new(days))
        .ok_or_else(|| anyhow::anyhow!("date out of range"))?;
    let local = day
        .and_time(NaiveTime::from_hms_opt(hour, 0, 0).ok_or_else(|| anyhow::anyhow!("bad hour"))?);
    let starts_at = tz
        .from_local_datetime(&local)
        .earliest()
        .ok_or_else(|| anyhow::anyhow!("no such local time"))?;
    Ok(SlotSpec {
        activity_id: ActivityId::parse(DEMO_ACTIVITY)?,
        starts_at: starts_at.to_utc(),
        capacity: 20,
        price: Money::new(4_500_000, Currency::parse("ARS")?)?,
        time_zone: tz,
        cutoff: Cutoff::DayBeforeAt {
            local_time: NaiveTime::from_hms_opt(18, 0, 0)
                .ok_or_else(|| anyhow::anyhow!("bad time"))?,
        },
    })
}

/// Runs one seeding command; a refusal stops the demo.
async fn seed_with<D>(state: &AppState, decision: D) -> anyhow::Result<()>
where
    D: Decide<Output = Result<(), Rejection>> + Send + 'static,
{
    let command = Command {
        decision,
        key: None,
        metadata: json!({"source": "demo"}),
        render: None,
    };
    match state.store.execute(command).await? {
        Executed::Decided {
            output: Err(rejection),
            ..
        } => Err(anyhow::anyhow!("{rejection}")),
        _ => Ok(()),
    }
}

/// The demo activity: two morning slots three and four days out, and a 10 % coupon.
/// Re-running moves the slots along with the calendar.
pub async fn seed(state: &AppState) -> anyhow::Result<()> {
    for (id, days) in [("glaciar-0900", 3), ("glaciar-0900-b", 4)] {
        let change = ChangeSlot {
            slot_id: SlotId::parse(id)?,
            change: SlotChange::Schedule(demo_slot(state, days, 9)?),
        };
        seed_with(state, change).await?;
    }
    let code = CouponCode::parse(DEMO_COUPON).map_err(|r| anyhow::anyhow!("{r}"))?;
    let spec = CouponSpec {
        code: code.clone(),
        discount: Discount::PercentOff(10),
        max_claims: 100,
        per_customer_limit: 2,
        valid_from: Utc
            .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
            .single()
            .ok_or_else(|| anyhow::anyhow!("date"))?,
        valid_until: Utc
            .with_ymd_and_hms(2100, 1, 1, 0, 0, 0)
            .single()
            .ok_or_else(|| anyhow::anyhow!("date"))?,
    };
    let command = Command {
        decision: IssueCoupon { spec },
        key: None,
        metadata: json!({"source": "demo"}),
        render: None,
    };
    if let Executed::Decided {
        output: Err(rejection),
        ..
    } = state.store.execute(command).await?
    {
        return Err(anyhow::anyhow!("{rejection}"));
    }
    Ok(())
}

/// Prints tokens and a first booking command to stdout.
pub fn print_welcome(keys: &DevKeys, addr: SocketAddr, now: DateTime<Utc>) {
    let token = |sub: &str, role: &str| {
        keys.token(
            DEMO_ISSUER,
            DEMO_AUDIENCE,
            sub,
            &[role],
            DEMO_TOKEN_TTL_SECS,
            now.timestamp(),
        )
    };
    println!(
        "\nledger-http demo on http://{addr}  (tokens valid 12 h; docs at http://{addr}/docs)\n"
    );
    println!(
        "export CUSTOMER_TOKEN='{}'",
        token("demo-customer", "customer")
    );
    println!(
        "export OPERATOR_TOKEN='{}'",
        token("demo-operator", "operator")
    );
    println!(
        "export AUDITOR_TOKEN='{}'",
        token("demo-auditor", "auditor")
    );
    println!("export ADMIN_TOKEN='{}'", token("demo-admin", "admin"));
    // Every role at once: for trying the whole API from /docs, or fuzzing it.
    let every = keys.token(
        DEMO_ISSUER,
        DEMO_AUDIENCE,
        "demo-developer",
        &["customer", "operator", "auditor", "admin"],
        DEMO_TOKEN_TTL_SECS,
        now.timestamp(),
    );
    println!("export DEV_TOKEN='{every}'   # every role, for /docs\n");
    println!("# book two seats on the demo slot, with the demo coupon:");
    println!(
        "curl -s -X POST http://{addr}/v1/bookings -H \"Authorization: Bearer $CUSTOMER_TOKEN\" \
         -H 'Content-Type: application/json' -H \"Idempotency-Key: $(date +%s%N)\" \
         -d '{{\"items\":[{{\"slot_id\":\"glaciar-0900\",\"seats\":2}}],\"coupon_code\":\"{DEMO_COUPON}\"}}'"
    );
    println!("curl -s http://{addr}/v1/slots/glaciar-0900/availability\n");
}
