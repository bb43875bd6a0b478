//! Audit through the HTTP API: completeness of the record for a scripted session by several
//! principals, filters, cursors, streamed exports, access records, time travel, and a restore
//! that brings back a secret overridden two versions ago.

mod http_support;

use http_support::{Answer, Server};
use reqwest::Method;
use serde_json::{json, Value};

const CANARY: &str = "canary-audit-7f3e9b1c";

async fn audit(s: &Server, token: &str, query: &str) -> Answer {
    s.call(Method::GET, &format!("/v1/audit?{query}"), token, None)
        .await
}

/// Every record matching `query`, walking pages of `limit` with the cursor.
async fn all_pages(s: &Server, token: &str, query: &str, limit: usize) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        // The next cursor replaces the one the query started from.
        let mut q: Vec<String> = query
            .split('&')
            .filter(|p| cursor.is_none() || !p.starts_with("cursor="))
            .map(str::to_owned)
            .collect();
        q.push(format!("limit={limit}"));
        if let Some(c) = &cursor {
            q.push(format!("cursor={c}"));
        }
        let q = q.join("&");
        let page = audit(s, token, &q).await.expect(200);
        let items = page.body["items"].as_array().expect("items").clone();
        assert!(items.len() <= limit, "page larger than the limit");
        out.extend(items);
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return out,
        }
    }
}

fn user_ref(id: &str) -> String {
    format!("user:{id}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scripted_session_yields_exactly_its_audit_records_in_order() {
    let s = Server::start().await;
    let start = s.head().await;
    let before = chrono::Utc::now();

    // The script: (who, what they do, expected status); every step writes exactly one record.
    let created = s
        .call(
            Method::POST,
            "/v1/authentications",
            &s.owner.token,
            Some(
                json!({"name": "Billing API", "workspace": s.shared, "service": "airtable",
                "fields": {"token": format!("{CANARY}-1")}}),
            ),
        )
        .await
        .expect(201);
    let id = created.body["id"].as_str().expect("id").to_owned();
    let path = format!("/v1/authentications/{id}");
    s.call_with(
        Method::PATCH,
        &path,
        Some(&s.editor.token),
        Some(json!({"name": "Billing API (prod)"})),
        &[("x-credledger-origin", "dashboard")],
    )
    .await
    .expect(200);
    s.call(
        Method::POST,
        &format!("{path}/reauthenticate"),
        &s.editor.token,
        Some(json!({"fields": {"token": format!("{CANARY}-2")}})),
    )
    .await
    .expect(200);
    let resolved = s
        .call(
            Method::POST,
            "/v1/resolve",
            &s.runner_token,
            Some(
                json!({"authentication": id, "workspace": s.shared, "user": s.viewer.id,
                "template": {"Authorization": "Bearer {$.auth.token}"},
                "workflow": {"workflow_id": "wf-billing", "step_id": "charge"}}),
            ),
        )
        .await
        .expect(200);
    assert_eq!(
        resolved.body["resolved"]["Authorization"],
        format!("Bearer {CANARY}-2")
    );
    s.call(
        Method::PATCH,
        &path,
        &s.viewer.token,
        Some(json!({"name": "mine now"})),
    )
    .await
    .expect(403);
    s.call(
        Method::POST,
        "/v1/resolve",
        &s.auditor_token,
        Some(
            json!({"authentication": id, "workspace": s.shared, "user": s.viewer.id,
            "template": "$.auth.token"}),
        ),
    )
    .await
    .expect(403);
    s.call(
        Method::POST,
        "/v1/resolve",
        &s.outsider.token,
        Some(json!({"authentication": id, "workspace": s.shared, "template": "$.auth.token"})),
    )
    .await
    .expect(404);
    s.call(Method::DELETE, &path, &s.owner.token, None)
        .await
        .expect(200);
    s.call(
        Method::POST,
        &format!("{path}/restore"),
        &s.admin.token,
        Some(json!({"version": 3})),
    )
    .await
    .expect(200);
    s.call(
        Method::POST,
        "/v1/resolve",
        &s.editor.token,
        Some(json!({"authentication": id, "workspace": s.shared, "template": "$.auth.token"})),
    )
    .await
    .expect(200);
    let after = chrono::Utc::now();

    // (event type, actor, outcome, origin)
    let owner = user_ref(&s.owner.id);
    let editor = user_ref(&s.editor.id);
    let viewer = user_ref(&s.viewer.id);
    let admin = user_ref(&s.admin.id);
    let outsider = user_ref(&s.outsider.id);
    let expected: Vec<(&str, &str, &str, &str)> = vec![
        ("authentication.created", &owner, "succeeded", "api"),
        // Verification is off in tests: the record says not verifiable.
        (
            "authentication.verification_recorded",
            &owner,
            "succeeded",
            "api",
        ),
        ("authentication.renamed", &editor, "succeeded", "dashboard"),
        (
            "authentication.reauthenticated",
            &editor,
            "succeeded",
            "api",
        ),
        (
            "authentication.verification_recorded",
            &editor,
            "succeeded",
            "api",
        ),
        ("access.resolved", "runner:", "succeeded", "workflow_step"),
        ("access.refused", &viewer, "refused", "api"),
        ("access.refused", "auditor:", "refused", "api"),
        ("access.refused", &outsider, "refused", "api"),
        ("authentication.deleted", &owner, "succeeded", "api"),
        ("authentication.restored", &admin, "succeeded", "api"),
        ("access.resolved", &editor, "succeeded", "api"),
    ];
    assert_eq!(s.head().await, start + expected.len() as u64);

    // Oldest first from the position before the script, three at a time.
    let records = all_pages(
        &s,
        &s.auditor_token,
        &format!("order=oldest&cursor={start}"),
        3,
    )
    .await;
    assert_eq!(records.len(), expected.len(), "{records:#?}");
    let mut last_time = before.to_rfc3339();
    for (record, (event_type, actor, outcome, origin)) in records.iter().zip(&expected) {
        let label = format!("{record}");
        assert_eq!(record["event_type"], *event_type, "{label}");
        let got_actor = record["actor"].as_str().expect("actor");
        if actor.ends_with(':') {
            assert!(got_actor.starts_with(actor), "{label}");
        } else {
            assert_eq!(got_actor, *actor, "{label}");
        }
        assert_eq!(record["outcome"], *outcome, "{label}");
        assert_eq!(record["origin"], *origin, "{label}");
        assert_eq!(record["auth_method"], "api_token", "{label}");
        assert_eq!(record["authentication"], id.as_str(), "{label}");
        assert_eq!(
            record["resource"],
            format!("authentication:{id}"),
            "{label}"
        );
        let at = record["recorded_at"].as_str().expect("time");
        let at_time = chrono::DateTime::parse_from_rfc3339(at).expect("rfc3339");
        assert!(at_time >= chrono::DateTime::parse_from_rfc3339(&last_time).expect("t"));
        assert!(at_time <= after, "{label}");
        last_time = at.to_owned();
    }
    let positions: Vec<u64> = records
        .iter()
        .map(|r| r["position"].as_u64().expect("position"))
        .collect();
    assert_eq!(
        positions,
        (start + 1..=start + expected.len() as u64).collect::<Vec<_>>()
    );

    // The details an auditor needs, and never a secret.
    assert_eq!(
        records[1]["detail"]["VerificationRecorded"]["reason"],
        "turned off by the operator"
    );
    let reauth = &records[3];
    assert_eq!(reauth["fields"][0]["field"], "token");
    assert_eq!(reauth["fields"][0]["change"], "Overridden");
    assert!(reauth["fields"][0]["fingerprint"].is_string());
    assert!(reauth["fields"][0]["previous_fingerprint"].is_string());
    assert_ne!(
        reauth["fields"][0]["fingerprint"],
        reauth["fields"][0]["previous_fingerprint"]
    );
    let resolution = &records[5];
    assert_eq!(resolution["accessed_fields"], json!(["token"]));
    assert_eq!(resolution["workflow"]["workflow_id"], "wf-billing");
    assert_eq!(resolution["workflow"]["step_id"], "charge");
    assert_eq!(resolution["detail"]["user"], s.viewer.id.as_str());
    assert_eq!(records[6]["detail"]["action"], "rename");
    assert_eq!(records[8]["detail"]["reason"], "not visible to this user");
    let everything = serde_json::to_string(&records).expect("json");
    assert!(!everything.contains(CANARY), "a secret reached audit");

    // Newest first is the same list reversed.
    let newest = all_pages(&s, &s.auditor_token, &format!("authentication={id}"), 4).await;
    let mut reversed = records.clone();
    reversed.reverse();
    assert_eq!(newest, reversed);

    // Filters.
    let count = |query: String| {
        let s = &s;
        async move { all_pages(s, &s.auditor_token, &query, 100).await.len() }
    };
    assert_eq!(
        count(format!("actor={editor}&cursor={start}&order=oldest")).await,
        4
    );
    assert_eq!(
        count(format!("outcome=refused&authentication={id}")).await,
        3
    );
    assert_eq!(
        count(format!("outcome=succeeded&authentication={id}")).await,
        9
    );
    assert_eq!(
        count(format!("type=access.resolved&authentication={id}")).await,
        2
    );
    assert_eq!(
        count(format!(
            "workspace={}&type=authentication.created&authentication={id}",
            s.shared
        ))
        .await,
        1
    );
    let window = format!(
        "from={}&to={}&authentication={id}",
        records[3]["recorded_at"].as_str().expect("t"),
        "2999-01-01T00:00:00Z"
    );
    assert!(count(window).await >= expected.len() - 3);
    assert_eq!(count("from=2999-01-01T00:00:00Z".to_owned()).await, 0);

    // Exports: NDJSON and CSV, streamed, the same records.
    let ndjson = s
        .call_with(
            Method::GET,
            &format!("/v1/audit?authentication={id}&order=oldest"),
            Some(&s.auditor_token),
            None,
            &[("accept", "application/x-ndjson")],
        )
        .await
        .expect(200);
    assert_eq!(
        ndjson.header("content-type").as_deref(),
        Some("application/x-ndjson")
    );
    let lines: Vec<Value> = ndjson
        .text
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines, records);
    let csv = audit(
        &s,
        &s.owner.token,
        &format!("authentication={id}&order=oldest&format=csv"),
    )
    .await
    .expect(200);
    let rows: Vec<&str> = csv.text.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(rows.len(), expected.len() + 1, "{}", csv.text);
    assert!(rows[0].starts_with("position,recorded_at,event_type,outcome,actor"));
    assert!(rows[4].contains("authentication.reauthenticated"));
    assert!(rows[4].contains("token:overridden:"));
    assert!(!ndjson.text.contains(CANARY) && !csv.text.contains(CANARY));

    // Only auditors and administrators read audit; bad queries are precise 400s.
    for token in [&s.editor.token, &s.member.token, &s.runner_token] {
        let refused = audit(&s, token, "limit=1").await.expect(403);
        assert!(refused.text.contains("audit"));
    }
    for (query, field) in [
        ("order=sideways", "order"),
        ("outcome=maybe", "outcome"),
        ("from=yesterday", "from"),
        ("cursor=abc", "cursor"),
        ("limit=0", "limit"),
        ("format=xml", "format"),
        ("authentication=nope", "authentication"),
        ("bogus=1", "bogus"),
        ("from=2030-01-01T00:00:00Z&to=2020-01-01T00:00:00Z", "to"),
    ] {
        let bad = audit(&s, &s.auditor_token, query).await.expect(400);
        assert_eq!(bad.body["field"], field, "{query}: {}", bad.text);
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_brings_back_a_secret_overridden_two_versions_ago() {
    let s = Server::start().await;
    let id = s
        .create(
            &s.editor,
            &s.shared,
            "airtable",
            json!({"token": "first-secret"}),
        )
        .await;
    let path = format!("/v1/authentications/{id}");
    for secret in ["second-secret", "third-secret"] {
        s.call(
            Method::POST,
            &format!("{path}/reauthenticate"),
            &s.editor.token,
            Some(json!({"fields": {"token": secret}})),
        )
        .await
        .expect(200);
    }
    let resolve = || {
        s.call(
            Method::POST,
            "/v1/resolve",
            &s.editor.token,
            Some(json!({"authentication": id, "workspace": s.shared, "template": "$.auth.token"})),
        )
    };
    assert_eq!(resolve().await.expect(200).body["resolved"], "third-secret");
    let restored = s
        .call(
            Method::POST,
            &format!("{path}/restore"),
            &s.editor.token,
            Some(json!({"version": 1})),
        )
        .await
        .expect(200);
    // Created and two re-authentications, each with its verification record, then restored.
    assert_eq!(restored.body["authentication"]["version"], 7);
    assert!(!restored.text.contains("first-secret"));
    assert_eq!(resolve().await.expect(200).body["resolved"], "first-secret");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_travel_lists_a_workspace_and_who_could_use_an_authentication_then() {
    let s = Server::start().await;
    let id = s
        .create(&s.editor, &s.shared, "airtable", json!({"token": "tt-1"}))
        .await;
    let path = format!("/v1/authentications/{id}");
    s.call(
        Method::PATCH,
        &path,
        &s.editor.token,
        Some(json!({"name": "Before the move"})),
    )
    .await
    .expect(200);
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let t1 = chrono::Utc::now().to_rfc3339();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    // The owner moves it to the organization workspace, then the viewer leaves the picture.
    s.call(
        Method::PATCH,
        &path,
        &s.owner.token,
        Some(json!({"name": "After the move", "workspace": s.org_workspace})),
    )
    .await
    .expect(200);
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let t2 = chrono::Utc::now().to_rfc3339();

    let listing = |workspace: String, at: String| {
        let s = &s;
        async move {
            s.call(
                Method::GET,
                &format!(
                    "/v1/workspaces/{workspace}/authentications?as_of={}",
                    at.replace('+', "%2B")
                ),
                &s.auditor_token,
                None,
            )
            .await
            .expect(200)
        }
    };
    let shared_then = listing(s.shared.clone(), t1.clone()).await;
    let names: Vec<&str> = shared_then
        .body
        .as_array()
        .expect("list")
        .iter()
        .filter(|a| a["id"] == id.as_str())
        .map(|a| a["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, vec!["Before the move"]);
    let shared_now = listing(s.shared.clone(), t2.clone()).await;
    assert!(!shared_now.text.contains(&id));
    let org_now = listing(s.org_workspace.clone(), t2.clone()).await;
    assert!(org_now.text.contains("After the move"));
    let org_then = listing(s.org_workspace.clone(), t1.clone()).await;
    assert!(!org_then.text.contains(&id));
    assert!(!shared_then.text.contains("tt-1"));
    // One created since is no candidate then, and spoils nothing of that answer.
    let later = s
        .create(&s.editor, &s.shared, "airtable", json!({"token": "tt-2"}))
        .await;
    let shared_then_again = listing(s.shared.clone(), t1.clone()).await;
    assert!(!shared_then_again.text.contains(&later));
    assert_eq!(shared_then_again.body, shared_then.body);

    // Who could use it: in the shared workspace its viewer could; in the organization
    // workspace every organization member can.
    let usable = |at: String| {
        let s = &s;
        let path = format!("{path}/usable-by?as_of={}", at.replace('+', "%2B"));
        async move {
            s.call(Method::GET, &path, &s.auditor_token, None)
                .await
                .expect(200)
        }
    };
    let then = usable(t1).await;
    assert_eq!(then.body["workspace"], s.shared.as_str());
    let users_then: Vec<&str> = then.body["users"]
        .as_array()
        .expect("users")
        .iter()
        .map(|u| u["user"].as_str().expect("user"))
        .collect();
    assert!(users_then.contains(&s.viewer.id.as_str()));
    assert!(users_then.contains(&s.editor.id.as_str()));
    assert!(!users_then.contains(&s.outsider.id.as_str()));
    let now = usable(t2).await;
    assert_eq!(now.body["workspace"], s.org_workspace.as_str());
    let users_now: Vec<&str> = now.body["users"]
        .as_array()
        .expect("users")
        .iter()
        .map(|u| u["user"].as_str().expect("user"))
        .collect();
    assert!(users_now.contains(&s.member.id.as_str()));
    assert!(!users_now.contains(&s.outsider.id.as_str()));
    assert_ne!(users_then, users_now);

    // Before it existed: 404. Someone who cannot see it now: 404. A runner: 403.
    s.call(
        Method::GET,
        &format!("{path}/usable-by?as_of=2000-01-01T00:00:00Z"),
        &s.auditor_token,
        None,
    )
    .await
    .expect(404);
    s.call(
        Method::GET,
        &format!("{path}/usable-by"),
        &s.outsider.token,
        None,
    )
    .await
    .expect(404);
    s.call(
        Method::GET,
        &format!(
            "/v1/workspaces/{}/authentications?as_of=2030-01-01T00:00:00Z",
            s.shared
        ),
        &s.runner_token,
        None,
    )
    .await
    .expect(403);
    s.call(
        Method::GET,
        &format!(
            "/v1/workspaces/{}/authentications?as_of=2030-01-01T00:00:00Z",
            s.shared
        ),
        &s.outsider.token,
        None,
    )
    .await
    .expect(404);
    let bad = s
        .call(
            Method::GET,
            &format!("/v1/workspaces/{}/authentications?as_of=soon", s.shared),
            &s.auditor_token,
            None,
        )
        .await
        .expect(400);
    assert_eq!(bad.body["field"], "as_of");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn organization_admins_read_only_their_organizations_records() {
    let s = Server::start().await;
    let id = s
        .create(
            &s.editor,
            &s.shared,
            "airtable",
            json!({"token": "scoped-1"}),
        )
        .await;
    // A second organization with its own administrator, who is nothing in the first one.
    let other = s
        .call(
            Method::POST,
            "/v1/organizations",
            &s.owner.token,
            Some(json!({"name": "Other Org"})),
        )
        .await
        .expect(201);
    let other_org = other.body["id"].as_str().expect("id").to_owned();
    let other_ws = other.body["workspace"]
        .as_str()
        .expect("workspace")
        .to_owned();
    let x = s
        .call(
            Method::POST,
            "/v1/users",
            &s.owner.token,
            Some(json!({"name": "Xena", "email": "xena@example.com"})),
        )
        .await
        .expect(201);
    let x_id = x.body["id"].as_str().expect("id").to_owned();
    s.call(
        Method::POST,
        "/v1/memberships",
        &s.owner.token,
        Some(json!({"organization": other_org, "user": x_id, "role": "admin"})),
    )
    .await
    .expect(201);
    let x_token = s
        .call(
            Method::POST,
            "/v1/tokens",
            &s.owner.token,
            Some(json!({"kind": "user", "user": x_id, "label": "xena"})),
        )
        .await
        .expect(201)
        .body["token"]
        .as_str()
        .expect("token")
        .to_owned();

    let seen = all_pages(&s, &x_token, "order=oldest", 50).await;
    assert!(!seen.is_empty());
    for record in &seen {
        assert_eq!(record["workspace"], other_ws.as_str(), "{record}");
    }
    let types: Vec<&str> = seen
        .iter()
        .map(|r| r["event_type"].as_str().expect("type"))
        .collect();
    assert!(
        types.contains(&"directory.organization_created"),
        "{types:?}"
    );
    assert!(
        types.contains(&"directory.user_joined_organization"),
        "{types:?}"
    );
    let text = serde_json::to_string(&seen).expect("json");
    assert!(!text.contains(&id) && !text.contains(&s.shared));
    // Asking for the first organization's records explicitly gives nothing either.
    let theirs = audit(&s, &x_token, &format!("authentication={id}"))
        .await
        .expect(200);
    assert_eq!(theirs.body["items"], json!([]));
    // The first organization's owner sees its authentication; auditors see everything.
    let owners = all_pages(&s, &s.owner.token, &format!("authentication={id}"), 50).await;
    // Created, and its verification record.
    assert_eq!(owners.len(), 2);
    let auditors = all_pages(&s, &s.auditor_token, "order=oldest", 1000).await;
    assert!(auditors.len() > seen.len() + owners.len());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_shows_workflow_steps_and_the_dashboard_as_origins_of_changes() {
    let s = Server::start().await;
    let start = s.head().await;
    let created = s
        .call(
            Method::POST,
            "/v1/authentications",
            &s.editor.token,
            Some(
                json!({"name": "From a workflow", "workspace": s.shared, "service": "airtable",
                "fields": {"token": "wf-secret"},
                "workflow": {"workflow_id": "wf-onboard", "step_id": "connect"}}),
            ),
        )
        .await
        .expect(201);
    let id = created.body["id"].as_str().expect("id").to_owned();
    s.call_with(
        Method::POST,
        &format!("/v1/authentications/{id}/reauthenticate"),
        Some(&s.editor.token),
        Some(json!({"fields": {"token": "wf-secret-2"}})),
        &[("x-credledger-origin", "dashboard")],
    )
    .await
    .expect(200);
    let records = all_pages(
        &s,
        &s.auditor_token,
        &format!("order=oldest&cursor={start}"),
        10,
    )
    .await;
    assert_eq!(records.len(), 4, "{records:#?}");
    assert_eq!(records[0]["event_type"], "authentication.created");
    assert_eq!(records[0]["origin"], "workflow_step");
    assert_eq!(records[0]["workflow"]["workflow_id"], "wf-onboard");
    assert_eq!(records[0]["workflow"]["step_id"], "connect");
    // The verification record comes from the same request, so from the same place.
    assert_eq!(
        records[1]["event_type"],
        "authentication.verification_recorded"
    );
    assert_eq!(records[1]["origin"], "workflow_step");
    assert_eq!(records[1]["workflow"]["workflow_id"], "wf-onboard");
    assert_eq!(records[2]["event_type"], "authentication.reauthenticated");
    assert_eq!(records[2]["origin"], "dashboard");
    assert_eq!(
        records[3]["event_type"],
        "authentication.verification_recorded"
    );
    assert_eq!(records[3]["origin"], "dashboard");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runners_or_auditors_attempt_to_change_an_authentication_is_refused_and_recorded() {
    let s = Server::start().await;
    let id = s
        .create(&s.editor, &s.shared, "airtable", json!({"token": CANARY}))
        .await;
    let path = format!("/v1/authentications/{id}");
    let reauthenticate = format!("{path}/reauthenticate");
    let restore = format!("{path}/restore");
    let rename = json!({"name": "not theirs"});
    let new_secret = json!({"fields": {"token": "theirs"}});
    let version_1 = json!({"version": 1});
    let before = s.owner_get(&path).await.expect(200);
    // (case, token, method, path, body, recorded action)
    let attempts = [
        (
            "runner renames",
            &s.runner_token,
            Method::PATCH,
            &path,
            Some(&rename),
            "rename_or_move",
        ),
        (
            "runner re-authenticates",
            &s.runner_token,
            Method::POST,
            &reauthenticate,
            Some(&new_secret),
            "reauthenticate",
        ),
        (
            "runner deletes",
            &s.runner_token,
            Method::DELETE,
            &path,
            None,
            "delete",
        ),
        (
            "auditor restores",
            &s.auditor_token,
            Method::POST,
            &restore,
            Some(&version_1),
            "restore",
        ),
        (
            "auditor deletes",
            &s.auditor_token,
            Method::DELETE,
            &path,
            None,
            "delete",
        ),
    ];
    for (case, token, method, target, body, _) in &attempts {
        let refused = s
            .call(method.clone(), target, token, body.map(|b| (*b).clone()))
            .await
            .expect(403);
        assert_eq!(
            refused.body["field"], "principal",
            "{case}: {}",
            refused.text
        );
    }
    let records = all_pages(
        &s,
        &s.auditor_token,
        &format!("authentication={id}&outcome=refused&order=oldest"),
        10,
    )
    .await;
    assert_eq!(records.len(), attempts.len(), "{records:?}");
    for (record, (case, _, _, _, _, action)) in records.iter().zip(&attempts) {
        assert_eq!(record["event_type"], "access.refused", "{case}");
        assert_eq!(record["detail"]["action"], *action, "{case}: {record}");
        assert_eq!(
            record["detail"]["reason"], "principal: only users change authentications",
            "{case}"
        );
    }
    // Nothing changed.
    let now = s.owner_get(&path).await.expect(200);
    assert_eq!(now.body, before.body);
    s.stop().await;
}
