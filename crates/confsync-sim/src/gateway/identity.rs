//! Who the caller is and what it can reach: `GET /oauth/token/accessible-resources`
//! and the v1 user endpoints (`/wiki/rest/api/user`, `/user/bulk`,
//! `/user/current`) with their v1 JSON shapes.
//!
//! Reads the immutable user pool and site list only; authentication and
//! metering happen in the gateway before these run.

use serde_json::{Value, json};

use crate::auth::Principal;
use crate::gateway::query::Query;
use crate::gateway::{ApiError, ApiOk};
use crate::rng::{Rng, hash};
use crate::site::SiteInfo;
use crate::site::users::{User, UserPool, UserState};

/// Points per user object returned.
const USER_POINTS: u64 = 2;

/// The bulk endpoint's documented maximum.
const MAX_BULK: usize = 200;

/// accessible-resources: the grant's sites with the granted Confluence
/// scopes, preceded by a Jira entry that repeats the first site's id (as
/// Atlassian warns can happen), and optionally a Jira-only site.
pub(crate) fn accessible_resources(
    principal: &Principal,
    sites: &[SiteInfo],
    seed: u64,
    jira_only_site: bool,
) -> Value {
    let confluence_scopes: Vec<&str> = principal
        .scopes
        .iter()
        .map(String::as_str)
        .filter(|s| s.contains("confluence"))
        .collect();
    let jira_scopes = ["read:jira-work", "read:jira-user", "write:jira-work"];
    let mut entries = Vec::new();
    let covered: Vec<&SiteInfo> = principal
        .sites
        .iter()
        .filter_map(|i| sites.get(*i))
        .collect();
    if let Some(first) = covered.first() {
        entries.push(resource(
            &first.cloud_id,
            &first.name,
            &first.url,
            &jira_scopes,
            "flag",
        ));
    }
    for site in &covered {
        entries.push(resource(
            &site.cloud_id,
            &site.name,
            &site.url,
            &confluence_scopes,
            "koala",
        ));
    }
    if jira_only_site {
        let mut rng = Rng::for_parts(seed, &[0x1124]);
        let id = rng.uuid();
        let slug = format!("servicedesk-{:04x}", hash(seed, &[7]) & 0xffff);
        entries.push(resource(
            &id,
            "Service Desk",
            &format!("https://{slug}.atlassian.net"),
            &jira_scopes,
            "rocket",
        ));
    }
    Value::Array(entries)
}

fn resource(id: &str, name: &str, url: &str, scopes: &[&str], avatar: &str) -> Value {
    json!({
        "id": id,
        "name": name,
        "url": url,
        "scopes": scopes,
        "avatarUrl": format!("https://site-admin-avatar-cdn.prod.public.atl-paas.net/avatars/240/{avatar}.png"),
    })
}

/// v1 error body: `{"statusCode", "data", "message"}`.
pub(crate) fn v1_error(status: u16, message: &str) -> ApiError {
    ApiError {
        status,
        body: json!({
            "statusCode": status,
            "data": {"authorized": status != 403, "valid": true, "errors": [], "successful": false},
            "message": message,
        }),
    }
}

fn user_json(user: &User, site: &SiteInfo) -> Value {
    let base = site.base_url();
    let deleted = user.state == UserState::Deleted;
    let mut value = json!({
        "type": "known",
        "accountId": user.account_id,
        "accountType": if deleted { "" } else { "atlassian" },
        "publicName": user.public_name,
        "profilePicture": {
            "path": format!("/wiki/aa-avatar/{}", user.account_id),
            "width": 48,
            "height": 48,
            "isDefault": deleted,
        },
        "displayName": user.display_name,
        "isExternalCollaborator": false,
        "_expandable": {"operations": "", "personalSpace": ""},
        "_links": {
            "self": format!("{base}/rest/api/user?accountId={}", user.account_id),
            "base": base,
            "context": "/wiki",
        },
    });
    if let Some(map) = value.as_object_mut() {
        if let Some(email) = &user.email {
            map.insert("email".into(), email.clone().into());
        }
        if let Some(tz) = user.time_zone {
            map.insert("timeZone".into(), tz.into());
        }
    }
    value
}

fn resolvable<'a>(users: &'a UserPool, account_id: &str) -> Option<&'a User> {
    users
        .by_account(account_id)
        .filter(|u| u.state != UserState::Unknown)
}

pub(crate) fn user(query: &Query, users: &UserPool, site: &SiteInfo) -> Result<ApiOk, ApiError> {
    let account = query
        .first("accountId")
        .filter(|a| !a.is_empty())
        .ok_or_else(|| v1_error(400, "accountId is required"))?;
    let user = resolvable(users, account).ok_or_else(|| {
        v1_error(
            404,
            &format!("No user found with accountId: {}", short(account)),
        )
    })?;
    Ok(ApiOk::json(&user_json(user, site), USER_POINTS))
}

pub(crate) fn bulk(query: &Query, users: &UserPool, site: &SiteInfo) -> Result<ApiOk, ApiError> {
    let ids = query.values("accountId");
    if ids.is_empty() {
        return Err(v1_error(400, "accountId is required"));
    }
    if ids.len() > MAX_BULK {
        return Err(v1_error(400, "at most 200 accountId values are accepted"));
    }
    let limit = query
        .limit(MAX_BULK, MAX_BULK)
        .map_err(|_| v1_error(400, "limit must be between 1 and 200"))?;
    let results: Vec<Value> = ids
        .iter()
        .filter_map(|id| resolvable(users, id))
        .take(limit)
        .map(|u| user_json(u, site))
        .collect();
    let size = results.len();
    let body = json!({
        "results": results,
        "start": 0,
        "limit": limit,
        "size": size,
        "_links": {"base": site.base_url(), "context": "/wiki"},
    });
    Ok(ApiOk::json(&body, USER_POINTS * size as u64))
}

pub(crate) fn current(principal: &Principal, users: &UserPool, site: &SiteInfo) -> ApiOk {
    let user = users
        .by_account(&principal.account_id)
        .cloned()
        .unwrap_or_else(|| User {
            account_id: principal.account_id.clone(),
            display_name: format!("Sim User {}", short(&principal.account_id)),
            public_name: "Sim User".to_owned(),
            email: None,
            time_zone: None,
            state: UserState::Active,
        });
    ApiOk::json(&user_json(&user, site), USER_POINTS)
}

fn short(value: &str) -> String {
    value.chars().take(128).collect()
}
