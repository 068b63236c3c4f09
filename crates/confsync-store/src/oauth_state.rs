//! One-time OAuth `state` values: created when a connect flow starts, consumed
//! exactly once by the callback.
//!
//! Keys hold the SHA-256 of the state, never the state itself, so a Redis dump
//! reveals no usable state. A consumed state leaves a marker behind for an hour
//! so a replay is told apart from a forgery; the value carries its own expiry
//! and the key outlives it by an hour, so an expired state is told apart from
//! an unknown one.

use std::time::Duration;

use chrono::{DateTime, Utc};
use confsync_core::TenantId;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::{Store, StoreError};

/// How long a state's key and its consumed marker outlive the state, to
/// report "expired" and "reused" precisely.
const AFTERLIFE: Duration = Duration::from_secs(3600);

/// What a pending connect flow remembers until its callback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingConnect {
    /// Payload version.
    pub v: u32,
    pub tenant_id: TenantId,
    /// Where to send the browser afterwards (already checked against the allow-list).
    pub return_to: Option<String>,
    pub expires_at: DateTime<Utc>,
}

/// What the callback learns about the state it received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateLookup {
    Valid(PendingConnect),
    Unknown,
    Expired,
    Reused,
}

const CONSUME: &str = r"
local value = redis.call('GETDEL', KEYS[1])
if value then
  redis.call('SET', KEYS[2], '1', 'EX', ARGV[1])
  return value
end
if redis.call('EXISTS', KEYS[2]) == 1 then
  return 0
end
return -1
";

impl Store {
    fn state_keys(&self, state: &str) -> (String, String) {
        let digest = hex::encode(Sha256::digest(state.as_bytes()));
        (
            format!("{}oauth_state:{digest}", self.prefix()),
            format!("{}oauth_state_used:{digest}", self.prefix()),
        )
    }

    /// Remembers `pending` under `state` until it expires.
    pub async fn save_oauth_state(
        &self,
        state: &str,
        pending: &PendingConnect,
    ) -> Result<(), StoreError> {
        let (key, _) = self.state_keys(state);
        let value = serde_json::to_string(pending).map_err(|e| StoreError::Corrupt {
            what: "oauth state",
            reason: e.to_string(),
        })?;
        let ttl = (pending.expires_at - Utc::now())
            .to_std()
            .unwrap_or_default()
            + AFTERLIFE;
        let mut conn = self.connection();
        redis::cmd("SET")
            .arg(&key)
            .arg(value)
            .arg("EX")
            .arg(ttl.as_secs())
            .query_async::<()>(&mut conn)
            .await?;
        Ok(())
    }

    /// Atomically takes the state: the first caller gets it, every later one
    /// learns it was reused.
    pub async fn consume_oauth_state(
        &self,
        state: &str,
        now: DateTime<Utc>,
    ) -> Result<StateLookup, StoreError> {
        let (key, used) = self.state_keys(state);
        let mut conn = self.connection();
        let reply: redis::Value = redis::Script::new(CONSUME)
            .key(&key)
            .key(&used)
            .arg(AFTERLIFE.as_secs())
            .invoke_async(&mut conn)
            .await?;
        match reply {
            redis::Value::Int(0) => Ok(StateLookup::Reused),
            redis::Value::Int(_) => Ok(StateLookup::Unknown),
            redis::Value::BulkString(bytes) => {
                let pending: PendingConnect =
                    serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
                        what: "oauth state",
                        reason: e.to_string(),
                    })?;
                if pending.expires_at <= now {
                    Ok(StateLookup::Expired)
                } else {
                    Ok(StateLookup::Valid(pending))
                }
            }
            other => Err(StoreError::Corrupt {
                what: "oauth state",
                reason: format!("unexpected reply {other:?}"),
            }),
        }
    }
}
