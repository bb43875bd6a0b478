//! The HTTP API end to end over a real TCP socket: a full authentication lifecycle in every
//! workspace kind, the events it leaves in the ledger, idempotency, ETags, and concurrency.

mod http_support;

use std::sync::Arc;

use http_support::Server;
use reqwest::Method;
use serde_json::{json, Value};

fn fingerprint(view: &Value, field: &str) -> String {
    view["fields"][field]["fingerprint"]
        .as_str()
        .unwrap_or_else(|| panic!("{field} has no fingerprint in {view}"))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_lifecycle_in_every_workspace_kind() {
    let s = Server::start().await;
    for (who, workspace) in [
        (&s.owner, s.owner.personal.clone()),
        (&s.editor, s.shared.clone()),
        (&s.admin, s.org_workspace.clone()),
    ] {
        let created = s
            .call(
                Method::POST,
                "/v1/authentications",
                &who.token,
                Some(json!({
                    "name": "Jira main",
                    "workspace": workspace,
                    "service": "jira",
                    "fields": {"username": "ann", "password": "pw-1", "site": "acme.atlassian.net"},
                    "environment": "production",
                })),
            )
            .await
            .expect(201);
        // Created, then the record that it was not verified (verification is off in tests).
        assert_eq!(created.header("etag").as_deref(), Some("\"2\""));
        let id = created.body["id"].as_str().expect("id").to_owned();
        let path = format!("/v1/authentications/{id}");
        let fp1 = fingerprint(&created.body["authentication"], "password");
        assert!(!created.text.contains("pw-1"));

        // list and search
        let listed = s
            .call(
                Method::GET,
                &format!("/v1/authentications?q=JIRA&workspace={workspace}"),
                &who.token,
                None,
            )
            .await
            .expect(200);
        assert_eq!(listed.body["items"].as_array().expect("items").len(), 1);

        // rename with If-Match, then a stale If-Match is 412
        s.call_with(
            Method::PATCH,
            &path,
            Some(&who.token),
            Some(json!({"name": "Jira renamed"})),
            &[("if-match", "\"2\"")],
        )
        .await
        .expect(200);
        s.call_with(
            Method::PATCH,
            &path,
            Some(&who.token),
            Some(json!({"name": "Jira again"})),
            &[("if-match", "\"2\"")],
        )
        .await
        .expect(412);

        // re-authenticate: override password, keep username, clear nothing
        let reauth = s
            .call(
                Method::POST,
                &format!("{path}/reauthenticate"),
                &who.token,
                Some(json!({"fields": {"password": "pw-2"}})),
            )
            .await
            .expect(200);
        let fp2 = fingerprint(&reauth.body["authentication"], "password");
        assert_ne!(fp1, fp2);
        assert_eq!(
            reauth.body["authentication"]["fields"]["username"]["value"],
            "ann"
        );
        // clearing a required field is refused with the field named
        let refused = s
            .call(
                Method::POST,
                &format!("{path}/reauthenticate"),
                &who.token,
                Some(json!({"fields": {"username": null}})),
            )
            .await
            .expect(422);
        assert_eq!(refused.body["field"], "fields.username");

        // delete, then restore version 1: the first password comes back
        s.call(Method::DELETE, &path, &who.token, None)
            .await
            .expect(200);
        s.call(Method::GET, &path, &who.token, None)
            .await
            .expect(200);
        let restored = s
            .call(
                Method::POST,
                &format!("{path}/restore"),
                &who.token,
                Some(json!({"version": 1})),
            )
            .await
            .expect(200);
        assert_eq!(
            fingerprint(&restored.body["authentication"], "password"),
            fp1
        );
        let resolved = s
            .call(
                Method::POST,
                "/v1/resolve",
                &who.token,
                Some(json!({"authentication": id, "workspace": workspace, "template": {"auth": "{$.auth.username}:{$.auth.password}"}})),
            )
            .await
            .expect(200);
        assert_eq!(resolved.body["resolved"]["auth"], "ann:pw-1");

        // history lists every change with fingerprints only
        let history = s
            .call(Method::GET, &format!("{path}/history"), &who.token, None)
            .await
            .expect(200);
        let types: Vec<&str> = history
            .body
            .as_array()
            .expect("history")
            .iter()
            .map(|h| h["event_type"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(
            types,
            vec![
                "authentication.created",
                "authentication.verification_recorded",
                "authentication.renamed",
                "authentication.reauthenticated",
                "authentication.verification_recorded",
                "authentication.deleted",
                "authentication.restored"
            ]
        );
        assert!(!history.text.contains("pw-1") && !history.text.contains("pw-2"));

        // as of version 3: the renamed state
        let v3 = s
            .call(Method::GET, &format!("{path}?version=3"), &who.token, None)
            .await
            .expect(200);
        assert_eq!(v3.body["name"], "Jira renamed");
        assert_eq!(v3.header("etag").as_deref(), Some("\"3\""));
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn move_and_scopes_with_warnings() {
    let s = Server::start().await;
    let id = s
        .create_personal("slack", json!({"access_token": "xoxb-1"}))
        .await;
    let path = format!("/v1/authentications/{id}");
    // OAuth2 scopes change through re-consent (POST /v1/oauth/authorize): there is no
    // endpoint that sets them directly.
    s.call(
        Method::PUT,
        &format!("{path}/scopes"),
        &s.owner.token,
        Some(json!({"scopes": ["channels:read"]})),
    )
    .await
    .expect(404);
    let moved = s
        .call(
            Method::PATCH,
            &path,
            &s.owner.token,
            Some(json!({"workspace": s.shared})),
        )
        .await
        .expect(200);
    assert_eq!(moved.body["authentication"]["workspace"], s.shared.as_str());
    // The viewer of the shared workspace now sees it; the outsider still does not.
    s.call(Method::GET, &path, &s.viewer.token, None)
        .await
        .expect(200);
    s.call(Method::GET, &path, &s.outsider.token, None)
        .await
        .expect(404);
    let oauth1 = s
        .call(
            Method::POST,
            "/v1/authentications",
            &s.owner.token,
            Some(json!({"name": "Trello", "workspace": s.owner.personal, "service": "trello",
                "fields": {"consumer_key": "ck", "consumer_secret": "cs", "token": "t", "token_secret": "ts"}})),
        )
        .await
        .expect(201);
    assert_eq!(oauth1.body["warnings"][0]["code"], "oauth1_discouraged");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_keys_replay_or_refuse() {
    let s = Server::start().await;
    let body = json!({"name": "Once", "workspace": s.owner.personal, "service": "airtable", "fields": {"token": "t"}});
    let first = s
        .call_with(
            Method::POST,
            "/v1/authentications",
            Some(&s.owner.token),
            Some(body.clone()),
            &[("idempotency-key", "create-once")],
        )
        .await
        .expect(201);
    let head = s.head().await;
    let again = s
        .call_with(
            Method::POST,
            "/v1/authentications",
            Some(&s.owner.token),
            Some(body.clone()),
            &[("idempotency-key", "create-once")],
        )
        .await
        .expect(201);
    assert_eq!(again.body, first.body, "the stored first answer");
    assert_eq!(again.header("idempotent-replayed").as_deref(), Some("true"));
    assert_eq!(s.head().await, head, "no new event");
    let mut other = body.clone();
    other["name"] = json!("Twice");
    let refused = s
        .call_with(
            Method::POST,
            "/v1/authentications",
            Some(&s.owner.token),
            Some(other),
            &[("idempotency-key", "create-once")],
        )
        .await
        .expect(422);
    assert_eq!(refused.body["field"], "idempotency-key");
    assert_eq!(s.head().await, head);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_reauthentications_with_one_if_match_one_wins() {
    let s = Arc::new(Server::start().await);
    let id = s.create_personal("airtable", json!({"token": "t-0"})).await;
    let path = format!("/v1/authentications/{id}/reauthenticate");
    let mut tasks = Vec::new();
    for n in 0..50 {
        let s = s.clone();
        let path = path.clone();
        tasks.push(tokio::spawn(async move {
            s.call_with(
                Method::POST,
                &path,
                Some(&s.owner.token),
                Some(json!({"fields": {"token": format!("t-{n}")}})),
                &[("if-match", "\"2\"")],
            )
            .await
            .status
            .as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.expect("client"));
    }
    assert_eq!(
        statuses.iter().filter(|&&c| c == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|&c| c == 200 || c == 412 || c == 409),
        "{statuses:?}"
    );
    let view = s.owner_get(&format!("/v1/authentications/{id}")).await;
    // Created and re-authenticated once, each with its verification record.
    assert_eq!(view.body["version"], 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_take_only_the_fields_of_their_kind() {
    let s = Server::start().await;
    let user_with_name = s
        .call(
            Method::POST,
            "/v1/tokens",
            &s.owner.token,
            Some(json!({"kind": "user", "name": "x", "label": "l"})),
        )
        .await
        .expect(422);
    assert_eq!(user_with_name.body["field"], "name");
    let runner_with_user = s
        .call(
            Method::POST,
            "/v1/tokens",
            &s.owner.token,
            Some(json!({"kind": "runner", "name": "r", "user": s.member.id, "label": "l"})),
        )
        .await
        .expect(422);
    assert_eq!(runner_with_user.body["field"], "user");
    // A revoked token stops working at once.
    let issued = s
        .call(
            Method::POST,
            "/v1/tokens",
            &s.member.token,
            Some(json!({"kind": "user", "label": "temp"})),
        )
        .await
        .expect(201);
    let text = issued.body["token"].as_str().expect("token").to_owned();
    s.call(Method::GET, "/v1/authentications", &text, None)
        .await
        .expect(200);
    let id = issued.body["id"].as_str().expect("id");
    s.call(
        Method::DELETE,
        &format!("/v1/tokens/{id}"),
        &s.member.token,
        None,
    )
    .await
    .expect(204);
    s.call(Method::GET, "/v1/authentications", &text, None)
        .await
        .expect(401);
    s.stop().await;
}
