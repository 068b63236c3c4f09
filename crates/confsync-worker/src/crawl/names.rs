//! Display names of Atlassian accounts, for document authors and `@mentions`:
//! answered from a bounded in-process cache, then from Redis (`user:{id}`,
//! shared by every replica, with `sync.user_cache_ttl_secs`), and only then
//! from Atlassian's v1 `user/bulk` (at most 200 ids a request, 2 points per
//! user returned), one call per listing page for the ids still unknown.
//!
//! Accounts Atlassian does not know are cached too (as "no name"), so they
//! are not asked for again on every page. This module never holds its lock
//! across an `.await`.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use confsync_confluence::{SiteClient, USER_BULK_MAX};
use confsync_core::AccountId;
use confsync_store::directory::Directory;

use super::CrawlError;

/// Most names kept in process; the cache starts over when full (Redis still
/// has them), so memory stays bounded whatever the fleet's size.
const LOCAL_CAPACITY: usize = 50_000;

/// Resolved names: `None` for an account Atlassian does not know.
pub(crate) type NameMap = HashMap<String, Option<String>>;

/// The fleet's user-name cache, shared by every job of a process.
#[derive(Debug)]
pub(crate) struct UserNames {
    directory: Directory,
    ttl: Duration,
    local: Mutex<HashMap<String, Option<String>>>,
}

impl UserNames {
    pub(crate) fn new(directory: Directory, ttl: Duration) -> UserNames {
        UserNames {
            directory,
            ttl,
            local: Mutex::new(HashMap::new()),
        }
    }

    /// Names of `accounts`, asking Atlassian (through `site`) only for those
    /// no cache has. Returns the names and the points the lookups cost.
    pub(crate) async fn resolve(
        &self,
        site: &SiteClient,
        accounts: HashSet<&str>,
    ) -> Result<(NameMap, u64), CrawlError> {
        let mut names = NameMap::with_capacity(accounts.len());
        let missing = self.cached_here(accounts, &mut names);
        let missing = self.cached_in_redis(missing, &mut names).await?;
        let points = self.fetch(site, missing, &mut names).await?;
        Ok((names, points))
    }

    fn cached_here<'a>(&self, accounts: HashSet<&'a str>, names: &mut NameMap) -> Vec<&'a str> {
        let local = lock(&self.local);
        accounts
            .into_iter()
            .filter(|account| match local.get(*account) {
                Some(name) => {
                    names.insert((*account).to_owned(), name.clone());
                    false
                }
                None => true,
            })
            .collect()
    }

    async fn cached_in_redis<'a>(
        &self,
        accounts: Vec<&'a str>,
        names: &mut NameMap,
    ) -> Result<Vec<&'a str>, CrawlError> {
        let cached = self.directory.user_names(&accounts).await?;
        let mut missing = Vec::new();
        let mut found = Vec::new();
        for (account, name) in accounts.into_iter().zip(cached) {
            match name {
                Some(name) => found.push((account.to_owned(), non_empty(name))),
                None => missing.push(account),
            }
        }
        self.remember(&found);
        names.extend(found);
        Ok(missing)
    }

    async fn fetch(
        &self,
        site: &SiteClient,
        accounts: Vec<&str>,
        names: &mut NameMap,
    ) -> Result<u64, CrawlError> {
        // Ids Atlassian's API would refuse are not sent: they get no name.
        let ids: Vec<AccountId> = accounts
            .iter()
            .filter_map(|a| AccountId::parse(*a).ok())
            .collect();
        if ids.is_empty() {
            return Ok(0);
        }
        let users = site.users(&ids).await?;
        let requests = ids.len().div_ceil(USER_BULK_MAX) as u64;
        let points = requests + 2 * users.len() as u64;
        let mut fetched: HashMap<String, Option<String>> =
            accounts.iter().map(|a| ((*a).to_owned(), None)).collect();
        for user in &users {
            fetched.insert(user.account_id.clone(), user.name().map(str::to_owned));
        }
        let stored: Vec<(&str, &str)> = fetched
            .iter()
            .map(|(a, n)| (a.as_str(), n.as_deref().unwrap_or("")))
            .collect();
        self.directory.put_user_names(&stored, self.ttl).await?;
        let fetched: Vec<(String, Option<String>)> = fetched.into_iter().collect();
        self.remember(&fetched);
        names.extend(fetched);
        Ok(points)
    }

    fn remember(&self, found: &[(String, Option<String>)]) {
        if found.is_empty() {
            return;
        }
        let mut local = lock(&self.local);
        if local.len() + found.len() > LOCAL_CAPACITY {
            local.clear();
        }
        local.extend(found.iter().cloned());
    }
}

fn non_empty(name: String) -> Option<String> {
    (!name.is_empty()).then_some(name)
}

/// A poisoned lock only means another task panicked mid-insert into a plain
/// cache; the map is still usable.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
