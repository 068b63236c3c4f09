//! Grants, their sites and their tenants: the record of who connected what.
//!
//! A grant is one OAuth consent (one Atlassian account's token family) and
//! covers one or more sites; tokens belong to the grant, never to a site. Its
//! access and refresh tokens are sealed by the [`Keyring`] before they reach
//! Redis, bound to the grant id and field name.
//!
//! Keys: `grant:{id}` (hash), `grant:{id}:sites` (set of cloud ids),
//! `site:{grant}:{cloud}` (hash; crawl state joins it later), `grants` (set of
//! every grant id), `tenant:{t}:grants` (set), `tenant:{t}:accounts` (hash
//! account id → grant id, so a re-consent updates the grant it already has).

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use confsync_core::{AccountId, CloudId, GrantId, TenantId};
use secrecy::SecretString;

use crate::crypto::Keyring;
use crate::{Store, StoreError};

/// A grant's lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantStatus {
    Active,
    /// Atlassian refused the refresh token: the user must consent again.
    NeedsReauth,
    Disconnected,
}

impl GrantStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            GrantStatus::Active => "active",
            GrantStatus::NeedsReauth => "needs_reauth",
            GrantStatus::Disconnected => "disconnected",
        }
    }

    fn parse(value: &str) -> Option<GrantStatus> {
        match value {
            "active" => Some(GrantStatus::Active),
            "needs_reauth" => Some(GrantStatus::NeedsReauth),
            "disconnected" => Some(GrantStatus::Disconnected),
            _ => None,
        }
    }
}

/// A token pair as Atlassian issued it.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access_token: SecretString,
    /// Absent only when `offline_access` was not granted.
    pub refresh_token: Option<SecretString>,
    pub access_expires_at: DateTime<Utc>,
}

/// A Confluence site reachable through a grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteInfo {
    pub cloud_id: CloudId,
    pub url: String,
    pub name: String,
}

/// Everything the callback learned, to be stored in one step.
#[derive(Debug, Clone)]
pub struct NewConnection {
    pub tenant_id: TenantId,
    pub account_id: AccountId,
    pub tokens: Tokens,
    pub scopes: Vec<String>,
    pub sites: Vec<SiteInfo>,
}

/// A stored grant, without its tokens (see [`Vault::tokens`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub id: GrantId,
    pub tenant_id: TenantId,
    pub account_id: AccountId,
    pub status: GrantStatus,
    pub scopes: Vec<String>,
    pub access_expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When the tokens were last refreshed (none yet: the consent's pair).
    pub refreshed_at: Option<DateTime<Utc>>,
    /// Why the last refresh failed, if it did.
    pub last_error: Option<String>,
}

/// The outcome of [`Vault::store_connection`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredConnection {
    pub grant_id: GrantId,
    /// False when the same account re-consented for the same tenant.
    pub created: bool,
}

/// Grants and their sealed tokens.
#[derive(Clone)]
pub struct Vault {
    store: Store,
    keyring: Arc<Keyring>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("keyring", &self.keyring)
            .finish_non_exhaustive()
    }
}

/// Claims `tenant:{t}:accounts[account]` for a new grant id unless the
/// account already has one; returns the grant id in force and 1 if it is new.
const CLAIM_GRANT: &str = r"
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 1 then
  return {ARGV[2], 1}
end
return {redis.call('HGET', KEYS[1], ARGV[1]), 0}
";

impl Vault {
    pub fn new(store: Store, keyring: Keyring) -> Vault {
        Vault {
            store,
            keyring: Arc::new(keyring),
        }
    }

    /// Dev only: a key generated once and shared through Redis by every
    /// process of this install, so the worker can open what the receiver
    /// sealed. Whoever can read Redis can read the key: never in production.
    pub async fn with_shared_dev_key(store: Store) -> Result<Vault, StoreError> {
        use base64::Engine as _;
        let engine = base64::engine::general_purpose::STANDARD;
        let key_name = format!("{}dev:token_encryption_key", store.prefix());
        let mut conn = store.connection();
        let candidate = engine.encode(Keyring::generate_key());
        let _: Option<String> = redis::cmd("SET")
            .arg(&key_name)
            .arg(&candidate)
            .arg("NX")
            .query_async(&mut conn)
            .await?;
        let stored: String = redis::cmd("GET")
            .arg(&key_name)
            .query_async(&mut conn)
            .await?;
        let bytes = engine.decode(stored).map_err(|e| StoreError::Corrupt {
            what: "dev encryption key",
            reason: e.to_string(),
        })?;
        let key = <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| StoreError::Corrupt {
            what: "dev encryption key",
            reason: "not 32 bytes".into(),
        })?;
        Ok(Vault::new(store, Keyring::new(&key, None)))
    }

    pub fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    fn key(&self, suffix: &str) -> String {
        format!("{}{suffix}", self.store.prefix())
    }

    /// Stores a fresh consent: a new grant, or, when this tenant already has a
    /// grant for this Atlassian account, that grant with new tokens, status
    /// `active` and the current list of sites.
    pub async fn store_connection(
        &self,
        new: &NewConnection,
    ) -> Result<StoredConnection, StoreError> {
        let mut conn = self.store.connection();
        let accounts = self.key(&format!("tenant:{}:accounts", new.tenant_id));
        let candidate =
            GrantId::parse(format!("g-{}", random_id())).map_err(|e| StoreError::Corrupt {
                what: "grant id",
                reason: e.to_string(),
            })?;
        let (grant_id, created): (String, i64) = redis::Script::new(CLAIM_GRANT)
            .key(&accounts)
            .arg(new.account_id.as_str())
            .arg(candidate.as_str())
            .invoke_async(&mut conn)
            .await?;
        let grant_id = GrantId::parse(grant_id).map_err(|e| StoreError::Corrupt {
            what: "grant id",
            reason: e.to_string(),
        })?;
        let created = created == 1;

        let now = Utc::now().to_rfc3339();
        let access = self
            .keyring
            .seal(&new.tokens.access_token, &aad(&grant_id, "access_token"))?;
        let refresh = match &new.tokens.refresh_token {
            Some(token) => self.keyring.seal(token, &aad(&grant_id, "refresh_token"))?,
            None => String::new(),
        };
        let grant_key = self.key(&format!("grant:{grant_id}"));
        let sites_key = self.key(&format!("grant:{grant_id}:sites"));
        let mut pipe = redis::pipe();
        pipe.atomic()
            .hset_multiple(
                &grant_key,
                &[
                    ("v", "1"),
                    ("tenant_id", new.tenant_id.as_str()),
                    ("account_id", new.account_id.as_str()),
                    ("status", GrantStatus::Active.as_str()),
                    ("scopes", &new.scopes.join(" ")),
                    ("access_token", &access),
                    ("refresh_token", &refresh),
                    (
                        "access_expires_at",
                        &new.tokens.access_expires_at.to_rfc3339(),
                    ),
                    ("updated_at", &now),
                    ("last_error", ""),
                ],
            )
            .ignore()
            .hset_nx(&grant_key, "created_at", &now)
            .ignore()
            .del(&sites_key)
            .ignore();
        for site in &new.sites {
            pipe.sadd(&sites_key, site.cloud_id.as_str()).ignore();
            let site_key = self.key(&format!("site:{grant_id}:{}", site.cloud_id));
            pipe.hset_multiple(
                &site_key,
                &[("url", site.url.as_str()), ("name", site.name.as_str())],
            )
            .ignore()
            .hset_nx(&site_key, "added_at", &now)
            .ignore();
        }
        pipe.sadd(self.key("grants"), grant_id.as_str())
            .ignore()
            .sadd(
                self.key(&format!("tenant:{}:grants", new.tenant_id)),
                grant_id.as_str(),
            )
            .ignore();
        pipe.query_async::<()>(&mut conn).await?;
        Ok(StoredConnection { grant_id, created })
    }

    /// Stores a refreshed token pair. Atlassian rotates refresh tokens: the
    /// new one replaces the old in the same write as the access token, and
    /// this returns only once Redis has both, so no caller can use the new
    /// access token while the old refresh token is still the stored one.
    /// Marks the grant active and clears its last error.
    pub async fn store_refreshed(&self, id: &GrantId, tokens: &Tokens) -> Result<(), StoreError> {
        let access = self
            .keyring
            .seal(&tokens.access_token, &aad(id, "access_token"))?;
        let now = Utc::now().to_rfc3339();
        let expires = tokens.access_expires_at.to_rfc3339();
        let mut fields: Vec<(&str, &str)> = vec![
            ("access_token", &access),
            ("access_expires_at", &expires),
            ("status", GrantStatus::Active.as_str()),
            ("refreshed_at", &now),
            ("updated_at", &now),
            ("last_error", ""),
        ];
        // Without a new refresh token (no rotation) the stored one stays valid.
        let refresh = match &tokens.refresh_token {
            Some(token) => Some(self.keyring.seal(token, &aad(id, "refresh_token"))?),
            None => None,
        };
        if let Some(refresh) = &refresh {
            fields.push(("refresh_token", refresh));
        }
        self.update_existing(id, &fields).await
    }

    /// Atlassian refused the grant's refresh token: the user must consent
    /// again. Its sites stop syncing until then.
    pub async fn mark_needs_reauth(&self, id: &GrantId, reason: &str) -> Result<(), StoreError> {
        let now = Utc::now().to_rfc3339();
        self.update_existing(
            id,
            &[
                ("status", GrantStatus::NeedsReauth.as_str()),
                ("last_error", reason),
                ("updated_at", &now),
            ],
        )
        .await
    }

    /// Disconnects the grant: its tokens are deleted (not just marked) and
    /// its status becomes `disconnected`, so nothing syncs or refreshes it
    /// again. The record, its sites and crawl state stay for the operator; a
    /// new consent by the same account for the same tenant revives it.
    /// Returns false when the grant does not exist.
    pub async fn disconnect(&self, id: &GrantId) -> Result<bool, StoreError> {
        const DISCONNECT: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HDEL', KEYS[1], 'access_token', 'refresh_token')
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'updated_at', ARGV[2], 'access_expires_at', ARGV[2])
return 1
";
        let now = Utc::now().to_rfc3339();
        let mut conn = self.store.connection();
        let done: i64 = redis::Script::new(DISCONNECT)
            .key(self.key(&format!("grant:{id}")))
            .arg(GrantStatus::Disconnected.as_str())
            .arg(&now)
            .invoke_async(&mut conn)
            .await?;
        Ok(done == 1)
    }

    /// Remembers why the last refresh failed (transient failures keep the
    /// grant active).
    pub async fn record_error(&self, id: &GrantId, reason: &str) -> Result<(), StoreError> {
        let now = Utc::now().to_rfc3339();
        self.update_existing(id, &[("last_error", reason), ("updated_at", &now)])
            .await
    }

    /// HSETs `fields` on an existing grant only (a grant deleted meanwhile
    /// must not be resurrected as a partial hash).
    async fn update_existing(
        &self,
        id: &GrantId,
        fields: &[(&str, &str)],
    ) -> Result<(), StoreError> {
        const UPDATE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
";
        let script = redis::Script::new(UPDATE);
        let mut invocation = script.key(self.key(&format!("grant:{id}")));
        for (field, value) in fields {
            invocation.arg(*field).arg(*value);
        }
        let mut conn = self.store.connection();
        let updated: i64 = invocation.invoke_async(&mut conn).await?;
        if updated == 1 {
            Ok(())
        } else {
            Err(StoreError::Corrupt {
                what: "grant",
                reason: format!("grant {id} does not exist"),
            })
        }
    }

    /// The grant, without tokens.
    pub async fn grant(&self, id: &GrantId) -> Result<Option<Grant>, StoreError> {
        let fields = self.grant_fields(id).await?;
        if fields.is_empty() {
            return Ok(None);
        }
        parse_grant(id, &fields).map(Some)
    }

    /// The grant's tokens, opened.
    pub async fn tokens(&self, id: &GrantId) -> Result<Option<Tokens>, StoreError> {
        let fields = self.grant_fields(id).await?;
        if fields.is_empty() {
            return Ok(None);
        }
        let field = |name: &'static str| fields.get(name).map(String::as_str).unwrap_or_default();
        let access_token = self
            .keyring
            .open(field("access_token"), &aad(id, "access_token"))?;
        let refresh_token = match field("refresh_token") {
            "" => None,
            sealed => Some(self.keyring.open(sealed, &aad(id, "refresh_token"))?),
        };
        let access_expires_at = parse_time("access_expires_at", field("access_expires_at"))?;
        Ok(Some(Tokens {
            access_token,
            refresh_token,
            access_expires_at,
        }))
    }

    /// The sites of a grant, sorted by cloud id.
    pub async fn sites(&self, id: &GrantId) -> Result<Vec<SiteInfo>, StoreError> {
        let mut conn = self.store.connection();
        let mut cloud_ids: Vec<String> = redis::cmd("SMEMBERS")
            .arg(self.key(&format!("grant:{id}:sites")))
            .query_async(&mut conn)
            .await?;
        cloud_ids.sort();
        let mut sites = Vec::with_capacity(cloud_ids.len());
        for cloud_id in cloud_ids {
            let fields: HashMap<String, String> = redis::cmd("HGETALL")
                .arg(self.key(&format!("site:{id}:{cloud_id}")))
                .query_async(&mut conn)
                .await?;
            let cloud_id = CloudId::parse(cloud_id).map_err(|e| StoreError::Corrupt {
                what: "site",
                reason: e.to_string(),
            })?;
            sites.push(SiteInfo {
                cloud_id,
                url: fields.get("url").cloned().unwrap_or_default(),
                name: fields.get("name").cloned().unwrap_or_default(),
            });
        }
        Ok(sites)
    }

    /// Every grant id of a tenant, sorted.
    pub async fn tenant_grants(&self, tenant: &TenantId) -> Result<Vec<GrantId>, StoreError> {
        self.id_set(self.key(&format!("tenant:{tenant}:grants")))
            .await
    }

    /// Every grant id, sorted.
    pub async fn all_grants(&self) -> Result<Vec<GrantId>, StoreError> {
        self.id_set(self.key("grants")).await
    }

    async fn id_set(&self, key: String) -> Result<Vec<GrantId>, StoreError> {
        let mut conn = self.store.connection();
        let mut ids: Vec<String> = redis::cmd("SMEMBERS")
            .arg(key)
            .query_async(&mut conn)
            .await?;
        ids.sort();
        ids.into_iter()
            .map(|id| {
                GrantId::parse(id).map_err(|e| StoreError::Corrupt {
                    what: "grant id",
                    reason: e.to_string(),
                })
            })
            .collect()
    }

    async fn grant_fields(&self, id: &GrantId) -> Result<HashMap<String, String>, StoreError> {
        let mut conn = self.store.connection();
        Ok(redis::cmd("HGETALL")
            .arg(self.key(&format!("grant:{id}")))
            .query_async(&mut conn)
            .await?)
    }
}

/// Binds a sealed token to its grant and field.
fn aad(grant: &GrantId, field: &str) -> String {
    format!("grant:{grant}:{field}")
}

fn random_id() -> String {
    use rand::RngCore as _;
    let mut bytes = [0u8; 12];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

fn parse_time(what: &'static str, value: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt {
            what,
            reason: e.to_string(),
        })
}

fn parse_grant(id: &GrantId, fields: &HashMap<String, String>) -> Result<Grant, StoreError> {
    let field = |name: &'static str| fields.get(name).map(String::as_str).unwrap_or_default();
    let corrupt = |reason: String| StoreError::Corrupt {
        what: "grant",
        reason,
    };
    Ok(Grant {
        id: id.clone(),
        tenant_id: TenantId::parse(field("tenant_id")).map_err(|e| corrupt(e.to_string()))?,
        account_id: AccountId::parse(field("account_id")).map_err(|e| corrupt(e.to_string()))?,
        status: GrantStatus::parse(field("status"))
            .ok_or_else(|| corrupt(format!("status {:?}", field("status"))))?,
        scopes: field("scopes")
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
        access_expires_at: parse_time("grant access_expires_at", field("access_expires_at"))?,
        created_at: parse_time("grant created_at", field("created_at"))?,
        updated_at: parse_time("grant updated_at", field("updated_at"))?,
        refreshed_at: match field("refreshed_at") {
            "" => None,
            value => Some(parse_time("grant refreshed_at", value)?),
        },
        last_error: Some(field("last_error"))
            .filter(|e| !e.is_empty())
            .map(str::to_owned),
    })
}
