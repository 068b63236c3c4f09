//! The store against a real Redis (`REDIS_URL`, default 127.0.0.1:6379), each
//! test under its own random prefix, deleted at the end.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use chrono::Utc;
use confsync_core::jobs::{SyncJob, SyncMode, SyncTrigger};
use confsync_core::{AccountId, CloudId, TenantId};
use confsync_store::crypto::Keyring;
use confsync_store::{
    NewConnection, PendingConnect, SiteInfo, StateLookup, Store, StoreConfig, SyncQueue, Tokens,
    Vault,
};
use secrecy::{ExposeSecret as _, SecretString};

fn store() -> Store {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    Store::open(&StoreConfig {
        url: SecretString::from(url),
        key_prefix: format!("confsync-test:{}:", uuid::Uuid::new_v4().simple()),
        connect_timeout: Duration::from_secs(2),
        response_timeout: Duration::from_secs(2),
        reconnect_min_delay: Duration::from_millis(20),
        reconnect_max_delay: Duration::from_millis(200),
    })
    .unwrap()
}

async fn dump(store: &Store) -> String {
    let mut conn = store.connection();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}*", store.prefix()))
        .query_async(&mut conn)
        .await
        .unwrap();
    let mut out = String::new();
    for key in keys {
        let kind: String = redis::cmd("TYPE")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .unwrap();
        let value = match kind.as_str() {
            "string" => redis::cmd("GET")
                .arg(&key)
                .query_async::<String>(&mut conn)
                .await
                .unwrap(),
            "hash" => format!(
                "{:?}",
                redis::cmd("HGETALL")
                    .arg(&key)
                    .query_async::<Vec<String>>(&mut conn)
                    .await
                    .unwrap()
            ),
            "set" => format!(
                "{:?}",
                redis::cmd("SMEMBERS")
                    .arg(&key)
                    .query_async::<Vec<String>>(&mut conn)
                    .await
                    .unwrap()
            ),
            "list" => format!(
                "{:?}",
                redis::cmd("LRANGE")
                    .arg(&key)
                    .arg(0)
                    .arg(-1)
                    .query_async::<Vec<String>>(&mut conn)
                    .await
                    .unwrap()
            ),
            _ => String::new(),
        };
        out.push_str(&format!("{key} {value}\n"));
    }
    out
}

fn pending(tenant: &str, minutes: i64) -> PendingConnect {
    PendingConnect {
        v: 1,
        tenant_id: TenantId::parse(tenant).unwrap(),
        return_to: Some("https://app.example/done".into()),
        expires_at: Utc::now() + chrono::Duration::minutes(minutes),
    }
}

#[tokio::test]
async fn an_oauth_state_is_consumed_once_and_its_misuse_is_named() {
    let store = store();
    let state = "s-0123456789abcdef";
    store
        .save_oauth_state(state, &pending("t1", 10))
        .await
        .unwrap();
    assert!(
        !dump(&store).await.contains(state),
        "the raw state must not be a key"
    );
    let first = store.consume_oauth_state(state, Utc::now()).await.unwrap();
    assert_eq!(first, StateLookup::Valid(pending_with_expiry(&first)));
    assert_eq!(
        store.consume_oauth_state(state, Utc::now()).await.unwrap(),
        StateLookup::Reused
    );
    assert_eq!(
        store
            .consume_oauth_state("never-issued", Utc::now())
            .await
            .unwrap(),
        StateLookup::Unknown
    );

    store
        .save_oauth_state("late", &pending("t1", 10))
        .await
        .unwrap();
    let later = Utc::now() + chrono::Duration::minutes(11);
    assert_eq!(
        store.consume_oauth_state("late", later).await.unwrap(),
        StateLookup::Expired
    );
    store.delete_all_keys().await.unwrap();
}

fn pending_with_expiry(lookup: &StateLookup) -> PendingConnect {
    match lookup {
        StateLookup::Valid(p) => {
            assert_eq!(p.tenant_id.as_str(), "t1");
            assert_eq!(p.return_to.as_deref(), Some("https://app.example/done"));
            p.clone()
        }
        other => panic!("expected a valid state, got {other:?}"),
    }
}

fn connection(tenant: &str, account: &str, access: &str, sites: &[&str]) -> NewConnection {
    NewConnection {
        tenant_id: TenantId::parse(tenant).unwrap(),
        account_id: AccountId::parse(account).unwrap(),
        tokens: Tokens {
            access_token: SecretString::from(access.to_owned()),
            refresh_token: Some(SecretString::from(format!("{access}-refresh"))),
            access_expires_at: Utc::now() + chrono::Duration::hours(1),
        },
        scopes: vec!["read:page:confluence".into(), "offline_access".into()],
        sites: sites
            .iter()
            .map(|c| SiteInfo {
                cloud_id: CloudId::parse(*c).unwrap(),
                url: format!("https://{c}.atlassian.net"),
                name: format!("Site {c}"),
            })
            .collect(),
    }
}

#[tokio::test]
async fn grants_are_sealed_at_rest_and_a_reconsent_updates_the_same_grant() {
    let store = store();
    let vault = Vault::new(store.clone(), Keyring::new(&[3; 32], None));
    let first = vault
        .store_connection(&connection("t1", "acc-1", "access-AAA", &["c1", "c2"]))
        .await
        .unwrap();
    assert!(first.created);
    let raw = dump(&store).await;
    assert!(
        !raw.contains("access-AAA"),
        "a token is readable in the dump:\n{raw}"
    );

    let tokens = vault.tokens(&first.grant_id).await.unwrap().unwrap();
    assert_eq!(tokens.access_token.expose_secret(), "access-AAA");
    assert_eq!(
        tokens.refresh_token.unwrap().expose_secret(),
        "access-AAA-refresh"
    );
    let sites: Vec<_> = vault
        .sites(&first.grant_id)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.cloud_id)
        .collect();
    assert_eq!(
        sites,
        [CloudId::parse("c1").unwrap(), CloudId::parse("c2").unwrap()]
    );

    let again = vault
        .store_connection(&connection("t1", "acc-1", "access-BBB", &["c2"]))
        .await
        .unwrap();
    assert_eq!(again.grant_id, first.grant_id);
    assert!(!again.created);
    let tokens = vault.tokens(&first.grant_id).await.unwrap().unwrap();
    assert_eq!(tokens.access_token.expose_secret(), "access-BBB");
    assert_eq!(vault.sites(&first.grant_id).await.unwrap().len(), 1);

    // Another tenant connecting the same account gets its own grant.
    let other = vault
        .store_connection(&connection("t2", "acc-1", "access-CCC", &["c1"]))
        .await
        .unwrap();
    assert_ne!(other.grant_id, first.grant_id);
    assert_eq!(vault.all_grants().await.unwrap().len(), 2);
    let grant = vault.grant(&first.grant_id).await.unwrap().unwrap();
    assert_eq!(grant.tenant_id.as_str(), "t1");
    assert_eq!(grant.scopes, ["read:page:confluence", "offline_access"]);

    // A vault with another key cannot open them.
    let stranger = Vault::new(store.clone(), Keyring::new(&[4; 32], None));
    assert!(stranger.tokens(&first.grant_id).await.is_err());
    store.delete_all_keys().await.unwrap();
}

#[tokio::test]
async fn concurrent_reconsents_of_one_account_converge_on_one_grant() {
    let store = store();
    let vault = Vault::new(store.clone(), Keyring::new(&[3; 32], None));
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let vault = vault.clone();
            tokio::spawn(async move {
                vault
                    .store_connection(&connection("t1", "acc-1", &format!("tok-{i}"), &["c1"]))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap().grant_id);
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "one account, one tenant: one grant");
    assert_eq!(vault.all_grants().await.unwrap().len(), 1);
    store.delete_all_keys().await.unwrap();
}

#[tokio::test]
async fn the_dev_key_is_shared_by_every_process_of_an_install() {
    let store = store();
    let a = Vault::with_shared_dev_key(store.clone()).await.unwrap();
    let b = Vault::with_shared_dev_key(store.clone()).await.unwrap();
    assert_eq!(a.keyring().current_key_id(), b.keyring().current_key_id());
    let stored = a
        .store_connection(&connection("t1", "acc-1", "tok", &["c1"]))
        .await
        .unwrap();
    assert_eq!(
        b.tokens(&stored.grant_id)
            .await
            .unwrap()
            .unwrap()
            .access_token
            .expose_secret(),
        "tok"
    );
    store.delete_all_keys().await.unwrap();
}

#[tokio::test]
async fn sync_jobs_queue_under_the_prefix() {
    let store = store();
    let queue = SyncQueue::new(&store);
    for cloud in ["c1", "c2"] {
        let job = SyncJob::new(
            "g1".parse().unwrap(),
            CloudId::parse(cloud).unwrap(),
            SyncMode::Full,
            SyncTrigger::Connect,
        );
        queue.push(job).await.unwrap();
    }
    let jobs = queue.pending().await.unwrap();
    let mut clouds: Vec<_> = jobs.iter().map(|j| j.cloud_id.as_str()).collect();
    clouds.sort_unstable();
    assert_eq!(clouds, ["c1", "c2"]);
    assert!(jobs.iter().all(|j| j.mode == SyncMode::Full));
    assert!(
        store.delete_all_keys().await.unwrap() > 0,
        "queue keys live under the prefix"
    );
}

#[tokio::test]
async fn a_lease_is_held_by_one_owner_and_only_that_owner_renews_or_frees_it() {
    let store = store();
    let ttl = Duration::from_secs(30);
    let first = store
        .try_lock("crawl:c1", ttl)
        .await
        .unwrap()
        .expect("free lock");
    assert!(
        store.try_lock("crawl:c1", ttl).await.unwrap().is_none(),
        "held"
    );
    assert!(store.is_locked("crawl:c1").await.unwrap());
    assert!(first.renew(ttl).await.unwrap());
    assert!(first.release().await.unwrap());
    assert!(!store.is_locked("crawl:c1").await.unwrap());

    // An expired lease cannot free (or renew) its successor's.
    let short = store
        .try_lock("crawl:c2", Duration::from_millis(1))
        .await
        .unwrap()
        .unwrap();
    let successor = loop {
        // The 1 ms lease expires on Redis' clock; take it as soon as it has.
        if let Some(lease) = store.try_lock("crawl:c2", ttl).await.unwrap() {
            break lease;
        }
    };
    assert!(!short.renew(ttl).await.unwrap());
    assert!(!short.release().await.unwrap());
    assert!(
        store.is_locked("crawl:c2").await.unwrap(),
        "the successor still holds it"
    );
    assert!(successor.release().await.unwrap());
    store.delete_all_keys().await.unwrap();
}
