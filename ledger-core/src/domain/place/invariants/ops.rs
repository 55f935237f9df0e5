//! The random commands of the property test in `invariants.rs` and their strategies.

use proptest::prelude::*;

use crate::domain::payment::ReportedStatus;

/// Slot ids; the last one is never scheduled.
pub(super) const SLOTS: [&str; 4] = ["s0", "s1", "s2", "never"];
/// Customers (`sub`s) placing and cancelling bookings.
pub(super) const CUSTOMERS: [&str; 3] = ["ana", "bea", "caro"];

/// One step of a random sequence; indices pick slots, customers and earlier bookings.
#[derive(Debug, Clone)]
pub(super) enum Op {
    Schedule {
        slot: usize,
        capacity: u32,
        price: usize,
        cutoff_minutes: u32,
    },
    Block {
        slot: usize,
        block: bool,
    },
    Place {
        items: Vec<(usize, u32)>,
        customer: usize,
        coupon: bool,
        ttl_minutes: i64,
    },
    Cancel {
        booking: usize,
        customer: usize,
        operator: bool,
    },
    Expire {
        booking: usize,
    },
    Pay {
        booking: usize,
        provider: usize,
        payment: usize,
        status: ReportedStatus,
        amount: Amount,
        reconciled: bool,
    },
    Advance {
        minutes: i64,
    },
}

pub(super) fn schedule(slots: usize) -> impl Strategy<Value = Op> {
    (
        0..slots,
        0u32..=6,
        0usize..4,
        prop::sample::select(vec![0u32, 60, 1440, 2880]),
    )
        .prop_map(|(slot, capacity, price, cutoff_minutes)| Op::Schedule {
            slot,
            capacity,
            price,
            cutoff_minutes,
        })
}

pub(super) fn op(slots: usize) -> impl Strategy<Value = Op> {
    let slot = move || 0..slots;
    prop_oneof![
        3 => schedule(slots),
        1 => (slot(), any::<bool>()).prop_map(|(slot, block)| Op::Block { slot, block }),
        6 => (
            items(slots),
            0usize..CUSTOMERS.len(),
            any::<bool>(),
            prop_oneof![Just(15i64), Just(0), Just(-1), 1i64..=120],
        )
            .prop_map(|(items, customer, coupon, ttl_minutes)| Op::Place { items, customer, coupon, ttl_minutes }),
        2 => (0usize..16, 0usize..CUSTOMERS.len(), any::<bool>())
            .prop_map(|(booking, customer, operator)| Op::Cancel { booking, customer, operator }),
        1 => (0usize..16).prop_map(|booking| Op::Expire { booking }),
        8 => pay(),
        2 => (0i64..=240).prop_map(|minutes| Op::Advance { minutes }),
    ]
}

/// How much a payment report says, relative to the booking's total.
#[derive(Debug, Clone, Copy)]
pub(super) enum Amount {
    /// The whole total.
    Total,
    /// Half of it, rounded down.
    Half,
    /// The other half (`Half` + `Rest` = `Total`).
    Rest,
    /// One minor unit more than the total.
    Over,
    /// Nothing.
    Zero,
    /// The total's figure in another currency.
    Foreign,
    /// An arbitrary small amount.
    Minor(i64),
}

/// A payment report: mostly Mercado Pago, one of two payment ids per provider (so reports
/// often meet the same payment again), any status (approvals and refunds weighted up), an
/// amount relative to the total.
fn pay() -> impl Strategy<Value = Op> {
    let status = prop_oneof![
        4 => Just(ReportedStatus::Approved),
        1 => Just(ReportedStatus::Pending),
        1 => Just(ReportedStatus::AttemptFailed),
        1 => Just(ReportedStatus::Rejected),
        1 => Just(ReportedStatus::Cancelled),
        2 => Just(ReportedStatus::Refunded),
        1 => Just(ReportedStatus::ChargedBack),
    ];
    let amount = prop_oneof![
        4 => Just(Amount::Total),
        2 => Just(Amount::Half),
        2 => Just(Amount::Rest),
        1 => Just(Amount::Over),
        1 => Just(Amount::Zero),
        1 => Just(Amount::Foreign),
        1 => (0i64..=10_000).prop_map(Amount::Minor),
    ];
    (
        0usize..16,
        0usize..3,
        0usize..3,
        status,
        amount,
        any::<bool>(),
    )
        .prop_map(
            |(booking, provider, payment, status, amount, reconciled)| Op::Pay {
                booking,
                provider,
                payment,
                status,
                amount,
                reconciled,
            },
        )
}

/// Booking items: mostly valid (1..=3 distinct slots, 1..=4 seats each), sometimes empty,
/// with a zero seat count, a slot twice, or the slot that never exists.
fn items(slots: usize) -> impl Strategy<Value = Vec<(usize, u32)>> {
    let item = move || {
        let slot = prop_oneof![19 => 0..slots, 1 => Just(SLOTS.len() - 1)];
        let seats = prop_oneof![19 => 1u32..=4, 1 => Just(0u32)];
        (slot, seats)
    };
    let count = prop_oneof![1 => Just(0usize), 19 => 1..=3usize];
    let list = count.prop_flat_map(move |count| prop::collection::vec(item(), count));
    (list, 0u8..10).prop_map(|(mut items, dice)| {
        if dice > 0 {
            let mut seen = std::collections::BTreeSet::new();
            items.retain(|(slot, _)| seen.insert(*slot));
        }
        items
    })
}
