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

    /// Everything set aside in the stream, as (id, value).
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
