//! The Redis connection: one auto-reconnecting multiplexed connection per
//! process, shared by every task (and by the apalis queues).

use std::time::Duration;

use backon::{ExponentialBuilder, Retryable as _};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use secrecy::{ExposeSecret as _, SecretString};

use crate::error::StoreError;

/// What the store needs to know, built by the binaries from their settings.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub url: SecretString,
    /// Prepended to every key, e.g. `confsync:`.
    pub key_prefix: String,
    pub connect_timeout: Duration,
    pub response_timeout: Duration,
    /// Delays between connection attempts while Redis is down.
    pub reconnect_min_delay: Duration,
    pub reconnect_max_delay: Duration,
}

/// A handle to confsync's state. Cheap to clone; clones share the connection.
#[derive(Clone)]
pub struct Store {
    conn: ConnectionManager,
    prefix: String,
    reconnect: (Duration, Duration),
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Creates the store without touching the network: the connection is made
    /// on first use and remade whenever it breaks. Use [`Store::wait_until_ready`]
    /// to wait for Redis at start-up.
    pub fn open(config: &StoreConfig) -> Result<Store, StoreError> {
        // The URL may carry a password: never put it in an error.
        let client = redis::Client::open(config.url.expose_secret()).map_err(|e| {
            StoreError::Config(format!("cannot use the redis url ({:?})", e.kind()))
        })?;
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.connect_timeout))
            .set_response_timeout(Some(config.response_timeout))
            .set_min_delay(config.reconnect_min_delay)
            .set_max_delay(config.reconnect_max_delay)
            // One quick retry inside a command; longer outages surface as
            // errors (and a 503 on /readyz) instead of hanging callers.
            .set_number_of_retries(1);
        let conn = ConnectionManager::new_lazy_with_config(client, manager_config)?;
        Ok(Store {
            conn,
            prefix: config.key_prefix.clone(),
            reconnect: (config.reconnect_min_delay, config.reconnect_max_delay),
        })
    }

    /// The key prefix every key of this store starts with.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The shared connection, for the job queues.
    pub fn connection(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// `PING`: whether Redis answers right now.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let pong: String = redis::cmd("PING").query_async(&mut conn).await?;
        if pong == "PONG" {
            Ok(())
        } else {
            Err(StoreError::Corrupt {
                what: "PING reply",
                reason: format!("unexpected {pong:?}"),
            })
        }
    }

    /// Returns once Redis answers, retrying with capped exponential backoff
    /// and a warning per failed attempt. Never gives up: a daemon whose Redis
    /// is down waits for it (and says so) rather than crash-looping.
    pub async fn wait_until_ready(&self) {
        let (min, max) = self.reconnect;
        let policy = ExponentialBuilder::default()
            .with_min_delay(min)
            .with_max_delay(max)
            .with_jitter()
            .without_max_times();
        let result = (|| self.ping())
            .retry(policy)
            .notify(|error, delay| {
                tracing::warn!(%error, retry_in_ms = delay.as_millis() as u64, "redis is unreachable; retrying");
            })
            .await;
        match result {
            Ok(()) => tracing::info!("redis answers"),
            // Unreachable with an unbounded policy; logged rather than assumed.
            Err(error) => tracing::error!(%error, "gave up waiting for redis"),
        }
    }

    /// Deletes every key under this store's prefix. For tests and for
    /// operators wiping a test install; uses SCAN, never FLUSHALL.
    pub async fn delete_all_keys(&self) -> Result<u64, StoreError> {
        let mut conn = self.conn.clone();
        let pattern = format!("{}*", escape_glob(&self.prefix));
        let mut cursor: u64 = 0;
        let mut deleted = 0;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(500)
                .query_async(&mut conn)
                .await?;
            if !keys.is_empty() {
                deleted += redis::cmd("UNLINK")
                    .arg(&keys)
                    .query_async::<u64>(&mut conn)
                    .await?;
            }
            if next == 0 {
                return Ok(deleted);
            }
            cursor = next;
        }
    }
}

/// Escapes glob metacharacters so a prefix matches only itself.
fn escape_glob(prefix: &str) -> String {
    let mut out = String::with_capacity(prefix.len());
    for c in prefix.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_metacharacters_in_prefixes_are_escaped() {
        assert_eq!(escape_glob("confsync:"), "confsync:");
        assert_eq!(escape_glob("t[1]*?:"), "t\\[1\\]\\*\\?:");
    }
}
