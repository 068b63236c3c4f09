//! The crawl engine against the simulator and its indexer, with real Redis:
//! full syncs, incremental polls, deletions, checkpoints, dead letters,
//! failures, coalescing across replicas, the points budget and the
//! scheduler's planning. Jobs run through the worker's one-job step (the
//! same apalis worker as production, stopped after one job), the
//! simulator's clock stands still unless the code under test sleeps on it
//! or a test moves it; nothing waits on wall-clock time.

// The measured figures are printed for `--nocapture` runs; they decide nothing.
#![allow(clippy::print_stderr)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use confsync_confluence::metrics::ApiMetrics;
use confsync_confluence::{
    AccessToken, BoxFuture, ClientConfig, Confluence, Limit, ListQuery, SiteClient, TokenError,
    TokenSource, TokioClock, Unmetered,
};
use confsync_core::AccountId;
use confsync_core::jobs::{SyncMode, SyncTrigger};
use confsync_sim::{
    CommentKind, ContentInfo, ContentType, Edit, FaultKind, FaultRule, GrantSelector,
    IndexerFaultUpdate, IndexerOp, Move, NewComment, NewPage, SimConfig, Status,
};
use confsync_store::GrantStatus;
use confsync_store::budget::{Budget, BudgetConfig};
use confsync_store::dead_letters::DeadLetters;
use confsync_store::known::KnownMap;
use confsync_store::sites::CrawlStage;
use confsync_tests::crawl::{CrawlApp, Replica};
use confsync_worker::crawl::JobOutcome;
use confsync_worker::scheduler::Planner;
use secrecy::SecretString;
use serde_json::Value;

const COMPLETED: Result<JobOutcome, String> = Ok(JobOutcome::Completed);

fn sim(pages: usize) -> SimConfig {
    SimConfig::default().seed(7).sites(1).pages(pages)
}

// ---- ground truth, read from the simulator ---------------------------------

/// Minted tokens for reading the simulator's truth (not the worker's grant).
struct Minted(AccessToken);

impl TokenSource for Minted {
    fn access_token(&self) -> BoxFuture<'_, Result<AccessToken, TokenError>> {
        Box::pin(std::future::ready(Ok(self.0.clone())))
    }

    fn refresh<'a>(
        &'a self,
        _rejected: &'a SecretString,
    ) -> BoxFuture<'a, Result<AccessToken, TokenError>> {
        Box::pin(std::future::ready(Err(TokenError::Config("minted".into()))))
    }
}

/// A client for the truth, unmetered by the budget (its requests are in the
/// simulator's log: read the truth after measuring).
fn truth_client(app: &CrawlApp) -> SiteClient {
    let control = app.control();
    let tokens = control.mint_tokens(
        None,
        &[
            "read:page:confluence",
            "read:comment:confluence",
            "read:space:confluence",
            "read:confluence-user",
        ],
    );
    let token = AccessToken {
        secret: SecretString::from(tokens.access_token),
        // The truth client runs on the wall clock.
        expires_at: chrono::Utc::now() + chrono::Duration::days(1),
    };
    let config = ClientConfig::atlassian(url::Url::parse(&app.app.sim.api_url()).unwrap());
    let metrics = ApiMetrics::register(&prometheus::Registry::new()).unwrap();
    Confluence::new(config, metrics, Arc::new(TokioClock), Arc::new(Unmetered))
        .unwrap()
        .site(app.cloud(), Arc::new(Minted(token)))
        .unwrap()
}

/// Space names by space id, and display names of `accounts`.
async fn names(
    client: &SiteClient,
    accounts: &BTreeSet<String>,
) -> (HashMap<String, String>, HashMap<String, Option<String>>) {
    let mut spaces = HashMap::new();
    let mut listing = client.spaces(ListQuery::new(Limit::MAX));
    while let Some(page) = listing.next_page().await.unwrap() {
        for space in page.results {
            spaces.insert(space.id, space.name);
        }
    }
    let ids: Vec<AccountId> = accounts
        .iter()
        .filter_map(|a| AccountId::parse(a.as_str()).ok())
        .collect();
    let mut users: HashMap<String, Option<String>> =
        accounts.iter().map(|a| (a.clone(), None)).collect();
    for user in client.users(&ids).await.unwrap() {
        users.insert(user.account_id.clone(), user.name().map(str::to_owned));
    }
    (spaces, users)
}

/// What the index should hold for one item.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Expected {
    kind: &'static str,
    title: String,
    breadcrumbs: Vec<String>,
    labels: Vec<String>,
    status: &'static str,
    parent_id: Option<String>,
    version: u64,
}

/// Every document the index should hold for the site, from the simulator.
async fn expected(app: &CrawlApp) -> BTreeMap<String, Expected> {
    let control = app.control();
    let cloud = app.cloud();
    let client = truth_client(app);
    let (spaces, _) = names(&client, &BTreeSet::new()).await;
    let live = [Status::Current, Status::Archived];
    let pages = control
        .contents(cloud.as_str(), ContentType::Page, &live)
        .unwrap();
    let posts = control
        .contents(cloud.as_str(), ContentType::BlogPost, &[Status::Current])
        .unwrap();
    let by_id: HashMap<String, ContentInfo> = pages
        .iter()
        .chain(&posts)
        .map(|c| (c.id.clone(), c.clone()))
        .collect();
    let ancestry = |parent: Option<&String>| {
        let mut titles = Vec::new();
        let mut current = parent.cloned();
        while let Some(id) = current {
            let Some(page) = by_id.get(&id) else { break };
            titles.push(page.title.clone());
            current = page.parent_id.clone();
        }
        titles.reverse();
        titles
    };
    let crumbs = |content: &ContentInfo| {
        let mut crumbs = vec![spaces[&content.space_id].clone()];
        crumbs.extend(ancestry(content.parent_id.as_ref()));
        crumbs
    };
    let doc_id = |segment: &str, id: &str| format!("confluence:{cloud}:{segment}:{id}");
    let mut expected = BTreeMap::new();
    for content in by_id.values() {
        let (segment, kind) = match content.content_type {
            ContentType::Page => ("page", "page"),
            ContentType::BlogPost => ("blogpost", "blogpost"),
        };
        let mut labels = content.labels.clone();
        labels.sort();
        labels.dedup();
        expected.insert(
            doc_id(segment, &content.id),
            Expected {
                kind,
                title: content.title.clone(),
                breadcrumbs: crumbs(content),
                labels,
                status: if content.status == Status::Archived {
                    "archived"
                } else {
                    "current"
                },
                parent_id: match content.content_type {
                    ContentType::Page => content.parent_id.as_ref().map(|p| doc_id("page", p)),
                    ContentType::BlogPost => None,
                },
                version: u64::from(content.version),
            },
        );
    }
    for comment in control.comments(cloud.as_str()).unwrap() {
        let Some(container) = by_id.get(&comment.container_id) else {
            continue;
        };
        if comment.status != Status::Current {
            continue;
        }
        let segment = match container.content_type {
            ContentType::Page => "page",
            ContentType::BlogPost => "blogpost",
        };
        let mut breadcrumbs = crumbs(container);
        breadcrumbs.push(container.title.clone());
        expected.insert(
            doc_id("comment", &comment.id),
            Expected {
                kind: match comment.kind {
                    CommentKind::Footer => "footer_comment",
                    CommentKind::Inline => "inline_comment",
                },
                title: format!("Comment on {}", container.title),
                breadcrumbs,
                labels: Vec::new(),
                status: "current",
                parent_id: Some(doc_id(segment, &container.id)),
                version: u64::from(comment.version),
            },
        );
    }
    expected
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// What the index holds, in the shape of [`Expected`].
fn indexed(app: &CrawlApp) -> BTreeMap<String, Expected> {
    app.indexed()
        .into_iter()
        .map(|(id, doc)| {
            let kind = match doc["kind"].as_str().unwrap() {
                "page" => "page",
                "blogpost" => "blogpost",
                "footer_comment" => "footer_comment",
                _ => "inline_comment",
            };
            let status = if doc["status"] == "archived" {
                "archived"
            } else {
                "current"
            };
            let expected = Expected {
                kind,
                title: doc["title"].as_str().unwrap().to_owned(),
                breadcrumbs: strings(&doc["breadcrumbs"]),
                labels: strings(&doc["labels"]),
                status,
                parent_id: doc["parent_id"].as_str().map(str::to_owned),
                version: doc["version"].as_u64().unwrap(),
            };
            (id, expected)
        })
        .collect()
}

/// Panics, naming the first differences, unless the index holds exactly
/// what the simulator's site has.
async fn assert_index_matches_site(app: &CrawlApp) {
    let want = expected(app).await;
    let have = indexed(app);
    let missing: Vec<&String> = want.keys().filter(|k| !have.contains_key(*k)).collect();
    let extra: Vec<&String> = have.keys().filter(|k| !want.contains_key(*k)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing from the index: {missing:?}\nnot on the site: {extra:?}"
    );
    for (id, want) in &want {
        assert_eq!(&have[id], want, "document {id}");
    }
}

/// Upserts and deletes the indexer accepted after event `after`, by id.
fn events_after(app: &CrawlApp, after: usize) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut upserts = BTreeSet::new();
    let mut deletes = BTreeSet::new();
    for event in app.control().indexer_events().into_iter().skip(after) {
        match event.op {
            IndexerOp::Upsert => upserts.insert(event.id),
            IndexerOp::Delete => deletes.insert(event.id),
        };
    }
    (upserts, deletes)
}

fn page_id(app: &CrawlApp, id: &str) -> String {
    format!("confluence:{}:page:{id}", app.cloud())
}

fn comment_id(app: &CrawlApp, id: &str) -> String {
    format!("confluence:{}:comment:{id}", app.cloud())
}

/// Current pages that are not a space's home page, in id order.
fn inner_pages(app: &CrawlApp) -> Vec<ContentInfo> {
    app.control()
        .contents(app.cloud().as_str(), ContentType::Page, &[Status::Current])
        .unwrap()
        .into_iter()
        .filter(|p| p.parent_id.is_some())
        .collect()
}

async fn full_sync(replica: &Replica) {
    let outcomes = replica.drain_outcomes().await;
    assert_eq!(
        outcomes,
        [(SyncMode::Full, COMPLETED)],
        "the connect-time full sync"
    );
}

// ---- full sync ---------------------------------------------------------------

#[tokio::test]
async fn a_full_sync_indexes_every_current_and_archived_item_exactly() {
    let app = CrawlApp::spawn(sim(120)).await;
    let archived = inner_pages(&app).remove(3);
    app.control()
        .archive(app.cloud().as_str(), &archived.id)
        .unwrap();
    let replica = app.replica();

    full_sync(&replica).await;

    let stats = app.control().stats();
    assert_eq!(stats.rate_limited, 0, "{:?}", stats.by_status);
    assert_eq!(stats.flagged, 0, "nothing was sent during a Retry-After");
    assert_index_matches_site(&app).await;
    let docs = app.indexed();
    assert_eq!(docs[&page_id(&app, &archived.id)]["status"], "archived");

    // Authors' names, URLs and Markdown, against the simulator's own data.
    let cloud = app.cloud();
    let site_base = format!("{}/wiki/spaces/", app.control().sites()[0].url);
    let mut accounts = BTreeSet::new();
    for doc in docs.values() {
        if let Some(author) = doc["author"]["account_id"].as_str() {
            accounts.insert(author.to_owned());
        }
    }
    let pages: Vec<ContentInfo> = app
        .control()
        .contents(cloud.as_str(), ContentType::Page, &[])
        .unwrap();
    let bodies: HashMap<String, String> = pages
        .iter()
        .map(|p| {
            (
                p.id.clone(),
                app.control().storage_body(cloud.as_str(), &p.id).unwrap(),
            )
        })
        .collect();
    for body in bodies.values() {
        for (at, _) in body.match_indices("ri:account-id=\"") {
            let rest = &body[at + 15..];
            accounts.insert(rest[..rest.find('"').unwrap()].to_owned());
        }
    }
    let (_, users) = names(&truth_client(&app), &accounts).await;
    struct Names<'a>(&'a HashMap<String, Option<String>>);
    impl confsync_markdown::Lookup for Names<'_> {
        fn user_display_name(&self, account_id: &str) -> Option<String> {
            self.0.get(account_id).cloned().flatten()
        }
        fn page_title(&self, _content_id: &str) -> Option<String> {
            None
        }
    }
    let mut named_authors = 0;
    for (id, doc) in &docs {
        let url = doc["url"].as_str().unwrap();
        assert!(url.starts_with(&site_base), "{id}: {url}");
        let markdown = doc["content_markdown"].as_str().unwrap();
        assert!(!markdown.contains("<ac:"), "{id} leaks storage markup");
        if let Some(account) = doc["author"]["account_id"].as_str() {
            assert_eq!(
                doc["author"]["display_name"].as_str(),
                users[account].as_deref(),
                "{id}: author name"
            );
            named_authors += usize::from(users[account].is_some());
        }
        if doc["kind"] == "page" {
            let content = id.rsplit(':').next().unwrap();
            let want = confsync_markdown::to_markdown(&bodies[content], &Names(&users));
            assert_eq!(markdown, want, "{id}: markdown");
        }
        if doc["kind"] == "footer_comment" || doc["kind"] == "inline_comment" {
            assert!(url.contains("focusedCommentId="), "{id}: {url}");
        }
    }
    assert!(named_authors > docs.len() / 2, "most authors have names");
    assert_eq!(
        replica.metric(
            "sync_runs_total",
            &[("mode", "full"), ("outcome", "completed")]
        ),
        1.0
    );
    app.stop().await;
}

#[tokio::test]
async fn a_second_full_sync_pushes_nothing() {
    let app = CrawlApp::spawn(sim(60)).await;
    let replica = app.replica();
    full_sync(&replica).await;
    let events = app.control().indexer_events().len();

    app.request(SyncMode::Full).await;
    let run = replica.drain().await;

    let report = run[0].result.clone().unwrap();
    assert_eq!(report.outcome, JobOutcome::Completed);
    assert_eq!(
        app.control().indexer_events().len(),
        events,
        "nothing pushed"
    );
    assert_eq!(report.counters.pushed + report.counters.deleted, 0);
    assert_eq!(report.counters.unchanged as usize, app.indexed().len());
    assert_eq!(
        replica.metric("documents_unchanged_total", &[]),
        report.counters.unchanged as f64
    );
    app.stop().await;
}

// ---- incremental sync and deletions -------------------------------------------

#[tokio::test]
async fn incremental_polls_push_exactly_what_changed_and_deletions_follow() {
    let app = CrawlApp::spawn(sim(80)).await;
    let replica = app.replica();
    full_sync(&replica).await;
    let control = app.control();
    let cloud = app.cloud();
    let site = cloud.as_str();
    let pages = inner_pages(&app);
    let with_comments: BTreeSet<String> = control
        .comments(site)
        .unwrap()
        .iter()
        .map(|c| c.container_id.clone())
        .collect();
    let (edited, renamed, moved, labelled) = (&pages[1], &pages[2], &pages[3], &pages[4]);
    let new_parent = &pages[5];
    let commented = pages
        .iter()
        .find(|p| with_comments.contains(&p.id))
        .unwrap();
    let replied = control
        .comments(site)
        .unwrap()
        .into_iter()
        .find(|c| c.kind == CommentKind::Footer && c.parent_comment_id.is_none())
        .unwrap();

    control.advance_clock(Duration::from_secs(60));
    control.edit(site, &edited.id, Edit::default()).unwrap();
    control
        .rename(site, &renamed.id, "Renamed in the test")
        .unwrap();
    control
        .move_page(
            site,
            &moved.id,
            Move {
                parent_id: Some(new_parent.id.clone()),
                new_version: true,
                ..Move::default()
            },
        )
        .unwrap();
    control
        .add_label(site, &labelled.id, "added-by-test")
        .unwrap();
    control.edit(site, &labelled.id, Edit::default()).unwrap();
    let created = control
        .create_page(
            site,
            NewPage {
                parent_id: Some(edited.id.clone()),
                title: Some("Created in the test".into()),
                ..NewPage::default()
            },
        )
        .unwrap();
    let comment = control
        .add_comment(
            site,
            NewComment {
                kind: CommentKind::Footer,
                container_id: Some(commented.id.clone()),
                parent_comment_id: None,
                body: Some("<p>A new comment</p>".into()),
                selection: None,
            },
        )
        .unwrap();
    let reply = control
        .add_comment(
            site,
            NewComment {
                kind: CommentKind::Footer,
                container_id: None,
                parent_comment_id: Some(replied.id.clone()),
                body: Some("<p>A reply</p>".into()),
                selection: None,
            },
        )
        .unwrap();
    control.advance_clock(Duration::from_secs(60));
    let before = control.indexer_events().len();

    app.request_for(&cloud, SyncMode::Incremental, SyncTrigger::Schedule)
        .await;
    assert_eq!(
        replica.drain_outcomes().await,
        [(SyncMode::Incremental, COMPLETED)]
    );

    let (upserts, deletes) = events_after(&app, before);
    let want: BTreeSet<String> = [
        page_id(&app, &edited.id),
        page_id(&app, &renamed.id),
        page_id(&app, &moved.id),
        page_id(&app, &labelled.id),
        page_id(&app, &created.id),
        comment_id(&app, &comment.id),
        comment_id(&app, &reply.id),
    ]
    .into();
    assert_eq!(upserts, want, "exactly the changed documents");
    assert!(deletes.is_empty());
    let docs = app.indexed();
    let expect = expected(&app).await;
    for id in &want {
        assert_eq!(indexed(&app)[id], expect[id], "{id}");
    }
    assert_eq!(
        docs[&page_id(&app, &renamed.id)]["title"],
        "Renamed in the test"
    );
    assert!(
        strings(&docs[&page_id(&app, &labelled.id)]["labels"]).contains(&"added-by-test".into())
    );
    assert_eq!(
        docs[&comment_id(&app, &reply.id)]["title"]
            .as_str()
            .unwrap(),
        format!(
            "Comment on {}",
            control.content(site, &replied.container_id).unwrap().title
        ),
        "a reply is placed through its parent comment"
    );

    // Trashing creates no version: the deletion check (every operator
    // resync) finds it, with the page's comments.
    let mutated: BTreeSet<&str> = [edited, renamed, moved, labelled, new_parent, commented]
        .iter()
        .map(|p| p.id.as_str())
        .collect();
    let trashed = pages
        .iter()
        .find(|p| with_comments.contains(&p.id) && !mutated.contains(p.id.as_str()))
        .unwrap();
    let trashed_comments: BTreeSet<String> = control
        .comments(site)
        .unwrap()
        .iter()
        .filter(|c| c.container_id == trashed.id)
        .map(|c| comment_id(&app, &c.id))
        .collect();
    control.trash(site, &trashed.id).unwrap();
    control.advance_clock(Duration::from_secs(60));
    let before = control.indexer_events().len();
    app.request(SyncMode::Incremental).await;
    assert_eq!(
        replica.drain_outcomes().await,
        [(SyncMode::Incremental, COMPLETED)]
    );
    let (upserts, deletes) = events_after(&app, before);
    assert!(upserts.is_empty(), "{upserts:?}");
    let mut want_deleted = trashed_comments.clone();
    want_deleted.insert(page_id(&app, &trashed.id));
    assert_eq!(deletes, want_deleted);

    // A purge leaves no trace a listing shows: the full sync's sweep finds
    // it. A label added without a version is seen by the full sync too.
    // A leaf, so no child is left without its parent.
    let parents: BTreeSet<String> = pages.iter().filter_map(|p| p.parent_id.clone()).collect();
    let untouched = |p: &&ContentInfo| {
        p.id != trashed.id && !mutated.contains(p.id.as_str()) && !parents.contains(&p.id)
    };
    let mut leaves = pages.iter().filter(untouched);
    let (purged, quiet) = (leaves.next().unwrap(), leaves.next().unwrap());
    control.purge(site, &purged.id).unwrap();
    control.add_label(site, &quiet.id, "label-only").unwrap();
    app.request(SyncMode::Incremental).await;
    replica.drain().await;
    assert!(
        !strings(&app.indexed()[&page_id(&app, &quiet.id)]["labels"])
            .contains(&"label-only".into()),
        "a label-only change creates no version: incremental polls cannot see it"
    );
    app.request(SyncMode::Full).await;
    assert_eq!(
        replica.drain_outcomes().await,
        [(SyncMode::Full, COMPLETED)]
    );
    assert!(!app.indexed().contains_key(&page_id(&app, &purged.id)));
    assert!(
        strings(&app.indexed()[&page_id(&app, &quiet.id)]["labels"]).contains(&"label-only".into())
    );
    assert_index_matches_site(&app).await;
    app.stop().await;
}

#[tokio::test]
async fn an_idle_poll_costs_eight_points_and_a_deletion_check_one_per_listing_page() {
    let app = CrawlApp::spawn(sim(60)).await;
    let replica = app.replica();
    full_sync(&replica).await;
    // Past the overlap, inside the deletion-check interval.
    app.control().advance_clock(Duration::from_secs(400));
    app.control().reset_requests();

    app.request_for(&app.cloud(), SyncMode::Incremental, SyncTrigger::Schedule)
        .await;
    assert_eq!(
        replica.drain_outcomes().await,
        [(SyncMode::Incremental, COMPLETED)]
    );
    let idle = app.points_spent();
    eprintln!("idle incremental poll: {idle} points (DESIGN.md bound: 8)");
    assert!(idle <= 8, "an idle poll cost {idle} points");

    app.control().reset_requests();
    app.request(SyncMode::Incremental).await;
    replica.drain().await;
    let trashed_pages = app
        .control()
        .contents(app.cloud().as_str(), ContentType::Page, &[Status::Trashed])
        .unwrap()
        .len() as u64;
    let trashed_posts = app
        .control()
        .contents(
            app.cloud().as_str(),
            ContentType::BlogPost,
            &[Status::Trashed],
        )
        .unwrap()
        .len() as u64;
    let check = app.points_spent() - idle;
    eprintln!(
        "deletion check: {check} points ({trashed_pages} trashed pages, {trashed_posts} trashed blog posts)"
    );
    assert_eq!(check, 2 + trashed_pages + trashed_posts);
    app.stop().await;
}

// ---- resuming, dead letters, failures ------------------------------------------

#[tokio::test]
async fn a_crawl_stopped_mid_way_resumes_from_its_checkpoint() {
    let app = CrawlApp::spawn(sim(130)).await;
    // Listing pages of 50: the page stream is three requests long.
    let replica = app.replica_with(|s| s.sync.page_limit = 50);
    let pages_path = format!("/ex/confluence/{}/wiki/api/v2/pages", app.cloud());
    app.control().add_fault(
        FaultRule::new(FaultKind::Status { status: 503 })
            .path(&pages_path)
            .skip(2),
    );

    let first = replica.drain_outcomes().await;
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].1, Ok(JobOutcome::Retrying), "{first:?}");
    let state = app.state(&app.cloud()).await;
    let checkpoint = state.checkpoint.expect("a checkpoint");
    assert_eq!(checkpoint.stage, CrawlStage::Pages);
    assert!(
        checkpoint
            .next_url
            .as_deref()
            .is_some_and(|u| u.contains("cursor="))
    );
    let indexed_before = app.indexed().len();
    assert_eq!(indexed_before, 100, "two listing pages were pushed");

    app.control().clear_faults();
    app.control().reset_requests();
    app.make_delayed_jobs_due();
    assert_eq!(
        replica.drain_outcomes().await,
        [(SyncMode::Full, COMPLETED)]
    );

    let page_requests: Vec<String> = app
        .control()
        .requests(0)
        .into_iter()
        .filter(|r| r.path.split('?').next() == Some(pages_path.as_str()))
        .map(|r| r.path)
        .collect();
    assert_eq!(
        page_requests.len(),
        1,
        "only the unfinished page is read again: {page_requests:?}"
    );
    assert!(page_requests[0].contains("cursor="));
    let mut upserted: HashMap<String, usize> = HashMap::new();
    for event in app.control().indexer_events() {
        *upserted.entry(event.id).or_default() += 1;
    }
    assert!(
        upserted.values().all(|n| *n == 1),
        "no document was pushed twice"
    );
    assert!(app.state(&app.cloud()).await.checkpoint.is_none());
    assert_index_matches_site(&app).await;
    app.stop().await;
}

#[tokio::test]
async fn a_crawl_stopped_inside_a_listing_page_redoes_no_pushed_batch() {
    let app = CrawlApp::spawn(sim(130)).await;
    let replica = app.replica();
    // Label requests fail from the 111th on: the first batch of 100 pages
    // is pushed and checkpointed, the second is cut short.
    app.control().add_fault(
        FaultRule::new(FaultKind::Status { status: 503 })
            .path("*/labels")
            .skip(110),
    );

    let first = replica.drain_outcomes().await;
    assert_eq!(first[0].1, Ok(JobOutcome::Retrying), "{first:?}");
    let checkpoint = app.state(&app.cloud()).await.checkpoint.unwrap();
    assert_eq!(checkpoint.stage, CrawlStage::Pages);
    let done = checkpoint
        .after_id
        .clone()
        .expect("a position inside the page");
    assert_eq!(app.indexed().len(), 100, "one batch was pushed");

    app.control().clear_faults();
    app.control().reset_requests();
    app.make_delayed_jobs_due();
    assert_eq!(
        replica.drain_outcomes().await,
        [(SyncMode::Full, COMPLETED)]
    );

    let labelled: Vec<String> = app
        .control()
        .requests(0)
        .into_iter()
        .filter(|r| r.path.ends_with("/labels"))
        .map(|r| r.path)
        .collect();
    assert!(
        !labelled
            .iter()
            .any(|p| p.contains(&format!("/pages/{done}/"))),
        "items of the pushed batch are not built again"
    );
    let mut upserted: HashMap<String, usize> = HashMap::new();
    for event in app.control().indexer_events() {
        *upserted.entry(event.id).or_default() += 1;
    }
    assert!(
        upserted.values().all(|n| *n == 1),
        "no document was pushed twice"
    );
    assert_index_matches_site(&app).await;
    app.stop().await;
}

#[tokio::test]
async fn a_refused_document_is_dead_lettered_and_the_watermark_still_moves() {
    let app = CrawlApp::spawn(sim(40)).await;
    let replica = app.replica();
    full_sync(&replica).await;
    let site = app.cloud();
    let pages = inner_pages(&app);
    app.control().advance_clock(Duration::from_secs(60));
    for page in &pages[..3] {
        app.control()
            .edit(site.as_str(), &page.id, Edit::default())
            .unwrap();
    }
    let refused = page_id(&app, &pages[1].id);
    app.control().set_indexer_faults(IndexerFaultUpdate {
        reject_ids: Some(vec![refused.clone()]),
        ..IndexerFaultUpdate::default()
    });
    let watermark = app.state(&site).await.watermarks[&confsync_core::ContentKind::Page];

    app.request_for(&site, SyncMode::Incremental, SyncTrigger::Schedule)
        .await;
    let run = replica.drain().await;

    let report = run[0].result.clone().unwrap();
    assert_eq!(report.outcome, JobOutcome::Completed);
    assert_eq!(
        (report.counters.pushed, report.counters.dead_lettered),
        (2, 1)
    );
    let letters = DeadLetters::new(app.app.store())
        .list(&app.key(&site))
        .await
        .unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].id, refused);
    assert_eq!((letters[0].op.as_str(), letters[0].status), ("upsert", 422));
    let document: confsync_core::document::Document =
        serde_json::from_str(&letters[0].payload).unwrap();
    assert_eq!(document.id.as_str(), refused);
    assert!(app.state(&site).await.watermarks[&confsync_core::ContentKind::Page] > watermark);

    // Retryable: once the indexer takes it, a full sync pushes it and the
    // letter goes.
    app.control().clear_indexer_faults();
    app.request(SyncMode::Full).await;
    replica.drain().await;
    assert_eq!(
        app.indexed()[&refused]["version"].as_u64(),
        Some(u64::from(pages[1].version) + 1)
    );
    assert!(
        DeadLetters::new(app.app.store())
            .list(&app.key(&site))
            .await
            .unwrap()
            .is_empty()
    );
    app.stop().await;
}

#[tokio::test]
async fn an_unavailable_indexer_fails_the_poll_transiently_and_loses_nothing() {
    let app = CrawlApp::spawn(sim(40)).await;
    let replica = app.replica();
    full_sync(&replica).await;
    let site = app.cloud();
    let pages = inner_pages(&app);
    app.control().advance_clock(Duration::from_secs(60));
    for page in &pages[..2] {
        app.control()
            .edit(site.as_str(), &page.id, Edit::default())
            .unwrap();
    }
    let before = app.state(&site).await;
    let known_before = KnownMap::new(app.app.store())
        .all(&app.key(&site))
        .await
        .unwrap();
    app.control().set_indexer_faults(IndexerFaultUpdate {
        fail_next: Some(1000),
        ..IndexerFaultUpdate::default()
    });

    app.request_for(&site, SyncMode::Incremental, SyncTrigger::Schedule)
        .await;
    let run = replica.drain().await;

    let report = run[0].result.clone().unwrap();
    assert_eq!(report.outcome, JobOutcome::Retrying);
    assert!(report.retry_in_secs.is_some_and(|s| s >= 20));
    let after = app.state(&site).await;
    assert_eq!(after.watermarks, before.watermarks, "no watermark moved");
    assert_eq!(after.failures, 1);
    assert!(after.last_error.is_some());
    assert_eq!(
        KnownMap::new(app.app.store())
            .all(&app.key(&site))
            .await
            .unwrap(),
        known_before
    );

    app.control().clear_indexer_faults();
    app.make_delayed_jobs_due();
    assert_eq!(
        replica.drain_outcomes().await,
        [(SyncMode::Incremental, COMPLETED)]
    );
    for page in &pages[..2] {
        assert_eq!(
            app.indexed()[&page_id(&app, &page.id)]["version"].as_u64(),
            Some(u64::from(page.version) + 1)
        );
    }
    assert_eq!(app.state(&site).await.failures, 0);
    app.stop().await;
}

#[tokio::test]
async fn a_revoked_grant_stops_the_sync_and_needs_a_new_consent() {
    let app = CrawlApp::spawn(sim(20)).await;
    let replica = app.replica();
    full_sync(&replica).await;
    app.control().revoke_grants(&GrantSelector::All);

    app.request(SyncMode::Incremental).await;
    let run = replica.drain().await;

    assert!(
        matches!(
            &run[0].result,
            Err(confsync_worker::crawl::JobFailure::NeedsReauth(_))
        ),
        "{:?}",
        run[0].result
    );
    let grant = app.app.vault().grant(&app.grant).await.unwrap().unwrap();
    assert_eq!(grant.status, GrantStatus::NeedsReauth);
    assert_eq!(
        replica.metric("sync_runs_total", &[("outcome", "needs_reauth")]),
        1.0
    );
    // Its sites are no longer planned.
    app.control().advance_clock(Duration::from_secs(7200));
    let report = replica
        .scheduler(&app)
        .plan(app.control().now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(report.queued(), 0);
    assert!(replica.drain().await.is_empty());
    app.stop().await;
}

// ---- upkeep: redelivery and purge -------------------------------------------------

#[tokio::test]
async fn a_redelivery_pushes_the_dead_letters_again_once_the_indexer_takes_them() {
    let app = CrawlApp::spawn(sim(30)).await;
    let replica = app.replica();
    let site = app.cloud();
    let key = app.key(&site);
    let page = inner_pages(&app)[1].clone();
    let refused = page_id(&app, &page.id);
    app.control().set_indexer_faults(IndexerFaultUpdate {
        reject_ids: Some(vec![refused.clone()]),
        ..IndexerFaultUpdate::default()
    });
    full_sync(&replica).await;
    assert!(!app.indexed().contains_key(&refused));
    let letters = DeadLetters::new(app.app.store());
    assert_eq!(letters.count(&key).await.unwrap(), 1);
    let requests_before = app.control().requests(0).len();

    // Still refused: the letter stays.
    app.request_for(&site, SyncMode::Redeliver, SyncTrigger::Operator)
        .await;
    let report = replica.drain().await[0].result.clone().unwrap();
    assert_eq!(report.outcome, JobOutcome::Completed);
    assert_eq!(
        (report.counters.pushed, report.counters.dead_lettered),
        (0, 1)
    );
    assert_eq!(letters.count(&key).await.unwrap(), 1);

    app.control().clear_indexer_faults();
    app.request_for(&site, SyncMode::Redeliver, SyncTrigger::Operator)
        .await;
    let report = replica.drain().await[0].result.clone().unwrap();
    assert_eq!(
        (report.counters.pushed, report.counters.dead_lettered),
        (1, 0)
    );
    assert_eq!(letters.count(&key).await.unwrap(), 0);
    assert_eq!(
        app.indexed()[&refused]["version"].as_u64(),
        Some(u64::from(page.version))
    );
    let known = KnownMap::new(app.app.store()).all(&key).await.unwrap();
    assert_eq!(known[&page.id].version, u64::from(page.version));
    assert!(!known[&page.id].doc_sha.is_empty());
    assert_eq!(
        app.control().requests(0).len(),
        requests_before,
        "a redelivery asks Atlassian nothing"
    );

    // Known again: the next poll pushes nothing.
    app.control().advance_clock(Duration::from_secs(60));
    app.request_for(&site, SyncMode::Incremental, SyncTrigger::Schedule)
        .await;
    let report = replica.drain().await[0].result.clone().unwrap();
    assert_eq!(report.counters.pushed, 0);
    app.stop().await;
}

#[tokio::test]
async fn a_purge_deletes_every_document_of_the_site_and_forgets_its_crawl() {
    let app = CrawlApp::spawn(sim(30)).await;
    let replica = app.replica();
    full_sync(&replica).await;
    let site = app.cloud();
    let key = app.key(&site);
    let indexed = app.indexed().len();
    assert!(indexed > 30, "pages, blog posts and comments: {indexed}");
    let kept = page_id(&app, &inner_pages(&app)[0].id);
    app.control().set_indexer_faults(IndexerFaultUpdate {
        reject_ids: Some(vec![kept.clone()]),
        ..IndexerFaultUpdate::default()
    });

    app.app.vault().disconnect(&app.grant).await.unwrap();
    app.request_for(&site, SyncMode::Purge, SyncTrigger::Operator)
        .await;
    let report = replica.drain().await[0].result.clone().unwrap();

    assert_eq!(report.outcome, JobOutcome::Completed);
    assert_eq!(report.counters.deleted as usize, indexed - 1);
    assert_eq!(report.counters.dead_lettered, 1);
    assert_eq!(
        app.indexed().keys().collect::<Vec<_>>(),
        [&kept],
        "only the refused delete is left"
    );
    let state = app.state(&site).await;
    assert!(state.watermarks.is_empty() && state.checkpoint.is_none());
    assert_eq!(state.last_sync_at, None);
    let known = KnownMap::new(app.app.store());
    assert_eq!(
        known.len(&key).await.unwrap(),
        1,
        "the refused item stays known"
    );
    let letters = DeadLetters::new(app.app.store()).list(&key).await.unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(
        (letters[0].id.as_str(), letters[0].op.as_str()),
        (kept.as_str(), "delete")
    );

    // A redelivery (of a disconnected grant: it asks Atlassian nothing)
    // finishes the purge.
    app.control().clear_indexer_faults();
    app.request_for(&site, SyncMode::Redeliver, SyncTrigger::Operator)
        .await;
    let report = replica.drain().await[0].result.clone().unwrap();
    assert_eq!(report.counters.deleted, 1);
    assert!(app.indexed().is_empty());
    assert_eq!(known.len(&key).await.unwrap(), 0);

    // Reconnected, the site is crawled from scratch.
    assert_eq!(app.app.connect("acme").await, app.grant.as_str());
    let outcomes = replica.drain_outcomes().await;
    assert_eq!(outcomes, [(SyncMode::Full, COMPLETED)]);
    assert_eq!(app.indexed().len(), indexed);
    app.stop().await;
}

// ---- one crawl per site ---------------------------------------------------------

#[tokio::test]
async fn a_job_for_a_crawling_site_is_coalesced_and_an_operator_full_sync_follows() {
    let app = CrawlApp::spawn(sim(20)).await;
    let replica = app.replica();
    full_sync(&replica).await;
    let store = app.app.store();
    // Another replica crawls the site.
    let lease = store
        .try_lock(&app.key(&app.cloud()).crawl_lock(), Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();

    app.request(SyncMode::Full).await;
    app.request_for(&app.cloud(), SyncMode::Incremental, SyncTrigger::Schedule)
        .await;
    // Jobs queued within the same second run in no particular order.
    let mut coalesced = replica.drain_outcomes().await;
    coalesced.sort_by_key(|(mode, _)| mode.as_str());
    assert_eq!(
        coalesced,
        [
            (SyncMode::Full, Ok(JobOutcome::Coalesced)),
            (SyncMode::Incremental, Ok(JobOutcome::Coalesced))
        ]
    );
    assert_eq!(app.state(&app.cloud()).await.followup, Some(SyncMode::Full));

    lease.release().await.unwrap();
    app.request(SyncMode::Incremental).await;
    assert_eq!(
        replica.drain_outcomes().await,
        [
            (SyncMode::Incremental, COMPLETED),
            (SyncMode::Full, COMPLETED)
        ],
        "the operator's full sync runs once, after the poll"
    );
    assert_eq!(app.state(&app.cloud()).await.followup, None);
    app.stop().await;
}

#[tokio::test]
async fn two_replicas_never_crawl_the_same_site_at_once() {
    let app = CrawlApp::spawn(sim(60)).await;
    let (first, second) = (app.replica(), app.replica());
    full_sync(&first).await;
    // Slow pushes keep the first crawl running while the second job starts.
    app.control().set_indexer_faults(IndexerFaultUpdate {
        latency_ms: Some(300),
        ..IndexerFaultUpdate::default()
    });
    app.request(SyncMode::Full).await;
    app.request(SyncMode::Full).await;

    let (a, b) = tokio::join!(first.step(), second.step());

    let mut outcomes: Vec<JobOutcome> = [a, b]
        .into_iter()
        .map(|p| p.unwrap().result.unwrap().outcome)
        .collect();
    outcomes.sort_by_key(|o| o.as_str());
    assert_eq!(outcomes, [JobOutcome::Coalesced, JobOutcome::Completed]);
    app.control().clear_indexer_faults();
    // The coalesced operator request runs once the site is free.
    assert_eq!(first.drain_outcomes().await, [(SyncMode::Full, COMPLETED)]);
    app.stop().await;
}

// ---- the budget and the scheduler ------------------------------------------------

#[tokio::test]
async fn a_crawl_under_a_tight_quota_waits_for_points_and_meets_no_429() {
    // 1,620 points an hour planned: 27 a minute, so every request (listing
    // pages of 25, label pages of 25: at most 26 points) can be granted
    // within the minute a request may wait.
    const QUOTA: u64 = 1800;
    let app = CrawlApp::spawn(
        sim(500)
            .quota_points(QUOTA)
            .quota_window(Duration::from_secs(3600)),
    )
    .await;
    let replica = app.replica_with(|s| {
        s.budget.points_per_hour = QUOTA;
        s.budget.headroom_fraction = 0.1;
        s.budget.burst_points = 150;
        s.sync.page_limit = 25;
    });
    let started = app.control().now();

    // A wait longer than a request may hold a worker would end the job; it
    // is then queued again and resumes from its checkpoint.
    let mut retries = 0;
    loop {
        let run = replica.drain().await;
        let report = run.last().unwrap().result.clone().unwrap();
        match report.outcome {
            JobOutcome::Completed => break,
            JobOutcome::Retrying => {
                retries += 1;
                assert!(retries < 50, "the crawl never completes: {report:?}");
                let wait = report.retry_in_secs.unwrap();
                app.control().advance_clock(Duration::from_secs(wait));
                app.make_delayed_jobs_due();
            }
            other => panic!("unexpected outcome {other:?}: {report:?}"),
        }
    }

    let stats = app.control().stats();
    let took = app.control().now() - started;
    eprintln!(
        "tight quota: {} points in {} simulated minutes, {retries} retries",
        stats.points_spent,
        took.num_minutes()
    );
    assert_eq!(stats.rate_limited, 0, "{:?}", stats.by_status);
    assert_eq!(stats.flagged, 0);
    assert!(
        stats.points_spent > QUOTA,
        "the crawl needs more than one window ({} points), or it proves nothing",
        stats.points_spent
    );
    assert!(
        took > chrono::Duration::hours(1),
        "the budget paced the crawl"
    );
    assert_index_matches_site(&app).await;
    app.stop().await;
}

#[tokio::test]
async fn the_scheduler_plans_due_polls_once_and_within_the_budget() {
    let app = CrawlApp::spawn(SimConfig::default().seed(5).sites(2).pages(10)).await;
    let replica = app.replica();
    let outcomes = replica.drain_outcomes().await;
    assert_eq!(outcomes.len(), 2, "a full sync per site: {outcomes:?}");
    let scheduler = replica.scheduler(&app);
    let now = app.control().now();

    let nothing = scheduler.plan(now).await.unwrap().unwrap();
    assert_eq!(
        nothing.queued(),
        0,
        "nothing is due right after a full sync"
    );

    // A fresh bucket (its own prefix) that pays for one poll until the next
    // tick: of two due polls, one is planned and one held back.
    let prefix = confsync_tests::TestPrefix::new();
    let bucket =
        confsync_runtime::wiring::open_store(&confsync_tests::settings(&prefix, &[])).unwrap();
    let tight = Budget::new(bucket, BudgetConfig::new(40, BudgetConfig::HOUR, 0.5, 15)).unwrap();
    let planner = Planner::new(
        app.app.store(),
        Some(tight),
        replica.crawler.settings().clone(),
        Duration::from_secs(86_400),
        Duration::from_secs(60),
    );
    let frugal = confsync_worker::scheduler::Scheduler::new(
        app.app.store(),
        app.app.vault(),
        None,
        replica.metrics.clone(),
        Duration::from_secs(60),
    )
    .with_planner(planner);
    let later = now + chrono::Duration::seconds(1000);
    let report = frugal.plan(later).await.unwrap().unwrap();
    assert_eq!((report.incremental, report.held_for_budget), (1, 1));

    // The fleet's budget pays for the other; queued polls are not planned twice.
    let planned = scheduler.plan(later).await.unwrap().unwrap();
    assert_eq!((planned.incremental, planned.held_for_budget), (1, 0));
    let again = scheduler.plan(later).await.unwrap().unwrap();
    assert_eq!(again.queued(), 0, "queued polls are not planned twice");
    app.control().advance_clock(Duration::from_secs(1000));
    assert_eq!(
        replica.drain_outcomes().await,
        [
            (SyncMode::Incremental, COMPLETED),
            (SyncMode::Incremental, COMPLETED)
        ]
    );
    let after = scheduler.plan(app.control().now()).await.unwrap().unwrap();
    assert_eq!(after.queued(), 0, "nothing is due right after a poll");
    app.stop().await;
}

// ---- measurements (printed, not asserted against time) -----------------------------

/// One full crawl of a fresh 1,000-page site: points spent, the bound,
/// documents and the wall-clock time (debug build; printed only).
async fn measure_full_crawl(fetch_labels: bool) -> (u64, u64, usize, usize, Duration) {
    let app = CrawlApp::spawn(sim(1000)).await;
    let replica = app.replica_with(|s| s.sync.fetch_labels = fetch_labels);
    app.control().reset_requests();
    let started = Instant::now();
    full_sync(&replica).await;
    let took = started.elapsed();
    let spent = app.points_spent();
    let users = app.users_fetched();
    let label_requests = app.label_requests();
    let bound = app.points_lower_bound(users);
    let documents = app.indexed().len();
    let stats = app.control().stats();
    assert_eq!((stats.flagged, stats.rate_limited), (0, 0));
    app.stop().await;
    (spent, bound, documents, label_requests, took)
}

#[tokio::test]
async fn full_crawl_points_against_the_design_bound_with_and_without_labels() {
    let (spent, bound, documents, _, took) = measure_full_crawl(false).await;
    eprintln!(
        "full crawl without labels: {spent} points, bound {bound} ({:.3}x); {documents} documents in {:.2}s ({:.0}/s, debug build)",
        spent as f64 / bound as f64,
        took.as_secs_f64(),
        documents as f64 / took.as_secs_f64()
    );
    assert!(
        spent as f64 <= 1.02 * bound as f64,
        "{spent} points against a bound of {bound}"
    );

    // Labels cost one request per page and blog post: measured, reported.
    let (with, bound_with, _, label_requests, took) = measure_full_crawl(true).await;
    eprintln!(
        "full crawl with labels: {with} points ({label_requests} label requests), bound {bound_with} ({:.3}x); {:.2}s",
        with as f64 / bound_with as f64,
        took.as_secs_f64()
    );
    assert!(with > spent, "labels cost points");
}

// ---- the worker process ------------------------------------------------------------

#[tokio::test]
async fn the_worker_process_runs_queued_syncs_and_stops_cleanly() {
    let app = CrawlApp::spawn(sim(30)).await;
    let mut settings = app.worker_settings();
    settings.worker.concurrency = 2;
    let worker = confsync_tests::spawn_worker(settings).await;

    // The worker polls its queue in real time: wait for the outcome.
    let sites = confsync_store::SiteStore::new(app.app.store());
    let (grant, cloud) = (app.grant.clone(), app.cloud());
    let synced = confsync_tests::eventually(Duration::from_secs(20), || {
        let (sites, grant, cloud) = (sites.clone(), grant.clone(), cloud.clone());
        async move {
            let state = sites.state(&grant, &cloud).await.ok()?;
            state.has_all_watermarks().then_some(())
        }
    })
    .await;
    assert!(
        synced.is_some(),
        "the worker never completed the connect-time full sync"
    );
    worker.stop().await.unwrap();
    assert_index_matches_site(&app).await;
    app.stop().await;
}

#[tokio::test]
async fn the_known_map_holds_what_placing_items_needs() {
    let app = CrawlApp::spawn(sim(20)).await;
    let replica = app.replica();
    full_sync(&replica).await;
    let known = KnownMap::new(app.app.store())
        .all(&app.key(&app.cloud()))
        .await
        .unwrap();
    let comments = app.control().comments(app.cloud().as_str()).unwrap();
    let reply = comments
        .iter()
        .find(|c| c.parent_comment_id.is_some() && c.status == Status::Current)
        .unwrap();
    let entry = &known[&reply.id];
    assert_eq!(entry.container.as_ref().unwrap().id, reply.container_id);
    assert_eq!(entry.parent.as_deref(), reply.parent_comment_id.as_deref());
    let page = &inner_pages(&app)[0];
    let page_entry = &known[&page.id];
    assert_eq!(page_entry.title, page.title);
    assert_eq!(page_entry.parent, page.parent_id);
    assert_eq!(page_entry.version, u64::from(page.version));
    assert_eq!(known.len(), app.indexed().len());
    app.stop().await;
}
