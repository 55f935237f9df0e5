//! `LISTEN/NOTIFY` between replicas: the projection runner announces each pass that moved
//! a read model (`PROJECTED`), and a replica that committed announces it (`COMMITTED`,
//! at most every few milliseconds), so that readers waiting for a cursor and the runner
//! on whichever replica holds its lease wake at once instead of polling. Never on a
//! command's own transaction: a NOTIFY takes a lock at commit that every notifying
//! transaction of the cluster shares.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::{mpsc, Notify};
use tokio_postgres::AsyncMessage;

use crate::{Store, StoreError};

/// A read model moved.
pub const PROJECTED: &str = "ledger_projected";
/// Events were committed.
pub const COMMITTED: &str = "ledger_committed";
/// Wait before listening again after the connection broke.
const RECONNECT: Duration = Duration::from_secs(1);

impl Store {
    /// Sends a notification on `channel` (in a transaction of its own).
    pub async fn notify(&self, channel: &str) -> Result<(), StoreError> {
        let client = self.client().await?;
        let stmt = client.prepare_cached("SELECT pg_notify($1, '')").await?;
        client.execute(&stmt, &[&channel]).await?;
        Ok(())
    }

    /// Listens on each channel of `wakes` and wakes its `Notify` (`notify_waiters` and a
    /// stored permit) at each notification, on a connection of its own, reconnecting after
    /// a failure. Runs until dropped.
    pub async fn listen(&self, wakes: Vec<(&'static str, Arc<Notify>)>) {
        loop {
            if let Err(e) = self.listen_once(&wakes).await {
                tracing::debug!(error = %e, "listening connection ended");
            }
            tokio::time::sleep(RECONNECT).await;
        }
    }

    async fn listen_once(&self, wakes: &[(&'static str, Arc<Notify>)]) -> Result<(), StoreError> {
        let (pg, tls) = &*self.direct;
        let (send, mut received) = mpsc::unbounded_channel::<String>();
        let (client, messages) = crate::tls::connect(pg, tls).await?;
        tokio::spawn(forward(messages, send));
        let listen: String = wakes
            .iter()
            .map(|(channel, _)| format!("LISTEN {channel};"))
            .collect();
        client.batch_execute(&listen).await?;
        // Something may have happened while we were not listening.
        wakes.iter().for_each(|(_, wake)| wake_all(wake));
        while let Some(channel) = received.recv().await {
            if let Some((_, wake)) = wakes.iter().find(|(c, _)| *c == channel) {
                wake_all(wake);
            }
        }
        drop(client);
        Err(StoreError::Unavailable(
            "listening connection closed".into(),
        ))
    }
}

fn wake_all(wake: &Notify) {
    wake.notify_waiters();
    wake.notify_one();
}

/// Drives the connection, passing on the channel of every notification.
async fn forward(mut messages: crate::tls::Messages, send: mpsc::UnboundedSender<String>) {
    while let Some(Ok(message)) = messages.next().await {
        if let AsyncMessage::Notification(n) = message {
            if send.send(n.channel().to_owned()).is_err() {
                return;
            }
        }
    }
}
