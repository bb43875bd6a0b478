//! API tokens over real HTTP: an expiry (401 once past, recorded as a refusal), scopes
//! narrowing what a token may do on top of its principal's rights (each scope against a few
//! endpoints; 403 recorded as a refusal), and created-at / last-used-at in the listing.

mod http_support;
mod people_support;

use std::sync::Arc;
use std::time::Duration;

use http_support::Server;
use people_support::{audit, issue_token};
use reqwest::Method;
use serde_json::{json, Value};

/// Issues a token for the owner (an administrator) with these extra fields.
async fn owner_token(s: &Server, extra: Value) -> (String, String) {
    let mut body = json!({"kind": "user", "label": "scoped"});
    for (k, v) in extra.as_object().expect("object") {
        body[k] = v.clone();
    }
    let issued = issue_token(s, &s.owner.token, body).await;
    (issued.token, issued.id)
}

/// The refused uses of a token recorded in audit.
async fn refused_uses(s: &Server, token_id: &str) -> Vec<Value> {
    let resource = format!("token:{token_id}");
    let mut refused = audit(s, "type=token_use.refused").await;
    refused.retain(|r| r["resource"] == resource.as_str());
    refused
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_scope_allows_only_its_uses() {
    let s = Server::start().await;
    let auth = s
        .create(
            &s.owner,
            &s.org_workspace,
            "airtable",
            json!({"token": "tok-scope"}),
        )
        .await;
    let resolve = json!({"authentication": auth, "workspace": s.org_workspace,
        "template": "$.auth.token"});
    let create = |n: usize| {
        json!({"name": format!("scoped {n}"), "workspace": s.org_workspace,
            "service": "airtable", "fields": {"token": "t"}})
    };
    let new_user =
        |n: usize| json!({"name": format!("U{n}"), "email": format!("u{n}@example.com")});
    // (scopes, [resolve, list, create an authentication, create a user]) as status codes
    let table: [(&[&str], [u16; 4]); 6] = [
        (&["resolve"], [200, 403, 403, 403]),
        (&["read"], [403, 200, 403, 403]),
        (&["write"], [403, 200, 201, 403]),
        (&["admin"], [403, 200, 403, 201]),
        (&["read", "resolve"], [200, 200, 403, 403]),
        (&["resolve", "read", "write", "admin"], [200, 200, 201, 201]),
    ];
    let mut n = 0;
    for (scopes, expected) in table {
        n += 1;
        let (token, id) = owner_token(&s, json!({"scopes": scopes})).await;
        let calls = [
            (Method::POST, "/v1/resolve", Some(resolve.clone())),
            (Method::GET, "/v1/authentications", None),
            (Method::POST, "/v1/authentications", Some(create(n))),
            (Method::POST, "/v1/users", Some(new_user(n))),
        ];
        let mut refused = 0;
        for ((method, path, body), status) in calls.into_iter().zip(expected) {
            let answer = s.call(method.clone(), path, &token, body).await;
            let label = format!("{scopes:?} {method} {path}");
            assert_eq!(answer.status.as_u16(), status, "{label}: {}", answer.text);
            if status == 403 {
                refused += 1;
                assert_eq!(answer.body["field"], "authorization", "{label}");
                assert!(answer.text.contains("scopes do not allow"), "{label}");
            }
        }
        assert_eq!(refused_uses(&s, &id).await.len(), refused, "{scopes:?}");
    }
    // A resolve-only runner: resolves for a user, reads nothing.
    let runner = s
        .call(
            Method::POST,
            "/v1/tokens",
            &s.owner.token,
            Some(json!({"kind": "runner", "name": "ci", "label": "ci", "scopes": ["resolve"]})),
        )
        .await
        .expect(201);
    let runner = runner.body["token"].as_str().expect("token").to_owned();
    let mut for_owner = resolve.clone();
    for_owner["user"] = json!(s.owner.id);
    s.call(Method::POST, "/v1/resolve", &runner, Some(for_owner))
        .await
        .expect(200);
    s.call(Method::GET, "/v1/services", &runner, None)
        .await
        .expect(403);
    // A read-only auditor tool reads audit and nothing else.
    let auditor = s
        .call(
            Method::POST,
            "/v1/tokens",
            &s.owner.token,
            Some(json!({"kind": "auditor", "name": "siem", "label": "siem", "scopes": ["read"]})),
        )
        .await
        .expect(201);
    let auditor = auditor.body["token"].as_str().expect("token").to_owned();
    s.call(Method::GET, "/v1/audit", &auditor, None)
        .await
        .expect(200);
    s.call(Method::POST, "/v1/checkpoints", &auditor, Some(json!({})))
        .await
        .expect(403);
    // Scopes narrow, never widen: a write-scoped member token still may not edit the org
    // workspace.
    let member = s
        .call(
            Method::POST,
            "/v1/tokens",
            &s.member.token,
            Some(json!({"kind": "user", "label": "mine", "scopes": ["write"]})),
        )
        .await
        .expect(201);
    let member = member.body["token"].as_str().expect("token").to_owned();
    let refused = s
        .call(
            Method::POST,
            "/v1/authentications",
            &member,
            Some(create(99)),
        )
        .await
        .expect(403);
    assert_ne!(
        refused.body["field"], "authorization",
        "the role refuses, not the scope"
    );
    // A dashboard session does whatever the dashboard offers (issuing unrestricted tokens
    // included): it needs read, write and admin, and a narrower token cannot open one.
    for (scopes, status) in [
        (&["read"][..], 401),
        (&["read", "write"][..], 401),
        (&["read", "admin"][..], 401),
        (&["write", "admin"][..], 401),
        (&["read", "write", "admin"][..], 303),
    ] {
        let (token, id) = owner_token(&s, json!({"scopes": scopes})).await;
        let (answer, cookie) = s.dashboard_sign_in(&token).await;
        assert_eq!(answer, status, "{scopes:?}");
        assert_eq!(cookie.is_some(), status == 303, "{scopes:?}");
        let refused = refused_uses(&s, &id).await;
        assert_eq!(refused.len(), usize::from(status == 401), "{scopes:?}");
        if status == 401 {
            assert!(
                refused[0]["detail"]["reason"]
                    .as_str()
                    .is_some_and(|r| r.contains("read, write and admin")),
                "{}",
                refused[0]
            );
            // Refused at the dashboard's sign-in, so recorded as coming from it.
            assert_eq!(refused[0]["origin"], "dashboard", "{}", refused[0]);
        }
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn administration_routes_need_the_admin_scope() {
    let s = Server::start().await;
    // A sign-in link opens a full dashboard session: minting one administers. Each call with
    // a fresh token, so each refusal is the token's first (and recorded).
    for scopes in [
        &["write"][..],
        &["read", "write"][..],
        &["resolve", "read", "write"][..],
    ] {
        for call in 0..5 {
            let (token, id) = owner_token(&s, json!({"scopes": scopes})).await;
            let (method, path, body) = match call {
                0 => (
                    Method::POST,
                    "/v1/sign-in-links".to_owned(),
                    Some(json!({})),
                ),
                1 => (
                    Method::POST,
                    "/v1/tokens".to_owned(),
                    Some(json!({"kind": "user", "label": "wider"})),
                ),
                2 => (Method::DELETE, format!("/v1/tokens/{id}"), None),
                3 => (
                    Method::POST,
                    "/v1/memberships".to_owned(),
                    Some(json!({"workspace": s.shared, "user": s.member.id, "role": "viewer"})),
                ),
                _ => (
                    Method::DELETE,
                    format!(
                        "/v1/memberships?workspace={}&user={}",
                        s.shared, s.editor.id
                    ),
                    None,
                ),
            };
            let head = s.head().await;
            let answer = s.call(method.clone(), &path, &token, body).await;
            let label = format!("{scopes:?} {method} {path}");
            assert_eq!(answer.status.as_u16(), 403, "{label}: {}", answer.text);
            assert_eq!(answer.body["field"], "authorization", "{label}");
            assert!(answer.text.contains("do not allow administer"), "{label}");
            assert_eq!(
                s.head().await,
                head + 1,
                "{label}: only the refusal is written"
            );
            let refused = refused_uses(&s, &id).await;
            assert_eq!(refused.len(), 1, "{label}");
            assert_eq!(refused[0]["outcome"], "refused", "{label}");
        }
    }
    // The same calls with the admin scope do what they do.
    let (admin, _) = owner_token(&s, json!({"scopes": ["admin"]})).await;
    s.call(Method::POST, "/v1/sign-in-links", &admin, Some(json!({})))
        .await
        .expect(201);
    s.call(
        Method::POST,
        "/v1/memberships",
        &admin,
        Some(json!({"workspace": s.shared, "user": s.member.id, "role": "viewer"})),
    )
    .await
    .expect(201);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_oauth_callback_needs_the_write_scope() {
    let s = Server::start().await;
    let (read_only, id) = owner_token(&s, json!({"scopes": ["read"]})).await;
    let answer = s
        .call(
            Method::GET,
            "/v1/oauth/callback?state=x&code=y",
            &read_only,
            None,
        )
        .await
        .expect(403);
    assert_eq!(answer.body["field"], "authorization");
    assert!(
        answer
            .text
            .contains("do not allow write (needs the write scope)"),
        "{}",
        answer.text
    );
    assert_eq!(refused_uses(&s, &id).await.len(), 1);
    // With the write scope the request gets past the scope check (to the flow's own refusal
    // of an unknown state).
    let (write, _) = owner_token(&s, json!({"scopes": ["write"]})).await;
    let answer = s
        .call(
            Method::GET,
            "/v1/oauth/callback?state=x&code=y",
            &write,
            None,
        )
        .await;
    assert_ne!(answer.body["field"], "authorization", "{}", answer.text);
    s.stop().await;
}

/// A token of the owner's that expires a couple of seconds from now, issued again should the
/// request arrive after that moment (the server refuses an expiry not in the future), and
/// waited for until it has passed (on the same clock as the server's).
async fn soon_expired_token(s: &Server) -> (String, String) {
    for _ in 0..5 {
        let expires = chrono::Utc::now() + chrono::Duration::seconds(2);
        let body = json!({"kind": "user", "label": "short", "expires_at": expires.to_rfc3339()});
        let answer = s
            .call(Method::POST, "/v1/tokens", &s.owner.token, Some(body))
            .await;
        if answer.status.as_u16() == 422 && answer.body["field"] == "expires_at" {
            continue; // The request was slower than the margin: issue another.
        }
        let issued = answer.expect(201);
        while chrono::Utc::now() <= expires {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        return (
            issued.body["token"].as_str().expect("token").to_owned(),
            issued.body["id"].as_str().expect("id").to_owned(),
        );
    }
    panic!("no token with a near expiry could be issued");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_is_refused_and_recorded() {
    let s = Server::start().await;
    // A token expiring in a day works, and its listing shows its times and scopes.
    let expires = chrono::Utc::now() + chrono::Duration::days(1);
    let (token, id) = owner_token(&s, json!({"expires_at": expires.to_rfc3339()})).await;
    s.call(Method::GET, "/v1/authentications", &token, None)
        .await
        .expect(200);
    let listed = s
        .call(Method::GET, "/v1/tokens", &s.owner.token, None)
        .await
        .expect(200);
    let record = listed
        .body
        .as_array()
        .expect("tokens")
        .iter()
        .find(|t| t["id"] == id.as_str())
        .expect("listed")
        .clone();
    let listed_expiry = record["expires_at"].as_str().expect("expires_at");
    assert_eq!(
        chrono::DateTime::parse_from_rfc3339(listed_expiry)
            .expect("a time")
            .timestamp(),
        expires.timestamp()
    );
    assert!(record["created_at"].is_string());
    assert!(record["last_used_at"].is_string(), "{record}");
    assert_eq!(
        record["scopes"],
        json!(["resolve", "read", "write", "admin"])
    );
    assert!(record.get("token").is_none(), "never the text");
    assert!(refused_uses(&s, &id).await.is_empty());
    // A token past its expiry is refused and the refusal recorded.
    let (expired, expired_id) = soon_expired_token(&s).await;
    let head = s.head().await;
    let refused = s
        .call(Method::GET, "/v1/authentications", &expired, None)
        .await
        .expect(401);
    assert!(refused.text.contains("expired"));
    assert_eq!(refused.body["field"], "authorization");
    assert_eq!(
        s.head().await,
        head + 1,
        "the refusal is recorded, nothing else"
    );
    let recorded = refused_uses(&s, &expired_id).await;
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0]["outcome"], "refused");
    assert_eq!(recorded[0]["origin"], "api");
    assert_eq!(recorded[0]["actor"], format!("user:{}", s.owner.id));
    assert!(
        !recorded[0].to_string().contains(&expired),
        "no token text in audit"
    );
    s.stop().await;
}

/// `RACERS` copies of one request at once; every answer's status.
async fn racing(
    s: &Arc<Server>,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> Vec<u16> {
    const RACERS: usize = 50;
    let mut tasks = Vec::new();
    for _ in 0..RACERS {
        let (s, method, path, token, body) = (
            s.clone(),
            method.clone(),
            path.to_owned(),
            token.to_owned(),
            body.clone(),
        );
        tasks.push(tokio::spawn(async move {
            s.call(method, &path, &token, body).await.status.as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.expect("racer"));
    }
    statuses
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_refusals_are_recorded_once_per_token_and_use() {
    let s = Arc::new(Server::start().await);
    let (expired, expired_id) = soon_expired_token(&s).await;
    let create = json!({"name": "never", "workspace": s.org_workspace, "service": "airtable",
        "fields": {"token": "t"}});
    let head = s.head().await;
    let reads = racing(&s, Method::GET, "/v1/authentications", &expired, None).await;
    assert!(reads.iter().all(|&status| status == 401), "{reads:?}");
    assert_eq!(s.head().await, head + 1, "one record for all of them");
    assert_eq!(refused_uses(&s, &expired_id).await.len(), 1);
    // Another use of the same token is recorded on its own, once too.
    let writes = racing(
        &s,
        Method::POST,
        "/v1/authentications",
        &expired,
        Some(create.clone()),
    )
    .await;
    assert!(writes.iter().all(|&status| status == 401), "{writes:?}");
    let recorded = refused_uses(&s, &expired_id).await;
    assert_eq!(recorded.len(), 2, "{recorded:?}");
    let wanted: std::collections::BTreeSet<String> = recorded
        .iter()
        .map(|r| r["detail"]["action"].to_string())
        .collect();
    assert_eq!(wanted.len(), 2, "one per use: {recorded:?}");
    // A read-only token: its writes are refused and recorded once, its reads still work, and
    // an administration is another use, recorded once more.
    let (read_only, read_only_id) = owner_token(&s, json!({"scopes": ["read"]})).await;
    let writes = racing(
        &s,
        Method::POST,
        "/v1/authentications",
        &read_only,
        Some(create),
    )
    .await;
    assert!(writes.iter().all(|&status| status == 403), "{writes:?}");
    assert_eq!(refused_uses(&s, &read_only_id).await.len(), 1);
    s.call(Method::GET, "/v1/authentications", &read_only, None)
        .await
        .expect(200);
    let user = json!({"name": "Nobody", "email": "nobody@example.com"});
    let admin = racing(&s, Method::POST, "/v1/users", &read_only, Some(user)).await;
    assert!(admin.iter().all(|&status| status == 403), "{admin:?}");
    assert_eq!(refused_uses(&s, &read_only_id).await.len(), 2);
    assert_eq!(refused_uses(&s, &expired_id).await.len(), 2, "apart");
    // Every refusal not recorded is counted: four rounds of racers, one recorded in each.
    let metrics = s
        .request(Method::GET, "/metrics", None, http_support::Body::None, &[])
        .await
        .text;
    let unrecorded = metrics
        .lines()
        .find_map(|l| l.strip_prefix("credledger_token_refusals_unrecorded_total "))
        .and_then(|v| v.trim().parse::<usize>().ok());
    assert_eq!(unrecorded, Some(4 * (reads.len() - 1)), "{metrics}");
    Arc::try_unwrap(s).ok().expect("one owner").stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_use_survives_a_restart_to_within_its_precision() {
    let mut s = Server::start().await;
    let (token, id) = owner_token(&s, json!({})).await;
    let never = s
        .call(Method::GET, "/v1/tokens", &s.owner.token, None)
        .await
        .expect(200);
    let find = |body: &Value| {
        body.as_array()
            .expect("tokens")
            .iter()
            .find(|t| t["id"] == id.as_str())
            .expect("listed")
            .clone()
    };
    assert_eq!(find(&never.body)["last_used_at"], Value::Null);
    s.call(Method::GET, "/v1/services", &token, None)
        .await
        .expect(200);
    let used = find(
        &s.call(Method::GET, "/v1/tokens", &s.owner.token, None)
            .await
            .expect(200)
            .body,
    )["last_used_at"]
        .clone();
    assert!(used.is_string());
    s.restart().await;
    let after = find(
        &s.call(Method::GET, "/v1/tokens", &s.owner.token, None)
            .await
            .expect(200)
            .body,
    );
    // The first use of a minute is written at once: it survives a restart.
    assert_eq!(after["last_used_at"], used);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_memory_of_recorded_refusals_starts_afresh_after_a_restart() {
    let mut s = Server::start().await;
    let (read_only, id) = owner_token(&s, json!({"scopes": ["read"]})).await;
    for _ in 0..3 {
        s.call(Method::POST, "/v1/users", &read_only, Some(json!({})))
            .await
            .expect(403);
    }
    assert_eq!(refused_uses(&s, &id).await.len(), 1);
    s.restart().await;
    for _ in 0..3 {
        s.call(Method::POST, "/v1/users", &read_only, Some(json!({})))
            .await
            .expect(403);
    }
    assert_eq!(
        refused_uses(&s, &id).await.len(),
        2,
        "the first refusal after a start is recorded"
    );
    s.stop().await;
}
