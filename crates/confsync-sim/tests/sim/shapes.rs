//! Response shapes carry the field sets of Atlassian's real responses
//! (shared/reference/atlassian/fixtures and doc-examples). The expected key
//! sets below are copied from those files.

use std::collections::BTreeSet;

use confsync_sim::{CommentKind, ContentType, Status};
use serde_json::Value;

use crate::support::{self, client, get, wiki};

fn keys(value: &Value) -> BTreeSet<String> {
    value.as_object().unwrap().keys().cloned().collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test]
async fn pages_spaces_labels_and_single_items_match_the_fixtures() {
    let sim = support::start(support::config()).await;
    let cloud = support::cloud(&sim);
    let (token, http) = (support::token(&sim), client());
    let base = wiki(&sim, &cloud);

    // fixtures/synthetic/pages-list.page1.json (PageBulk).
    let list = get(
        &http,
        &format!("{base}/api/v2/pages?limit=30&body-format=storage"),
        Some(&token),
    )
    .await
    .json();
    let page = list["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["parentId"].is_string())
        .unwrap();
    assert_eq!(
        keys(page),
        set(&[
            "id",
            "status",
            "title",
            "spaceId",
            "parentId",
            "parentType",
            "position",
            "authorId",
            "ownerId",
            "lastOwnerId",
            "createdAt",
            "version",
            "body",
            "_links"
        ])
    );
    assert_eq!(
        keys(&page["version"]),
        set(&["number", "message", "minorEdit", "authorId", "createdAt"])
    );
    assert_eq!(
        keys(&page["_links"]),
        set(&["editui", "webui", "edituiv2", "tinyui"])
    );
    assert_eq!(
        keys(&page["body"]["storage"]),
        set(&["representation", "value"])
    );
    assert_eq!(page["parentType"], "page");
    assert!(page["id"].is_string() && page["spaceId"].is_string() && page["position"].is_number());
    assert_eq!(keys(&list["_links"]), set(&["next", "base"]));

    // fixtures/text2confl-api-v2/page-after-create.json (single item).
    let id = page["id"].as_str().unwrap();
    let single = get(
        &http,
        &format!("{base}/api/v2/pages/{id}?body-format=storage"),
        Some(&token),
    )
    .await
    .json();
    assert_eq!(keys(&single), keys(page));
    assert_eq!(
        keys(&single["version"]),
        set(&[
            "number",
            "message",
            "minorEdit",
            "authorId",
            "createdAt",
            "ncsStepVersion"
        ])
    );
    assert_eq!(
        keys(&single["_links"]),
        set(&["editui", "webui", "edituiv2", "tinyui", "base"])
    );
    // fixtures/text2confl-api-v2/space-home.json: no body-format, empty body, null parent.
    let home_id = sim
        .contents(&cloud, ContentType::Page, &[Status::Current])
        .unwrap()[0]
        .id
        .clone();
    let home = get(
        &http,
        &format!("{base}/api/v2/pages/{home_id}"),
        Some(&token),
    )
    .await
    .json();
    assert_eq!(home["body"], serde_json::json!({}));
    assert!(home["parentId"].is_null() && home["parentType"].is_null());
    assert!(
        home["_links"]["webui"]
            .as_str()
            .unwrap()
            .ends_with("/overview")
    );

    // fixtures/text2confl-api-v2/spaces.json.
    let spaces = get(&http, &format!("{base}/api/v2/spaces"), Some(&token))
        .await
        .json();
    assert_eq!(
        keys(&spaces["results"][0]),
        set(&[
            "createdAt",
            "authorId",
            "homepageId",
            "icon",
            "description",
            "status",
            "name",
            "key",
            "id",
            "type",
            "_links",
            "currentActiveAlias"
        ])
    );
    assert_eq!(keys(&spaces["_links"]), set(&["base"]));

    // fixtures/text2confl-api-v2/page-labels.json.
    let labelled = sim
        .contents(&cloud, ContentType::Page, &[Status::Current])
        .unwrap()
        .into_iter()
        .find(|c| !c.labels.is_empty())
        .unwrap();
    let labels = get(
        &http,
        &format!("{base}/api/v2/pages/{}/labels", labelled.id),
        Some(&token),
    )
    .await
    .json();
    assert_eq!(keys(&labels["results"][0]), set(&["prefix", "name", "id"]));

    // Blog posts (BlogPostBulk): no parent or position.
    let blogs = get(
        &http,
        &format!("{base}/api/v2/blogposts?limit=1"),
        Some(&token),
    )
    .await
    .json();
    assert_eq!(
        keys(&blogs["results"][0]),
        set(&[
            "id",
            "status",
            "title",
            "spaceId",
            "authorId",
            "createdAt",
            "version",
            "body",
            "_links"
        ])
    );
    assert!(
        blogs["results"][0]["_links"]["webui"]
            .as_str()
            .unwrap()
            .contains("/blog/")
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn comments_match_the_fixtures() {
    let sim = support::start(support::config().pages(400)).await;
    let cloud = support::cloud(&sim);
    let (token, http) = (support::token(&sim), client());
    let base = wiki(&sim, &cloud);
    let all = |path: &str| {
        let url = format!("{base}/api/v2/{path}");
        let (http, token) = (http.clone(), token.clone());
        async move {
            get(&http, &url, Some(&token)).await.json()["results"]
                .as_array()
                .unwrap()
                .clone()
        }
    };
    // fixtures/synthetic/footer-comments.page1.json; replies add parentCommentId,
    // and some name only their parent.
    let footer = all("footer-comments?limit=250&body-format=storage").await;
    let root = footer
        .iter()
        .find(|c| c["parentCommentId"].is_null())
        .unwrap();
    let container_key = if root.get("pageId").is_some() {
        "pageId"
    } else {
        "blogPostId"
    };
    assert_eq!(
        keys(root),
        set(&[
            "id",
            "status",
            "title",
            container_key,
            "version",
            "body",
            "_links"
        ])
    );
    assert!(
        footer
            .iter()
            .any(|c| c["parentCommentId"].is_string() && c["pageId"].is_string())
    );
    assert!(footer.iter().any(|c| c["parentCommentId"].is_string()
        && c.get("pageId").is_none()
        && c.get("blogPostId").is_none()));
    assert!(
        root["_links"]["webui"]
            .as_str()
            .unwrap()
            .contains("?focusedCommentId=")
    );

    // fixtures/synthetic/inline-comments.page1.json.
    let inline = all("inline-comments?limit=250").await;
    let resolved = inline
        .iter()
        .find(|c| c["resolutionStatus"] == "resolved" && c["pageId"].is_string())
        .unwrap();
    assert_eq!(
        keys(resolved),
        set(&[
            "id",
            "status",
            "title",
            "pageId",
            "version",
            "body",
            "resolutionStatus",
            "resolutionLastModifierId",
            "resolutionLastModifiedAt",
            "properties",
            "_links"
        ])
    );
    assert_eq!(
        keys(&resolved["properties"]),
        set(&[
            "inlineMarkerRef",
            "inlineOriginalSelection",
            "inline-marker-ref",
            "inline-original-selection"
        ])
    );
    for status in ["open", "resolved", "reopened"] {
        assert!(
            inline.iter().any(|c| c["resolutionStatus"] == status),
            "{status}"
        );
    }

    // fixtures/synthetic/footer-comment-children.json.
    let parent = sim
        .comments(&cloud)
        .unwrap()
        .into_iter()
        .filter(|c| c.kind == CommentKind::Footer && c.parent_comment_id.is_some())
        .find_map(|c| {
            let p = c.parent_comment_id.clone()?;
            footer.iter().any(|f| f["id"] == p.as_str()).then_some(p)
        })
        .unwrap();
    let children = all(&format!(
        "footer-comments/{parent}/children?body-format=storage"
    ))
    .await;
    assert_eq!(
        keys(&children[0]),
        set(&[
            "id",
            "status",
            "title",
            "parentCommentId",
            "version",
            "body",
            "_links"
        ])
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn users_tokens_and_resources_match_the_doc_examples() {
    let sim = support::start(support::config()).await;
    let cloud = support::cloud(&sim);
    let tokens = sim.mint_tokens(None, support::ALL_SCOPES);
    // doc-examples/token-response.synthetic.json.
    let response = serde_json::to_value(&tokens).unwrap();
    assert_eq!(
        keys(&response),
        set(&[
            "access_token",
            "refresh_token",
            "expires_in",
            "scope",
            "token_type"
        ])
    );
    let http = client();
    // fixtures/synthetic/v1-user.json (email and timeZone may be absent).
    let me = get(
        &http,
        &format!("{}/rest/api/user/current", wiki(&sim, &cloud)),
        Some(&tokens.access_token),
    )
    .await
    .json();
    let required = set(&[
        "type",
        "accountId",
        "accountType",
        "publicName",
        "profilePicture",
        "displayName",
        "isExternalCollaborator",
        "_expandable",
        "_links",
    ]);
    assert!(keys(&me).is_superset(&required));
    assert!(
        keys(&me).is_subset(
            &required
                .union(&set(&["email", "timeZone"]))
                .cloned()
                .collect()
        )
    );
    assert_eq!(keys(&me["_links"]), set(&["self", "base", "context"]));
    // doc-examples/accessible-resources.confluence.json.
    let resources = get(
        &http,
        &format!("{}/oauth/token/accessible-resources", sim.api_url()),
        Some(&tokens.access_token),
    )
    .await
    .json();
    assert_eq!(
        keys(&resources[0]),
        set(&["id", "name", "url", "scopes", "avatarUrl"])
    );
    sim.shutdown().await;
}
