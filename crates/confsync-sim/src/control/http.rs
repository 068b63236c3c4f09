//! The control API over HTTP, under `/_sim/` on the API listener (and the
//! indexer inspection routes under `/_sim/indexer/` on both the API and the
//! indexer listeners). Unauthenticated, unmetered, not in the request log:
//! it is the test harness's side door, documented in the README.
//!
//! Each handler parses its JSON body (bad JSON → 400 with a message) and
//! calls the same [`Control`] operation the Rust API offers.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::Control;
use crate::auth::GrantSelector;
use crate::error::SimError;
use crate::faults::FaultRule;
use crate::indexer::IndexerFaultUpdate;
use crate::quota::QuotaUpdate;
use crate::respond::json as json_response;
use crate::site::mutate::{Edit, Move, NewBlogPost, NewComment, NewPage};
use crate::site::{ContentType, Resolution, Status};
use crate::state::Shared;

type S = State<Arc<Shared>>;
type Answer = Result<Response, Fail>;

/// Bodies can carry explicit page bodies of several megabytes.
const MAX_CONTROL_BODY: usize = 64 * 1024 * 1024;

pub(crate) fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/state", get(state))
        .route("/clock", get(clock))
        .route("/clock/advance", post(advance_clock))
        .route("/sites", get(sites))
        .route("/sites/{cloud}/content", get(list_content))
        .route("/sites/{cloud}/pages", post(create_page))
        .route("/sites/{cloud}/blogposts", post(create_blogpost))
        .route("/sites/{cloud}/content/{id}", get(get_content))
        .route("/sites/{cloud}/content/{id}/body", get(get_body))
        .route("/sites/{cloud}/content/{id}/{action}", post(content_action))
        .route(
            "/sites/{cloud}/content/{id}/labels/{name}",
            delete(remove_label),
        )
        .route(
            "/sites/{cloud}/comments",
            get(list_comments).post(add_comment),
        )
        .route(
            "/sites/{cloud}/comments/{id}/{action}",
            post(comment_action),
        )
        .route("/auth/grants", get(grants))
        .route("/auth/{action}", post(auth_action))
        .route("/quota", get(quota).post(set_quota))
        .route("/faults", get(faults).post(add_fault).delete(clear_faults))
        .route("/faults/{id}", delete(remove_fault))
        .route("/requests", get(requests))
        .route("/requests/reset", post(reset_requests))
        .route("/stats", get(stats))
        .nest("/indexer", indexer_router())
        .layer(DefaultBodyLimit::max(MAX_CONTROL_BODY))
}

pub(crate) fn indexer_router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/documents", get(indexer_documents))
        .route("/documents/{id}", get(indexer_document))
        .route("/events", get(indexer_events))
        .route("/stats", get(indexer_stats))
        .route(
            "/faults",
            get(indexer_faults)
                .post(set_indexer_faults)
                .delete(clear_indexer_faults),
        )
        .route("/reset", post(reset_indexer))
}

fn control(shared: Arc<Shared>) -> Control {
    Control { shared }
}

fn ok(value: impl serde::Serialize) -> Answer {
    Ok(json_response(
        StatusCode::OK,
        &serde_json::to_value(value).unwrap_or(Value::Null),
    ))
}

/// A control-API error: `{"error": message}` with a 4xx status.
#[derive(Debug)]
pub(crate) struct Fail {
    status: StatusCode,
    message: String,
}

impl IntoResponse for Fail {
    fn into_response(self) -> Response {
        json_response(self.status, &json!({"error": self.message}))
    }
}

fn fail(status: StatusCode, message: &str) -> Fail {
    Fail {
        status,
        message: message.to_owned(),
    }
}

fn sim_error(error: SimError) -> Fail {
    let status = match error {
        SimError::NotFound(_) => StatusCode::NOT_FOUND,
        SimError::Invalid(_) | SimError::Config(_) => StatusCode::BAD_REQUEST,
        SimError::Bind { .. } => StatusCode::INTERNAL_SERVER_ERROR,
    };
    fail(status, &error.to_string())
}

/// Parses a JSON body; an empty body reads as `{}`.
fn body<T: DeserializeOwned>(bytes: &Bytes) -> Result<T, Fail> {
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        bytes
    };
    serde_json::from_slice(bytes)
        .map_err(|e| fail(StatusCode::BAD_REQUEST, &format!("invalid JSON body: {e}")))
}

async fn state(State(shared): S) -> Answer {
    let c = control(shared);
    let sites: Vec<Value> = c
        .sites()
        .into_iter()
        .map(|s| {
            let counts = c.site_counts(&s.cloud_id).ok();
            json!({"site": s, "counts": counts})
        })
        .collect();
    ok(json!({
        "now": c.now(),
        "sites": sites,
        "quota": c.quota(),
        "stats": c.stats(),
        "indexer": c.indexer_stats(),
    }))
}

async fn clock(State(shared): S) -> Answer {
    ok(json!({"now": control(shared).now()}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Advance {
    secs: Option<u64>,
    ms: Option<u64>,
}

async fn advance_clock(State(shared): S, bytes: Bytes) -> Answer {
    let advance: Advance = body(&bytes)?;
    let by = Duration::from_secs(advance.secs.unwrap_or(0))
        + Duration::from_millis(advance.ms.unwrap_or(0));
    ok(json!({"now": control(shared).advance_clock(by)}))
}

async fn sites(State(shared): S) -> Answer {
    ok(control(shared).sites())
}

async fn list_content(
    State(shared): S,
    Path(cloud): Path<String>,
    RawQuery(raw): RawQuery,
) -> Answer {
    let query = crate::gateway::query::Query::parse(raw.as_deref().unwrap_or(""));
    let content_type = match query.first("type") {
        None | Some("page") => ContentType::Page,
        Some("blogpost") => ContentType::BlogPost,
        Some(_) => {
            return Err(fail(
                StatusCode::BAD_REQUEST,
                "type must be page or blogpost",
            ));
        }
    };
    let statuses = query
        .values("status")
        .into_iter()
        .map(|s| match s {
            "current" => Ok(Status::Current),
            "archived" => Ok(Status::Archived),
            "trashed" => Ok(Status::Trashed),
            "deleted" => Ok(Status::Purged),
            _ => Err(fail(StatusCode::BAD_REQUEST, "unknown status")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    ok(control(shared)
        .contents(&cloud, content_type, &statuses)
        .map_err(sim_error)?)
}

async fn create_page(State(shared): S, Path(cloud): Path<String>, bytes: Bytes) -> Answer {
    let page: NewPage = body(&bytes)?;
    ok(control(shared)
        .create_page(&cloud, page)
        .map_err(sim_error)?)
}

async fn create_blogpost(State(shared): S, Path(cloud): Path<String>, bytes: Bytes) -> Answer {
    let post: NewBlogPost = body(&bytes)?;
    ok(control(shared)
        .create_blogpost(&cloud, post)
        .map_err(sim_error)?)
}

async fn get_content(State(shared): S, Path((cloud, id)): Path<(String, String)>) -> Answer {
    ok(control(shared).content(&cloud, &id).map_err(sim_error)?)
}

async fn get_body(State(shared): S, Path((cloud, id)): Path<(String, String)>) -> Answer {
    ok(json!({"storage": control(shared).storage_body(&cloud, &id).map_err(sim_error)?}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Title {
    title: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LabelName {
    name: String,
}

async fn content_action(
    State(shared): S,
    Path((cloud, id, action)): Path<(String, String, String)>,
    bytes: Bytes,
) -> Answer {
    let c = control(shared);
    let result = match action.as_str() {
        "edit" => c.edit(&cloud, &id, body::<Edit>(&bytes)?),
        "rename" => c.rename(&cloud, &id, &body::<Title>(&bytes)?.title),
        "move" => c.move_page(&cloud, &id, body::<Move>(&bytes)?),
        "trash" => c.trash(&cloud, &id),
        "restore" => c.restore(&cloud, &id),
        "archive" => c.archive(&cloud, &id),
        "purge" => c.purge(&cloud, &id),
        "labels" => c.add_label(&cloud, &id, &body::<LabelName>(&bytes)?.name),
        _ => return Err(fail(StatusCode::NOT_FOUND, "unknown content action")),
    };
    ok(result.map_err(sim_error)?)
}

async fn remove_label(
    State(shared): S,
    Path((cloud, id, name)): Path<(String, String, String)>,
) -> Answer {
    ok(control(shared)
        .remove_label(&cloud, &id, &name)
        .map_err(sim_error)?)
}

async fn list_comments(State(shared): S, Path(cloud): Path<String>) -> Answer {
    ok(control(shared).comments(&cloud).map_err(sim_error)?)
}

async fn add_comment(State(shared): S, Path(cloud): Path<String>, bytes: Bytes) -> Answer {
    let comment: NewComment = body(&bytes)?;
    ok(control(shared)
        .add_comment(&cloud, comment)
        .map_err(sim_error)?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CommentEdit {
    body: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Resolve {
    resolution: Resolution,
}

async fn comment_action(
    State(shared): S,
    Path((cloud, id, action)): Path<(String, String, String)>,
    bytes: Bytes,
) -> Answer {
    let c = control(shared);
    let result = match action.as_str() {
        "edit" => c.edit_comment(&cloud, &id, body::<CommentEdit>(&bytes)?.body),
        "resolve" => c.resolve_comment(&cloud, &id, body::<Resolve>(&bytes)?.resolution),
        "delete" => c.delete_comment(&cloud, &id),
        _ => return Err(fail(StatusCode::NOT_FOUND, "unknown comment action")),
    };
    ok(result.map_err(sim_error)?)
}

async fn grants(State(shared): S) -> Answer {
    ok(control(shared).grants())
}

/// `{"grant_id"}`, `{"account_id"}`, `{"token"}` or `{}` (every grant).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SelectorBody {
    grant_id: Option<String>,
    account_id: Option<String>,
    token: Option<String>,
}

impl SelectorBody {
    fn selector(self) -> GrantSelector {
        match (self.grant_id, self.account_id, self.token) {
            (Some(id), _, _) => GrantSelector::GrantId(id),
            (_, Some(account), _) => GrantSelector::AccountId(account),
            (_, _, Some(token)) => GrantSelector::Token(token),
            _ => GrantSelector::All,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeclineNext {
    count: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeclineAll {
    decline: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Account {
    account_id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountSites {
    account_id: String,
    cloud_ids: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Mint {
    account_id: Option<String>,
    scopes: Vec<String>,
}

async fn auth_action(State(shared): S, Path(action): Path<String>, bytes: Bytes) -> Answer {
    let c = control(shared);
    match action.as_str() {
        "expire-access-tokens" => {
            let selector = body::<SelectorBody>(&bytes)?.selector();
            ok(json!({"expired": c.expire_access_tokens(&selector)}))
        }
        "revoke" => {
            let selector = body::<SelectorBody>(&bytes)?.selector();
            ok(json!({"revoked": c.revoke_grants(&selector)}))
        }
        "decline-next" => {
            c.decline_next_authorizations(body::<DeclineNext>(&bytes)?.count.unwrap_or(1));
            ok(json!({}))
        }
        "decline-all" => {
            c.decline_all_authorizations(body::<DeclineAll>(&bytes)?.decline);
            ok(json!({}))
        }
        "next-account" => {
            c.next_authorization_by(&body::<Account>(&bytes)?.account_id);
            ok(json!({}))
        }
        "account-sites" => {
            let request: AccountSites = body(&bytes)?;
            let ids: Vec<&str> = request.cloud_ids.iter().map(String::as_str).collect();
            c.set_account_sites(&request.account_id, &ids)
                .map_err(sim_error)?;
            ok(json!({}))
        }
        "mint" => {
            let request: Mint = body(&bytes)?;
            let scopes: Vec<&str> = request.scopes.iter().map(String::as_str).collect();
            ok(c.mint_tokens(request.account_id.as_deref(), &scopes))
        }
        _ => Err(fail(StatusCode::NOT_FOUND, "unknown auth action")),
    }
}

async fn quota(State(shared): S) -> Answer {
    ok(control(shared).quota())
}

async fn set_quota(State(shared): S, bytes: Bytes) -> Answer {
    let update: QuotaUpdate = body(&bytes)?;
    ok(control(shared).set_quota(&update))
}

async fn faults(State(shared): S) -> Answer {
    ok(control(shared).faults())
}

async fn add_fault(State(shared): S, bytes: Bytes) -> Answer {
    let rule: FaultRule = body(&bytes)?;
    ok(json!({"id": control(shared).add_fault(rule)}))
}

async fn clear_faults(State(shared): S) -> Answer {
    control(shared).clear_faults();
    ok(json!({}))
}

async fn remove_fault(State(shared): S, Path(id): Path<String>) -> Answer {
    let id: u64 = id
        .parse()
        .map_err(|_| fail(StatusCode::BAD_REQUEST, "fault ids are integers"))?;
    if control(shared).remove_fault(id) {
        ok(json!({}))
    } else {
        Err(fail(StatusCode::NOT_FOUND, "no such fault"))
    }
}

async fn requests(State(shared): S, RawQuery(raw): RawQuery) -> Answer {
    let query = crate::gateway::query::Query::parse(raw.as_deref().unwrap_or(""));
    let after = match query.first("after") {
        None => 0,
        Some(v) => v
            .parse()
            .map_err(|_| fail(StatusCode::BAD_REQUEST, "after must be an integer"))?,
    };
    ok(control(shared).requests(after))
}

async fn reset_requests(State(shared): S) -> Answer {
    control(shared).reset_requests();
    ok(json!({}))
}

async fn stats(State(shared): S) -> Answer {
    ok(control(shared).stats())
}

async fn indexer_documents(State(shared): S) -> Answer {
    ok(control(shared).indexed_documents())
}

async fn indexer_document(State(shared): S, Path(id): Path<String>) -> Answer {
    match control(shared).indexed_document(&id) {
        Some(doc) => ok(doc),
        None => Err(fail(StatusCode::NOT_FOUND, "not indexed")),
    }
}

async fn indexer_events(State(shared): S) -> Answer {
    ok(control(shared).indexer_events())
}

async fn indexer_stats(State(shared): S) -> Answer {
    ok(control(shared).indexer_stats())
}

async fn indexer_faults(State(shared): S) -> Answer {
    ok(control(shared).indexer_faults())
}

async fn set_indexer_faults(State(shared): S, bytes: Bytes) -> Answer {
    let update: IndexerFaultUpdate = body(&bytes)?;
    let c = control(shared);
    c.set_indexer_faults(update);
    ok(c.indexer_faults())
}

async fn clear_indexer_faults(State(shared): S) -> Answer {
    control(shared).clear_indexer_faults();
    ok(json!({}))
}

async fn reset_indexer(State(shared): S) -> Answer {
    control(shared).reset_indexer();
    ok(json!({}))
}
