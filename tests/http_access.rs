//! Access control over HTTP: every principal × workspace kind × authentication endpoint, with
//! the expected outcome derived from the written access rules (not from the product's access
//! code); then caller authentication (401), what runners and auditors may do, and who may change
//! the directory.
//!
//! The rules (from the issue):
//! - Personal workspace: only its owner.
//! - Organization workspace: every organization member views and uses; owner/admin edit.
//! - Shared workspace: viewer views and uses; editor and workspace admin do everything;
//!   organization owner/admin do everything; other organization members nothing.
//! - Workflow runners only resolve, on behalf of a user; auditors never write and never resolve.
//!
//! A refusal is a 404 when the caller may not even see the authentication (it must not learn
//! that it exists, and the answer holds neither its name nor its id), and a 403 when the caller
//! sees it but may not do this, or is not a user at all.

mod http_support;

use http_support::{Answer, Person, Server};
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Owner,
    Admin,
    Member,
    WsAdmin,
    Editor,
    Viewer,
    Outsider,
    Runner,
    Auditor,
}

use Role::*;

/// Every principal of the test world.
const ROLES: [Role; 9] = [
    Owner, Admin, Member, WsAdmin, Editor, Viewer, Outsider, Runner, Auditor,
];
/// The principals that are users.
const USERS: [Role; 7] = [Owner, Admin, Member, WsAdmin, Editor, Viewer, Outsider];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// The personal workspace of `owner`.
    Personal,
    /// The shared workspace `shared`.
    Shared,
    /// The organization workspace.
    Organization,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Create,
    Get,
    List,
    History,
    GetVersion,
    Rename,
    Reauthenticate,
    Delete,
    Restore,
    Purge,
    Resolve,
}

use Endpoint::*;

const ENDPOINTS: [Endpoint; 11] = [
    Create,
    Get,
    List,
    History,
    GetVersion,
    Rename,
    Reauthenticate,
    Delete,
    Restore,
    Purge,
    Resolve,
];

impl Endpoint {
    /// Reads and uses; everything else changes the authentication.
    fn is_read(self) -> bool {
        matches!(self, Get | List | History | GetVersion | Resolve)
    }

    /// Whether the endpoint acts on an existing authentication (a refusal is recorded).
    fn is_attempt_on_existing(self) -> bool {
        matches!(
            self,
            Rename | Reauthenticate | Delete | Restore | Purge | Resolve
        )
    }

    /// Whether each principal gets its own fresh authentication for this endpoint.
    fn needs_fresh_authentication(self) -> bool {
        matches!(self, Rename | Reauthenticate | Delete | Restore | Purge)
    }
}

/// Whether a user may view/use (`write == false`) or change (`write == true`) authentications
/// of a workspace kind: the rules of the issue, written out by hand.
fn user_may(role: Role, kind: Kind, write: bool) -> bool {
    match kind {
        Kind::Personal => role == Owner,
        Kind::Organization => match role {
            Owner | Admin => true,
            Member | WsAdmin | Editor | Viewer => !write,
            Outsider | Runner | Auditor => false,
        },
        Kind::Shared => match role {
            Owner | Admin | WsAdmin | Editor => true,
            Viewer => !write,
            Member | Outsider | Runner | Auditor => false,
        },
    }
}

/// Whether `role` may call `action` on an authentication in a workspace of `kind`. Runners
/// resolve on behalf of a user: ask with that user's role and `Resolve`.
fn expected(role: Role, kind: Kind, action: Endpoint) -> bool {
    match role {
        // Auditors read every history (fingerprints only), and nothing else.
        Auditor => action == History,
        Runner => false,
        user => user_may(user, kind, !action.is_read()),
    }
}

/// The status of a refusal: 403 for non-users and for users who see the authentication, 404
/// for users who must not learn it exists. Creating has no authentication to hide: 403.
fn refusal(role: Role, kind: Kind, action: Endpoint) -> u16 {
    match role {
        Runner | Auditor => 403,
        _ if action == Create => 403,
        user if user_may(user, kind, false) => 403,
        _ => 404,
    }
}

fn person(s: &Server, role: Role) -> Option<&Person> {
    match role {
        Owner => Some(&s.owner),
        Admin => Some(&s.admin),
        Member => Some(&s.member),
        WsAdmin => Some(&s.ws_admin),
        Editor => Some(&s.editor),
        Viewer => Some(&s.viewer),
        Outsider => Some(&s.outsider),
        Runner | Auditor => None,
    }
}

fn token(s: &Server, role: Role) -> &str {
    match role {
        Runner => &s.runner_token,
        Auditor => &s.auditor_token,
        user => &person(s, user).expect("a user").token,
    }
}

fn workspace(s: &Server, kind: Kind) -> String {
    match kind {
        Kind::Personal => s.owner.personal.clone(),
        Kind::Shared => s.shared.clone(),
        Kind::Organization => s.org_workspace.clone(),
    }
}

/// Who creates the authentications of a workspace kind (someone the rules allow to).
fn creator(s: &Server, kind: Kind) -> &Person {
    match kind {
        Kind::Personal => &s.owner,
        Kind::Shared => &s.editor,
        Kind::Organization => &s.admin,
    }
}

/// A Slack (OAuth2) authentication: it has scopes, and a secret to resolve.
#[derive(Clone)]
struct Auth {
    id: String,
    name: String,
    secret: String,
}

async fn new_auth(s: &Server, kind: Kind, label: &str) -> Auth {
    let name = format!("{label}-{}", Uuid::now_v7().simple());
    let secret = format!("xoxb-{}", Uuid::new_v4().simple());
    let created = s
        .call(
            Method::POST,
            "/v1/authentications",
            &creator(s, kind).token,
            Some(json!({
                "name": name,
                "workspace": workspace(s, kind),
                "service": "slack",
                "fields": {"access_token": secret},
            })),
        )
        .await
        .expect(201);
    Auth {
        id: created.body["id"].as_str().expect("id").to_owned(),
        name,
        secret,
    }
}

fn is_problem(answer: &Answer) -> bool {
    answer.header("content-type").as_deref() == Some("application/problem+json")
}

/// The request of an endpoint on an authentication.
fn request(
    s: &Server,
    kind: Kind,
    endpoint: Endpoint,
    auth: &Auth,
    on_behalf: Option<&Person>,
) -> (Method, String, Option<Value>) {
    let path = format!("/v1/authentications/{}", auth.id);
    match endpoint {
        Create => (
            Method::POST,
            "/v1/authentications".to_owned(),
            Some(json!({
                "name": format!("created-{}", Uuid::now_v7().simple()),
                "workspace": workspace(s, kind),
                "service": "slack",
                "fields": {"access_token": "xoxb-created"},
            })),
        ),
        Get => (Method::GET, path, None),
        List => (
            Method::GET,
            format!("/v1/authentications?q={}&limit=500", auth.name),
            None,
        ),
        History => (Method::GET, format!("{path}/history"), None),
        GetVersion => (Method::GET, format!("{path}?version=1"), None),
        Rename => (
            Method::PATCH,
            path,
            Some(json!({"name": format!("renamed-{}", Uuid::now_v7().simple())})),
        ),
        Reauthenticate => (
            Method::POST,
            format!("{path}/reauthenticate"),
            Some(json!({"fields": {"access_token": "xoxb-reauthenticated"}})),
        ),
        Delete => (Method::DELETE, path, None),
        Restore => (
            Method::POST,
            format!("{path}/restore"),
            Some(json!({"version": 1})),
        ),
        Purge => (Method::POST, format!("{path}/purge"), None),
        Resolve => {
            let mut body = json!({
                "authentication": auth.id,
                "workspace": workspace(s, kind),
                "template": {"Authorization": "Bearer {$.auth.access_token}"},
            });
            if let Some(user) = on_behalf {
                body["user"] = json!(user.id);
            }
            (Method::POST, "/v1/resolve".to_owned(), Some(body))
        }
    }
}

/// Checks an allowed call: the exact success status and what it must show.
fn check_allowed(label: &str, endpoint: Endpoint, auth: &Auth, answer: &Answer) {
    let status = answer.status.as_u16();
    let wanted = if endpoint == Create { 201 } else { 200 };
    assert_eq!(status, wanted, "{label}: allowed, got {}", answer.text);
    let view = &answer.body["authentication"];
    match endpoint {
        // Created, then the record that it was not verified (verification is off in tests).
        Create => assert_eq!(view["version"], 2, "{label}"),
        Get => assert_eq!(answer.body["id"], auth.id.as_str(), "{label}"),
        List => {
            let items = answer.body["items"].as_array().expect("items");
            assert!(
                items.iter().any(|i| i["id"] == auth.id.as_str()),
                "{label}: the listing must show it: {}",
                answer.text
            );
        }
        History => {
            let entries = answer.body.as_array().expect("history entries");
            assert_eq!(
                entries[0]["event_type"], "authentication.created",
                "{label}"
            );
        }
        GetVersion => {
            assert_eq!(answer.body["version"], 1, "{label}");
            assert_eq!(answer.header("etag").as_deref(), Some("\"1\""), "{label}");
        }
        Rename => assert!(
            view["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("renamed-")),
            "{label}: {}",
            answer.text
        ),
        Reauthenticate => assert_eq!(view["version"], 4, "{label}"),
        Delete => assert_eq!(view["lifecycle"], "deleted", "{label}"),
        Restore => {
            assert_eq!(
                view["name"],
                auth.name.as_str(),
                "{label}: version 1's name"
            );
            assert_eq!(view["version"], 4, "{label}");
        }
        Purge => assert_eq!(
            answer.body["version"], 4,
            "{label}: created, its verification record, deleted, purged"
        ),
        Resolve => assert_eq!(
            answer.body["resolved"]["Authorization"],
            format!("Bearer {}", auth.secret),
            "{label}"
        ),
    }
}

/// Checks a refused call: the exact refusal status, a problem, and nothing that reveals the
/// authentication to someone who may not see it.
fn check_refused(label: &str, wanted: u16, hide: bool, auth: &Auth, answer: &Answer) {
    assert_eq!(
        answer.status.as_u16(),
        wanted,
        "{label}: refused, got {}",
        answer.text
    );
    assert!(is_problem(answer), "{label}: a problem+json answer");
    assert_eq!(answer.body["status"], wanted, "{label}");
    if hide || wanted == 404 {
        assert!(
            !answer.text.contains(&auth.id) && !answer.text.contains(&auth.name),
            "{label}: a refusal to someone who may not see it must not name it: {}",
            answer.text
        );
    }
}

/// Runs the whole matrix for one workspace kind on its own server.
async fn matrix(kind: Kind) -> usize {
    let s = Server::start().await;
    // One authentication for the endpoints that do not change it.
    let shared_auth = new_auth(&s, kind, "read").await;
    let mut cells = 0;
    for role in ROLES {
        for endpoint in ENDPOINTS {
            // Runners resolve on behalf of each user in turn; everyone else acts for themselves.
            let on_behalf: Vec<Option<Role>> = if role == Runner && endpoint == Resolve {
                USERS.iter().copied().map(Some).collect()
            } else {
                vec![None]
            };
            for user in on_behalf {
                cells += 1;
                let label = match user {
                    Some(u) => format!("{kind:?} / {role:?} for {u:?} / {endpoint:?}"),
                    None => format!("{kind:?} / {role:?} / {endpoint:?}"),
                };
                let auth = if endpoint.needs_fresh_authentication() {
                    let fresh = new_auth(&s, kind, "fresh").await;
                    if endpoint == Restore {
                        // Version 3, so that version 1 is an earlier version to go back to.
                        s.call(
                            Method::PATCH,
                            &format!("/v1/authentications/{}", fresh.id),
                            &creator(&s, kind).token,
                            Some(json!({"name": format!("{}-v2", fresh.name)})),
                        )
                        .await
                        .expect(200);
                    }
                    if endpoint == Purge {
                        // Only a deleted authentication may be purged.
                        s.call(
                            Method::DELETE,
                            &format!("/v1/authentications/{}", fresh.id),
                            &creator(&s, kind).token,
                            None,
                        )
                        .await
                        .expect(200);
                    }
                    fresh
                } else {
                    shared_auth.clone()
                };
                let (method, path, body) =
                    request(&s, kind, endpoint, &auth, user.and_then(|u| person(&s, u)));
                let before = s.head().await;
                let answer = s.call(method, &path, token(&s, role), body).await;
                let after = s.head().await;
                let allowed = match user {
                    Some(u) => expected(u, kind, Resolve),
                    None => expected(role, kind, endpoint),
                };
                if allowed {
                    check_allowed(&label, endpoint, &auth, &answer);
                    // A resolution writes its access record; a create or re-authentication
                    // also writes its verification record.
                    let events = match endpoint {
                        Create | Reauthenticate => 2,
                        _ => u64::from(endpoint == Resolve || !endpoint.is_read()),
                    };
                    assert_eq!(after, before + events, "{label}: events written");
                } else if endpoint == List && role != Runner && role != Auditor {
                    // A listing is never refused to a user; it just does not show it.
                    assert_eq!(answer.status.as_u16(), 200, "{label}: {}", answer.text);
                    assert!(
                        !answer.text.contains(&auth.id) && !answer.text.contains(&auth.name),
                        "{label}: the listing must not show it: {}",
                        answer.text
                    );
                } else {
                    let wanted = match user {
                        Some(u) => refusal(u, kind, Resolve),
                        None => refusal(role, kind, endpoint),
                    };
                    // Runners and auditors see nothing; users only what the rules let them.
                    let hide = match role {
                        Runner | Auditor => true,
                        user => !user_may(user, kind, false),
                    };
                    check_refused(&label, wanted, hide, &auth, &answer);
                    // A refused attempt on an existing credential is recorded for audit (one
                    // `access.refused`); nothing else is written.
                    let recorded = u64::from(endpoint.is_attempt_on_existing());
                    assert_eq!(
                        after,
                        before + recorded,
                        "{label}: a refusal writes only its access record"
                    );
                }
                if !(allowed && endpoint == Resolve) {
                    assert!(
                        !answer.text.contains(&auth.secret),
                        "{label}: only an allowed resolve shows the secret"
                    );
                }
            }
        }
    }
    s.stop().await;
    cells
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_principal_and_endpoint_in_the_owners_personal_workspace() {
    assert_eq!(matrix(Kind::Personal).await, 9 * 11 + 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_principal_and_endpoint_in_a_shared_workspace() {
    assert_eq!(matrix(Kind::Shared).await, 9 * 11 + 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_principal_and_endpoint_in_the_organization_workspace() {
    assert_eq!(matrix(Kind::Organization).await, 9 * 11 + 6);
}

/// The answer about someone else's personal authentication, with its id replaced by a
/// placeholder, next to the answer about an id that was never used.
async fn hidden_and_missing(
    s: &Server,
    who: &Person,
    endpoint: Endpoint,
    hidden: &Auth,
) -> ((u16, String), (u16, String)) {
    let missing = Auth {
        id: Uuid::now_v7().to_string(),
        ..hidden.clone()
    };
    let mut out = Vec::new();
    for auth in [hidden, &missing] {
        let (method, path, body) = request(s, Kind::Personal, endpoint, auth, None);
        let answer = s.call(method, &path, &who.token, body).await;
        out.push((
            answer.status.as_u16(),
            answer.text.replace(&auth.id, "<id>"),
        ));
    }
    let missing = out.pop().expect("two answers");
    let hidden = out.pop().expect("two answers");
    (hidden, missing)
}

const HIDING_READS: [Endpoint; 5] = [Get, History, GetVersion, Restore, Resolve];
const HIDING_WRITES: [Endpoint; 4] = [Rename, Reauthenticate, Delete, Purge];

/// Each of `endpoints`, called by every user who may not see an authentication in the owner's
/// personal workspace, answers on it exactly as on one that never existed: a 404.
async fn hidden_answers_like_missing(endpoints: &[Endpoint]) {
    let s = Server::start().await;
    let hidden = new_auth(&s, Kind::Personal, "hidden").await;
    for who in [&s.admin, &s.member, &s.editor, &s.outsider] {
        for &endpoint in endpoints {
            let (hidden, missing) = hidden_and_missing(&s, who, endpoint, &hidden).await;
            assert_eq!(hidden.0, 404, "{endpoint:?}: {}", hidden.1);
            assert_eq!(hidden, missing, "{endpoint:?}: hidden vs never existed");
        }
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_of_a_hidden_personal_authentication_answer_exactly_like_a_missing_one() {
    hidden_answers_like_missing(&HIDING_READS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_to_a_hidden_personal_authentication_answer_exactly_like_a_missing_one() {
    hidden_answers_like_missing(&HIDING_WRITES).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_without_a_valid_token_get_401_with_a_bearer_challenge() {
    let s = Server::start().await;
    let auth = new_auth(&s, Kind::Shared, "t").await;
    // A token of the member, then revoked by its owner.
    let issued = s
        .call(
            Method::POST,
            "/v1/tokens",
            &s.member.token,
            Some(json!({"kind": "user", "label": "to revoke"})),
        )
        .await
        .expect(201);
    let revoked = issued.body["token"].as_str().expect("token").to_owned();
    let revoked_id = issued.body["id"].as_str().expect("id").to_owned();
    s.call(Method::GET, "/v1/users", &revoked, None)
        .await
        .expect(200);
    s.call(
        Method::DELETE,
        &format!("/v1/tokens/{revoked_id}"),
        &s.member.token,
        None,
    )
    .await
    .expect(204);
    let bearer_revoked = format!("Bearer {revoked}");
    let bearer_unknown = "Bearer clt_this-token-was-never-issued".to_owned();
    let basic = "Basic dXNlcjpwYXNz".to_owned();
    let bare = s.member.token.clone();
    let requests: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, "/v1/authentications".into(), None),
        (
            Method::GET,
            format!("/v1/authentications/{}", auth.id),
            None,
        ),
        (
            Method::POST,
            "/v1/authentications".into(),
            Some(
                json!({"name": "n", "workspace": s.shared, "service": "airtable", "fields": {"token": "t"}}),
            ),
        ),
        (
            Method::PATCH,
            format!("/v1/authentications/{}", auth.id),
            Some(json!({"name": "x"})),
        ),
        (
            Method::POST,
            format!("/v1/authentications/{}/purge", auth.id),
            None,
        ),
        (
            Method::POST,
            "/v1/resolve".into(),
            Some(
                json!({"authentication": auth.id, "workspace": s.shared, "template": "$.auth.access_token"}),
            ),
        ),
        (Method::GET, "/v1/users".into(), None),
        (
            Method::POST,
            "/v1/users".into(),
            Some(json!({"name": "N", "email": "n@example.com"})),
        ),
        (Method::GET, "/v1/tokens".into(), None),
        (Method::GET, "/v1/services".into(), None),
    ];
    let head = s.head().await;
    for (method, path, body) in requests {
        for authorization in [
            None,
            Some(bearer_revoked.as_str()),
            Some(bearer_unknown.as_str()),
            Some(basic.as_str()),
            Some(bare.as_str()),
            Some("Bearer "),
        ] {
            let headers: Vec<(&str, &str)> = authorization
                .map(|a| vec![("authorization", a)])
                .unwrap_or_default();
            let answer = s
                .call_with(method.clone(), &path, None, body.clone(), &headers)
                .await;
            let label = format!("{method} {path} with {authorization:?}");
            assert_eq!(answer.status.as_u16(), 401, "{label}: {}", answer.text);
            assert!(is_problem(&answer), "{label}");
            let challenge = answer.header("www-authenticate").unwrap_or_default();
            assert!(challenge.starts_with("Bearer"), "{label}: {challenge:?}");
            assert!(!answer.text.contains(&auth.name), "{label}");
        }
    }
    assert_eq!(s.head().await, head, "no event for unauthenticated calls");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runners_and_auditors_never_write_and_auditors_never_resolve() {
    let s = Server::start().await;
    let auth = new_auth(&s, Kind::Shared, "t").await;
    let member_token = s
        .call(
            Method::POST,
            "/v1/tokens",
            &s.member.token,
            Some(json!({"kind": "user", "label": "member second"})),
        )
        .await
        .expect(201);
    let member_token_id = member_token.body["id"].as_str().expect("id").to_owned();
    let spec = json!({"name": "Internal", "api_version": "1", "auth_kind": "Generic",
        "fields": [{"name": "api_key", "secret": true, "required": true, "format": "Text", "description": "key"}],
        "scopes": [], "required_scopes": []});
    let writes: Vec<(Method, String, Option<Value>)> = vec![
        (
            Method::POST,
            "/v1/authentications".into(),
            Some(
                json!({"name": "n", "workspace": s.shared, "service": "airtable", "fields": {"token": "t"}}),
            ),
        ),
        (
            Method::PATCH,
            format!("/v1/authentications/{}", auth.id),
            Some(json!({"workspace": s.org_workspace})),
        ),
        (
            Method::POST,
            "/v1/services".into(),
            Some(json!({"workspace": s.shared, "spec": spec})),
        ),
        (
            Method::POST,
            "/v1/organizations".into(),
            Some(json!({"name": "Runner Org"})),
        ),
        (
            Method::POST,
            "/v1/workspaces".into(),
            Some(json!({"organization": s.org, "name": "Runner WS"})),
        ),
        (
            Method::POST,
            "/v1/users".into(),
            Some(json!({"name": "Bot", "email": "bot@example.com"})),
        ),
        (
            Method::POST,
            "/v1/memberships".into(),
            Some(json!({"workspace": s.shared, "user": s.member.id, "role": "viewer"})),
        ),
        (
            Method::POST,
            "/v1/tokens".into(),
            Some(json!({"kind": "user", "user": s.owner.id, "label": "stolen"})),
        ),
        (
            Method::DELETE,
            format!("/v1/tokens/{member_token_id}"),
            None,
        ),
    ];
    let head = s.head().await;
    for role in [Runner, Auditor] {
        for (method, path, body) in &writes {
            let answer = s
                .call(method.clone(), path, token(&s, role), body.clone())
                .await;
            let label = format!("{role:?}: {method} {path}");
            assert_eq!(answer.status.as_u16(), 403, "{label}: {}", answer.text);
            assert!(is_problem(&answer), "{label}");
        }
    }
    // Auditors never resolve, not even on behalf of someone allowed to.
    let resolve = json!({"authentication": auth.id, "workspace": s.shared, "user": s.editor.id,
        "template": "$.auth.access_token"});
    let refused = s
        .call(
            Method::POST,
            "/v1/resolve",
            &s.auditor_token,
            Some(resolve.clone()),
        )
        .await
        .expect(403);
    assert!(!refused.text.contains(&auth.secret));
    // Only the refused attempts on the credential are recorded: two moves and one resolve.
    assert_eq!(
        s.head().await,
        head + 3,
        "no event written by runners or auditors but their access records"
    );
    // The runner may resolve for that user, but must say for whom.
    let resolved = s
        .call(Method::POST, "/v1/resolve", &s.runner_token, Some(resolve))
        .await
        .expect(200);
    assert_eq!(resolved.body["resolved"], auth.secret.as_str());
    let anonymous = s
        .call(
            Method::POST,
            "/v1/resolve",
            &s.runner_token,
            Some(json!({"authentication": auth.id, "workspace": s.shared, "template": "$.auth.access_token"})),
        )
        .await
        .expect(422);
    assert_eq!(anonymous.body["field"], "user");
    // A user resolves only for themselves.
    let for_other = s
        .call(
            Method::POST,
            "/v1/resolve",
            &s.viewer.token,
            Some(
                json!({"authentication": auth.id, "workspace": s.shared, "user": s.editor.id,
                "template": "$.auth.access_token"}),
            ),
        )
        .await
        .expect(403);
    assert!(!for_other.text.contains(&auth.secret));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auditors_read_the_history_of_every_workspace_kind() {
    let s = Server::start().await;
    for kind in [Kind::Personal, Kind::Shared, Kind::Organization] {
        let auth = new_auth(&s, kind, "audited").await;
        let history = s
            .call(
                Method::GET,
                &format!("/v1/authentications/{}/history", auth.id),
                &s.auditor_token,
                None,
            )
            .await
            .expect(200);
        assert_eq!(history.body[0]["event_type"], "authentication.created");
        assert!(!history.text.contains(&auth.secret));
    }
    s.stop().await;
}

/// A POST of the directory by someone; returns the answer.
async fn post(s: &Server, who: &str, path: &str, body: Value) -> Answer {
    s.call(Method::POST, path, who, Some(body)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directory_changes_follow_organization_and_workspace_roles() {
    let s = Server::start().await;

    // Only administrators (organization owner or admin) create users.
    for (n, role) in USERS.into_iter().enumerate() {
        let head = s.head().await;
        let answer = post(
            &s,
            token(&s, role),
            "/v1/users",
            json!({"name": format!("New {n}"), "email": format!("new{n}@example.com")}),
        )
        .await;
        if matches!(role, Owner | Admin) {
            assert_eq!(answer.status.as_u16(), 201, "{role:?}: {}", answer.text);
        } else {
            assert_eq!(answer.status.as_u16(), 403, "{role:?}: {}", answer.text);
            assert!(is_problem(&answer));
            assert_eq!(s.head().await, head, "{role:?}: no event");
        }
    }

    // Members (whatever their workspace roles) neither create workspaces nor change the
    // organization's memberships.
    for role in [Member, WsAdmin, Editor, Viewer, Outsider] {
        let head = s.head().await;
        let who = token(&s, role);
        let workspace = post(
            &s,
            who,
            "/v1/workspaces",
            json!({"organization": s.org, "name": format!("By {role:?}")}),
        )
        .await;
        assert_eq!(
            workspace.status.as_u16(),
            403,
            "{role:?}: {}",
            workspace.text
        );
        let join = post(
            &s,
            who,
            "/v1/memberships",
            json!({"organization": s.org, "user": s.outsider.id, "role": "member"}),
        )
        .await;
        assert_eq!(join.status.as_u16(), 403, "{role:?}: {}", join.text);
        let promote = post(
            &s,
            who,
            "/v1/memberships",
            json!({"organization": s.org, "user": s.member.id, "role": "admin"}),
        )
        .await;
        assert_eq!(promote.status.as_u16(), 403, "{role:?}: {}", promote.text);
        assert_eq!(s.head().await, head, "{role:?}: no event");
    }
    // The organization admin may.
    let other = post(
        &s,
        &s.admin.token,
        "/v1/workspaces",
        json!({"organization": s.org, "name": "Marketing"}),
    )
    .await
    .expect(201);
    let other = other.body["id"].as_str().expect("id").to_owned();

    // Editors and viewers do not manage the shared workspace's members; the workspace admin
    // does, but only in their own workspace.
    for role in [Editor, Viewer, Member, Outsider] {
        let head = s.head().await;
        let answer = post(
            &s,
            token(&s, role),
            "/v1/memberships",
            json!({"workspace": s.shared, "user": s.member.id, "role": "viewer"}),
        )
        .await;
        assert_eq!(answer.status.as_u16(), 403, "{role:?}: {}", answer.text);
        assert_eq!(s.head().await, head, "{role:?}: no event");
    }
    let head = s.head().await;
    post(
        &s,
        &s.ws_admin.token,
        "/v1/memberships",
        json!({"workspace": other, "user": s.member.id, "role": "viewer"}),
    )
    .await
    .expect(403);
    assert_eq!(s.head().await, head);

    let auth = new_auth(&s, Kind::Shared, "shared").await;
    let path = format!("/v1/authentications/{}", auth.id);
    s.call(Method::GET, &path, &s.member.token, None)
        .await
        .expect(404);
    post(
        &s,
        &s.ws_admin.token,
        "/v1/memberships",
        json!({"workspace": s.shared, "user": s.member.id, "role": "viewer"}),
    )
    .await
    .expect(201);
    // The new viewer now sees and uses it, but does not change it.
    s.call(Method::GET, &path, &s.member.token, None)
        .await
        .expect(200);
    s.call(
        Method::PATCH,
        &path,
        &s.member.token,
        Some(json!({"name": "viewer rename"})),
    )
    .await
    .expect(403);
    // Promoted to editor by the workspace admin, they may.
    post(
        &s,
        &s.ws_admin.token,
        "/v1/memberships",
        json!({"workspace": s.shared, "user": s.member.id, "role": "editor"}),
    )
    .await
    .expect(201);
    s.call(
        Method::PATCH,
        &path,
        &s.member.token,
        Some(json!({"name": "editor rename"})),
    )
    .await
    .expect(200);

    // Tokens: oneself yes; others and runners only for administrators.
    post(
        &s,
        &s.member.token,
        "/v1/tokens",
        json!({"kind": "user", "label": "mine"}),
    )
    .await
    .expect(201);
    let head = s.head().await;
    for body in [
        json!({"kind": "user", "user": s.owner.id, "label": "theirs"}),
        json!({"kind": "runner", "name": "my runner", "label": "runner"}),
        json!({"kind": "auditor", "name": "my auditor", "label": "auditor"}),
    ] {
        post(&s, &s.member.token, "/v1/tokens", body)
            .await
            .expect(403);
    }
    assert_eq!(s.head().await, head);

    // Directory listings do not show other people to members.
    let users = s
        .call(Method::GET, "/v1/users", &s.member.token, None)
        .await
        .expect(200);
    let ids: Vec<&str> = users
        .body
        .as_array()
        .expect("users")
        .iter()
        .filter_map(|u| u["id"].as_str())
        .collect();
    assert_eq!(ids, vec![s.member.id.as_str()]);
    let tokens = s
        .call(Method::GET, "/v1/tokens", &s.member.token, None)
        .await
        .expect(200);
    assert!(!tokens.text.contains(&s.owner.id));
    s.call(
        Method::GET,
        &format!("/v1/memberships?organization={}", s.org),
        &s.outsider.token,
        None,
    )
    .await
    .expect(404);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_issued_token_is_shown_once_even_with_an_idempotency_key() {
    let mut s = Server::start().await;
    let body = json!({"kind": "user", "label": "automation"});
    let first = s
        .call_with(
            Method::POST,
            "/v1/tokens",
            Some(&s.member.token),
            Some(body.clone()),
            &[("idempotency-key", "issue-once")],
        )
        .await
        .expect(201);
    let issued = first.body["token"].as_str().expect("token").to_owned();
    let replay = s
        .call_with(
            Method::POST,
            "/v1/tokens",
            Some(&s.member.token),
            Some(body),
            &[("idempotency-key", "issue-once")],
        )
        .await;
    assert!(
        !replay.text.contains(&issued),
        "a replay shows the token again"
    );
    assert_eq!(replay.status.as_u16(), 409, "{}", replay.text);
    s.shutdown().await;
    let mut stack = vec![s.data_dir.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).expect("read");
                assert!(
                    !bytes.windows(issued.len()).any(|w| w == issued.as_bytes()),
                    "{} holds the token text",
                    path.display()
                );
            }
        }
    }
}
