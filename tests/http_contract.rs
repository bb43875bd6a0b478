//! The API keeps its word: refusals for requests that could never succeed, the request id on
//! every answer, the origin header, and the listing's filters, total and workspace names.

mod http_support;

use std::time::Duration;

use http_support::Server;
use reqwest::Method;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_out_of_range_and_filters_that_can_never_match_are_400() {
    let s = Server::start().await;
    for (path, field) in [
        ("/v1/authentications?limit=0", "limit"),
        ("/v1/authentications?limit=501", "limit"),
        ("/v1/audit?limit=0", "limit"),
        ("/v1/audit?limit=1001", "limit"),
        ("/v1/audit?actor=nobody", "actor"),
        ("/v1/audit?actor=user:nobody", "actor"),
        (
            "/v1/audit?actor=robot:0190a6c2-0000-7000-8000-000000000042",
            "actor",
        ),
        ("/v1/audit?type=authentication.nope", "type"),
        ("/v1/authentications?lifecycle=purged", "lifecycle"),
        ("/v1/authentications?kind=Magic", "kind"),
        ("/v1/authentications?expires_before=soon", "expires_before"),
    ] {
        let answer = s.call(Method::GET, path, &s.owner.token, None).await;
        assert_eq!(answer.status.as_u16(), 400, "{path}: {}", answer.text);
        assert_eq!(answer.body["field"], field, "{path}: {}", answer.text);
    }
    let actor = s
        .call(Method::GET, "/v1/audit?actor=nobody", &s.owner.token, None)
        .await;
    assert!(
        actor.text.contains("user:<uuid>") && actor.text.contains("system"),
        "the accepted forms are named: {}",
        actor.text
    );
    // The accepted forms do answer.
    for path in [
        "/v1/authentications?limit=500".to_owned(),
        "/v1/audit?limit=1000".to_owned(),
        format!("/v1/audit?actor=user:{}", s.owner.id),
        "/v1/audit?actor=system".to_owned(),
        "/v1/audit?type=authentication.created".to_owned(),
        "/v1/audit?type=access.resolved".to_owned(),
    ] {
        s.owner_get(&path).await;
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_origin_is_refused_and_known_ones_are_recorded() {
    let s = Server::start().await;
    let body = json!({"name": "Origin", "workspace": s.shared, "service": "airtable", "fields": {"token": "t"}});
    for value in ["Dashboard", "cli", "system", "", "api, dashboard"] {
        let answer = s
            .call_with(
                Method::POST,
                "/v1/authentications",
                Some(&s.editor.token),
                Some(body.clone()),
                &[("x-credledger-origin", value)],
            )
            .await
            .expect(400);
        assert_eq!(answer.body["field"], "x-credledger-origin", "{value:?}");
    }
    let created = s
        .call_with(
            Method::POST,
            "/v1/authentications",
            Some(&s.editor.token),
            Some(body),
            &[("x-credledger-origin", "api")],
        )
        .await
        .expect(201);
    let id = created.body["id"].as_str().expect("id").to_owned();
    // A refused origin on a change to an existing authentication is a 400 too, before anything.
    s.call_with(
        Method::DELETE,
        &format!("/v1/authentications/{id}"),
        Some(&s.editor.token),
        None,
        &[("x-credledger-origin", "robot")],
    )
    .await
    .expect(400);
    s.call_with(
        Method::DELETE,
        &format!("/v1/authentications/{id}"),
        Some(&s.editor.token),
        None,
        &[("x-credledger-origin", "dashboard")],
    )
    .await
    .expect(200);
    let history = s
        .call(
            Method::GET,
            &format!("/v1/authentications/{id}/history"),
            &s.editor.token,
            None,
        )
        .await
        .expect(200);
    let origins: Vec<String> = history
        .body
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["origin"].to_string())
        .collect();
    // Created, its verification record (same request, same origin), deleted.
    assert_eq!(origins.len(), 3, "{}", history.text);
    assert!(origins[0].contains("Api"), "{origins:?}");
    assert!(origins[1].contains("Api"), "{origins:?}");
    assert!(origins[2].contains("Dashboard"), "{origins:?}");
    s.stop().await;
}

/// Sends raw bytes and reads the whole answer (the connection is closed by either side).
async fn raw(s: &Server, request: &[u8], pause: Duration) -> String {
    let addr = s.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let _ = stream.write_all(request).await;
    tokio::time::sleep(pause).await;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_of_the_http_machinery_carry_the_request_id() {
    let s = Server::start_with(|config| {
        config.limits.request_timeout = Duration::from_millis(300);
    })
    .await;
    // 405: a known path with another method.
    let answer = s
        .call(Method::GET, "/v1/resolve", &s.owner.token, None)
        .await;
    assert_eq!(answer.status.as_u16(), 405, "{}", answer.text);
    assert!(answer.header("x-request-id").is_some(), "405 without id");
    assert_eq!(
        answer.body["type"],
        "https://credledger.dev/problems/method-not-allowed"
    );
    // 413: a body over the limit.
    let big = json!({"name": "Big", "workspace": s.shared, "service": "airtable",
        "fields": {"token": "a".repeat(70 * 1024)}});
    let answer = s
        .call(
            Method::POST,
            "/v1/authentications",
            &s.owner.token,
            Some(big),
        )
        .await;
    assert_eq!(answer.status.as_u16(), 413, "{}", answer.text);
    assert!(answer.header("x-request-id").is_some(), "413 without id");
    // 408: a body that never arrives.
    let addr = s.base.trim_start_matches("http://").to_owned();
    let head = format!(
        "POST /v1/authentications HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\nConnection: close\r\n\r\n{{",
        s.owner.token
    );
    let answer = raw(&s, head.as_bytes(), Duration::from_millis(600)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("\r\nx-request-id: "),
        "408 without id: {answer}"
    );
    assert!(answer.contains("problem+json"), "{answer}");
    // A caller's own request id comes back on a refusal too.
    let answer = s
        .call_with(
            Method::GET,
            "/v1/resolve",
            Some(&s.owner.token),
            None,
            &[("x-request-id", "caller-id-1")],
        )
        .await;
    assert_eq!(
        answer.header("x-request-id").as_deref(),
        Some("caller-id-1")
    );
    s.stop().await;
}

/// The names on one listing page, its total and the whole body.
async fn names(s: &Server, path: &str) -> (Vec<String>, u64, serde_json::Value) {
    let page = s
        .call(Method::GET, path, &s.editor.token, None)
        .await
        .expect(200);
    let names = page.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["name"].as_str().unwrap_or_default().to_owned())
        .collect();
    (
        names,
        page.body["total"].as_u64().expect("total"),
        page.body,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_filters_count_and_name_the_workspace() {
    let s = Server::start().await;
    let make = |name: &str, service: &str, fields: serde_json::Value, env: Option<&str>| {
        let mut body =
            json!({"name": name, "workspace": s.shared, "service": service, "fields": fields});
        if let Some(env) = env {
            body["environment"] = json!(env);
        }
        body
    };
    let mut ids = Vec::new();
    for body in [
        make(
            "Air sandbox",
            "airtable",
            json!({"token": "t-1"}),
            Some("sandbox"),
        ),
        make(
            "Air prod",
            "airtable",
            json!({"token": "t-2"}),
            Some("production"),
        ),
        make(
            "Slack",
            "slack",
            json!({"access_token": "xoxb-1", "expires_at": "2030-01-01T00:00:00Z"}),
            None,
        ),
        make(
            "Slack later",
            "slack",
            json!({"access_token": "xoxb-2", "expires_at": "2040-01-01T00:00:00Z"}),
            None,
        ),
    ] {
        let created = s
            .call(
                Method::POST,
                "/v1/authentications",
                &s.editor.token,
                Some(body),
            )
            .await
            .expect(201);
        ids.push(created.body["id"].as_str().expect("id").to_owned());
    }
    s.call(
        Method::DELETE,
        &format!("/v1/authentications/{}", ids[1]),
        &s.editor.token,
        None,
    )
    .await
    .expect(200);
    let ws = &s.shared;
    let cases: Vec<(String, Vec<&str>)> = vec![
        (
            format!("workspace={ws}"),
            vec!["Air sandbox", "Slack", "Slack later"],
        ),
        (
            format!("workspace={ws}&environment=sandbox"),
            vec!["Air sandbox"],
        ),
        (format!("workspace={ws}&tag=sandbox"), vec!["Air sandbox"]),
        (
            format!("workspace={ws}&kind=OAuth2"),
            vec!["Slack", "Slack later"],
        ),
        (format!("workspace={ws}&kind=Token"), vec!["Air sandbox"]),
        (
            format!("workspace={ws}&lifecycle=deleted"),
            vec!["Air prod"],
        ),
        (
            format!("workspace={ws}&lifecycle=active&include_deleted=true"),
            vec!["Air sandbox", "Slack", "Slack later"],
        ),
        (
            format!("workspace={ws}&include_deleted=true&environment=production"),
            vec!["Air prod"],
        ),
        (
            format!("workspace={ws}&needs_reauthorization=false&kind=OAuth2"),
            vec!["Slack", "Slack later"],
        ),
        (format!("workspace={ws}&needs_reauthorization=true"), vec![]),
        (
            format!("workspace={ws}&expires_before=2035-01-01T00:00:00Z"),
            vec!["Slack"],
        ),
        (
            format!("workspace={ws}&expires_before=2050-01-01T00:00:00Z"),
            vec!["Slack", "Slack later"],
        ),
    ];
    for (query, wanted) in cases {
        let (got, total, _) = names(&s, &format!("/v1/authentications?{query}")).await;
        assert_eq!(got, wanted, "{query}");
        assert_eq!(total, wanted.len() as u64, "{query}");
    }
    // The total counts every page; items name their workspace.
    let (got, total, body) =
        names(&s, &format!("/v1/authentications?workspace={ws}&limit=1")).await;
    assert_eq!((got.len(), total), (1, 3), "{body}");
    assert!(body["next_cursor"].is_string());
    assert_eq!(body["items"][0]["workspace_name"], "Sales", "{body}");
    let one = s
        .call(
            Method::GET,
            &format!("/v1/authentications/{}", ids[0]),
            &s.editor.token,
            None,
        )
        .await
        .expect(200);
    assert_eq!(one.body["workspace_name"], "Sales");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_say_every_field_so_an_oauth1_authentication_takes_one_request() {
    let s = Server::start().await;
    let services = s.owner_get("/v1/services").await;
    let trello = services
        .body
        .as_array()
        .expect("services")
        .iter()
        .find(|v| v["service"] == "trello")
        .expect("trello is in the catalog")
        .clone();
    let fields = trello["fields"].as_array().expect("fields");
    let described: Vec<(String, bool, bool)> = fields
        .iter()
        .map(|f| {
            (
                f["name"].as_str().unwrap_or_default().to_owned(),
                f["secret"].as_bool().expect("secret"),
                f["required"].as_bool().expect("required"),
            )
        })
        .collect();
    assert_eq!(
        described,
        vec![
            ("consumer_key".to_owned(), false, true),
            ("consumer_secret".to_owned(), true, true),
            ("token".to_owned(), true, true),
            ("token_secret".to_owned(), true, true),
        ],
        "{trello}"
    );
    // Every required field, from the listing alone: one request.
    let values: serde_json::Map<String, serde_json::Value> = fields
        .iter()
        .filter(|f| f["required"] == true)
        .map(|f| {
            (
                f["name"].as_str().unwrap_or_default().to_owned(),
                json!("v-1"),
            )
        })
        .collect();
    s.call(
        Method::POST,
        "/v1/authentications",
        &s.owner.token,
        Some(json!({"name": "Trello", "workspace": s.owner.personal, "service": "trello", "fields": values})),
    )
    .await
    .expect(201);
    s.stop().await;
}
