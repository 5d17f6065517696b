//! How a process learns that another one changed the catalogue or the templates: every
//! such change bumps `config_generation` and sends `NOTIFY elicence_changes` in its own
//! transaction, then a `NOTIFY elicence_changes` (best effort: an engine without it loses
//! nothing but speed). Each process keeps one connection of its own (outside the pool)
//! listening, and reads the generation on every notification, every few seconds in any
//! case (a notification sent while the connection was down is lost; an engine that
//! refuses LISTEN is polled only), and after every reconnect.

use std::future::poll_fn;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::Pool;
use tokio_postgres::{AsyncMessage, NoTls};

use super::{connection, describe};

/// The longest a change stays unseen while notifications work not (and the poll does).
pub(super) const POLL: Duration = Duration::from_secs(5);

pub(super) async fn generation(c: &tokio_postgres::Client) -> Result<u64, tokio_postgres::Error> {
    let g: i64 = c
        .query_one("SELECT generation FROM config_generation WHERE id = 0", &[])
        .await?
        .get(0);
    Ok(g as u64)
}

/// Reads the generation through the pool (at open).
pub(super) async fn current(pool: &Pool) -> crate::store::Result<u64> {
    let c = connection(pool).await?;
    generation(&c).await.map_err(super::pg_error)
}

/// Listens until the runtime stops, reconnecting after a failure.
pub(super) async fn listen(config: tokio_postgres::Config, seen: Arc<AtomicU64>) {
    let mut last_warning: Option<tokio::time::Instant> = None;
    loop {
        let e = listen_once(&config, &seen).await;
        // At most once a minute: the service itself reports a database that is down.
        if last_warning.is_none_or(|t| t.elapsed() > Duration::from_secs(60)) {
            tracing::warn!(error = %e, "listening for catalogue and template changes failed; retrying");
            last_warning = Some(tokio::time::Instant::now());
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// One connection's worth of listening; answers why it ended.
async fn listen_once(config: &tokio_postgres::Config, seen: &AtomicU64) -> String {
    let (client, mut conn) = match config.connect(NoTls).await {
        Ok(c) => c,
        Err(e) => return describe(&e),
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let driver = tokio::spawn(async move {
        while let Some(m) = poll_fn(|cx| conn.poll_message(cx)).await {
            match m {
                Ok(AsyncMessage::Notification(_)) => {
                    let _ = tx.send(());
                }
                Ok(_) => {}
                Err(e) => return describe(&e),
            }
        }
        "the connection closed".to_string()
    });
    let why = async {
        // An engine that speaks the protocol without LISTEN is polled only.
        let listening = match client.batch_execute("LISTEN elicence_changes").await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(error = %describe(&e), "LISTEN refused: catalogue and template changes made by other processes are seen within {} s", POLL.as_secs());
                false
            }
        };
        loop {
            // Read after LISTEN took effect, so no change falls between the two.
            seen.store(generation(&client).await.map_err(|e| describe(&e))?, Ordering::Release);
            tokio::select! {
                n = rx.recv(), if listening => if n.is_none() { return Err::<(), String>("the connection closed".into()) },
                _ = tokio::time::sleep(POLL) => {}
            }
        }
    }
    .await
    .err()
    .unwrap_or_default();
    drop(client);
    let closed = driver.await.unwrap_or_default();
    if why.is_empty() {
        closed
    } else {
        why
    }
}
