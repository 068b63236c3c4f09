//! The wire models against every recorded and synthetic Atlassian fixture
//! (copied from shared/reference so a clean clone has them), and the
//! document builder on the items they hold.

use chrono::{TimeZone, Utc};
use confsync_core::build::{
    self, BuildContext, CommentContainer, NoUserNames, ParentMap, UserNames,
};
use confsync_core::content::{
    FooterComment, InlineComment, Label, ListResponse, Page, Space, Status, User,
};
use confsync_core::document::{ContentStatus, SiteRef, SpaceRef};
use confsync_core::{CloudId, ContentId, ContentKind, GrantId, SpaceId, TenantId};
use serde::de::DeserializeOwned;

fn fixture<T: DeserializeOwned>(name: &str) -> T {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn pages_deserialize_from_listings_and_single_responses() {
    let list: ListResponse<Page> = fixture("pages-list.page1.json");
    assert_eq!(list.results.len(), 1);
    let page = &list.results[0];
    assert_eq!(page.id, "1441795");
    assert_eq!(page.status, Status::Current);
    assert_eq!(page.parent_id.as_deref(), Some("851969"));
    assert_eq!(page.parent_type.as_deref(), Some("page"));
    let version = page.version.as_ref().expect("version");
    assert_eq!(version.number, 2);
    assert_eq!(version.minor_edit, Some(false));
    assert_eq!(
        version.created_at,
        Some(
            Utc.with_ymd_and_hms(2025, 11, 19, 5, 44, 33).unwrap()
                + chrono::Duration::milliseconds(959)
        )
    );
    assert_eq!(
        page.body
            .as_ref()
            .and_then(|b| b.storage.as_ref())
            .map(|s| s.value.as_str()),
        Some("<p>hello world</p>")
    );
    assert_eq!(
        page.links.webui.as_deref(),
        Some("/spaces/DOCS/pages/1441795/Page+title")
    );
    assert!(
        list.links
            .next
            .as_deref()
            .is_some_and(|n| n.starts_with("/wiki/api/v2/"))
    );

    for name in ["page-after-create.json", "page-after-update.json"] {
        let page: Page = fixture(name);
        assert_eq!(
            page.links.base.as_deref(),
            Some("https://text2conf.atlassian.net/wiki")
        );
        assert!(page.body.and_then(|b| b.storage).is_some());
    }
    // Without body-format the body is `{}`.
    let home: Page = fixture("space-home.json");
    assert_eq!(home.parent_id, None);
    assert!(home.body.is_some_and(|b| b.storage.is_none()));
}

#[test]
fn spaces_labels_and_users_deserialize() {
    let spaces: ListResponse<Space> = fixture("spaces.json");
    let space = &spaces.results[0];
    assert_eq!(
        (space.id.as_str(), space.key.as_str(), space.name.as_str()),
        ("98445", "Docs", "Documentation")
    );
    assert_eq!(space.kind.as_deref(), Some("knowledge_base"));
    assert_eq!(spaces.links.next, None);

    let labels: ListResponse<Label> = fixture("page-labels.json");
    let names: Vec<&str> = labels.results.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["aaa", "abc"]);
    assert_eq!(labels.results[0].prefix.as_deref(), Some("global"));

    let user: User = fixture("v1-user.json");
    assert_eq!(user.name(), Some("Mia Krystof"));
    assert_eq!(
        user.account_id,
        "557058:00000000-0000-0000-0000-000000000001"
    );
}

#[test]
fn comments_deserialize_in_both_shapes() {
    let footer: ListResponse<FooterComment> = fixture("footer-comments.page1.json");
    assert_eq!(footer.results[0].page_id.as_deref(), Some("1441795"));
    let replies: ListResponse<FooterComment> = fixture("footer-comment-children.json");
    let reply = &replies.results[0];
    assert_eq!(
        (reply.page_id.as_deref(), reply.parent_comment_id.as_deref()),
        (None, Some("2000001"))
    );

    let inline: ListResponse<InlineComment> = fixture("inline-comments.page1.json");
    let comment = &inline.results[0];
    assert_eq!(comment.resolution_status.as_deref(), Some("resolved"));
    assert_eq!(
        comment.properties.inline_original_selection.as_deref(),
        Some("selected text")
    );
}

#[test]
fn other_listings_parse_with_the_generic_envelope() {
    // Attachments and properties are not crawled, but the envelope reads them.
    let attachments: ListResponse<serde_json::Value> = fixture("page-attachments.json");
    assert_eq!(
        attachments.links.next.as_deref(),
        Some("/wiki/api/v2/pages/1507344/attachments?limit=100&cursor=abc")
    );
    let properties: ListResponse<serde_json::Value> = fixture("page-properties.json");
    assert_eq!(properties.results.len(), 2);
}

struct Names;

impl UserNames for Names {
    fn display_name(&self, account_id: &str) -> Option<String> {
        account_id
            .ends_with("0001")
            .then(|| "Mia Krystof".to_owned())
    }
}

struct World {
    tenant: TenantId,
    grant: GrantId,
    site: SiteRef,
    space: SpaceRef,
    parents: ParentMap,
}

fn world() -> World {
    let mut parents = ParentMap::new();
    parents.insert("851969", "Guides", Some("98581".to_owned()));
    parents.insert("98581", "Docs home", None);
    parents.insert("1441795", "Page title", Some("851969".to_owned()));
    World {
        tenant: TenantId::parse("acme").expect("valid id"),
        grant: GrantId::parse("g1").expect("valid id"),
        site: SiteRef {
            cloud_id: CloudId::parse("c-1").expect("valid id"),
            url: "https://example.atlassian.net".to_owned(),
            name: "example".to_owned(),
        },
        space: SpaceRef {
            id: SpaceId::parse("458757").expect("valid id"),
            key: "DOCS".to_owned(),
            name: "Documentation".to_owned(),
        },
        parents,
    }
}

fn ctx<'a>(w: &'a World, users: &'a dyn UserNames) -> BuildContext<'a> {
    BuildContext {
        tenant_id: &w.tenant,
        grant_id: &w.grant,
        site: &w.site,
        web_base: "https://example.atlassian.net/wiki",
        space: Some(&w.space),
        parents: &w.parents,
        users,
    }
}

#[test]
fn a_page_becomes_a_document() {
    let w = world();
    let list: ListResponse<Page> = fixture("pages-list.page1.json");
    let labels: ListResponse<Label> = fixture("page-labels.json");
    let doc = build::build_page(
        &ctx(&w, &Names),
        &list.results[0],
        &labels.results,
        "hello world".to_owned(),
    )
    .unwrap()
    .expect("a current page is indexable");
    assert_eq!(doc.id.as_str(), "confluence:c-1:page:1441795");
    assert_eq!(doc.kind, ContentKind::Page);
    assert_eq!(
        doc.url,
        "https://example.atlassian.net/wiki/spaces/DOCS/pages/1441795/Page+title"
    );
    assert_eq!(
        doc.parent_id.as_ref().map(|p| p.as_str()),
        Some("confluence:c-1:page:851969")
    );
    assert_eq!(doc.breadcrumbs, ["Documentation", "Docs home", "Guides"]);
    assert_eq!(doc.labels, ["aaa", "abc"]);
    assert_eq!(doc.version, 2);
    assert_eq!(doc.status, ContentStatus::Current);
    assert_eq!(doc.comment, None);
    let author = doc.author.as_ref().expect("author");
    assert_eq!(author.display_name.as_deref(), Some("Mia Krystof"));
    assert_eq!(doc.created_at.to_rfc3339(), "2025-11-18T20:10:12.198+00:00");
    assert_eq!(doc.updated_at.to_rfc3339(), "2025-11-19T05:44:33.959+00:00");
    assert_eq!(
        doc.content_sha256,
        build::content_sha256("Page title", "hello world", &doc.labels)
    );

    // The hash moves with title, content and labels, and only with them.
    let same = build::build_page(
        &ctx(&w, &NoUserNames),
        &list.results[0],
        &labels.results,
        "hello world".to_owned(),
    )
    .unwrap()
    .unwrap();
    assert_eq!(same.content_sha256, doc.content_sha256);
    let edited = build::build_page(
        &ctx(&w, &Names),
        &list.results[0],
        &labels.results,
        "hello world!".to_owned(),
    )
    .unwrap()
    .unwrap();
    assert_ne!(edited.content_sha256, doc.content_sha256);
}

#[test]
fn trashed_and_deleted_items_are_not_built() {
    let w = world();
    let mut page: Page = fixture("page-after-update.json");
    for status in [Status::Trashed, Status::Deleted, Status::Draft] {
        page.status = status;
        assert_eq!(
            build::build_page(&ctx(&w, &Names), &page, &[], String::new()),
            Ok(None)
        );
    }
    page.status = Status::Archived;
    let doc = build::build_page(&ctx(&w, &Names), &page, &[], String::new())
        .unwrap()
        .unwrap();
    assert_eq!(doc.status, ContentStatus::Archived);
}

#[test]
fn malformed_items_are_errors() {
    let w = world();
    let mut page: Page = fixture("page-after-update.json");
    page.version = None;
    assert_eq!(
        build::build_page(&ctx(&w, &Names), &page, &[], String::new()),
        Err(build::BuildError::Missing("version"))
    );
    let mut page: Page = fixture("page-after-update.json");
    page.id = "12 34".to_owned();
    assert!(matches!(
        build::build_page(&ctx(&w, &Names), &page, &[], String::new()),
        Err(build::BuildError::Id(_))
    ));
}

#[test]
fn comments_become_documents_on_their_page() {
    let w = world();
    let container = CommentContainer {
        kind: ContentKind::Page,
        id: ContentId::parse("1441795").unwrap(),
        title: "Page title".to_owned(),
    };
    let inline: ListResponse<InlineComment> = fixture("inline-comments.page1.json");
    let doc = build::build_inline_comment(
        &ctx(&w, &Names),
        &inline.results[0],
        &container,
        "Inline remark".to_owned(),
    )
    .unwrap()
    .unwrap();
    assert_eq!(doc.id.as_str(), "confluence:c-1:comment:2000010");
    assert_eq!(doc.kind, ContentKind::InlineComment);
    assert_eq!(doc.title, "Comment on Page title");
    assert_eq!(
        doc.parent_id.as_ref().map(|p| p.as_str()),
        Some("confluence:c-1:page:1441795")
    );
    assert_eq!(
        doc.breadcrumbs,
        ["Documentation", "Docs home", "Guides", "Page title"]
    );
    let info = doc.comment.as_ref().expect("comment info");
    assert_eq!(info.resolution_status.as_deref(), Some("resolved"));
    assert_eq!(info.quoted_text.as_deref(), Some("selected text"));
    assert!(doc.labels.is_empty());
    assert_eq!(
        doc.url,
        "https://example.atlassian.net/wiki/spaces/DOCS/pages/1441795/Page+title?focusedCommentId=2000010"
    );

    let replies: ListResponse<FooterComment> = fixture("footer-comment-children.json");
    let doc = build::build_footer_comment(
        &ctx(&w, &Names),
        &replies.results[0],
        &container,
        "Reply".to_owned(),
    )
    .unwrap()
    .unwrap();
    assert_eq!(doc.kind, ContentKind::FooterComment);
    let info = doc
        .comment
        .as_ref()
        .expect("footer comments carry an empty comment object");
    assert_eq!(
        (
            info.resolution_status.as_deref(),
            info.quoted_text.as_deref()
        ),
        (None, None)
    );
    assert_eq!(
        doc.author.as_ref().and_then(|a| a.display_name.as_deref()),
        Some("Mia Krystof")
    );
}

#[test]
fn documents_serialize_to_the_indexer_schema() {
    let w = world();
    let page: Page = fixture("page-after-create.json");
    let doc = build::build_page(&ctx(&w, &NoUserNames), &page, &[], "x".to_owned())
        .unwrap()
        .unwrap();
    let json = serde_json::to_value(&doc).unwrap();
    assert_eq!(json["schema_version"], 1);
    assert_eq!(json["source"], "confluence");
    assert_eq!(json["kind"], "page");
    assert_eq!(json["comment"], serde_json::Value::Null);
    assert_eq!(json["author"]["display_name"], serde_json::Value::Null);
    assert_eq!(
        json["url"],
        "https://example.atlassian.net/wiki/spaces/docs/pages/2719745/created+new"
    );
}
