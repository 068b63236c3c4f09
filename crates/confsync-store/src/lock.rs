//! Leases: Redis locks with an owner token and a time to live, for work that
//! must run once across every replica (a grant's token refresh, a site's
//! crawl, a scheduler tick).
//!
//! A lease is `SET key <random token> NX PX ttl`; renewing and releasing check
//! the token first (in one Lua call), so a replica whose lease expired can
//! never extend or free another replica's. A killed holder's lease simply
//! times out. Keys: `lock:{name}` under the store's prefix.

use std::time::Duration;

use rand::RngCore as _;

use crate::{Store, StoreError};

const RENEW: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
";

const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

/// A held lock. Release it when done; if dropped, it expires after its TTL.
#[derive(Debug)]
pub struct Lease {
    store: Store,
    key: String,
    token: String,
}

impl Store {
    /// Takes the lock `name` for `ttl` unless someone holds it.
    pub async fn try_lock(&self, name: &str, ttl: Duration) -> Result<Option<Lease>, StoreError> {
        let key = format!("{}lock:{name}", self.prefix());
        let token = owner_token();
        let mut conn = self.connection();
        let set: Option<String> = redis::cmd("SET")
            .arg(&key)
            .arg(&token)
            .arg("NX")
            .arg("PX")
            .arg(millis(ttl))
            .query_async(&mut conn)
            .await?;
        Ok(set.map(|_| Lease {
            store: self.clone(),
            key,
            token,
        }))
    }

    /// Whether anyone holds the lock `name` right now.
    pub async fn is_locked(&self, name: &str) -> Result<bool, StoreError> {
        let mut conn = self.connection();
        let exists: bool = redis::cmd("EXISTS")
            .arg(format!("{}lock:{name}", self.prefix()))
            .query_async(&mut conn)
            .await?;
        Ok(exists)
    }
}

impl Lease {
    /// Extends the lease to `ttl` from now; false when it was lost (expired
    /// and possibly taken by another holder).
    pub async fn renew(&self, ttl: Duration) -> Result<bool, StoreError> {
        let mut conn = self.store.connection();
        let renewed: i64 = redis::Script::new(RENEW)
            .key(&self.key)
            .arg(&self.token)
            .arg(millis(ttl))
            .invoke_async(&mut conn)
            .await?;
        Ok(renewed == 1)
    }

    /// Frees the lock if this lease still holds it; false when it was lost.
    pub async fn release(self) -> Result<bool, StoreError> {
        let mut conn = self.store.connection();
        let released: i64 = redis::Script::new(RELEASE)
            .key(&self.key)
            .arg(&self.token)
            .invoke_async(&mut conn)
            .await?;
        Ok(released == 1)
    }
}

fn owner_token() -> String {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// A TTL in whole milliseconds, at least 1 (PX 0 is an error).
fn millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}
