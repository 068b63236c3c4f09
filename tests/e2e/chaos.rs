//! Outages and faults: what the daemon does when the things it depends on
//! misbehave. `make chaos` runs this module alone.

use std::time::Duration;

use confsync_tests::redis_server::RedisServer;
use confsync_tests::{TestPrefix, eventually, settings, spawn_receiver, spawn_worker};

#[tokio::test]
async fn readiness_follows_redis_down_and_back_without_a_restart() {
    let mut redis = RedisServer::start().await;
    let prefix = TestPrefix::on(&redis.url());
    let receiver = spawn_receiver(settings(&prefix, &[])).await;
    let worker = spawn_worker(settings(&prefix, &[])).await;
    for server in [&receiver, &worker] {
        let up = eventually(Duration::from_secs(5), || async {
            (server.status("/readyz").await == 200).then_some(())
        });
        assert!(up.await.is_some(), "not ready while redis is up");
    }

    redis.kill();
    for server in [&receiver, &worker] {
        let down = eventually(Duration::from_secs(10), || async {
            (server.status("/readyz").await == 503).then_some(())
        });
        assert!(
            down.await.is_some(),
            "/readyz did not turn 503 with redis down"
        );
        assert_eq!(
            server.status("/healthz").await,
            200,
            "/healthz must not depend on redis"
        );
    }

    redis.restart().await;
    for server in [&receiver, &worker] {
        let back = eventually(Duration::from_secs(10), || async {
            (server.status("/readyz").await == 200).then_some(())
        });
        assert!(
            back.await.is_some(),
            "/readyz did not recover once redis was back"
        );
    }
    receiver.stop().await.unwrap();
    worker.stop().await.unwrap();
}
