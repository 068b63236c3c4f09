//! Small pieces of wiring both servers share: the store from the settings and
//! the readiness check that pings it.

use std::sync::Arc;

use confsync_store::{Store, StoreConfig, StoreError};

use crate::ops::ReadinessCheck;
use crate::settings::Settings;

/// The store described by `settings.redis`.
pub fn open_store(settings: &Settings) -> Result<Store, StoreError> {
    let redis = &settings.redis;
    let (reconnect_min_delay, reconnect_max_delay) = redis.reconnect_delays();
    Store::open(&StoreConfig {
        url: redis.url.clone(),
        key_prefix: redis.key_prefix.clone(),
        connect_timeout: redis.connect_timeout(),
        response_timeout: redis.response_timeout(),
        reconnect_min_delay,
        reconnect_max_delay,
    })
}

/// Ready while Redis answers `PING`.
pub fn redis_readiness(store: Store) -> ReadinessCheck {
    Arc::new(move || {
        let store = store.clone();
        Box::pin(async move { store.ping().await.map_err(|e| e.to_string()) })
    })
}
