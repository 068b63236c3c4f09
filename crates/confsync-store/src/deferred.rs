//! Items a crawl set aside, `deferred:{grant}:{cloud}`: pages whose ancestors, and
//! comments whose parent comment or page, were not known yet when they were
//! read. The crawl builds them once the rest of the stream is in, so no
//! document is pushed with wrong breadcrumbs. Kept in Redis so a resumed
//! crawl still has them and the worker's memory stays bounded.
//!
//! Values are opaque to this module (the worker's versioned JSON).

use crate::{SiteKey, Store, StoreError};

/// Sites' deferred items. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Deferred {
    store: Store,
}

impl Deferred {
    pub fn new(store: Store) -> Deferred {
        Deferred { store }
    }

    fn key(&self, site: &SiteKey, stream: &str) -> String {
        format!("{}deferred:{site}:{stream}", self.store.prefix())
    }

    /// Sets `value` aside under `id` in the site's `stream`.
    pub async fn put(
        &self,
        site: &SiteKey,
        stream: &str,
        id: &str,
        value: &str,
    ) -> Result<(), StoreError> {
        let mut conn = self.store.connection();
        redis::cmd("HSET")
            .arg(self.key(site, stream))
            .arg(id)
            .arg(value)
            .query_async::<()>(&mut conn)
            .await?;
        Ok(())
    }

    /// Everything set aside in the stream, as (id, value), by id: for tests
    /// and small streams (reads the whole hash).
    pub async fn all(
        &self,
        site: &SiteKey,
        stream: &str,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let mut conn = self.store.connection();
        let mut items: Vec<(String, String)> = redis::cmd("HGETALL")
            .arg(self.key(site, stream))
            .query_async(&mut conn)
            .await?;
        items.sort();
        Ok(items)
    }

    /// How many items the stream has set aside.
    pub async fn len(&self, site: &SiteKey, stream: &str) -> Result<u64, StoreError> {
        let mut conn = self.store.connection();
        Ok(redis::cmd("HLEN")
            .arg(self.key(site, stream))
            .query_async(&mut conn)
            .await?)
    }

    /// One step of a scan over the stream's items: the next cursor (0 at the
    /// end) and about `count` (id, value) pairs, so a large stash is read a
    /// bounded piece at a time.
    pub async fn scan(
        &self,
        site: &SiteKey,
        stream: &str,
        cursor: u64,
        count: usize,
    ) -> Result<(u64, Vec<(String, String)>), StoreError> {
        let mut conn = self.store.connection();
        let (next, flat): (u64, Vec<String>) = redis::cmd("HSCAN")
            .arg(self.key(site, stream))
            .arg(cursor)
            .arg("COUNT")
            .arg(count.max(1))
            .query_async(&mut conn)
            .await?;
        let mut flat = flat.into_iter();
        let mut items = Vec::with_capacity(flat.len() / 2);
        while let (Some(id), Some(value)) = (flat.next(), flat.next()) {
            items.push((id, value));
        }
        Ok((next, items))
    }

    /// Forgets the stream's deferred items.
    pub async fn clear(&self, site: &SiteKey, stream: &str) -> Result<(), StoreError> {
        let mut conn = self.store.connection();
        redis::cmd("DEL")
            .arg(self.key(site, stream))
            .query_async::<()>(&mut conn)
            .await?;
        Ok(())
    }
}
