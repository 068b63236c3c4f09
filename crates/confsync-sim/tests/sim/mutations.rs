//! Mutations are visible to the next listing: edits, trash and restore,
//! archive, purge, rename, move, labels and comments.

use std::time::Duration;

use confsync_sim::{CommentKind, ContentType, Edit, Move, NewComment, NewPage, Resolution, Status};
use reqwest::StatusCode;

use crate::support::{self, client, get, ids, wiki};

fn current_pages(sim: &confsync_sim::SimHandle, cloud: &str) -> Vec<String> {
    sim.contents(cloud, ContentType::Page, &[Status::Current])
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect()
}

#[tokio::test]
async fn an_edit_moves_the_page_to_the_top_of_modified_date_descending() {
    let sim = support::start(support::config()).await;
    let cloud = support::cloud(&sim);
    let (token, http) = (support::token(&sim), client());
    let url = format!(
        "{}/api/v2/pages?sort=-modified-date&limit=5&body-format=storage",
        wiki(&sim, &cloud)
    );
    let before = get(&http, &url, Some(&token)).await.json();
    let target = current_pages(&sim, &cloud)[20].clone();
    assert_ne!(ids(&before)[0], target);
    let old = sim.content(&cloud, &target).unwrap();

    sim.advance_clock(Duration::from_secs(5));
    let edited = sim
        .edit(
            &cloud,
            &target,
            Edit {
                body: Some("<p>New text</p>".into()),
                ..Edit::default()
            },
        )
        .unwrap();
    assert_eq!(edited.version, old.version + 1);
    let after = get(&http, &url, Some(&token)).await.json();
    let top = &after["results"][0];
    assert_eq!(top["id"], target.as_str());
    assert_eq!(top["version"]["number"], old.version + 1);
    assert_eq!(top["version"]["createdAt"], "2026-01-01T10:30:05.000Z");
    assert_eq!(top["body"]["storage"]["value"], "<p>New text</p>");
    assert_eq!(top["createdAt"], before_created(&sim, &cloud, &target));

    // An edit without a body regenerates it for the new version.
    sim.advance_clock(Duration::from_secs(5));
    sim.edit(&cloud, &target, Edit::default()).unwrap();
    let regenerated = sim.storage_body(&cloud, &target).unwrap();
    assert_ne!(regenerated, "<p>New text</p>");
    assert!(regenerated.len() > 100);
    sim.shutdown().await;
}

fn before_created(sim: &confsync_sim::SimHandle, cloud: &str, id: &str) -> String {
    sim.content(cloud, id)
        .unwrap()
        .created_at
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[tokio::test]
async fn trash_hides_from_default_listings_and_shows_under_status_trashed() {
    let sim = support::start(support::config()).await;
    let cloud = support::cloud(&sim);
    let (token, http) = (support::token(&sim), client());
    let target = current_pages(&sim, &cloud)[10].clone();
    let version = sim.content(&cloud, &target).unwrap().version;
    sim.trash(&cloud, &target).unwrap();
    assert_eq!(
        sim.content(&cloud, &target).unwrap().version,
        version,
        "trash makes no version"
    );

    let all = |q: &str| {
        let q = q.to_owned();
        let (sim, token, cloud) = (&sim, token.clone(), cloud.clone());
        async move { support::crawl(sim, &token, &cloud, &format!("/api/v2/pages?limit=250{q}")).await }
    };
    assert!(!all("").await.contains(&target));
    let trashed = all("&status=trashed").await;
    assert!(trashed.contains(&target));
    assert!(
        all("&status=current&status=trashed")
            .await
            .contains(&target)
    );

    sim.advance_clock(Duration::from_secs(3));
    let restored = sim.restore(&cloud, &target).unwrap();
    assert_eq!(restored.status, Status::Current);
    assert_eq!(restored.version, version + 1, "restore makes a version");
    assert!(all("").await.contains(&target));
    assert!(!all("&status=trashed").await.contains(&target));

    let bad_status = get(
        &http,
        &format!("{}/api/v2/pages?status=draft", wiki(&sim, &cloud)),
        Some(&token),
    )
    .await;
    assert_eq!(bad_status.status, StatusCode::BAD_REQUEST);
    sim.shutdown().await;
}

#[tokio::test]
async fn archive_purge_rename_move_and_create() {
    let sim = support::start(support::config()).await;
    let cloud = support::cloud(&sim);
    let (token, http) = (support::token(&sim), client());
    let pages = current_pages(&sim, &cloud);
    let page = |id: &str| {
        let url = format!(
            "{}/api/v2/pages/{id}?body-format=storage",
            wiki(&sim, &cloud)
        );
        let (http, token) = (http.clone(), token.clone());
        async move { get(&http, &url, Some(&token)).await }
    };

    sim.archive(&cloud, &pages[11]).unwrap();
    let listed = support::crawl(&sim, &token, &cloud, "/api/v2/pages?limit=250").await;
    assert!(
        listed.contains(&pages[11]),
        "archived pages list by default"
    );
    assert_eq!(page(&pages[11]).await.json()["status"], "archived");

    sim.purge(&cloud, &pages[12]).unwrap();
    assert_eq!(page(&pages[12]).await.status, StatusCode::NOT_FOUND);
    for status in ["", "&status=trashed", "&status=deleted"] {
        let listed = support::crawl(
            &sim,
            &token,
            &cloud,
            &format!("/api/v2/pages?limit=250{status}"),
        )
        .await;
        assert!(!listed.contains(&pages[12]), "{status}");
    }

    let before = page(&pages[13]).await.json();
    sim.advance_clock(Duration::from_secs(1));
    sim.rename(&cloud, &pages[13], "A brand new title").unwrap();
    let after = page(&pages[13]).await.json();
    assert_eq!(after["title"], "A brand new title");
    assert_eq!(
        after["version"]["number"],
        before["version"]["number"].as_u64().unwrap() + 1
    );
    assert_eq!(after["body"], before["body"], "a rename keeps the body");
    assert!(
        after["_links"]["webui"]
            .as_str()
            .unwrap()
            .ends_with("/A+brand+new+title")
    );

    let parent = pages[14].clone();
    sim.move_page(
        &cloud,
        &pages[15],
        Move {
            parent_id: Some(parent.clone()),
            ..Move::default()
        },
    )
    .unwrap();
    assert_eq!(page(&pages[15]).await.json()["parentId"], parent.as_str());
    let cycle = sim.move_page(
        &cloud,
        &parent,
        Move {
            parent_id: Some(pages[15].clone()),
            ..Move::default()
        },
    );
    assert!(cycle.is_err(), "a page cannot move under its own child");

    let created = sim
        .create_page(
            &cloud,
            NewPage {
                parent_id: Some(parent.clone()),
                title: Some("Fresh".into()),
                ..NewPage::default()
            },
        )
        .unwrap();
    let fresh = page(&created.id).await.json();
    assert_eq!(
        (fresh["title"].clone(), fresh["parentId"].clone()),
        ("Fresh".into(), parent.as_str().into())
    );
    assert_eq!(fresh["version"]["number"], 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn labels_appear_on_the_label_endpoint_and_single_items() {
    let sim = support::start(support::config()).await;
    let cloud = support::cloud(&sim);
    let (token, http) = (support::token(&sim), client());
    let target = current_pages(&sim, &cloud)[30].clone();
    sim.add_label(&cloud, &target, "brand-new-label").unwrap();
    let labels = get(
        &http,
        &format!("{}/api/v2/pages/{target}/labels", wiki(&sim, &cloud)),
        Some(&token),
    )
    .await
    .json();
    let names: Vec<&str> = labels["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"brand-new-label"));
    assert!(
        labels["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["prefix"] == "global" && l["id"].is_string())
    );
    let single = get(
        &http,
        &format!(
            "{}/api/v2/pages/{target}?include-labels=true",
            wiki(&sim, &cloud)
        ),
        Some(&token),
    )
    .await
    .json();
    assert!(
        single["labels"]["results"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["name"] == "brand-new-label")
    );
    sim.remove_label(&cloud, &target, "brand-new-label")
        .unwrap();
    let labels = get(
        &http,
        &format!("{}/api/v2/pages/{target}/labels", wiki(&sim, &cloud)),
        Some(&token),
    )
    .await
    .json();
    assert!(!labels.to_string().contains("brand-new-label"));
    sim.shutdown().await;
}

#[tokio::test]
async fn comments_and_replies_are_listed_where_confluence_lists_them() {
    let sim = support::start(support::config()).await;
    let cloud = support::cloud(&sim);
    let (token, http) = (support::token(&sim), client());
    let page = current_pages(&sim, &cloud)[25].clone();
    sim.advance_clock(Duration::from_secs(10));
    let root = sim
        .add_comment(
            &cloud,
            NewComment {
                kind: CommentKind::Footer,
                container_id: Some(page.clone()),
                parent_comment_id: None,
                body: Some("<p>Root</p>".into()),
                selection: None,
            },
        )
        .unwrap();
    sim.advance_clock(Duration::from_secs(10));
    let reply = sim
        .add_comment(
            &cloud,
            NewComment {
                kind: CommentKind::Footer,
                container_id: None,
                parent_comment_id: Some(root.id.clone()),
                body: Some("<p>Reply</p>".into()),
                selection: None,
            },
        )
        .unwrap();
    let base = wiki(&sim, &cloud);
    let newest = get(
        &http,
        &format!("{base}/api/v2/footer-comments?sort=-created-date&limit=2&body-format=storage"),
        Some(&token),
    )
    .await
    .json();
    assert_eq!(ids(&newest), [reply.id.clone(), root.id.clone()]);
    assert_eq!(newest["results"][0]["parentCommentId"], root.id.as_str());
    assert_eq!(
        newest["results"][0]["body"]["storage"]["value"],
        "<p>Reply</p>"
    );

    let of_page = get(
        &http,
        &format!("{base}/api/v2/pages/{page}/footer-comments?limit=250"),
        Some(&token),
    )
    .await
    .json();
    assert!(ids(&of_page).contains(&root.id));
    assert!(
        !ids(&of_page).contains(&reply.id),
        "page listings hold top-level comments"
    );
    assert!(
        of_page["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["pageId"] == page.as_str())
    );
    let children = get(
        &http,
        &format!("{base}/api/v2/footer-comments/{}/children", root.id),
        Some(&token),
    )
    .await
    .json();
    assert_eq!(ids(&children), std::slice::from_ref(&reply.id));

    let inline = sim
        .add_comment(
            &cloud,
            NewComment {
                kind: CommentKind::Inline,
                container_id: Some(page.clone()),
                parent_comment_id: None,
                body: None,
                selection: Some("the highlighted words".into()),
            },
        )
        .unwrap();
    sim.resolve_comment(&cloud, &inline.id, Resolution::Resolved)
        .unwrap();
    let inline_json = get(
        &http,
        &format!("{base}/api/v2/inline-comments/{}", inline.id),
        Some(&token),
    )
    .await
    .json();
    assert_eq!(inline_json["resolutionStatus"], "resolved");
    assert_eq!(
        inline_json["properties"]["inlineOriginalSelection"],
        "the highlighted words"
    );
    let resolved = get(
        &http,
        &format!("{base}/api/v2/pages/{page}/inline-comments?resolution-status=resolved"),
        Some(&token),
    )
    .await
    .json();
    assert!(ids(&resolved).contains(&inline.id));

    sim.advance_clock(Duration::from_secs(10));
    sim.edit_comment(&cloud, &root.id, Some("<p>Edited</p>".into()))
        .unwrap();
    let modified = get(
        &http,
        &format!("{base}/api/v2/footer-comments?sort=-modified-date&limit=1"),
        Some(&token),
    )
    .await
    .json();
    assert_eq!(ids(&modified), std::slice::from_ref(&root.id));
    assert_eq!(modified["results"][0]["version"]["number"], 2);

    sim.delete_comment(&cloud, &root.id).unwrap();
    let all = support::crawl(&sim, &token, &cloud, "/api/v2/footer-comments?limit=250").await;
    assert!(
        !all.contains(&root.id) && !all.contains(&reply.id),
        "replies go with their parent"
    );
    let gone = get(
        &http,
        &format!("{base}/api/v2/footer-comments/{}", root.id),
        Some(&token),
    )
    .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);

    // Comments of trashed pages disappear with them.
    let with_comment = sim.comments(&cloud).unwrap().into_iter().find(|c| {
        c.container_type == ContentType::Page
            && sim
                .content(&cloud, &c.container_id)
                .is_ok_and(|p| p.status == Status::Current && p.parent_id.is_some())
    });
    let victim = with_comment.unwrap();
    sim.trash(&cloud, &victim.container_id).unwrap();
    let path = match victim.kind {
        CommentKind::Footer => "footer-comments",
        CommentKind::Inline => "inline-comments",
    };
    let listed: Vec<String> =
        support::crawl(&sim, &token, &cloud, &format!("/api/v2/{path}?limit=250")).await;
    assert!(!listed.contains(&victim.id));
    sim.shutdown().await;
}
