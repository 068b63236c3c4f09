//! Every route the crawler needs parses into the core wire models.

use std::collections::HashSet;

use confsync_confluence::{
    BodyFormat, ItemQuery, Limit, ListQuery, Listing, Sort, SortField, StatusFilter,
};
use confsync_core::content::{self, Page};
use confsync_core::{AccountId, ContentId, SpaceId};
use confsync_sim::{CommentKind, ContentType, Status};
use serde::de::DeserializeOwned;

use crate::support::{Rig, sim_config};

async fn all<T: DeserializeOwned + Send + 'static>(mut listing: Listing<T>) -> Vec<T> {
    let mut items = Vec::new();
    while let Some(page) = listing.next_page().await.unwrap() {
        items.extend(page.results);
    }
    items
}

#[tokio::test]
async fn spaces_pages_and_blog_posts_parse() {
    let rig = Rig::new(sim_config()).await;
    let counts = rig.sim.site_counts(rig.cloud().as_str()).unwrap();

    let spaces = all(rig.site.spaces(ListQuery::new(Limit::new(2).unwrap()))).await;
    assert_eq!(spaces.len(), counts.spaces);
    assert!(spaces.iter().all(|s| !s.key.is_empty()));

    let space = SpaceId::parse(spaces[0].id.clone()).unwrap();
    let in_space = all(rig.site.space_pages(&space, ListQuery::default()).unwrap()).await;
    assert!(!in_space.is_empty());
    assert!(
        in_space
            .iter()
            .all(|p| p.space_id.as_deref() == Some(space.as_str()))
    );
    let filtered = all(rig.site.pages(ListQuery::default().space_id(space.clone()))).await;
    assert_eq!(filtered.len(), in_space.len());

    let posts = all(rig.site.blog_posts(
        ListQuery::default()
            .sort(Sort::desc(SortField::ModifiedDate))
            .body_format(BodyFormat::Storage),
    ))
    .await;
    let live_posts = rig
        .sim
        .contents(
            rig.cloud().as_str(),
            ContentType::BlogPost,
            &[Status::Current],
        )
        .unwrap();
    assert_eq!(posts.len(), live_posts.len());
    assert!(posts.iter().all(|p| {
        p.body
            .as_ref()
            .and_then(|b| b.storage.as_ref())
            .is_some_and(|s| !s.value.is_empty())
    }));
    let modified: Vec<_> = posts
        .iter()
        .map(|p| p.version.as_ref().and_then(|v| v.created_at))
        .collect();
    assert!(modified.windows(2).all(|w| w[0] >= w[1]), "newest first");
}

#[tokio::test]
async fn trashed_pages_are_listed_only_when_asked_for() {
    let rig = Rig::new(sim_config()).await;
    let cloud = rig.cloud();
    let victim = rig
        .sim
        .contents(cloud.as_str(), ContentType::Page, &[Status::Current])
        .unwrap()
        .pop()
        .unwrap();
    rig.sim.trash(cloud.as_str(), &victim.id).unwrap();
    let trashed = all(rig
        .site
        .pages(ListQuery::default().status(StatusFilter::Trashed)))
    .await;
    assert!(trashed.iter().any(|p| p.id == victim.id));
    assert!(trashed.iter().all(|p| p.status == content::Status::Trashed));
    let live = all(rig.site.pages(ListQuery::default())).await;
    assert!(live.iter().all(|p| p.id != victim.id));
}

#[tokio::test]
async fn comments_replies_and_labels_parse() {
    let rig = Rig::new(sim_config()).await;
    let cloud = rig.cloud();
    // Comments of trashed content disappear from every listing.
    let trashed: HashSet<String> = [ContentType::Page, ContentType::BlogPost]
        .into_iter()
        .flat_map(|kind| {
            rig.sim
                .contents(cloud.as_str(), kind, &[Status::Trashed])
                .unwrap()
        })
        .map(|c| c.id)
        .collect();
    let comments: Vec<_> = rig
        .sim
        .comments(cloud.as_str())
        .unwrap()
        .into_iter()
        .filter(|c| !trashed.contains(&c.container_id))
        .collect();

    let footer = all(rig.site.footer_comments(ListQuery::default())).await;
    let inline = all(rig.site.inline_comments(ListQuery::default())).await;
    let count = |kind| comments.iter().filter(|c| c.kind == kind).count();
    assert_eq!(footer.len(), count(CommentKind::Footer));
    assert_eq!(inline.len(), count(CommentKind::Inline));
    assert!(
        footer.iter().any(|c| c.parent_comment_id.is_some()),
        "replies are listed site-wide"
    );
    assert!(
        inline
            .iter()
            .any(|c| c.properties.inline_original_selection.is_some())
    );

    // The replies of one footer comment, through `/children`.
    let reply = comments
        .iter()
        .find(|c| c.kind == CommentKind::Footer && c.parent_comment_id.is_some())
        .expect("the site has a footer reply");
    let parent = ContentId::parse(reply.parent_comment_id.clone().unwrap()).unwrap();
    let replies = all(rig
        .site
        .footer_comment_replies(&parent, ListQuery::default())
        .unwrap())
    .await;
    assert!(replies.iter().any(|r| r.id == reply.id));
    assert!(
        replies
            .iter()
            .all(|r| r.parent_comment_id.as_deref() == Some(parent.as_str()))
    );

    // A page's own top-level comments.
    let top = comments
        .iter()
        .find(|c| {
            c.kind == CommentKind::Inline
                && c.parent_comment_id.is_none()
                && c.container_type == ContentType::Page
        })
        .expect("the site has an inline comment on a page");
    let page = ContentId::parse(top.container_id.clone()).unwrap();
    let on_page = all(rig
        .site
        .page_inline_comments(&page, ListQuery::default())
        .unwrap())
    .await;
    assert!(on_page.iter().any(|c| c.id == top.id));

    // Labels of a labelled page.
    let labelled = rig
        .sim
        .contents(cloud.as_str(), ContentType::Page, &[Status::Current])
        .unwrap()
        .into_iter()
        .find(|c| !c.labels.is_empty())
        .expect("a labelled page");
    let id = ContentId::parse(labelled.id.clone()).unwrap();
    let labels = all(rig
        .site
        .page_labels(&id, ListQuery::new(Limit::new(1).unwrap()))
        .unwrap())
    .await;
    let names: HashSet<String> = labels.into_iter().map(|l| l.name).collect();
    assert_eq!(names, labelled.labels.into_iter().collect());
}

#[tokio::test]
async fn a_single_page_parses_with_its_body() {
    let rig = Rig::new(sim_config()).await;
    let first = rig
        .sim
        .contents(rig.cloud().as_str(), ContentType::Page, &[Status::Current])
        .unwrap()
        .remove(0);
    let id = ContentId::parse(first.id.clone()).unwrap();
    let query = ItemQuery {
        body_format: Some(BodyFormat::Storage),
        statuses: Vec::new(),
    };
    let page: Page = rig.site.page(&id, &query).await.unwrap();
    assert_eq!(page.id, first.id);
    assert_eq!(page.title, first.title);
    assert!(page.links.base.is_some(), "single items carry _links.base");
    let storage = page.body.unwrap().storage.unwrap().value;
    assert_eq!(
        storage,
        rig.sim
            .storage_body(rig.cloud().as_str(), &first.id)
            .unwrap()
    );
}

#[tokio::test]
async fn users_come_in_chunks_of_two_hundred() {
    let rig = Rig::new(sim_config().pages(1_000).users(300)).await;
    let pages = all(rig.site.pages(ListQuery::default())).await;
    let mut authors: Vec<String> = pages.iter().filter_map(|p| p.author_id.clone()).collect();
    authors.sort();
    authors.dedup();
    // Pad with accounts Atlassian does not know, to pass 200 ids for sure.
    let mut ids: Vec<AccountId> = authors
        .iter()
        .map(|a| AccountId::parse(a.clone()).unwrap())
        .collect();
    ids.extend((0..250).map(|i| AccountId::parse(format!("557058:unknown-{i}")).unwrap()));
    ids.push(ids[0].clone());
    rig.sim.reset_requests();

    let users = rig.site.users(&ids).await.unwrap();

    let bulk: Vec<_> = rig
        .api_requests()
        .into_iter()
        .filter(|r| r.path.contains("/rest/api/user/bulk"))
        .collect();
    let unique = authors.len() + 250;
    assert_eq!(
        bulk.len(),
        unique.div_ceil(200),
        "duplicates are asked once"
    );
    for request in &bulk {
        assert_eq!(request.status, 200);
        assert!(request.path.matches("accountId=").count() <= 200);
    }
    let returned: HashSet<&str> = users.iter().map(|u| u.account_id.as_str()).collect();
    assert!(returned.iter().all(|id| authors.iter().any(|a| a == id)));
    assert!(
        returned.len() * 10 >= authors.len() * 8,
        "most of the {} authors resolve, got {}",
        authors.len(),
        returned.len()
    );
    assert!(users.iter().all(|u| u.name().is_some()));
    assert!(rig.site.users(&[]).await.unwrap().is_empty());
}

#[tokio::test]
async fn single_and_current_users_parse() {
    let rig = Rig::new(sim_config()).await;
    let me = rig.site.current_user().await.unwrap();
    assert!(!me.account_id.is_empty());
    assert!(me.name().is_some());
    let id = AccountId::parse(me.account_id.clone()).unwrap();
    let again = rig.site.user(&id).await.unwrap().expect("a known account");
    assert_eq!(again.account_id, me.account_id);
    let unknown = AccountId::parse("557058:nobody").unwrap();
    assert_eq!(rig.site.user(&unknown).await.unwrap(), None);
    assert_eq!(
        rig.tokens.refreshes(),
        0,
        "a v1 404 is not the expiry quirk"
    );
}
