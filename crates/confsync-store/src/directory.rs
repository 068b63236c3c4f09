//! Names the crawl looks up while building documents: a site's spaces
//! (`spaces:{cloud}`, space id → key and name, refreshed by every full crawl
//! and when an unknown space id turns up) and Atlassian accounts' display
//! names (`user:{account}`, cached with a time to live, shared by every site
//! and replica, since account ids are global).
//!
//! This module stores and reads; fetching the names from Atlassian is the
//! worker's job. An account Atlassian does not know is cached as an empty
//! name, so it is not asked for again before the entry expires.

use std::collections::HashMap;
use std::time::Duration;

use confsync_core::CloudId;
use serde::{Deserialize, Serialize};

use crate::{Store, StoreError};

/// A space's key and name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpaceEntry {
    pub key: String,
    pub name: String,
}

/// Spaces of sites and names of accounts. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Directory {
    store: Store,
}

impl Directory {
    pub fn new(store: Store) -> Directory {
        Directory { store }
    }

    fn spaces_key(&self, cloud: &CloudId) -> String {
        format!("{}spaces:{cloud}", self.store.prefix())
    }

    fn user_key(&self, account: &str) -> String {
        format!("{}user:{account}", self.store.prefix())
    }

    /// Every space of the site known so far, by space id.
    pub async fn spaces(&self, cloud: &CloudId) -> Result<HashMap<String, SpaceEntry>, StoreError> {
        let mut conn = self.store.connection();
        let raw: HashMap<String, String> = redis::cmd("HGETALL")
            .arg(self.spaces_key(cloud))
            .query_async(&mut conn)
            .await?;
        Ok(raw
            .into_iter()
            .filter_map(|(id, v)| Some((id, serde_json::from_str(&v).ok()?)))
            .collect())
    }

    /// Adds or replaces spaces of the site.
    pub async fn put_spaces(
        &self,
        cloud: &CloudId,
        spaces: &[(String, SpaceEntry)],
    ) -> Result<(), StoreError> {
        if spaces.is_empty() {
            return Ok(());
        }
        let mut pairs = Vec::with_capacity(spaces.len());
        for (id, entry) in spaces {
            let value = serde_json::to_string(entry).map_err(|e| StoreError::Corrupt {
                what: "space entry",
                reason: e.to_string(),
            })?;
            pairs.push((id.as_str(), value));
        }
        let mut conn = self.store.connection();
        redis::cmd("HSET")
            .arg(self.spaces_key(cloud))
            .arg(&pairs)
            .query_async::<()>(&mut conn)
            .await?;
        Ok(())
    }

    /// Cached display names of `accounts`, in order: `None` when not cached,
    /// `Some("")` when Atlassian did not know the account.
    pub async fn user_names(&self, accounts: &[&str]) -> Result<Vec<Option<String>>, StoreError> {
        if accounts.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = accounts.iter().map(|a| self.user_key(a)).collect();
        let mut conn = self.store.connection();
        Ok(redis::cmd("MGET").arg(&keys).query_async(&mut conn).await?)
    }

    /// Caches display names (an empty name: unknown account) for `ttl`.
    pub async fn put_user_names(
        &self,
        names: &[(&str, &str)],
        ttl: Duration,
    ) -> Result<(), StoreError> {
        if names.is_empty() {
            return Ok(());
        }
        let secs = ttl.as_secs().max(1);
        let mut pipe = redis::pipe();
        for (account, name) in names {
            pipe.cmd("SET")
                .arg(self.user_key(account))
                .arg(*name)
                .arg("EX")
                .arg(secs)
                .ignore();
        }
        let mut conn = self.store.connection();
        pipe.query_async::<()>(&mut conn).await?;
        Ok(())
    }
}
