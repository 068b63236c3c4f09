//! The simulator's configuration: what to generate, the OAuth and quota
//! parameters, addresses and indexer limits.
//!
//! Plain data with defaults and chainable setters. It holds no state and does
//! no IO; [`crate::Sim::start`] reads it once.

use std::net::SocketAddr;
use std::time::Duration;

use chrono::{DateTime, Utc};

/// Which of the simulator's sites a new grant (consent) covers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum GrantSites {
    /// Every Confluence site of the simulator.
    #[default]
    All,
    /// The first `n` sites (in the order of [`crate::SimHandle::sites`]).
    First(usize),
    /// These site indexes.
    Indexes(Vec<usize>),
}

/// Everything [`crate::Sim::start`] needs. `SimConfig::default()` is a small
/// one-site simulator with Atlassian's real limits.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Seed of every generated site and of fault schedules.
    pub seed: u64,
    /// Number of Confluence sites.
    pub sites: usize,
    /// Pages per site (including each space's home page).
    pub pages_per_site: usize,
    /// Blog posts per site; derived from the page count when `None`.
    pub blogposts_per_site: Option<usize>,
    /// Footer comments (including replies) per site; derived when `None`.
    pub footer_comments_per_site: Option<usize>,
    /// Inline comments (including replies) per site; derived when `None`.
    pub inline_comments_per_site: Option<usize>,
    /// Global spaces per site (a personal space is added); derived when `None`.
    pub spaces_per_site: Option<usize>,
    /// Size of the Atlassian user pool shared by all sites; derived when `None`.
    pub users: Option<usize>,
    /// OAuth client id; random when `None`.
    pub client_id: Option<String>,
    /// OAuth client secret; random when `None`.
    pub client_secret: Option<String>,
    /// The app's registered callback URLs. Empty: any absolute http(s) URL.
    pub callback_urls: Vec<String>,
    /// Lifetime of an access token (`expires_in`).
    pub access_token_ttl: Duration,
    /// How long a rotated-out refresh token stays usable.
    pub refresh_reuse_window: Duration,
    /// A refresh token unused for this long expires (Atlassian: 90 days).
    pub refresh_inactivity_expiry: Duration,
    /// Absolute lifetime of a token family since consent; `None`: unlimited.
    pub refresh_absolute_expiry: Option<Duration>,
    /// Lifetime of an authorization code.
    pub code_ttl: Duration,
    /// The app-wide points quota per window.
    pub quota_points: u64,
    /// Length of a quota window; windows are aligned on the epoch (so 3600 s
    /// windows reset at the top of each UTC hour).
    pub quota_window: Duration,
    /// Optional per-site (tenant) quota per window.
    pub tenant_quota_points: Option<u64>,
    /// Optional burst limit: requests per second of sim clock.
    pub burst_requests_per_second: Option<u32>,
    /// Latency added to every API response (real time).
    pub latency: Duration,
    /// How long a `timeout` fault hangs (real time) unless the sim shuts down.
    pub timeout_fault_duration: Duration,
    /// Bearer token the indexer accepts; random when `None`.
    pub indexer_token: Option<String>,
    /// Largest batch body the indexer accepts (413 above).
    pub indexer_max_batch_bytes: usize,
    /// Keep `content_markdown` of indexed documents (else only its length and
    /// hash are kept, for very large benchmark runs).
    pub indexer_keep_content: bool,
    pub auth_addr: Option<SocketAddr>,
    pub api_addr: Option<SocketAddr>,
    pub indexer_addr: Option<SocketAddr>,
    /// Sites covered by a grant whose account has no explicit site list.
    pub grant_sites: GrantSites,
    /// Add a Jira-only site to accessible-resources.
    pub jira_only_site: bool,
    /// Start of the sim clock; the wall clock when `None`.
    pub start_time: Option<DateTime<Utc>>,
    /// Freeze the sim clock: it then moves only when advanced.
    pub freeze_clock: bool,
    /// Most recent API requests kept in the request log (counters keep counting).
    pub request_log_capacity: usize,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 1,
            sites: 1,
            pages_per_site: 200,
            blogposts_per_site: None,
            footer_comments_per_site: None,
            inline_comments_per_site: None,
            spaces_per_site: None,
            users: None,
            client_id: None,
            client_secret: None,
            callback_urls: Vec::new(),
            access_token_ttl: Duration::from_secs(3600),
            refresh_reuse_window: Duration::from_secs(600),
            refresh_inactivity_expiry: Duration::from_secs(90 * 86_400),
            refresh_absolute_expiry: None,
            code_ttl: Duration::from_secs(600),
            quota_points: 65_000,
            quota_window: Duration::from_secs(3600),
            tenant_quota_points: None,
            burst_requests_per_second: None,
            latency: Duration::ZERO,
            timeout_fault_duration: Duration::from_secs(60),
            indexer_token: None,
            indexer_max_batch_bytes: 10 * 1024 * 1024,
            indexer_keep_content: true,
            auth_addr: None,
            api_addr: None,
            indexer_addr: None,
            grant_sites: GrantSites::All,
            jira_only_site: true,
            start_time: None,
            freeze_clock: false,
            request_log_capacity: 200_000,
        }
    }
}

macro_rules! setter {
    ($(#[$meta:meta])* $name:ident: $field:ident, $ty:ty) => {
        $(#[$meta])*
        #[must_use]
        pub fn $name(mut self, value: $ty) -> Self {
            self.$field = value;
            self
        }
    };
    ($(#[$meta:meta])* $name:ident: $field:ident, Some $ty:ty) => {
        $(#[$meta])*
        #[must_use]
        pub fn $name(mut self, value: $ty) -> Self {
            self.$field = Some(value.into());
            self
        }
    };
}

impl SimConfig {
    setter!(seed: seed, u64);
    setter!(sites: sites, usize);
    setter!(pages: pages_per_site, usize);
    setter!(blogposts: blogposts_per_site, Some usize);
    setter!(footer_comments: footer_comments_per_site, Some usize);
    setter!(inline_comments: inline_comments_per_site, Some usize);
    setter!(spaces: spaces_per_site, Some usize);
    setter!(users: users, Some usize);
    setter!(client_id: client_id, Some &str);
    setter!(client_secret: client_secret, Some &str);
    setter!(access_token_ttl: access_token_ttl, Duration);
    setter!(reuse_window: refresh_reuse_window, Duration);
    setter!(inactivity_expiry: refresh_inactivity_expiry, Duration);
    setter!(absolute_expiry: refresh_absolute_expiry, Some Duration);
    setter!(quota_points: quota_points, u64);
    setter!(quota_window: quota_window, Duration);
    setter!(tenant_quota_points: tenant_quota_points, Some u64);
    setter!(burst_requests_per_second: burst_requests_per_second, Some u32);
    setter!(latency: latency, Duration);
    setter!(timeout_fault_duration: timeout_fault_duration, Duration);
    setter!(indexer_token: indexer_token, Some &str);
    setter!(indexer_max_batch_bytes: indexer_max_batch_bytes, usize);
    setter!(indexer_keep_content: indexer_keep_content, bool);
    setter!(auth_addr: auth_addr, Some SocketAddr);
    setter!(api_addr: api_addr, Some SocketAddr);
    setter!(indexer_addr: indexer_addr, Some SocketAddr);
    setter!(grant_sites: grant_sites, GrantSites);
    setter!(jira_only_site: jira_only_site, bool);
    setter!(start_time: start_time, Some DateTime<Utc>);
    setter!(freeze_clock: freeze_clock, bool);

    /// Adds a registered callback URL.
    #[must_use]
    pub fn callback_url(mut self, url: &str) -> Self {
        self.callback_urls.push(url.to_owned());
        self
    }

    /// A grant covers the first `n` sites.
    #[must_use]
    pub fn grant_first_sites(self, n: usize) -> Self {
        self.grant_sites(GrantSites::First(n))
    }

    pub(crate) fn effective_blogposts(&self) -> usize {
        self.blogposts_per_site.unwrap_or(self.pages_per_site / 10)
    }

    pub(crate) fn effective_footer_comments(&self) -> usize {
        self.footer_comments_per_site
            .unwrap_or(self.pages_per_site / 2)
    }

    pub(crate) fn effective_inline_comments(&self) -> usize {
        self.inline_comments_per_site
            .unwrap_or(self.pages_per_site / 4)
    }

    pub(crate) fn effective_spaces(&self) -> usize {
        self.spaces_per_site
            .unwrap_or((self.pages_per_site / 2000).clamp(2, 60))
            .max(1)
    }

    pub(crate) fn effective_users(&self) -> usize {
        self.users
            .unwrap_or((self.pages_per_site / 100).clamp(12, 2000))
            .max(4)
    }
}
