//! The command cycle, the one way a command changes the ledger: lock and load → decide →
//! append → store the outcome → commit, generic over a decision of ledger-core
//! ([`Decide`]).
//!
//! [`Store::execute`] queues the command on one of the process's writers
//! (`writer.rs`): commands that queue for the same stream go through the same writer,
//! which takes whatever is queued (up to a bound) as one batch and runs it (`batch.rs`) in
//! one transaction: one round trip locks every stream of the batch (sorted) and reads the
//! keys, heads, snapshots and index rows the decisions need (`load.rs`); the decisions run
//! one after another on the states the previous ones left; one more round trip appends
//! every command's events, heads, index rows and outcomes and commits (`commit.rs`). Each
//! command keeps its own events, hash links and stored outcome, and is answered only after
//! the commit.

mod batch;
mod load;
mod writer;

use chrono::{DateTime, Utc};
use ledger_core::domain::{Decide, Needs, World};
use ledger_core::RequestFingerprint;
use serde_json::Value;
use tokio::sync::oneshot;

pub(crate) use writer::Writers;

use crate::append::MAX_STREAMS_PER_LOCK;
use crate::outcome::{DedupKey, StoredOutcome};
use crate::{Cursor, Store, StoreError};

/// The key a command is applied under at most once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandKey {
    pub dedup: DedupKey,
    /// A client's idempotency key: the request's fingerprint, stored with the outcome (a
    /// retry with another request is refused by the caller). `None` for a provider's event
    /// id, which stores no outcome.
    pub fingerprint: Option<RequestFingerprint>,
}

/// A command's answer as stored with a client key (status and body).
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    /// Put the cursor of the command's commit into the body as `cursor` (when it appended
    /// anything).
    pub with_cursor: bool,
}

/// Renders the reply of a command from its output and the states after it, at `now`.
pub type Render<O> = Box<dyn Fn(&O, &World, DateTime<Utc>) -> Reply + Send + Sync>;

/// A command for [`Store::execute`].
pub struct Command<D: Decide> {
    pub decision: D,
    pub key: Option<CommandKey>,
    /// Metadata of every event the command appends (who or what asked; no personal data).
    pub metadata: Value,
    /// How the reply stored under a client key is made; required with one.
    pub render: Option<Render<D::Output>>,
}

/// What became of a command.
#[derive(Debug)]
pub enum Executed<O> {
    /// Decided and committed now. `reply` (with a client key) carries the cursor when asked.
    Decided {
        output: O,
        reply: Option<Reply>,
        /// The cursor of the commit's last event, when the command appended any.
        cursor: Option<Cursor>,
    },
    /// A client key already used: its stored outcome (the caller compares fingerprints).
    Replayed(StoredOutcome),
    /// A provider's event id already applied.
    Duplicate,
    /// Events carry the client key but no outcome is stored (an imported ledger): the
    /// command ran once, is not run again, and its answer is gone.
    KeyUsedWithoutOutcome,
}

/// What a batch says about one command, before the typed output is attached.
#[derive(Debug)]
pub(crate) enum Finished {
    Decided {
        reply: Option<Reply>,
        cursor: Option<Cursor>,
    },
    Replayed(StoredOutcome),
    Duplicate,
    KeyUsedWithoutOutcome,
}

/// A command with its type erased, as writers queue it.
pub(crate) trait Job: Send {
    fn needs(&self) -> &Needs;
    fn key(&self) -> Option<&CommandKey>;
    fn metadata(&self) -> &Value;
    /// Why the command no longer fits the locked `world`, if it does not ([`Decide::stale`]).
    fn stale(&self, world: &World) -> Option<String>;
    /// Decides on `world` at `now`; returns the facts and keeps the output.
    fn decide(&mut self, world: &World, now: DateTime<Utc>) -> Vec<ledger_core::domain::Fact>;
    /// The reply to store, rendered from the kept output on the states after the facts.
    fn render(&self, world: &World, now: DateTime<Utc>) -> Option<Reply>;
    /// Answers the caller.
    fn finish(self: Box<Self>, result: Result<Finished, StoreError>);
    /// The caller's span (its request), which the batch's span follows from.
    fn span(&self) -> &tracing::Span;
}

struct Typed<D: Decide> {
    command: Command<D>,
    needs: Needs,
    output: Option<D::Output>,
    answer: oneshot::Sender<Result<Executed<D::Output>, StoreError>>,
    span: tracing::Span,
}

impl<D> Job for Typed<D>
where
    D: Decide + Send,
    D::Output: Send,
{
    fn needs(&self) -> &Needs {
        &self.needs
    }

    fn key(&self) -> Option<&CommandKey> {
        self.command.key.as_ref()
    }

    fn metadata(&self) -> &Value {
        &self.command.metadata
    }

    fn stale(&self, world: &World) -> Option<String> {
        self.command.decision.stale(world)
    }

    fn span(&self) -> &tracing::Span {
        &self.span
    }

    fn decide(&mut self, world: &World, now: DateTime<Utc>) -> Vec<ledger_core::domain::Fact> {
        let decided = self.command.decision.decide(world, now);
        self.output = Some(decided.output);
        decided.facts
    }

    fn render(&self, world: &World, now: DateTime<Utc>) -> Option<Reply> {
        let render = self.command.render.as_ref()?;
        let output = self.output.as_ref()?;
        Some(render(output, world, now))
    }

    fn finish(mut self: Box<Self>, result: Result<Finished, StoreError>) {
        let executed = result.and_then(|finished| {
            Ok(match finished {
                Finished::Decided { reply, cursor } => Executed::Decided {
                    output: self.output.take().ok_or_else(|| {
                        StoreError::Database("a command finished without a decision".into())
                    })?,
                    reply,
                    cursor,
                },
                Finished::Replayed(stored) => Executed::Replayed(stored),
                Finished::Duplicate => Executed::Duplicate,
                Finished::KeyUsedWithoutOutcome => Executed::KeyUsedWithoutOutcome,
            })
        });
        // The caller may have gone (a client that hung up): the commit stands either way.
        let _ = self.answer.send(executed);
    }
}

impl Store {
    /// Runs `command` through the cycle, batched with whatever queues on the same writer.
    /// A command is answered only after its batch commits. `Err` means nothing of it was
    /// stored (or, for `Unavailable` from a lost connection at COMMIT, that it may have
    /// been: retry with the same key).
    #[tracing::instrument(level = "debug", name = "command", skip_all,
        fields(command = std::any::type_name::<D>().rsplit("::").next().unwrap_or("")))]
    pub async fn execute<D>(&self, command: Command<D>) -> Result<Executed<D::Output>, StoreError>
    where
        D: Decide + Send + 'static,
        D::Output: Send + 'static,
    {
        if command
            .key
            .as_ref()
            .is_some_and(|k| k.fingerprint.is_some())
            && command.render.is_none()
        {
            return Err(StoreError::InvalidEvent(
                "a client key needs a reply to store".into(),
            ));
        }
        let needs = command.decision.needs();
        if needs.lock_count() > MAX_STREAMS_PER_LOCK {
            return Err(StoreError::InvalidEvent(format!(
                "a command locks at most {MAX_STREAMS_PER_LOCK} streams, not {}",
                needs.lock_count()
            )));
        }
        let (answer, answered) = oneshot::channel();
        let job = Typed {
            command,
            needs,
            output: None,
            answer,
            span: tracing::Span::current(),
        };
        self.writers().submit(Box::new(job));
        answered
            .await
            .unwrap_or_else(|_| Err(StoreError::Unavailable("the writer stopped".into())))
    }
}
