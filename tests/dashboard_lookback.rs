//! The dashboard's look-back, audit and reference pages over real HTTP: each answers what the
//! API answers the same user (the audit downloads byte for byte), refusals sit beside the
//! field the API's problem names, hidden things look missing, forms without the CSRF token or
//! from another site are refused, and no page's HTML holds a secret.

mod dashboard_support;
mod http_support;

use dashboard_support::{csrf_of, get, post_form, reauthenticate, sign_in};
use http_support::Server;
use reqwest::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use serde_json::json;

const CANARY: &str = "canary-lookback-8e41d2c6";

async fn page(s: &Server, path: &str, session: &str) -> (StatusCode, String) {
    let answer = get(s, path, Some(session)).await;
    let status = answer.status();
    (status, answer.text().await.expect("body"))
}

/// Percent-encodes a query value (times carry `:` and `+`).
fn q(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authentication_as_of_a_version_or_time_and_who_could_use_it() {
    let s = Server::start().await;
    let id = s
        .create(&s.owner, &s.shared, "airtable", json!({"token": CANARY}))
        .await;
    let first = s.owner_get(&format!("/v1/authentications/{id}")).await.body;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    reauthenticate(&s, &id, &format!("{CANARY}-2")).await;
    let (owner, _) = sign_in(&s, &s.owner.token).await;

    // The timeline links each entry to the view as of it.
    let (_, history) = page(&s, &format!("/ui/authentications/{id}/history"), &owner).await;
    assert!(
        history.contains(&format!("/ui/authentications/{id}/as-of?version=1")),
        "{history}"
    );

    // As of version 1: the first fingerprint, with "Restore this version".
    let (status, html) = page(
        &s,
        &format!("/ui/authentications/{id}/as-of?version=1"),
        &owner,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let fp1 = first["fields"]["token"]["fingerprint"]
        .as_str()
        .expect("fp");
    assert!(
        html.contains(fp1),
        "the first version's fingerprint: {html}"
    );
    assert!(html.contains("Restore this version"), "{html}");
    assert!(html.contains("name=\"to_version\" value=\"1\""), "{html}");
    let api_then = s
        .owner_get(&format!("/v1/authentications/{id}?version=1"))
        .await
        .body;
    assert_eq!(api_then["fields"]["token"]["fingerprint"], fp1);

    // As of a time just after creation: the same version as the API's as_of gives.
    let created_at = first["created_at"].as_str().expect("created_at").to_owned();
    let (status, html) = page(
        &s,
        &format!("/ui/authentications/{id}/as-of?at={}", q(&created_at)),
        &owner,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("as of version 1"), "{html}");

    // Bad points: beside the field, with the API's status.
    // (case, query, status, the message's id, words)
    let refusals = [
        (
            "not a date",
            "at=yesterday",
            StatusCode::BAD_REQUEST,
            "at-error",
            "not an RFC 3339",
        ),
        (
            "before it existed",
            "at=2001-01-01T00:00",
            StatusCode::NOT_FOUND,
            "at-error",
            "did not exist",
        ),
        (
            "not a version",
            "version=two",
            StatusCode::BAD_REQUEST,
            "version-error",
            "not a version",
        ),
        (
            "a version to come",
            "version=9",
            StatusCode::NOT_FOUND,
            "version-error",
            "did not exist",
        ),
        (
            "both",
            "version=1&at=2030-01-01T00:00",
            StatusCode::BAD_REQUEST,
            "version-error",
            "not both",
        ),
    ];
    for (case, query, status, error_id, words) in refusals {
        let (got, html) = page(
            &s,
            &format!("/ui/authentications/{id}/as-of?{query}"),
            &owner,
        )
        .await;
        assert_eq!(got, status, "{case}: {html}");
        assert!(
            html.contains(&format!("id=\"{error_id}\"")),
            "{case}: {html}"
        );
        assert!(html.contains(words), "{case}: {html}");
    }

    // Who could use it now: the API's users, by name and role.
    let (status, html) = page(&s, &format!("/ui/authentications/{id}/usable-by"), &owner).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let api = s
        .owner_get(&format!("/v1/authentications/{id}/usable-by"))
        .await
        .body;
    let users = api["users"].as_array().expect("users");
    assert!(!users.is_empty());
    for user in users {
        let row = format!(
            "<tr><td>{}</td><td>{}</td></tr>",
            user["name"].as_str().expect("name"),
            user["because"].as_str().expect("because")
        );
        assert!(html.contains(&row), "{row} in {html}");
    }
    assert_eq!(
        html.matches("<tr><td>").count(),
        users.len(),
        "exactly the API's users"
    );
    let (status, html) = page(
        &s,
        &format!("/ui/authentications/{id}/usable-by?at=2001-01-01T00:00"),
        &owner,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(html.contains("id=\"at-error\""), "{html}");

    // A workspace as of a date: the API's list, linked to each as it was.
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string();
    let (status, html) = page(
        &s,
        &format!("/ui/workspaces/as-of?workspace={}&at={}", s.shared, q(&now)),
        &owner,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let api = s
        .owner_get(&format!(
            "/v1/workspaces/{}/authentications?as_of={}",
            s.shared,
            q(&format!("{now}Z"))
        ))
        .await
        .body;
    for view in api.as_array().expect("list") {
        let link = format!(
            "/ui/authentications/{}/as-of?version={}",
            view["id"].as_str().expect("id"),
            view["version"]
        );
        assert!(html.contains(&link), "{link} in {html}");
    }
    // A workspace the user may not see, and a bad date: beside their fields.
    let (outsider, _) = sign_in(&s, &s.outsider.token).await;
    let (status, html) = page(
        &s,
        &format!("/ui/workspaces/as-of?workspace={}&at={}", s.shared, q(&now)),
        &outsider,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(html.contains("id=\"workspace-error\""), "{html}");
    let (status, html) = page(
        &s,
        &format!("/ui/workspaces/as-of?workspace={}&at=soon", s.shared),
        &owner,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("id=\"at-error\""), "{html}");

    // Hidden from someone who may not see it: the same "not found" as a missing one.
    for path in ["as-of?version=1", "usable-by"] {
        let (status, html) = page(&s, &format!("/ui/authentications/{id}/{path}"), &outsider).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        let (_, missing) = page(
            &s,
            &format!("/ui/authentications/{}/{path}", uuid::Uuid::now_v7()),
            &outsider,
        )
        .await;
        assert_eq!(html, missing, "{path}");
    }

    // Restoring version 1 from the as-of view: refused without the CSRF token and from
    // another site; then done, as a new version with the first fingerprint.
    let (_, html) = page(
        &s,
        &format!("/ui/authentications/{id}/as-of?version=1"),
        &owner,
    )
    .await;
    let csrf = csrf_of(&html);
    let restore = format!("/ui/authentications/{id}/restore");
    let before = s.owner_get(&format!("/v1/authentications/{id}")).await.body;
    let current = before["version"].as_u64().expect("version");
    let current_text = current.to_string();
    let form = [
        ("csrf", csrf.as_str()),
        ("version", current_text.as_str()),
        ("to_version", "1"),
    ];
    let without_csrf = post_form(&s, &restore, Some(&owner), &form[1..], &[]).await;
    assert!(
        without_csrf.status().is_client_error(),
        "{}",
        without_csrf.status()
    );
    let cross_site = post_form(
        &s,
        &restore,
        Some(&owner),
        &form,
        &[("sec-fetch-site", "cross-site")],
    )
    .await;
    assert_eq!(cross_site.status(), StatusCode::FORBIDDEN);
    let other_origin = post_form(
        &s,
        &restore,
        Some(&owner),
        &form,
        &[("origin", "https://evil.example")],
    )
    .await;
    assert_eq!(other_origin.status(), StatusCode::FORBIDDEN);
    let now = s.owner_get(&format!("/v1/authentications/{id}")).await.body;
    assert_eq!(now, before, "no refusal changed anything");
    let restored = post_form(&s, &restore, Some(&owner), &form, &[]).await;
    assert_eq!(restored.status(), StatusCode::SEE_OTHER);
    let now = s.owner_get(&format!("/v1/authentications/{id}")).await.body;
    assert_eq!(now["version"], current + 1);
    assert_eq!(now["fields"]["token"]["fingerprint"], fp1);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_page_filters_pages_and_downloads_the_apis_bytes() {
    let s = Server::start().await;
    for n in 0..45 {
        s.create(
            &s.owner,
            &s.shared,
            "airtable",
            json!({"token": format!("{CANARY}-{n}")}),
        )
        .await;
    }
    let (owner, _) = sign_in(&s, &s.owner.token).await;

    // Filtered by type: the same records as the API, newest first.
    let (status, html) = page(&s, "/ui/audit?type=authentication.created", &owner).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let api = s
        .owner_get("/v1/audit?type=authentication.created")
        .await
        .body;
    let items = api["items"].as_array().expect("items");
    assert_eq!(items.len(), 45);
    assert_eq!(
        html.matches("<td>authentication.created</td>").count(),
        45,
        "{html}"
    );
    assert!(!html.contains(CANARY), "a secret reached the audit page");
    assert_eq!(
        html.matches("<td>Administrator</td>").count(),
        45,
        "actors by name: {html}"
    );

    // Empty inputs are no filter; pages follow the cursor.
    let (status, all) = page(
        &s,
        "/ui/audit?actor=&authentication=&workspace=&type=&outcome=&from=&to=&order=newest",
        &owner,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{all}");
    let total = s.owner_get("/v1/audit?limit=1000").await.body["items"]
        .as_array()
        .expect("items")
        .len();
    assert!(total > 50, "more than a page: {total}");
    assert!(all.contains("cursor="), "a next page link");
    let mut seen = all.matches("<tr>").count() - 1;
    let mut html = all;
    while let Some(start) = html
        .find("/ui/audit?cursor=")
        .or_else(|| html.find("&amp;cursor="))
    {
        let link = html[start..]
            .split('"')
            .next()
            .expect("link")
            .replace("&amp;", "&");
        let link = if link.starts_with('&') {
            format!("/ui/audit?order=newest{link}")
        } else {
            link
        };
        html = page(&s, &link, &owner).await.1;
        seen += html.matches("<tr>").count().saturating_sub(1);
    }
    assert_eq!(seen, total, "every record once over the pages");

    // Bad filters: beside the field the API names, with its status.
    // (case, query, the message's id)
    let refusals = [
        ("actor", "actor=someone", "actor-error"),
        (
            "authentication",
            "authentication=42",
            "authentication-error",
        ),
        ("type", "type=made.up", "type-error"),
        ("outcome", "outcome=maybe", "outcome-error"),
        ("from", "from=later", "from-error"),
        (
            "to before from",
            "from=2030-01-02T00:00&to=2030-01-01T00:00",
            "to-error",
        ),
    ];
    for (case, query, error_id) in refusals {
        let (status, html) = page(&s, &format!("/ui/audit?{query}"), &owner).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{case}");
        assert!(
            html.contains(&format!("id=\"{error_id}\"")),
            "{case}: {html}"
        );
        assert!(
            html.contains(&format!("aria-describedby=\"{error_id}\"")),
            "{case}"
        );
    }

    // Downloads: the API's export, byte for byte, as files.
    for (format, content_type, file) in [
        ("ndjson", "application/x-ndjson", "credledger-audit.ndjson"),
        ("csv", "text/csv; charset=utf-8", "credledger-audit.csv"),
    ] {
        let download = get(
            &s,
            &format!("/ui/audit/export?format={format}&type=authentication.created"),
            Some(&owner),
        )
        .await;
        assert_eq!(download.status(), StatusCode::OK, "{format}");
        assert_eq!(download.headers()[CONTENT_TYPE], content_type, "{format}");
        assert_eq!(
            download.headers()[CONTENT_DISPOSITION],
            format!("attachment; filename=\"{file}\"").as_str()
        );
        let bytes = download.bytes().await.expect("body");
        let api = s
            .client
            .get(format!(
                "{}/v1/audit?format={format}&type=authentication.created",
                s.base
            ))
            .bearer_auth(&s.owner.token)
            .send()
            .await
            .expect("export")
            .bytes()
            .await
            .expect("body");
        assert_eq!(bytes, api, "{format}: the API's bytes");
        let text = String::from_utf8(bytes.to_vec()).expect("text");
        assert!(text.contains("authentication.created"), "{text}");
        assert!(!text.contains(CANARY), "a secret in the {format} file");
    }

    // A member who may not read audit: refused, as the API refuses them, downloads too.
    let (member, _) = sign_in(&s, &s.member.token).await;
    s.call(Method::GET, "/v1/audit", &s.member.token, None)
        .await
        .expect(403);
    for path in ["/ui/audit", "/ui/audit/export?format=csv"] {
        let (status, html) = page(&s, path, &member).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        assert!(html.contains("Only auditors"), "{html}");
    }
    let (status, _) = page(&s, "/ui/audit/export?format=xml", &owner).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reference_pages_show_what_the_api_lists_and_never_a_secret() {
    let s = Server::start().await;
    let id = s
        .create(&s.owner, &s.shared, "airtable", json!({"token": CANARY}))
        .await;
    s.call(Method::POST, "/v1/checkpoints", &s.owner.token, None)
        .await
        .expect(201);
    let (owner, _) = sign_in(&s, &s.owner.token).await;
    let (viewer, _) = sign_in(&s, &s.viewer.token).await;

    // Services: the API's list, catalog and custom.
    let (status, html) = page(&s, "/ui/services", &owner).await;
    assert_eq!(status, StatusCode::OK);
    let api = s.owner_get("/v1/services").await.body;
    for service in api.as_array().expect("services") {
        let reference = format!(
            "<code>{}</code>",
            service["service"].as_str().expect("service")
        );
        assert!(html.contains(&reference), "{reference}");
    }

    // Directory: the organization with its members for the owner; the viewer sees the
    // shared workspace's members (the API's rule) and no organization members list.
    let (_, html) = page(&s, "/ui/directory", &owner).await;
    let organizations = s.owner_get("/v1/organizations").await.body;
    let organization = organizations[0]["name"].as_str().expect("name").to_owned();
    assert!(html.contains(&format!("<td>{organization}</td>")), "{html}");
    assert!(html.contains("Viewer — member"), "{html}");
    assert!(html.contains("Viewer — viewer"), "{html}");
    let (_, html) = page(&s, "/ui/directory", &viewer).await;
    s.call(
        Method::GET,
        &format!("/v1/memberships?workspace={}", s.shared),
        &s.viewer.token,
        None,
    )
    .await
    .expect(200);
    let workspaces = s
        .call(Method::GET, "/v1/workspaces", &s.viewer.token, None)
        .await
        .expect(200)
        .body;
    for workspace in workspaces.as_array().expect("workspaces") {
        let name = workspace["name"].as_str().expect("name");
        assert!(html.contains(&format!("<td>{name}</td>")), "{name}: {html}");
    }
    assert!(html.contains("Viewer — viewer"), "{html}");
    assert!(
        !html.contains("Outsider"),
        "someone outside the viewer's sight: {html}"
    );

    // Tokens: the viewer's own, never a token's text.
    let (_, html) = page(&s, "/ui/tokens", &viewer).await;
    let api = s
        .call(Method::GET, "/v1/tokens", &s.viewer.token, None)
        .await
        .expect(200)
        .body;
    assert_eq!(
        html.matches("<tr>").count() - 1,
        api.as_array().expect("tokens").len(),
        "{html}"
    );
    assert!(html.contains("<span class=\"badge\">you</span>"), "{html}");
    for token in [&s.viewer.token, &s.owner.token] {
        assert!(!html.contains(token.as_str()), "a token's text on the page");
    }

    // Issuing a token for oneself: refused without the CSRF token and with a blank label
    // (beside the field); then its text is on that answer once, works, and is never shown again.
    let (_, html) = page(&s, "/ui/tokens", &viewer).await;
    let csrf = csrf_of(&html);
    let no_csrf = post_form(
        &s,
        "/ui/tokens",
        Some(&viewer),
        &[("csrf", "x"), ("label", "ci")],
        &[],
    )
    .await;
    assert_eq!(no_csrf.status(), StatusCode::FORBIDDEN);
    let blank = post_form(
        &s,
        "/ui/tokens",
        Some(&viewer),
        &[("csrf", &csrf), ("label", " ")],
        &[],
    )
    .await;
    assert_eq!(blank.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(blank
        .text()
        .await
        .expect("body")
        .contains("id=\"label-error\""));
    let issued = post_form(
        &s,
        "/ui/tokens",
        Some(&viewer),
        &[("csrf", &csrf), ("label", "laptop")],
        &[],
    )
    .await;
    assert_eq!(issued.status(), StatusCode::CREATED);
    let html = issued.text().await.expect("body");
    let marker = "id=\"issued-token\" data-copy=\"";
    let start = html.find(marker).expect("the new token") + marker.len();
    let token = html[start..].split('"').next().expect("text").to_owned();
    s.call(Method::GET, "/v1/authentications", &token, None)
        .await
        .expect(200);
    let (_, html) = page(&s, "/ui/tokens", &viewer).await;
    assert!(!html.contains(&token), "the text is shown once only");
    assert!(html.contains("<td>laptop</td>"), "{html}");
    let api = s
        .call(Method::GET, "/v1/tokens", &s.viewer.token, None)
        .await
        .expect(200)
        .body;
    let issued_id = api
        .as_array()
        .expect("tokens")
        .iter()
        .find(|t| t["label"] == "laptop")
        .and_then(|t| t["id"].as_str())
        .expect("the new token listed")
        .to_owned();
    let revoke = format!("/ui/tokens/{issued_id}/revoke");
    let cross = post_form(
        &s,
        &revoke,
        Some(&viewer),
        &[("csrf", &csrf)],
        &[("sec-fetch-site", "cross-site")],
    )
    .await;
    assert_eq!(cross.status(), StatusCode::FORBIDDEN);
    s.call(Method::GET, "/v1/authentications", &token, None)
        .await
        .expect(200);
    let revoked = post_form(&s, &revoke, Some(&viewer), &[("csrf", &csrf)], &[]).await;
    assert_eq!(revoked.status(), StatusCode::SEE_OTHER);
    s.call(Method::GET, "/v1/authentications", &token, None)
        .await
        .expect(401);
    let again = post_form(&s, &revoke, Some(&viewer), &[("csrf", &csrf)], &[]).await;
    assert_eq!(
        again.status(),
        StatusCode::CONFLICT,
        "already revoked, as the API says"
    );

    // Integrity: the head and the latest checkpoint for the owner; refused for the viewer.
    let (status, html) = page(&s, "/ui/integrity", &owner).await;
    assert_eq!(status, StatusCode::OK);
    let latest = s.owner_get("/v1/checkpoints/latest").await.body;
    assert!(
        html.contains(latest["head_hash"].as_str().expect("hash")),
        "{html}"
    );
    assert!(html.contains("verifies under this key"), "{html}");
    let (status, html) = page(&s, "/ui/integrity", &viewer).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(!html.contains(latest["head_hash"].as_str().expect("hash")));

    // The script: the dashboard's own file, as JavaScript, under the same policy.
    let script = get(&s, "/ui/static/app.js", None).await;
    assert_eq!(
        script.headers()[CONTENT_TYPE],
        "text/javascript; charset=utf-8"
    );
    let policy = script.headers()["content-security-policy"]
        .to_str()
        .expect("policy")
        .to_owned();
    assert!(policy.contains("script-src 'self'"), "{policy}");
    assert!(!policy.contains("unsafe"), "{policy}");

    // No page holds the secret.
    let pages = [
        "/ui/authentications".to_owned(),
        format!("/ui/authentications/{id}"),
        format!("/ui/authentications/{id}/history"),
        format!("/ui/authentications/{id}/as-of?version=1"),
        format!("/ui/authentications/{id}/usable-by"),
        format!("/ui/authentications/{id}/settings"),
        format!("/ui/authentications/{id}/details"),
        format!(
            "/ui/workspaces/as-of?workspace={}&at=2100-01-01T00:00",
            s.shared
        ),
        "/ui/audit".to_owned(),
        "/ui/audit/export?format=ndjson".to_owned(),
        "/ui/audit/export?format=csv".to_owned(),
        "/ui/services".to_owned(),
        "/ui/directory".to_owned(),
        "/ui/tokens".to_owned(),
        "/ui/integrity".to_owned(),
    ];
    for path in &pages {
        let (status, html) = page(&s, path, &owner).await;
        assert!(status.is_success(), "{path}: {status}");
        assert!(!html.contains(CANARY), "{path} holds the secret");
    }
    s.stop().await;
}
