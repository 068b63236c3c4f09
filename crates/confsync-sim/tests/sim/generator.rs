//! The seeded generator as seen through the API: determinism, realistic
//! trees, histories and bodies that use every storage construct.

use std::collections::{HashMap, HashSet};

use confsync_sim::{ContentType, SimConfig, Status};
use serde_json::Value;

use crate::support::{self, client, get, wiki};

async fn first_pages(sim: &confsync_sim::SimHandle) -> Value {
    let cloud = support::cloud(sim);
    let url = format!(
        "{}/api/v2/pages?limit=50&body-format=storage",
        wiki(sim, &cloud)
    );
    get(&client(), &url, Some(&support::token(sim)))
        .await
        .json()
}

#[tokio::test]
async fn the_same_seed_gives_the_same_site_and_another_seed_another() {
    let a = support::start(support::config()).await;
    let b = support::start(support::config()).await;
    let c = support::start(SimConfig {
        seed: 43,
        ..support::config()
    })
    .await;
    assert_eq!(a.sites(), b.sites());
    assert_ne!(a.sites(), c.sites());
    let (pa, pb, pc) = (
        first_pages(&a).await,
        first_pages(&b).await,
        first_pages(&c).await,
    );
    // Only the cursor's site-specific parts could differ; the results must not.
    assert_eq!(pa["results"], pb["results"]);
    assert_ne!(pa["results"], pc["results"]);
    for sim in [a, b, c] {
        sim.shutdown().await;
    }
}

#[tokio::test]
async fn sites_have_deep_trees_histories_and_varied_statuses() {
    let sim = support::start(support::config().pages(1_500)).await;
    let cloud = support::cloud(&sim);
    let pages = sim.contents(&cloud, ContentType::Page, &[]).unwrap();
    let parent: HashMap<String, Option<String>> = pages
        .iter()
        .map(|p| (p.id.clone(), p.parent_id.clone()))
        .collect();
    let depth = |start: &String| {
        let (mut id, mut d) = (start.clone(), 0);
        while let Some(Some(p)) = parent.get(&id) {
            id = p.clone();
            d += 1;
        }
        d
    };
    assert!(pages.iter().map(|p| depth(&p.id)).max().unwrap() >= 5);
    assert!(pages.iter().filter(|p| p.version > 1).count() > pages.len() / 2);
    assert!(pages.iter().all(|p| p.modified_at >= p.created_at));
    let now = sim.now();
    assert!(pages.iter().all(|p| p.modified_at <= now));
    assert!(pages.iter().any(|p| (now - p.created_at).num_days() > 300));
    for status in [Status::Archived, Status::Trashed] {
        assert!(pages.iter().any(|p| p.status == status), "{status:?}");
    }
    let spaces: HashSet<&str> = pages.iter().map(|p| p.space_key.as_str()).collect();
    assert!(
        spaces.iter().any(|k| k.starts_with('~')),
        "a personal space"
    );
    assert!(spaces.len() >= 3);
    assert!(
        !sim.contents(&cloud, ContentType::BlogPost, &[])
            .unwrap()
            .is_empty()
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn bodies_exercise_every_storage_construct_and_link_real_users_and_pages() {
    let sim = support::start(support::config().pages(300)).await;
    let cloud = support::cloud(&sim);
    let token = support::token(&sim);
    let http = client();
    let page = get(
        &http,
        &format!(
            "{}/api/v2/pages?limit=150&body-format=storage",
            wiki(&sim, &cloud)
        ),
        Some(&token),
    )
    .await
    .json();
    let bodies: Vec<&str> = page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["body"]["storage"]["value"].as_str().unwrap())
        .collect();
    let all = bodies.concat();
    for construct in [
        "<h1>",
        "<h2>",
        "<strong>",
        "<em>",
        "<span style=",
        "<ul>",
        "<ol start=",
        "<table",
        "<th>",
        "colspan=\"2\"",
        "rowspan=\"2\"",
        "ac:name=\"code\"",
        "ac:name=\"language\"",
        "<![CDATA[",
        "ac:name=\"noformat\"",
        "ac:name=\"info\"",
        "ac:name=\"note\"",
        "ac:name=\"warning\"",
        "ac:name=\"tip\"",
        "ac:name=\"panel\"",
        "ac:name=\"expand\"",
        "ac:name=\"status\"",
        "<ac:task-list>",
        "<ac:task-status>complete",
        "<ri:user ri:account-id=",
        "<ri:page ",
        "<a href=",
        "<ac:image",
        "<ri:attachment ri:filename=",
        "<ac:emoticon",
        "<ac:layout>",
        "<ac:layout-cell>",
        "ac:name=\"jira\"",
        "ac:name=\"excerpt\"",
        "ac:name=\"include\"",
        "ac:name=\"toc\"",
        "ac:name=\"children\"",
        "roadmap-planner-x",
        "&nbsp;",
        "&rsquo;",
        "<ac:inline-comment-marker",
        "<pre>",
        "<blockquote>",
    ] {
        assert!(all.contains(construct), "no body contains {construct}");
    }
    // Mentioned users are accounts of the pool; linked pages exist.
    let titles: HashSet<String> = sim
        .contents(&cloud, ContentType::Page, &[])
        .unwrap()
        .into_iter()
        .map(|p| p.title)
        .collect();
    let linked = all
        .split("ri:content-title=\"")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().replace("&amp;", "&"))
        .next()
        .unwrap();
    assert!(titles.contains(&linked), "{linked}");
    let sizes: Vec<usize> = bodies.iter().map(|b| b.len()).collect();
    assert!(
        sizes
            .iter()
            .filter(|s| (2_000..=25_000).contains(*s))
            .count()
            > sizes.len() / 2
    );
    sim.shutdown().await;
}
