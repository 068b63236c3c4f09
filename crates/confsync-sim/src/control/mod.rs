//! The simulator's control surface: the operations tests use to shape a run
//! (mutations, faults, quota, clock, auth switches) and to observe it
//! (request log, counters, indexed documents).
//!
//! [`Control`] is the Rust API; [`http`] exposes the same operations under
//! `/_sim/`. Every operation takes its lock for a synchronous moment and
//! never awaits while holding it.

pub(crate) mod http;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::auth::{GrantInfo, GrantSelector, TokenResponse};
use crate::error::SimError;
use crate::faults::{FaultRule, FaultState};
use crate::indexer::{IndexerEvent, IndexerFaultUpdate, IndexerFaults, IndexerStats};
use crate::quota::{QuotaSnapshot, QuotaUpdate};
use crate::reqlog::{ApiStats, RequestRecord};
use crate::site::mutate::{self, Edit, Move, NewBlogPost, NewComment, NewPage};
use crate::site::{
    CommentInfo, ContentInfo, ContentType, Resolution, SiteCounts, SiteData, SiteInfo, Status,
};
use crate::state::Shared;

/// Every control operation. Cheap to clone; [`crate::SimHandle`] derefs to it.
#[derive(Debug, Clone)]
pub struct Control {
    pub(crate) shared: Arc<Shared>,
}

impl Control {
    fn now_ms(&self) -> i64 {
        self.shared.clock.now_ms()
    }

    fn site_index(&self, cloud_id: &str) -> Result<usize, SimError> {
        self.shared
            .site_index(cloud_id)
            .ok_or_else(|| SimError::not_found(format!("site {cloud_id}")))
    }

    fn with_site<T>(
        &self,
        cloud_id: &str,
        f: impl FnOnce(&mut SiteData, i64) -> Result<T, SimError>,
    ) -> Result<T, SimError> {
        let index = self.site_index(cloud_id)?;
        let now = self.now_ms();
        let mut site = self.shared.sites[index].data.write();
        f(&mut site, now)
    }

    // ---- sites and content -----------------------------------------------

    /// The simulator's Confluence sites, in index order.
    pub fn sites(&self) -> Vec<SiteInfo> {
        self.shared.sites.iter().map(|s| s.info.clone()).collect()
    }

    pub fn site_counts(&self, cloud_id: &str) -> Result<SiteCounts, SimError> {
        let index = self.site_index(cloud_id)?;
        Ok(self.shared.sites[index].data.read().counts())
    }

    /// Pages or blog posts of a site with one of `statuses` (all live
    /// statuses when empty), in id order.
    pub fn contents(
        &self,
        cloud_id: &str,
        content_type: ContentType,
        statuses: &[Status],
    ) -> Result<Vec<ContentInfo>, SimError> {
        let index = self.site_index(cloud_id)?;
        let site = self.shared.sites[index].data.read();
        Ok(site
            .contents
            .iter()
            .filter(|c| c.kind == content_type)
            .filter(|c| {
                if statuses.is_empty() {
                    c.status != Status::Purged
                } else {
                    statuses.contains(&c.status)
                }
            })
            .map(|c| site.content_info(c))
            .collect())
    }

    pub fn content(&self, cloud_id: &str, id: &str) -> Result<ContentInfo, SimError> {
        let index = self.site_index(cloud_id)?;
        let id = mutate::parse_id(id)?;
        let site = self.shared.sites[index].data.read();
        site.content_index(id)
            .map(|i| site.content_info(&site.contents[i]))
            .ok_or_else(|| SimError::not_found(format!("content {id}")))
    }

    /// The comments of a site (deleted ones excluded), in id order.
    pub fn comments(&self, cloud_id: &str) -> Result<Vec<CommentInfo>, SimError> {
        let index = self.site_index(cloud_id)?;
        let site = self.shared.sites[index].data.read();
        Ok(site
            .comments
            .iter()
            .filter(|c| c.status != Status::Purged)
            .map(|c| site.comment_info(c))
            .collect())
    }

    /// The storage body a `GET` would return now.
    pub fn storage_body(&self, cloud_id: &str, id: &str) -> Result<String, SimError> {
        let index = self.site_index(cloud_id)?;
        let id = mutate::parse_id(id)?;
        let site = self.shared.sites[index].data.read();
        if let Some(body) = site.body_overrides.get(&id) {
            return Ok(body.to_string());
        }
        let content = site
            .content(id)
            .ok_or_else(|| SimError::not_found(format!("content {id}")))?;
        Ok(site.generated_storage(content, content.version))
    }

    pub fn create_page(&self, cloud_id: &str, page: NewPage) -> Result<ContentInfo, SimError> {
        self.with_site(cloud_id, |s, now| mutate::create_page(s, page, now))
    }

    pub fn create_blogpost(
        &self,
        cloud_id: &str,
        post: NewBlogPost,
    ) -> Result<ContentInfo, SimError> {
        self.with_site(cloud_id, |s, now| mutate::create_blogpost(s, post, now))
    }

    /// A new version (optionally with a new title and/or body), stamped now.
    pub fn edit(&self, cloud_id: &str, id: &str, edit: Edit) -> Result<ContentInfo, SimError> {
        self.with_site(cloud_id, |s, now| mutate::edit(s, id, edit, now))
    }

    /// A new version with a new title and the same body.
    pub fn rename(&self, cloud_id: &str, id: &str, title: &str) -> Result<ContentInfo, SimError> {
        self.with_site(cloud_id, |s, now| mutate::rename(s, id, title, now))
    }

    pub fn move_page(&self, cloud_id: &str, id: &str, mv: Move) -> Result<ContentInfo, SimError> {
        self.with_site(cloud_id, |s, now| mutate::move_content(s, id, mv, now))
    }

    /// Status trashed, no new version.
    pub fn trash(&self, cloud_id: &str, id: &str) -> Result<ContentInfo, SimError> {
        self.with_site(cloud_id, |s, _| mutate::trash(s, id))
    }

    /// Back to current from trashed or archived, as a new version.
    pub fn restore(&self, cloud_id: &str, id: &str) -> Result<ContentInfo, SimError> {
        self.with_site(cloud_id, |s, now| mutate::restore(s, id, now))
    }

    /// Status archived (pages only), no new version.
    pub fn archive(&self, cloud_id: &str, id: &str) -> Result<ContentInfo, SimError> {
        self.with_site(cloud_id, |s, _| mutate::archive(s, id))
    }

    /// Gone entirely, with its comments.
    pub fn purge(&self, cloud_id: &str, id: &str) -> Result<ContentInfo, SimError> {
        self.with_site(cloud_id, |s, _| mutate::purge(s, id))
    }

    pub fn add_label(&self, cloud_id: &str, id: &str, name: &str) -> Result<ContentInfo, SimError> {
        self.with_site(cloud_id, |s, _| mutate::add_label(s, id, name))
    }

    pub fn remove_label(
        &self,
        cloud_id: &str,
        id: &str,
        name: &str,
    ) -> Result<ContentInfo, SimError> {
        self.with_site(cloud_id, |s, _| mutate::remove_label(s, id, name))
    }

    pub fn add_comment(
        &self,
        cloud_id: &str,
        comment: NewComment,
    ) -> Result<CommentInfo, SimError> {
        self.with_site(cloud_id, |s, now| mutate::add_comment(s, comment, now))
    }

    pub fn edit_comment(
        &self,
        cloud_id: &str,
        id: &str,
        body: Option<String>,
    ) -> Result<CommentInfo, SimError> {
        self.with_site(cloud_id, |s, now| mutate::edit_comment(s, id, body, now))
    }

    pub fn resolve_comment(
        &self,
        cloud_id: &str,
        id: &str,
        resolution: Resolution,
    ) -> Result<CommentInfo, SimError> {
        self.with_site(cloud_id, |s, now| {
            mutate::resolve_comment(s, id, resolution, now)
        })
    }

    /// Deletes a comment and its replies (permanent, as in Confluence).
    pub fn delete_comment(&self, cloud_id: &str, id: &str) -> Result<CommentInfo, SimError> {
        self.with_site(cloud_id, |s, _| mutate::delete_comment(s, id))
    }

    // ---- clock -------------------------------------------------------------

    pub fn now(&self) -> DateTime<Utc> {
        self.shared.clock.now()
    }

    pub fn advance_clock(&self, by: Duration) -> DateTime<Utc> {
        self.shared.clock.advance(by);
        self.shared.clock.now()
    }

    // ---- auth -------------------------------------------------------------

    pub fn client_id(&self) -> String {
        self.shared.auth.lock().client_id().to_owned()
    }

    pub fn client_secret(&self) -> String {
        self.shared.auth.lock().client_secret().to_owned()
    }

    pub fn grants(&self) -> Vec<GrantInfo> {
        self.shared.auth.lock().grants()
    }

    /// Expires the selected grants' access tokens now; returns how many.
    pub fn expire_access_tokens(&self, selector: &GrantSelector) -> usize {
        let now = self.now_ms();
        self.shared.auth.lock().expire_access_tokens(selector, now)
    }

    /// Revokes the selected grants' whole token families; returns how many.
    pub fn revoke_grants(&self, selector: &GrantSelector) -> usize {
        self.shared.auth.lock().revoke(selector)
    }

    /// The next `count` authorizations are declined (`error=access_denied`).
    pub fn decline_next_authorizations(&self, count: u32) {
        self.shared.auth.lock().decline_next(count);
    }

    pub fn decline_all_authorizations(&self, decline: bool) {
        self.shared.auth.lock().set_decline_always(decline);
    }

    /// The next consent (without `account_id`/`login_hint`) is by this account.
    pub fn next_authorization_by(&self, account_id: &str) {
        self.shared
            .auth
            .lock()
            .set_next_account(Some(account_id.to_owned()));
    }

    /// The sites a consent by `account_id` covers, by cloud id.
    pub fn set_account_sites(&self, account_id: &str, cloud_ids: &[&str]) -> Result<(), SimError> {
        let sites = cloud_ids
            .iter()
            .map(|c| self.site_index(c))
            .collect::<Result<Vec<_>, _>>()?;
        self.shared.auth.lock().set_account_sites(account_id, sites);
        Ok(())
    }

    /// Issues tokens without the browser flow (for tests not about OAuth).
    pub fn mint_tokens(&self, account_id: Option<&str>, scopes: &[&str]) -> TokenResponse {
        let now = self.now_ms();
        self.shared.auth.lock().mint(
            account_id.map(str::to_owned),
            scopes.iter().map(|s| (*s).to_owned()).collect(),
            now,
        )
    }

    // ---- quota, faults, log ------------------------------------------------

    pub fn quota(&self) -> QuotaSnapshot {
        let now = self.now_ms();
        self.shared.quota.lock().snapshot(now)
    }

    pub fn set_quota(&self, update: &QuotaUpdate) -> QuotaSnapshot {
        let now = self.now_ms();
        let mut quota = self.shared.quota.lock();
        quota.update(update, now);
        quota.snapshot(now)
    }

    pub fn add_fault(&self, rule: FaultRule) -> u64 {
        self.shared.faults.lock().add(rule)
    }

    pub fn remove_fault(&self, id: u64) -> bool {
        self.shared.faults.lock().remove(id)
    }

    pub fn clear_faults(&self) {
        self.shared.faults.lock().clear();
    }

    pub fn faults(&self) -> Vec<FaultState> {
        self.shared.faults.lock().list()
    }

    pub fn stats(&self) -> ApiStats {
        self.shared.log.lock().stats()
    }

    /// Requests with sequence numbers above `after` (0: all kept).
    pub fn requests(&self, after: u64) -> Vec<RequestRecord> {
        self.shared.log.lock().since(after)
    }

    pub fn reset_requests(&self) {
        self.shared.log.lock().reset();
    }

    // ---- indexer ------------------------------------------------------------

    pub fn indexer_token(&self) -> String {
        self.shared.indexer.lock().token().to_owned()
    }

    /// Document id → latest accepted document.
    pub fn indexed_documents(&self) -> BTreeMap<String, Value> {
        self.shared.indexer.lock().documents()
    }

    pub fn indexed_document(&self, id: &str) -> Option<Value> {
        self.shared.indexer.lock().document(id)
    }

    /// Every accepted upsert and delete, in arrival order.
    pub fn indexer_events(&self) -> Vec<IndexerEvent> {
        self.shared.indexer.lock().events()
    }

    pub fn indexer_stats(&self) -> IndexerStats {
        self.shared.indexer.lock().stats()
    }

    pub fn indexer_faults(&self) -> IndexerFaults {
        self.shared.indexer.lock().faults()
    }

    pub fn set_indexer_faults(&self, update: IndexerFaultUpdate) {
        let now = self.now_ms();
        self.shared.indexer.lock().update_faults(update, now);
    }

    pub fn clear_indexer_faults(&self) {
        self.shared.indexer.lock().clear_faults();
    }

    pub fn reset_indexer(&self) {
        self.shared.indexer.lock().reset();
    }
}
