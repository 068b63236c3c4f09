//! A site's crawl state, in the same `site:{grant}:{cloud}` hash the vault
//! creates at connect time (which holds `url`, `name` and `added_at`): the
//! change streams' watermarks, the checkpoint of an interrupted full crawl,
//! the crawl epoch of mark-and-sweep, when the site was last synced, polled,
//! checked for deletions and reconciled, its last error, the adaptive poll
//! interval, a coalesced follow-up job, and running totals.
//!
//! Plus the scheduler's per-site planning guard (`plan:{grant}:{cloud}`), so two
//! replicas planning at once never queue the same poll twice.
//!
//! This module stores and reads; it decides nothing about when to crawl or
//! what a watermark means. Every field is a plain string in the hash, so an
//! operator reading Redis (or the admin API) sees the state without a
//! decoder; the checkpoint and the last run's summary are versioned JSON.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use chrono::{DateTime, Utc};
use confsync_core::jobs::SyncMode;
use confsync_core::{CloudId, ContentKind, GrantId};
use serde::{Deserialize, Serialize};

use crate::{Store, StoreError};

/// Where a full crawl (or a reconciliation) stands. Stages run in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CrawlStage {
    Spaces,
    Pages,
    BlogPosts,
    FooterComments,
    InlineComments,
    /// Known items not seen by this crawl become deletes.
    Sweep,
}

impl CrawlStage {
    pub fn as_str(self) -> &'static str {
        match self {
            CrawlStage::Spaces => "spaces",
            CrawlStage::Pages => "pages",
            CrawlStage::BlogPosts => "blog_posts",
            CrawlStage::FooterComments => "footer_comments",
            CrawlStage::InlineComments => "inline_comments",
            CrawlStage::Sweep => "sweep",
        }
    }

    /// The stage after this one; `None` after the sweep.
    pub fn next(self) -> Option<CrawlStage> {
        match self {
            CrawlStage::Spaces => Some(CrawlStage::Pages),
            CrawlStage::Pages => Some(CrawlStage::BlogPosts),
            CrawlStage::BlogPosts => Some(CrawlStage::FooterComments),
            CrawlStage::FooterComments => Some(CrawlStage::InlineComments),
            CrawlStage::InlineComments => Some(CrawlStage::Sweep),
            CrawlStage::Sweep => None,
        }
    }
}

/// What a crawl has done so far; kept in the checkpoint so a resumed crawl
/// reports the whole run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrawlCounters {
    /// Items read from listings (bodies or ids).
    #[serde(default)]
    pub seen: u64,
    /// Upserts the indexer accepted.
    #[serde(default)]
    pub pushed: u64,
    /// Items whose document did not change: not pushed.
    #[serde(default)]
    pub unchanged: u64,
    /// Deletes the indexer accepted.
    #[serde(default)]
    pub deleted: u64,
    /// Items the indexer refused (now in `deadletter:{grant}:{cloud}`).
    #[serde(default)]
    pub dead_lettered: u64,
    /// Items that could not be built (malformed, or their page is not readable).
    #[serde(default)]
    pub skipped: u64,
    /// Atlassian points the answers cost.
    #[serde(default)]
    pub points: u64,
}

impl CrawlCounters {
    /// Adds `other`'s figures to these.
    pub fn add(&mut self, other: &CrawlCounters) {
        self.seen += other.seen;
        self.pushed += other.pushed;
        self.unchanged += other.unchanged;
        self.deleted += other.deleted;
        self.dead_lettered += other.dead_lettered;
        self.skipped += other.skipped;
        self.points += other.points;
    }
}

/// The resumable position of a full crawl or a reconciliation. Written after
/// each pushed batch (every item before it accepted or dead-lettered), so a
/// crawl killed at any moment resumes where that batch ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Payload version; 1 for this shape.
    pub v: u32,
    /// `full` or `reconcile`.
    pub mode: SyncMode,
    /// The mark-and-sweep epoch of this crawl.
    pub epoch: u64,
    /// When the crawl began: every stream's watermark once it completes.
    pub started_at: DateTime<Utc>,
    pub stage: CrawlStage,
    /// The absolute URL of the listing page to read next; `None` for the
    /// stage's first request.
    pub next_url: Option<String>,
    /// The last item of that page already handled: a crawl stopped half-way
    /// through a page resumes after it (the whole page when it is gone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_id: Option<String>,
    pub counters: CrawlCounters,
}

/// What one finished run did, for operators.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunSummary {
    pub v: u32,
    pub mode: SyncMode,
    pub finished_at: DateTime<Utc>,
    pub duration_ms: u64,
    pub counters: CrawlCounters,
}

/// A site's crawl state as stored. Absent fields read as `None`, zero or empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SiteState {
    /// The current mark-and-sweep epoch (0 before the first full crawl).
    pub epoch: u64,
    /// Per change stream: everything modified before this instant (less the
    /// overlap) has been pushed.
    pub watermarks: BTreeMap<ContentKind, DateTime<Utc>>,
    /// Per change stream: items the last poll read inside its window, which
    /// sizes the next poll's first request.
    pub window_items: BTreeMap<ContentKind, u32>,
    pub checkpoint: Option<Checkpoint>,
    pub last_sync_at: Option<DateTime<Utc>>,
    pub last_sync_mode: Option<SyncMode>,
    pub last_full_sync_at: Option<DateTime<Utc>>,
    pub last_poll_at: Option<DateTime<Utc>>,
    pub last_deletion_check_at: Option<DateTime<Utc>>,
    pub last_reconcile_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
    /// Failed runs since the last success.
    pub failures: u32,
    /// The adaptive interval between incremental polls.
    pub poll_interval_secs: Option<u64>,
    /// A job that arrived while the site was crawling, to run afterwards.
    pub followup: Option<SyncMode>,
    pub last_run: Option<RunSummary>,
    /// Totals over every run.
    pub totals: CrawlCounters,
}

impl SiteState {
    /// Whether every change stream has a watermark (else a full crawl is due).
    pub fn has_all_watermarks(&self) -> bool {
        ContentKind::ALL
            .iter()
            .all(|kind| self.watermarks.contains_key(kind))
    }
}

/// Changes to a site's state, applied in one write. Unset fields are left
/// alone; `clear_*` removes a field.
#[derive(Debug, Clone, Default)]
pub struct SiteUpdate {
    pub watermarks: Vec<(ContentKind, DateTime<Utc>)>,
    pub window_items: Vec<(ContentKind, u32)>,
    pub checkpoint: Option<Checkpoint>,
    pub clear_checkpoint: bool,
    pub last_sync: Option<(DateTime<Utc>, SyncMode)>,
    pub last_full_sync_at: Option<DateTime<Utc>>,
    pub last_poll_at: Option<DateTime<Utc>>,
    pub last_deletion_check_at: Option<DateTime<Utc>>,
    pub last_reconcile_at: Option<DateTime<Utc>>,
    /// Records a failure: the error, when, and one more in `failures`.
    pub failure: Option<(String, DateTime<Utc>)>,
    /// A success: clears the last error and the failure count.
    pub succeeded: bool,
    pub poll_interval_secs: Option<u64>,
    pub last_run: Option<RunSummary>,
    /// Added to the running totals.
    pub add_totals: Option<CrawlCounters>,
}

/// Keeps the stronger of the stored follow-up and the new one
/// (full > reconcile > incremental).
const SET_FOLLOWUP: &str = r"
local rank = {incremental = 1, reconcile = 2, full = 3}
local current = redis.call('HGET', KEYS[1], 'followup')
if (not current) or (rank[current] or 0) < (rank[ARGV[1]] or 0) then
  redis.call('HSET', KEYS[1], 'followup', ARGV[1])
end
return 1
";

/// Removes every field but the vault's (`url`, `name`, `added_at`) and the
/// epoch, which only ever grows.
const FORGET_CRAWL: &str = r"
local keep = {url = true, name = true, added_at = true, epoch = true}
local gone = {}
for _, field in ipairs(redis.call('HKEYS', KEYS[1])) do
  if not keep[field] then table.insert(gone, field) end
end
if #gone > 0 then redis.call('HDEL', KEYS[1], unpack(gone)) end
return #gone
";

/// Takes the follow-up away, atomically, so one replica enqueues it.
const TAKE_FOLLOWUP: &str = r"
local current = redis.call('HGET', KEYS[1], 'followup')
if current then redis.call('HDEL', KEYS[1], 'followup') end
return current
";

/// One grant's view of one site: the scope of its known map, deferred items
/// and dead letters (`{grant}:{cloud}` in their keys), like its crawl state.
/// Two grants reaching the same site (two tenants, or two accounts of one)
/// see different content and index under different tenants, so they never
/// share any of it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SiteKey {
    pub grant: GrantId,
    pub cloud: CloudId,
}

impl SiteKey {
    pub fn new(grant: GrantId, cloud: CloudId) -> SiteKey {
        SiteKey { grant, cloud }
    }

    /// The name of the lease a crawl of this site holds (for
    /// [`Store::try_lock`] and [`Store::is_locked`]).
    pub fn crawl_lock(&self) -> String {
        format!("crawl:{self}")
    }
}

impl std::fmt::Display for SiteKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.grant, self.cloud)
    }
}

/// Sites' crawl state. Cheap to clone.
#[derive(Debug, Clone)]
pub struct SiteStore {
    store: Store,
}

impl SiteStore {
    pub fn new(store: Store) -> SiteStore {
        SiteStore { store }
    }

    fn key(&self, grant: &GrantId, cloud: &CloudId) -> String {
        format!("{}site:{grant}:{cloud}", self.store.prefix())
    }

    /// The site's crawl state (the defaults when nothing is stored).
    pub async fn state(&self, grant: &GrantId, cloud: &CloudId) -> Result<SiteState, StoreError> {
        let mut conn = self.store.connection();
        let fields: HashMap<String, String> = redis::cmd("HGETALL")
            .arg(self.key(grant, cloud))
            .query_async(&mut conn)
            .await?;
        parse_state(&fields)
    }

    /// Starts a new mark-and-sweep epoch; returns it.
    pub async fn next_epoch(&self, grant: &GrantId, cloud: &CloudId) -> Result<u64, StoreError> {
        let mut conn = self.store.connection();
        Ok(redis::cmd("HINCRBY")
            .arg(self.key(grant, cloud))
            .arg("epoch")
            .arg(1)
            .query_async(&mut conn)
            .await?)
    }

    /// Applies `update` in one atomic write.
    pub async fn update(
        &self,
        grant: &GrantId,
        cloud: &CloudId,
        update: &SiteUpdate,
    ) -> Result<(), StoreError> {
        let key = self.key(grant, cloud);
        let mut set: Vec<(String, String)> = Vec::new();
        let mut remove: Vec<&str> = Vec::new();
        for (kind, at) in &update.watermarks {
            set.push((format!("wm:{}", kind.as_str()), at.to_rfc3339()));
        }
        for (kind, items) in &update.window_items {
            set.push((format!("window:{}", kind.as_str()), items.to_string()));
        }
        if let Some(checkpoint) = &update.checkpoint {
            set.push(("checkpoint".into(), json(checkpoint)?));
        } else if update.clear_checkpoint {
            remove.push("checkpoint");
        }
        if let Some((at, mode)) = &update.last_sync {
            set.push(("last_sync_at".into(), at.to_rfc3339()));
            set.push(("last_sync_mode".into(), mode.as_str().into()));
        }
        let times = [
            ("last_full_sync_at", update.last_full_sync_at),
            ("last_poll_at", update.last_poll_at),
            ("last_deletion_check_at", update.last_deletion_check_at),
            ("last_reconcile_at", update.last_reconcile_at),
        ];
        for (field, at) in times {
            if let Some(at) = at {
                set.push((field.into(), at.to_rfc3339()));
            }
        }
        if let Some(secs) = update.poll_interval_secs {
            set.push(("poll_interval_secs".into(), secs.to_string()));
        }
        if let Some(run) = &update.last_run {
            set.push(("last_run".into(), json(run)?));
        }
        if let Some((error, at)) = &update.failure {
            set.push(("last_error".into(), error.clone()));
            set.push(("last_error_at".into(), at.to_rfc3339()));
        } else if update.succeeded {
            remove.extend(["last_error", "last_error_at", "failures"]);
        }

        let mut pipe = redis::pipe();
        pipe.atomic();
        if !set.is_empty() {
            pipe.hset_multiple(&key, &set).ignore();
        }
        if !remove.is_empty() {
            pipe.hdel(&key, &remove).ignore();
        }
        if update.failure.is_some() {
            pipe.hincr(&key, "failures", 1).ignore();
        }
        if let Some(add) = &update.add_totals {
            for (field, value) in [
                ("total:seen", add.seen),
                ("total:pushed", add.pushed),
                ("total:unchanged", add.unchanged),
                ("total:deleted", add.deleted),
                ("total:dead_lettered", add.dead_lettered),
                ("total:skipped", add.skipped),
                ("total:points", add.points),
            ] {
                if value > 0 {
                    pipe.hincr(&key, field, value).ignore();
                }
            }
        }
        let mut conn = self.store.connection();
        pipe.query_async::<()>(&mut conn).await?;
        Ok(())
    }

    /// Remembers that a `mode` job should run once the current crawl of the
    /// site ends (a stronger one already remembered is kept).
    pub async fn set_followup(
        &self,
        grant: &GrantId,
        cloud: &CloudId,
        mode: SyncMode,
    ) -> Result<(), StoreError> {
        let mut conn = self.store.connection();
        redis::Script::new(SET_FOLLOWUP)
            .key(self.key(grant, cloud))
            .arg(mode.as_str())
            .invoke_async::<i64>(&mut conn)
            .await?;
        Ok(())
    }

    /// Takes the remembered follow-up, if any: only one caller gets it.
    pub async fn take_followup(
        &self,
        grant: &GrantId,
        cloud: &CloudId,
    ) -> Result<Option<SyncMode>, StoreError> {
        let mut conn = self.store.connection();
        let taken: Option<String> = redis::Script::new(TAKE_FOLLOWUP)
            .key(self.key(grant, cloud))
            .invoke_async(&mut conn)
            .await?;
        Ok(taken.as_deref().and_then(parse_mode))
    }

    /// Forgets what was crawled (watermarks, checkpoint, times, totals,
    /// errors), keeping the site itself: the next sync of it is a full crawl.
    pub async fn forget_crawl(&self, grant: &GrantId, cloud: &CloudId) -> Result<(), StoreError> {
        let mut conn = self.store.connection();
        redis::Script::new(FORGET_CRAWL)
            .key(self.key(grant, cloud))
            .invoke_async::<i64>(&mut conn)
            .await?;
        Ok(())
    }

    /// Claims the right to plan work for `site` for `ttl`: false when
    /// another planner claimed it first.
    pub async fn claim_plan(&self, site: &SiteKey, ttl: Duration) -> Result<bool, StoreError> {
        let mut conn = self.store.connection();
        let set: Option<String> = redis::cmd("SET")
            .arg(format!("{}plan:{site}", self.store.prefix()))
            .arg("1")
            .arg("NX")
            .arg("PX")
            .arg(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1))
            .query_async(&mut conn)
            .await?;
        Ok(set.is_some())
    }
}

fn json<T: Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt {
        what: "site state",
        reason: e.to_string(),
    })
}

fn parse_mode(value: &str) -> Option<SyncMode> {
    match value {
        "incremental" => Some(SyncMode::Incremental),
        "full" => Some(SyncMode::Full),
        "reconcile" => Some(SyncMode::Reconcile),
        _ => None,
    }
}

fn kind_named(name: &str) -> Option<ContentKind> {
    ContentKind::ALL.into_iter().find(|k| k.as_str() == name)
}

fn parse_state(fields: &HashMap<String, String>) -> Result<SiteState, StoreError> {
    let corrupt = |field: &str, reason: String| StoreError::Corrupt {
        what: "site state",
        reason: format!("{field}: {reason}"),
    };
    let time = |field: &str| -> Result<Option<DateTime<Utc>>, StoreError> {
        fields
            .get(field)
            .filter(|v| !v.is_empty())
            .map(|v| {
                DateTime::parse_from_rfc3339(v)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|e| corrupt(field, e.to_string()))
            })
            .transpose()
    };
    let number = |field: &str| -> Result<u64, StoreError> {
        fields
            .get(field)
            .map(|v| v.parse::<u64>().map_err(|e| corrupt(field, e.to_string())))
            .transpose()
            .map(Option::unwrap_or_default)
    };
    let decoded = |field: &str| fields.get(field).filter(|v| !v.is_empty());

    let mut state = SiteState {
        epoch: number("epoch")?,
        checkpoint: decoded("checkpoint")
            .map(|v| serde_json::from_str(v).map_err(|e| corrupt("checkpoint", e.to_string())))
            .transpose()?,
        last_sync_at: time("last_sync_at")?,
        last_sync_mode: decoded("last_sync_mode").and_then(|v| parse_mode(v)),
        last_full_sync_at: time("last_full_sync_at")?,
        last_poll_at: time("last_poll_at")?,
        last_deletion_check_at: time("last_deletion_check_at")?,
        last_reconcile_at: time("last_reconcile_at")?,
        last_error: decoded("last_error").cloned(),
        last_error_at: time("last_error_at")?,
        failures: u32::try_from(number("failures")?).unwrap_or(u32::MAX),
        poll_interval_secs: fields
            .contains_key("poll_interval_secs")
            .then(|| number("poll_interval_secs"))
            .transpose()?,
        followup: decoded("followup").and_then(|v| parse_mode(v)),
        last_run: decoded("last_run")
            .map(|v| serde_json::from_str(v).map_err(|e| corrupt("last_run", e.to_string())))
            .transpose()?,
        totals: CrawlCounters {
            seen: number("total:seen")?,
            pushed: number("total:pushed")?,
            unchanged: number("total:unchanged")?,
            deleted: number("total:deleted")?,
            dead_lettered: number("total:dead_lettered")?,
            skipped: number("total:skipped")?,
            points: number("total:points")?,
        },
        ..SiteState::default()
    };
    for (field, value) in fields {
        if let Some(kind) = field.strip_prefix("wm:").and_then(kind_named) {
            let at = DateTime::parse_from_rfc3339(value)
                .map_err(|e| corrupt(field, e.to_string()))?
                .with_timezone(&Utc);
            state.watermarks.insert(kind, at);
        } else if let Some(kind) = field.strip_prefix("window:").and_then(kind_named) {
            let items = value
                .parse::<u32>()
                .map_err(|e| corrupt(field, e.to_string()))?;
            state.window_items.insert(kind, items);
        }
    }
    Ok(state)
}
