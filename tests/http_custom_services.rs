//! Custom services through HTTP on a real server: who sees them (like the authentications of
//! their workspace), where they may back authentications, changes (versions, `If-Match`,
//! `Idempotency-Key`) and retirement.

mod http_support;

use http_support::{Person, Server};
use reqwest::Method;
use serde_json::{json, Value};

fn spec(name: &str) -> Value {
    json!({
        "name": name,
        "api_version": "1",
        "auth_kind": "Generic",
        "fields": [{"name": "api_key", "secret": true, "required": true, "format": "Text", "description": "API key"}],
        "scopes": [],
        "required_scopes": [],
    })
}

/// Defines a custom service in `workspace` as `who`; answers its reference `custom:<uuid>`.
async fn define(s: &Server, who: &Person, workspace: &str, name: &str) -> String {
    let answer = s
        .call(
            Method::POST,
            "/v1/services",
            &who.token,
            Some(json!({"workspace": workspace, "spec": spec(name)})),
        )
        .await
        .expect(201);
    answer.body["service"].as_str().expect("service").to_owned()
}

async fn create_auth(
    s: &Server,
    who: &Person,
    workspace: &str,
    service: &str,
    name: &str,
) -> http_support::Answer {
    s.call(
        Method::POST,
        "/v1/authentications",
        &who.token,
        Some(
            json!({"name": name, "workspace": workspace, "service": service,
            "fields": {"api_key": "k-1"}}),
        ),
    )
    .await
}

fn listed(answer: &http_support::Answer, service: &str) -> bool {
    answer
        .body
        .as_array()
        .expect("a list")
        .iter()
        .any(|item| item["service"] == service)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_personal_service_cannot_back_an_authentication_in_a_shared_workspace() {
    let s = Server::start().await;
    let service = define(&s, &s.editor, &s.editor.personal, "Editor's own API").await;
    // Created in the shared workspace, its members could not see the service: refused.
    let refused = create_auth(&s, &s.editor, &s.shared, &service, "Shared use").await;
    assert_eq!(refused.status.as_u16(), 422, "{}", refused.text);
    assert_eq!(refused.body["field"], "service", "{}", refused.text);
    // In the personal workspace it is fine, but that authentication cannot move to the
    // shared workspace either.
    let mine = create_auth(&s, &s.editor, &s.editor.personal, &service, "Mine")
        .await
        .expect(201);
    let id = mine.body["id"].as_str().expect("id");
    let moved = s
        .call(
            Method::PATCH,
            &format!("/v1/authentications/{id}"),
            &s.editor.token,
            Some(json!({"workspace": s.shared})),
        )
        .await;
    assert_eq!(moved.status.as_u16(), 422, "{}", moved.text);
    assert_eq!(moved.body["field"], "service", "{}", moved.text);
    // Someone else's personal service refuses like an unknown one.
    let hidden = create_auth(&s, &s.owner, &s.owner.personal, &service, "Not mine").await;
    let missing_ref = format!("custom:{}", uuid::Uuid::now_v7());
    let missing = create_auth(&s, &s.owner, &s.owner.personal, &missing_ref, "Nothing").await;
    assert_eq!(hidden.status, missing.status);
    assert_eq!(hidden.status.as_u16(), 422);
    assert_eq!(hidden.body["field"], missing.body["field"]);
    assert!(hidden.body["detail"].is_string(), "{}", hidden.text);
    assert_eq!(
        hidden.body["detail"]
            .as_str()
            .map(|d| d.replace(&service, "X")),
        missing.body["detail"]
            .as_str()
            .map(|d| d.replace(&missing_ref, "X")),
    );
    // An organization workspace's service backs authentications in the organization's
    // shared workspace, but not in a personal one.
    let org_service = define(&s, &s.owner, &s.org_workspace, "Org API").await;
    let org_backed = create_auth(&s, &s.editor, &s.shared, &org_service, "Org-backed")
        .await
        .expect(201);
    let personal = create_auth(&s, &s.member, &s.member.personal, &org_service, "P").await;
    assert_eq!(personal.status.as_u16(), 422, "{}", personal.text);
    assert_eq!(personal.body["field"], "service");
    // Such an authentication may move into the organization workspace, the service's own.
    let id = org_backed.body["id"].as_str().expect("id");
    s.call(
        Method::PATCH,
        &format!("/v1/authentications/{id}"),
        &s.owner.token,
        Some(json!({"workspace": s.org_workspace})),
    )
    .await
    .expect(200);
    // A shared workspace's service cannot back one in the organization workspace, whose
    // members need not see the shared workspace.
    let team_service = define(&s, &s.editor, &s.shared, "Team API").await;
    let org_use = create_auth(&s, &s.owner, &s.org_workspace, &team_service, "Team").await;
    assert_eq!(org_use.status.as_u16(), 422, "{}", org_use.text);
    assert_eq!(org_use.body["field"], "service", "{}", org_use.text);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_see_a_workspace_s_service_and_others_get_the_404_of_a_missing_one() {
    let s = Server::start().await;
    let service = define(&s, &s.editor, &s.shared, "Sales API").await;
    let path = format!("/v1/services/{service}");
    for member in [&s.viewer, &s.ws_admin, &s.owner, &s.admin] {
        let list = s
            .call(Method::GET, "/v1/services", &member.token, None)
            .await
            .expect(200);
        assert!(listed(&list, &service), "{}", list.text);
        let one = s
            .call(Method::GET, &path, &member.token, None)
            .await
            .expect(200);
        assert_eq!(one.body["service"], service.as_str());
        assert_eq!(one.body["custom"], true);
        assert_eq!(one.body["version"], 1);
        assert_eq!(one.body["retired"], false);
        assert_eq!(one.body["workspace"], s.shared.as_str());
        assert_eq!(one.body["spec"]["name"], "Sales API");
        assert_eq!(one.header("etag").as_deref(), Some("\"1\""));
    }
    let missing = format!("/v1/services/custom:{}", uuid::Uuid::now_v7());
    for outsider in [&s.member, &s.outsider] {
        let list = s
            .call(Method::GET, "/v1/services", &outsider.token, None)
            .await
            .expect(200);
        assert!(!listed(&list, &service));
        let hidden = s.call(Method::GET, &path, &outsider.token, None).await;
        let absent = s.call(Method::GET, &missing, &outsider.token, None).await;
        assert_eq!(hidden.status.as_u16(), 404, "{}", hidden.text);
        assert_eq!(absent.status.as_u16(), 404);
        assert_eq!(hidden.text, absent.text, "identical bodies");
        // Changing or retiring what one cannot see answers the same 404.
        let patch = s
            .call(
                Method::PATCH,
                &path,
                &outsider.token,
                Some(spec("Taken over")),
            )
            .await;
        assert_eq!(patch.status.as_u16(), 404);
        assert_eq!(patch.text, absent.text);
        let retire = s
            .call(
                Method::POST,
                &format!("{path}/retire"),
                &outsider.token,
                None,
            )
            .await;
        assert_eq!(retire.status.as_u16(), 404);
        assert_eq!(retire.text, absent.text);
        // With If-Match too, naming the current version or another: still alike.
        for if_match in ["\"1\"", "\"7\""] {
            for (method, suffix, body) in [
                (Method::PATCH, "", Some(spec("Taken over"))),
                (Method::POST, "/retire", None),
            ] {
                let headers = [("if-match", if_match)];
                let token = Some(outsider.token.as_str());
                let on_hidden = format!("{path}{suffix}");
                let on_missing = format!("{missing}{suffix}");
                let hidden = s
                    .call_with(method.clone(), &on_hidden, token, body.clone(), &headers)
                    .await;
                let absent = s
                    .call_with(method.clone(), &on_missing, token, body, &headers)
                    .await;
                assert_eq!(hidden.status.as_u16(), 404, "{}", hidden.text);
                assert_eq!(
                    (hidden.status, hidden.text),
                    (absent.status, absent.text),
                    "{method} {suffix} with If-Match {if_match}"
                );
            }
        }
    }
    // Catalog entries are read the same way; a name that is no service is a 404 as well.
    let slack = s
        .call(Method::GET, "/v1/services/slack", &s.member.token, None)
        .await
        .expect(200);
    assert_eq!(slack.body["custom"], false);
    assert_eq!(slack.body["version"], Value::Null);
    let nothing = s
        .call(
            Method::GET,
            "/v1/services/no such thing",
            &s.member.token,
            None,
        )
        .await;
    assert_eq!(nothing.status.as_u16(), 404);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_bumps_the_version_is_audited_and_applies_to_new_authentications() {
    let s = Server::start().await;
    let service = define(&s, &s.editor, &s.shared, "Sales API").await;
    let path = format!("/v1/services/{service}");
    let before = create_auth(&s, &s.editor, &s.shared, &service, "Before")
        .await
        .expect(201);
    let before = before.body["id"].as_str().expect("id").to_owned();
    // A viewer sees it but may not change it.
    let viewer = s
        .call(
            Method::PATCH,
            &path,
            &s.viewer.token,
            Some(spec("Viewer's")),
        )
        .await;
    assert_eq!(viewer.status.as_u16(), 403, "{}", viewer.text);
    // The change: a new required field.
    let mut new = spec("Sales API v2");
    new["fields"].as_array_mut().expect("fields").push(json!(
        {"name": "region", "secret": false, "required": true, "format": "Text", "description": "Region"}
    ));
    let changed = s
        .call_with(
            Method::PATCH,
            &path,
            Some(&s.ws_admin.token),
            Some(new.clone()),
            &[("if-match", "\"1\"")],
        )
        .await
        .expect(200);
    assert_eq!(changed.body["version"], 2);
    assert_eq!(changed.body["spec"]["name"], "Sales API v2");
    assert_eq!(changed.header("etag").as_deref(), Some("\"2\""));
    let read = s
        .call(Method::GET, &path, &s.viewer.token, None)
        .await
        .expect(200);
    assert_eq!(read.body["version"], 2);
    let mut shown = new.clone();
    shown["oauth"] = Value::Null;
    shown["verification"] = Value::Null;
    assert_eq!(read.body["spec"], shown);
    // The same definition again, another kind, or an invalid one: refused naming the part.
    let same = s
        .call(Method::PATCH, &path, &s.editor.token, Some(new.clone()))
        .await;
    assert_eq!(same.status.as_u16(), 422, "{}", same.text);
    let mut token_kind = spec("As a token");
    token_kind["auth_kind"] = json!("Token");
    token_kind["fields"] = json!([]);
    let kind = s
        .call(Method::PATCH, &path, &s.editor.token, Some(token_kind))
        .await;
    assert_eq!(kind.status.as_u16(), 422, "{}", kind.text);
    assert_eq!(kind.body["field"], "auth_kind");
    let stale = s
        .call_with(
            Method::PATCH,
            &path,
            Some(&s.editor.token),
            Some(spec("Stale")),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(stale.status.as_u16(), 412, "{}", stale.text);
    // New authentications follow the new definition; existing ones are re-authenticated
    // against it without having to supply the new required field.
    let without = create_auth(&s, &s.editor, &s.shared, &service, "After").await;
    assert_eq!(without.status.as_u16(), 422, "{}", without.text);
    assert_eq!(without.body["field"], "fields.region", "{}", without.text);
    let with = s
        .call(
            Method::POST,
            "/v1/authentications",
            &s.editor.token,
            Some(
                json!({"name": "After", "workspace": s.shared, "service": service,
                "fields": {"api_key": "k-2", "region": "eu"}}),
            ),
        )
        .await;
    assert_eq!(with.status.as_u16(), 201, "{}", with.text);
    s.call(
        Method::POST,
        &format!("/v1/authentications/{before}/reauthenticate"),
        &s.editor.token,
        Some(json!({"fields": {"region": "us"}})),
    )
    .await
    .expect(200);
    // The history of the service is in the audit trail.
    let audit = s
        .call(
            Method::GET,
            &format!(
                "/v1/audit?type=service.custom_changed&workspace={}",
                s.shared
            ),
            &s.owner.token,
            None,
        )
        .await
        .expect(200);
    let items = audit.body["items"].as_array().expect("items");
    let uuid = service.trim_start_matches("custom:");
    assert_eq!(items.len(), 1, "{}", audit.text);
    assert_eq!(items[0]["resource"], format!("service:{uuid}"));
    assert_eq!(items[0]["actor"], format!("user:{}", s.ws_admin.id));
    assert_eq!(
        items[0]["detail"]["CustomServiceChanged"]["spec"]["name"],
        "Sales API v2"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retired_service_backs_no_new_authentication_and_existing_ones_keep_working() {
    let s = Server::start().await;
    let service = define(&s, &s.editor, &s.shared, "Old API").await;
    let path = format!("/v1/services/{service}");
    let existing = create_auth(&s, &s.editor, &s.shared, &service, "Existing")
        .await
        .expect(201);
    let existing = existing.body["id"].as_str().expect("id").to_owned();
    let viewer = s
        .call(
            Method::POST,
            &format!("{path}/retire"),
            &s.viewer.token,
            None,
        )
        .await;
    assert_eq!(viewer.status.as_u16(), 403, "{}", viewer.text);
    let retired = s
        .call_with(
            Method::POST,
            &format!("{path}/retire"),
            Some(&s.editor.token),
            None,
            &[("if-match", "\"1\"")],
        )
        .await
        .expect(200);
    assert_eq!(retired.body["retired"], true);
    assert_eq!(retired.body["version"], 2);
    let list = s
        .call(Method::GET, "/v1/services", &s.viewer.token, None)
        .await
        .expect(200);
    let item = list
        .body
        .as_array()
        .expect("list")
        .iter()
        .find(|i| i["service"] == service.as_str())
        .cloned()
        .expect("still listed");
    assert_eq!(item["retired"], true);
    // No new authentication.
    let refused = create_auth(&s, &s.editor, &s.shared, &service, "New").await;
    assert_eq!(refused.status.as_u16(), 422, "{}", refused.text);
    assert_eq!(refused.body["field"], "service");
    assert!(refused.text.contains("retired"), "{}", refused.text);
    // To someone who cannot see it, a retired service answers like an unknown one.
    let hidden = create_auth(&s, &s.member, &s.member.personal, &service, "Hidden").await;
    let missing_ref = format!("custom:{}", uuid::Uuid::now_v7());
    let missing = create_auth(&s, &s.member, &s.member.personal, &missing_ref, "Hidden").await;
    assert_eq!(hidden.status.as_u16(), 422, "{}", hidden.text);
    assert!(!hidden.text.contains("retired"), "{}", hidden.text);
    assert_eq!(
        hidden.text.replace(service.as_str(), "X"),
        missing.text.replace(&missing_ref, "X")
    );
    // The existing one still resolves and can be re-authenticated.
    let resolved = s
        .call(
            Method::POST,
            "/v1/resolve",
            &s.editor.token,
            Some(json!({"authentication": existing, "workspace": s.shared,
                "template": {"key": "$.auth.api_key"}})),
        )
        .await
        .expect(200);
    assert_eq!(resolved.body["resolved"]["key"], "k-1");
    s.call(
        Method::POST,
        &format!("/v1/authentications/{existing}/reauthenticate"),
        &s.editor.token,
        Some(json!({"fields": {"api_key": "k-2"}})),
    )
    .await
    .expect(200);
    // Neither changed nor retired again.
    let change = s
        .call(Method::PATCH, &path, &s.editor.token, Some(spec("Revived")))
        .await;
    assert_eq!(change.status.as_u16(), 409, "{}", change.text);
    let again = s
        .call(
            Method::POST,
            &format!("{path}/retire"),
            &s.editor.token,
            None,
        )
        .await;
    assert_eq!(again.status.as_u16(), 409, "{}", again.text);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_changes_with_the_same_if_match_one_wins_the_others_get_412() {
    let s = Server::start().await;
    let service = define(&s, &s.editor, &s.shared, "Raced API").await;
    let path = format!("/v1/services/{service}");
    let mut tasks = Vec::new();
    for i in 0..20 {
        let client = s.client.clone();
        let url = format!("{}{path}", s.base);
        let token = s.editor.token.clone();
        let body = spec(&format!("Raced API {i}"));
        tasks.push(tokio::spawn(async move {
            http_support::send(
                &client,
                Method::PATCH,
                &url,
                Some(&token),
                http_support::Body::Json(body),
                &[("if-match", "\"1\"")],
            )
            .await
        }));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.expect("task").status.as_u16());
    }
    statuses.sort_unstable();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 412).count(),
        19,
        "{statuses:?}"
    );
    let read = s
        .call(Method::GET, &path, &s.editor.token, None)
        .await
        .expect(200);
    assert_eq!(read.body["version"], 2);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotency_key_retry_of_a_change_replays_its_answer() {
    let s = Server::start().await;
    let service = define(&s, &s.editor, &s.shared, "Retried API").await;
    let path = format!("/v1/services/{service}");
    let patch = |body: Value, key: &'static str| {
        let (s, path) = (&s, path.clone());
        async move {
            s.call_with(
                Method::PATCH,
                &path,
                Some(&s.editor.token),
                Some(body),
                &[("idempotency-key", key)],
            )
            .await
        }
    };
    let first = patch(spec("Retried API v2"), "change-1").await.expect(200);
    assert_eq!(first.body["version"], 2);
    let retry = patch(spec("Retried API v2"), "change-1").await.expect(200);
    assert_eq!(retry.header("idempotent-replayed").as_deref(), Some("true"));
    assert_eq!(retry.body, first.body);
    assert_eq!(retry.header("etag").as_deref(), Some("\"2\""));
    // A later change, then the retry again: still the answer of the first attempt.
    patch(spec("Retried API v3"), "change-2").await.expect(200);
    let late = patch(spec("Retried API v2"), "change-1").await.expect(200);
    assert_eq!(late.body, first.body);
    // The same key with another body is refused.
    let reused = patch(spec("Something else"), "change-1").await;
    assert_eq!(reused.status.as_u16(), 422, "{}", reused.text);
    let read = s
        .call(Method::GET, &path, &s.editor.token, None)
        .await
        .expect(200);
    assert_eq!(read.body["version"], 3);
    // Retirement replays as well.
    let retire = |key: &'static str| {
        let (s, path) = (&s, path.clone());
        async move {
            s.call_with(
                Method::POST,
                &format!("{path}/retire"),
                Some(&s.editor.token),
                None,
                &[("idempotency-key", key)],
            )
            .await
        }
    };
    let retired = retire("retire-1").await.expect(200);
    let again = retire("retire-1").await.expect(200);
    assert_eq!(again.body, retired.body);
    assert_eq!(again.header("idempotent-replayed").as_deref(), Some("true"));
    s.stop().await;
}
