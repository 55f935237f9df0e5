//! `ledger-replay export`: events as JSON lines, one `RecordedEvent` per line in its serde
//! form (the export format of API.md "Auditor"), with a `dedup` member `{scope, key}` on an
//! event that carries a dedup key ([`ExportedEvent`]). The whole ledger or one category in
//! the gap-free feed order, after an optional cursor; or one stream in version order.
//! Streamed page by page, so memory stays bounded whatever the ledger's size.

use std::io::Write;
use std::time::{Duration, Instant};

use indicatif::ProgressBar;
use ledger_core::{Category, StreamId};
use ledger_store::export::ExportedEvent;
use ledger_store::{Cursor, FeedEvent, Store};

use crate::output::json_line;
use crate::ReplayError;

/// Events read per page: the auditor API's page size; bounds the memory of an export.
pub const EXPORT_PAGE_EVENTS: i64 = 1_000;

/// Longest wait for transactions that were open when a feed export began. The feed shows
/// an event only once every older transaction has ended; the ledger's own sessions end an
/// idle transaction after 15 s, so a longer wait means something else holds the feed back.
pub const MAX_FEED_WAIT: Duration = Duration::from_secs(60);
/// How often the feed is looked at again while waiting: a commit shows within this, and
/// ten small queries a second cost the server nothing.
const FEED_POLL: Duration = Duration::from_millis(100);

/// Characters of a hash shown in the terminal table (the JSON form has all 64).
const TABLE_HASH_CHARS: usize = 16;

/// What to export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Every event, in feed order.
    All,
    /// The events of one category's streams, in feed order.
    Category(Category),
    /// One stream, in version order.
    Stream(StreamId),
}

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportSummary {
    /// Events written.
    pub events: u64,
    /// For feed exports: the cursor to pass as `--after` to continue from here.
    pub next: Option<Cursor>,
}

/// The form of each written event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per line: the export format.
    JsonLines,
    /// A table for a person at a terminal.
    Table,
}

/// Writes the selected events after `after` (feed exports only) to `out`.
pub async fn export(
    store: &Store,
    selection: &Selection,
    after: Cursor,
    format: Format,
    out: &mut dyn Write,
    bar: &ProgressBar,
) -> Result<ExportSummary, ReplayError> {
    if format == Format::Table {
        writeln!(
            out,
            "{:>10}  {:<40}  {:>7}  {:<26}  {:<27}  hash",
            "position", "stream", "version", "event type", "recorded at"
        )
        .map_err(write_failed)?;
    }
    let summary = match selection {
        Selection::Stream(stream_id) => export_stream(store, stream_id, format, out, bar).await?,
        Selection::All => export_feed(store, None, after, format, out, bar).await?,
        Selection::Category(c) => export_feed(store, Some(*c), after, format, out, bar).await?,
    };
    out.flush().map_err(write_failed)?;
    Ok(summary)
}

fn write_failed(e: std::io::Error) -> ReplayError {
    ReplayError::io("writing the export")(e)
}

fn write_event(
    out: &mut dyn Write,
    feed: &FeedEvent,
    erased: bool,
    format: Format,
) -> std::io::Result<()> {
    let event = &feed.event;
    match format {
        Format::JsonLines => json_line(
            out,
            &ExportedEvent {
                erased,
                ..ExportedEvent::from_feed(feed)
            },
        ),
        Format::Table => {
            let hash = event.hash.to_hex();
            writeln!(
                out,
                "{:>10}  {:<40}  {:>7}  {:<26}  {:<27}  {}",
                event.global_position,
                event.stream_id.as_str(),
                event.stream_version,
                event.event_type,
                ledger_core::format_recorded_at(&event.recorded_at),
                hash.get(..TABLE_HASH_CHARS).unwrap_or(&hash),
            )
        }
    }
}

async fn export_stream(
    store: &Store,
    stream_id: &StreamId,
    format: Format,
    out: &mut dyn Write,
    bar: &ProgressBar,
) -> Result<ExportSummary, ReplayError> {
    let head = store
        .stream_head(stream_id)
        .await?
        .ok_or_else(|| ReplayError::StreamNotFound(stream_id.to_string()))?;
    bar.set_length(u64::try_from(head.version).unwrap_or_default());
    let (mut from, mut written) = (1, 0);
    loop {
        let page = store
            .read_stream_feed(stream_id, from, EXPORT_PAGE_EVENTS)
            .await?;
        let erased = store
            .erased_payloads(page.iter().map(|e| &e.event.payload))
            .await?;
        for (event, erased) in page.iter().zip(erased) {
            write_event(out, event, erased, format).map_err(write_failed)?;
            written += 1;
            bar.inc(1);
        }
        match page.last() {
            Some(last) if page.len() as i64 == EXPORT_PAGE_EVENTS => {
                from = last.event.stream_version + 1;
            }
            _ => break,
        }
    }
    Ok(ExportSummary {
        events: written,
        next: None,
    })
}

async fn export_feed(
    store: &Store,
    category: Option<Category>,
    after: Cursor,
    format: Format,
    out: &mut dyn Write,
    bar: &ProgressBar,
) -> Result<ExportSummary, ReplayError> {
    bar.set_length(u64::try_from(store.count_events().await?).unwrap_or_default());
    // Everything committed or in flight now is below `target`: the export ends once the
    // feed has shown all of it, so an event of a transaction still open is waited for,
    // never left out.
    let target = store.feed_bounds().await?.next;
    let deadline = Instant::now() + MAX_FEED_WAIT;
    let (mut cursor, mut written) = (after, 0);
    loop {
        // Taken before the page: if every transaction below `target` had ended by then,
        // the page sees all their events.
        let horizon = store.feed_bounds().await?.horizon;
        let page = store.read_all(cursor, EXPORT_PAGE_EVENTS).await?;
        let erased = store
            .erased_payloads(page.events.iter().map(|e| &e.event.payload))
            .await?;
        for (feed, erased) in page.events.iter().zip(erased) {
            bar.inc(1);
            if category.is_some_and(|c| feed.event.stream_id.category() != c) {
                continue;
            }
            write_event(out, feed, erased, format).map_err(write_failed)?;
            written += 1;
        }
        cursor = page.next;
        if page.events.len() as i64 == EXPORT_PAGE_EVENTS {
            continue;
        }
        if horizon >= target {
            break;
        }
        if Instant::now() >= deadline {
            return Err(ReplayError::FeedHeldBack {
                secs: MAX_FEED_WAIT.as_secs(),
            });
        }
        tokio::time::sleep(FEED_POLL).await;
    }
    Ok(ExportSummary {
        events: written,
        next: Some(cursor),
    })
}
