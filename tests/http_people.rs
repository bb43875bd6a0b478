//! People come and go, tokens expire and are scoped, over real HTTP: offboarding end to end
//! (tokens refused, dashboard sign-in refused, on-behalf resolution refused and recorded, the
//! departed user's personal authentications listed, transferred and deleted by an
//! administrator, reactivation), who may run each lifecycle command, "who could use it"
//! before and after each change, token expiry and scopes, and racing directory changes with
//! `If-Match` (exactly one lands).

mod http_support;
mod people_support;

use std::sync::Arc;
use std::time::Duration;

use http_support::{Answer, Person, Server};
use people_support::{audit, issue_token};
use reqwest::Method;
use serde_json::{json, Value};

fn now() -> String {
    chrono::Utc::now().to_rfc3339()
}

async fn tick() {
    tokio::time::sleep(Duration::from_millis(20)).await;
}

/// The users who could use `id` at `at`, as an auditor asks.
async fn usable_by(s: &Server, id: &str, at: &str) -> Vec<String> {
    let path = format!(
        "/v1/authentications/{id}/usable-by?as_of={}",
        at.replace('+', "%2B")
    );
    let answer = s
        .call(Method::GET, &path, &s.auditor_token, None)
        .await
        .expect(200);
    answer.body["users"]
        .as_array()
        .expect("users")
        .iter()
        .map(|u| u["user"].as_str().expect("user").to_owned())
        .collect()
}

/// The status of the dashboard's listing page with a session cookie.
async fn dashboard_page(s: &Server, cookie: &str) -> u16 {
    s.client
        .get(format!("{}/ui/authentications", s.base))
        .header(reqwest::header::COOKIE, cookie)
        .send()
        .await
        .expect("page")
        .status()
        .as_u16()
}

/// Refused audit records of this type, as the auditor reads them.
async fn refusals(s: &Server, event_type: &str) -> Vec<Value> {
    audit(s, &format!("type={event_type}&outcome=refused")).await
}

async fn resolve_for(s: &Server, token: &str, auth: &str, user: &Person) -> Answer {
    s.call(
        Method::POST,
        "/v1/resolve",
        token,
        Some(
            json!({"authentication": auth, "workspace": s.org_workspace, "user": user.id,
            "template": "$.auth.token"}),
        ),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offboarding_end_to_end() {
    let s = Server::start().await;
    let member = s.member.clone();
    let kept = s
        .create(
            &member,
            &member.personal,
            "airtable",
            json!({"token": "tok-kept"}),
        )
        .await;
    let dropped = s
        .create(
            &member,
            &member.personal,
            "airtable",
            json!({"token": "tok-dropped"}),
        )
        .await;
    let shared_by_org = s
        .create(
            &s.owner,
            &s.org_workspace,
            "airtable",
            json!({"token": "tok-org"}),
        )
        .await;
    let second = issue_token(
        &s,
        &member.token,
        json!({"kind": "user", "label": "second"}),
    )
    .await;
    resolve_for(&s, &s.runner_token, &shared_by_org, &member)
        .await
        .expect(200);
    assert_eq!(s.dashboard_sign_in(&member.token).await.0, 303);
    let session = s.dashboard_session(&member.token).await;
    assert_eq!(dashboard_page(&s, &session).await, 200, "signed in");
    let before = now();
    assert!(usable_by(&s, &shared_by_org, &before)
        .await
        .contains(&member.id));
    assert!(usable_by(&s, &kept, &before).await.contains(&member.id));
    tick().await;

    // An editor of the shared workspace may not offboard anyone; the owner may.
    s.call(
        Method::POST,
        &format!("/v1/users/{}/deactivate", member.id),
        &s.ws_admin.token,
        Some(json!({})),
    )
    .await
    .expect(403);
    let deactivated = s
        .call(
            Method::POST,
            &format!("/v1/users/{}/deactivate", member.id),
            &s.owner.token,
            Some(json!({})),
        )
        .await
        .expect(200);
    assert_eq!(deactivated.body["deactivated"], true);
    tick().await;
    let after = now();

    // Their dashboard session is over: the page sends them to sign in.
    assert_eq!(dashboard_page(&s, &session).await, 303);
    // Their tokens are revoked and refused; the dashboard refuses them too.
    for token in [&member.token, &second.token] {
        s.call(Method::GET, "/v1/authentications", token, None)
            .await
            .expect(401);
        assert_eq!(s.dashboard_sign_in(token).await.0, 401);
    }
    let tokens = s
        .call(Method::GET, "/v1/tokens", &s.owner.token, None)
        .await
        .expect(200);
    let theirs: Vec<&Value> = tokens
        .body
        .as_array()
        .expect("tokens")
        .iter()
        .filter(|t| t["principal"] == format!("user:{}", member.id))
        .collect();
    assert_eq!(theirs.len(), 2);
    assert!(theirs.iter().all(|t| t["revoked"] == true), "{theirs:?}");
    assert!(
        theirs.iter().any(|t| t["id"] == second.id.as_str()),
        "{theirs:?}"
    );
    // No new token is issued for them.
    s.call(
        Method::POST,
        "/v1/tokens",
        &s.owner.token,
        Some(json!({"kind": "user", "user": member.id, "label": "again"})),
    )
    .await
    .expect(422);

    // A runner resolving on their behalf is refused, and the refusal is recorded.
    let refused_before = refusals(&s, "access.refused").await.len();
    let refused = resolve_for(&s, &s.runner_token, &shared_by_org, &member)
        .await
        .expect(403);
    assert_eq!(refused.body["field"], "user");
    assert!(!refused.text.contains("tok-org"));
    let recorded = refusals(&s, "access.refused").await;
    assert_eq!(recorded.len(), refused_before + 1);
    assert!(recorded[0]["detail"]["reason"]
        .as_str()
        .is_some_and(|r| r.contains("deactivated")));

    // Who could use it: the member before, nobody of them after.
    assert!(usable_by(&s, &shared_by_org, &before)
        .await
        .contains(&member.id));
    assert!(!usable_by(&s, &shared_by_org, &after)
        .await
        .contains(&member.id));
    assert!(usable_by(&s, &kept, &after).await.is_empty());

    // The administrators list their personal authentications; nobody else sees them.
    let listed = s
        .call(
            Method::GET,
            &format!("/v1/users/{}/personal-authentications", member.id),
            &s.admin.token,
            None,
        )
        .await
        .expect(200);
    let mut ids: Vec<&str> = listed.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|a| a["id"].as_str().expect("id"))
        .collect();
    ids.sort_unstable();
    let mut expected = vec![kept.as_str(), dropped.as_str()];
    expected.sort_unstable();
    assert_eq!(ids, expected);
    assert!(!listed.text.contains("tok-kept"), "metadata only");
    for who in [&s.ws_admin, &s.editor, &s.outsider] {
        s.call(
            Method::GET,
            &format!("/v1/users/{}/personal-authentications", member.id),
            &who.token,
            None,
        )
        .await
        .expect(404);
    }

    // One is transferred to the shared workspace (recorded as a move by the admin), the
    // other deleted.
    let transferred = s
        .call(
            Method::POST,
            &format!(
                "/v1/users/{}/personal-authentications/{kept}/transfer",
                member.id
            ),
            &s.admin.token,
            Some(json!({"workspace": s.shared})),
        )
        .await
        .expect(200);
    assert_eq!(
        transferred.body["authentication"]["workspace"],
        s.shared.as_str()
    );
    tick().await;
    let transferred_at = now();
    let moves = s
        .call(
            Method::GET,
            &format!("/v1/audit?authentication={kept}&type=authentication.moved"),
            &s.auditor_token,
            None,
        )
        .await
        .expect(200);
    assert_eq!(
        moves.body["items"][0]["actor"],
        format!("user:{}", s.admin.id)
    );
    // Before the transfer only its owner could use it; now the shared workspace's people.
    assert_eq!(usable_by(&s, &kept, &before).await, vec![member.id.clone()]);
    let now_users = usable_by(&s, &kept, &transferred_at).await;
    assert!(now_users.contains(&s.editor.id) && now_users.contains(&s.viewer.id));
    assert!(!now_users.contains(&member.id));
    s.call(
        Method::DELETE,
        &format!("/v1/authentications/{dropped}"),
        &s.admin.token,
        None,
    )
    .await
    .expect(200);
    // The admin may not use what is left in the departed user's workspace, nor purge it.
    s.call(
        Method::POST,
        &format!("/v1/authentications/{dropped}/purge"),
        &s.admin.token,
        Some(json!({})),
    )
    .await
    .expect(403);

    // Reactivated: sign-in works again with a new token, the old ones stay revoked.
    s.call(
        Method::POST,
        &format!("/v1/users/{}/reactivate", member.id),
        &s.owner.token,
        Some(json!({})),
    )
    .await
    .expect(200);
    s.call(Method::GET, "/v1/authentications", &member.token, None)
        .await
        .expect(401);
    let fresh = issue_token(
        &s,
        &s.owner.token,
        json!({"kind": "user", "user": member.id, "label": "back"}),
    )
    .await
    .token;
    s.call(Method::GET, "/v1/authentications", &fresh, None)
        .await
        .expect(200);
    assert_eq!(s.dashboard_sign_in(&fresh).await.0, 303);
    resolve_for(&s, &s.runner_token, &shared_by_org, &member)
        .await
        .expect(200);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_commands_need_the_roles_of_the_other_directory_commands() {
    let s = Server::start().await;
    let org = format!("/v1/organizations/{}", s.org);
    let shared = format!("/v1/workspaces/{}", s.shared);
    // (who, method, path, body, expected)
    let table: Vec<(&Person, Method, String, Value, u16)> = vec![
        (
            &s.member,
            Method::PATCH,
            org.clone(),
            json!({"name": "Acme 1"}),
            403,
        ),
        (
            &s.ws_admin,
            Method::PATCH,
            org.clone(),
            json!({"name": "Acme 2"}),
            403,
        ),
        (
            &s.admin,
            Method::PATCH,
            org.clone(),
            json!({"name": "Acme 3"}),
            200,
        ),
        (
            &s.editor,
            Method::PATCH,
            shared.clone(),
            json!({"name": "Team 1"}),
            403,
        ),
        (
            &s.outsider,
            Method::PATCH,
            shared.clone(),
            json!({"name": "Team 2"}),
            403,
        ),
        (
            &s.ws_admin,
            Method::PATCH,
            shared.clone(),
            json!({"name": "Team 3"}),
            200,
        ),
        (
            &s.owner,
            Method::PATCH,
            shared.clone(),
            json!({"name": "Team 4"}),
            200,
        ),
        (
            &s.editor,
            Method::DELETE,
            format!(
                "/v1/memberships?workspace={}&user={}",
                s.shared, s.viewer.id
            ),
            Value::Null,
            403,
        ),
        (
            &s.ws_admin,
            Method::DELETE,
            format!(
                "/v1/memberships?organization={}&user={}",
                s.org, s.viewer.id
            ),
            Value::Null,
            403,
        ),
        (
            &s.ws_admin,
            Method::DELETE,
            format!(
                "/v1/memberships?workspace={}&user={}",
                s.shared, s.viewer.id
            ),
            Value::Null,
            204,
        ),
        (
            &s.admin,
            Method::DELETE,
            format!(
                "/v1/memberships?organization={}&user={}",
                s.org, s.editor.id
            ),
            Value::Null,
            204,
        ),
        (
            &s.ws_admin,
            Method::POST,
            format!("/v1/users/{}/deactivate", s.member.id),
            json!({}),
            403,
        ),
        (
            &s.member,
            Method::POST,
            format!("/v1/users/{}/deactivate", s.member.id),
            json!({}),
            403,
        ),
        (
            &s.admin,
            Method::POST,
            format!("/v1/users/{}/deactivate", s.member.id),
            json!({}),
            200,
        ),
        (
            &s.ws_admin,
            Method::POST,
            format!("/v1/users/{}/reactivate", s.member.id),
            json!({}),
            403,
        ),
        (
            &s.owner,
            Method::POST,
            format!("/v1/users/{}/reactivate", s.member.id),
            json!({}),
            200,
        ),
    ];
    for (who, method, path, body, expected) in table {
        let label = format!("{method} {path} by {}", who.id);
        let body = (!body.is_null()).then_some(body);
        let answer = s.call(method, &path, &who.token, body).await;
        assert_eq!(answer.status.as_u16(), expected, "{label}: {}", answer.text);
        if expected < 300 {
            assert!(answer.headers.get("etag").is_some(), "{label}: an ETag");
        }
    }
    // Removed from the organization, the editor left the shared workspace too.
    let members = s
        .call(
            Method::GET,
            &format!("/v1/memberships?workspace={}", s.shared),
            &s.owner.token,
            None,
        )
        .await
        .expect(200);
    assert!(!members.text.contains(&s.editor.id));
    assert!(!members.text.contains(&s.viewer.id));
    // Renames show in the listings.
    let workspaces = s.owner_get("/v1/workspaces").await;
    assert!(workspaces.text.contains("Team 4") && workspaces.text.contains("Acme 3"));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn who_could_use_it_follows_role_changes_and_removals() {
    let s = Server::start().await;
    let id = s
        .create(
            &s.editor,
            &s.shared,
            "airtable",
            json!({"token": "tok-roles"}),
        )
        .await;
    let t0 = now();
    tick().await;
    // The viewer is removed from the shared workspace; the editor becomes a viewer.
    s.call(
        Method::DELETE,
        &format!(
            "/v1/memberships?workspace={}&user={}",
            s.shared, s.viewer.id
        ),
        &s.owner.token,
        None,
    )
    .await
    .expect(204);
    s.call(
        Method::POST,
        "/v1/memberships",
        &s.owner.token,
        Some(json!({"workspace": s.shared, "user": s.editor.id, "role": "viewer"})),
    )
    .await
    .expect(201);
    tick().await;
    let t1 = now();
    let (then, later) = (usable_by(&s, &id, &t0).await, usable_by(&s, &id, &t1).await);
    assert!(then.contains(&s.viewer.id) && then.contains(&s.editor.id));
    assert!(!later.contains(&s.viewer.id), "removed");
    assert!(later.contains(&s.editor.id), "a viewer still uses");
    s.stop().await;
}

/// Every answer's status, sorted.
fn statuses(answers: &[Answer]) -> Vec<u16> {
    let mut all: Vec<u16> = answers.iter().map(|a| a.status.as_u16()).collect();
    all.sort_unstable();
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_directory_changes_against_one_version_land_once() {
    const RACERS: usize = 24;
    let s = Arc::new(Server::start().await);
    let version = |answer: &Answer| {
        answer
            .headers
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .expect("etag")
            .to_owned()
    };
    let seen = s
        .call(
            Method::GET,
            &format!("/v1/memberships?organization={}", s.org),
            &s.owner.token,
            None,
        )
        .await
        .expect(200);
    let etag = version(&seen);
    // Role changes of one member to different roles, and removals, all against one version.
    let mut tasks = Vec::new();
    for i in 0..RACERS {
        let (s, etag) = (s.clone(), etag.clone());
        tasks.push(tokio::spawn(async move {
            let headers = [("if-match", etag.as_str())];
            if i % 3 == 0 {
                let path = format!(
                    "/v1/memberships?organization={}&user={}",
                    s.org, s.member.id
                );
                s.call_with(Method::DELETE, &path, Some(&s.owner.token), None, &headers)
                    .await
            } else {
                let role = if i % 3 == 1 { "admin" } else { "owner" };
                let body = json!({"organization": s.org, "user": s.member.id, "role": role});
                s.call_with(
                    Method::POST,
                    "/v1/memberships",
                    Some(&s.owner.token),
                    Some(body),
                    &headers,
                )
                .await
            }
        }));
    }
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.expect("racer"));
    }
    let won: Vec<&Answer> = answers.iter().filter(|a| a.status.is_success()).collect();
    assert_eq!(won.len(), 1, "exactly one lands: {:?}", statuses(&answers));
    for answer in answers.iter().filter(|a| !a.status.is_success()) {
        let code = answer.status.as_u16();
        assert!(code == 412 || code == 409, "{}", answer.text);
    }
    // The directory moved on by exactly one event.
    let after = s
        .call(
            Method::GET,
            &format!("/v1/memberships?organization={}", s.org),
            &s.owner.token,
            None,
        )
        .await
        .expect(200);
    let n = |tag: &str| tag.trim_matches('"').parse::<u64>().expect("version");
    assert_eq!(n(&version(&after)), n(&etag) + 1);
    // Racing renames of one workspace to different names: one lands.
    let mut tasks = Vec::new();
    let etag = version(&after);
    for i in 0..RACERS {
        let (s, etag) = (s.clone(), etag.clone());
        tasks.push(tokio::spawn(async move {
            s.call_with(
                Method::PATCH,
                &format!("/v1/workspaces/{}", s.shared),
                Some(&s.owner.token),
                Some(json!({"name": format!("Racer {i}")})),
                &[("if-match", etag.as_str())],
            )
            .await
        }));
    }
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.expect("racer"));
    }
    let winners = answers.iter().filter(|a| a.status.as_u16() == 200).count();
    assert_eq!(winners, 1, "{:?}", statuses(&answers));
    Arc::try_unwrap(s).ok().expect("one owner").stop().await;
}

/// The version in an answer's `ETag`.
fn etag_version(answer: &Answer) -> u64 {
    answer
        .header("etag")
        .and_then(|tag| tag.trim_matches('"').parse().ok())
        .unwrap_or_else(|| panic!("an ETag on {}", answer.text))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_answers_the_version_it_produced() {
    const RACERS: u64 = 16;
    let s = Arc::new(Server::start().await);
    let members = format!("/v1/memberships?workspace={}", s.shared);
    let listed = etag_version(&s.owner_get(&members).await);
    let rename = |name: &str| Some(json!({"name": name}));
    let shared = format!("/v1/workspaces/{}", s.shared);
    let first = s
        .call(Method::PATCH, &shared, &s.owner.token, rename("First"))
        .await
        .expect(200);
    let second = s
        .call(Method::PATCH, &shared, &s.owner.token, rename("Second"))
        .await
        .expect(200);
    assert_eq!(etag_version(&first), listed + 1);
    assert_eq!(etag_version(&second), listed + 2, "consecutive changes");
    assert_eq!(etag_version(&s.owner_get(&members).await), listed + 2);
    // The first answer's version is no longer the directory's.
    let stale = s
        .call_with(
            Method::PATCH,
            &shared,
            Some(&s.owner.token),
            rename("Third"),
            &[("if-match", &format!("\"{}\"", listed + 1))],
        )
        .await
        .expect(412);
    assert_eq!(stale.body["field"], "if-match");
    // A role granted, then removed: each answer names its own version.
    let granted = s
        .call(
            Method::POST,
            "/v1/memberships",
            &s.owner.token,
            Some(json!({"workspace": s.shared, "user": s.member.id, "role": "viewer"})),
        )
        .await
        .expect(201);
    assert_eq!(etag_version(&granted), listed + 3);
    let removed = s
        .call(
            Method::DELETE,
            &format!(
                "/v1/memberships?workspace={}&user={}",
                s.shared, s.member.id
            ),
            &s.owner.token,
            None,
        )
        .await
        .expect(204);
    assert_eq!(etag_version(&removed), listed + 4);
    // Racing changes without If-Match: whichever land each answer the version they produced
    // (never a later one), so no two answers share an ETag.
    let mut tasks = Vec::new();
    for i in 0..RACERS {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let path = format!("/v1/workspaces/{}", s.shared);
            s.call(
                Method::PATCH,
                &path,
                &s.owner.token,
                Some(json!({"name": format!("Racer {i}")})),
            )
            .await
        }));
    }
    let mut versions = std::collections::BTreeSet::new();
    let mut landed = 0;
    for task in tasks {
        let answer = task.await.expect("racer");
        match answer.status.as_u16() {
            200 => {
                landed += 1;
                assert!(versions.insert(etag_version(&answer)), "{versions:?}");
            }
            409 => {}
            other => panic!("{other}: {}", answer.text),
        }
    }
    assert!(landed >= 1);
    let now = etag_version(&s.owner_get(&members).await);
    assert_eq!(
        versions.last().copied(),
        Some(now),
        "the last one landed last"
    );
    Arc::try_unwrap(s).ok().expect("one owner").stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_departed_users_personal_authentications_come_in_pages() {
    let s = Server::start().await;
    let mut created = Vec::new();
    for n in 0..5 {
        created.push(
            s.create(
                &s.member,
                &s.member.personal,
                "airtable",
                json!({"token": format!("tok-page-{n}")}),
            )
            .await,
        );
    }
    created.sort_unstable();
    s.call(
        Method::POST,
        &format!("/v1/users/{}/deactivate", s.member.id),
        &s.owner.token,
        Some(json!({})),
    )
    .await
    .expect(200);
    let listing = format!("/v1/users/{}/personal-authentications", s.member.id);
    let mut seen = Vec::new();
    let mut pages = 0;
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("{listing}?limit=2&cursor={c}"),
            None => format!("{listing}?limit=2"),
        };
        let page = s
            .call(Method::GET, &path, &s.admin.token, None)
            .await
            .expect(200);
        pages += 1;
        assert!(pages <= 3, "the cursor moves on: {}", page.text);
        let items = page.body["items"].as_array().expect("items");
        assert!(items.len() <= 2, "{}", page.text);
        seen.extend(
            items
                .iter()
                .map(|a| a["id"].as_str().expect("id").to_owned()),
        );
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    seen.sort_unstable();
    assert_eq!(seen, created, "each once, all of them");
    // The listing's filters apply too; its workspace is fixed.
    let none = s
        .call(
            Method::GET,
            &format!("{listing}?q=no-such-name"),
            &s.admin.token,
            None,
        )
        .await
        .expect(200);
    assert_eq!(none.body["items"], json!([]));
    for (query, field) in [
        (format!("workspace={}", s.shared), "workspace"),
        ("limit=0".to_owned(), "limit"),
        ("cursor=%%%".to_owned(), "cursor"),
        ("colour=red".to_owned(), "colour"),
    ] {
        let refused = s
            .call(
                Method::GET,
                &format!("{listing}?{query}"),
                &s.admin.token,
                None,
            )
            .await
            .expect(400);
        assert_eq!(refused.body["field"], field, "{query}: {}", refused.text);
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_changes_are_audited_and_the_last_owner_stays() {
    let s = Server::start().await;
    let patch = |path: String, name: &str| {
        let s = &s;
        let name = name.to_owned();
        async move {
            s.call(
                Method::PATCH,
                &path,
                &s.owner.token,
                Some(json!({"name": name})),
            )
            .await
            .expect(200)
        }
    };
    patch(format!("/v1/organizations/{}", s.org), "Renamed org").await;
    patch(format!("/v1/workspaces/{}", s.shared), "Renamed shared").await;
    s.call(
        Method::DELETE,
        &format!(
            "/v1/memberships?workspace={}&user={}",
            s.shared, s.viewer.id
        ),
        &s.owner.token,
        None,
    )
    .await
    .expect(204);
    s.call(
        Method::POST,
        &format!("/v1/users/{}/deactivate", s.editor.id),
        &s.admin.token,
        Some(json!({})),
    )
    .await
    .expect(200);
    let audited = |event_type: &'static str| {
        let (s, query) = (&s, format!("type={event_type}"));
        async move { audit(s, &query).await }
    };
    let owner = format!("user:{}", s.owner.id);
    let org_renamed = audited("directory.organization_renamed").await;
    assert_eq!(org_renamed.len(), 1, "{org_renamed:?}");
    assert_eq!(org_renamed[0]["actor"], owner);
    assert_eq!(org_renamed[0]["outcome"], "succeeded");
    assert!(org_renamed[0].to_string().contains("Renamed org"));
    let ws_renamed = audited("directory.workspace_renamed").await;
    assert_eq!(ws_renamed.len(), 1, "{ws_renamed:?}");
    assert!(ws_renamed[0].to_string().contains("Renamed shared"));
    assert_eq!(ws_renamed[0]["workspace"], s.shared.as_str());
    let removed = audited("directory.workspace_member_removed").await;
    assert_eq!(removed.len(), 1, "{removed:?}");
    assert!(removed[0].to_string().contains(&s.viewer.id));
    let deactivated = audited("directory.user_deactivated").await;
    assert_eq!(deactivated.len(), 1, "{deactivated:?}");
    assert_eq!(deactivated[0]["actor"], format!("user:{}", s.admin.id));
    assert!(deactivated[0].to_string().contains(&s.editor.id));
    // The organization's only owner cannot be deactivated: it keeps an active owner.
    let head = s.head().await;
    let refused = s
        .call(
            Method::POST,
            &format!("/v1/users/{}/deactivate", s.owner.id),
            &s.admin.token,
            Some(json!({})),
        )
        .await
        .expect(422);
    assert_eq!(refused.body["field"], "role", "{}", refused.text);
    assert_eq!(s.head().await, head, "nothing written");
    s.call(Method::GET, "/v1/users", &s.owner.token, None)
        .await
        .expect(200);
    s.stop().await;
}
