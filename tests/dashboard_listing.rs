//! The Authentications list's filters over real HTTP: each filter of `GET /v1/authentications`
//! as a GET form of the page (service, version, environment tag, workspace by name, kind,
//! state, expiring within N days), its values kept in the form and in the paging links, and a
//! bad value refused beside its input for the API's own reason.

mod dashboard_support;
mod http_support;

use dashboard_support::{get, sign_in, urlencode};
use http_support::Server;
use reqwest::{Method, StatusCode};
use serde_json::json;

/// The names of the rows of a list page, in order.
fn names(html: &str) -> Vec<String> {
    html.split("<td><a href=\"/ui/authentications/")
        .skip(1)
        .filter_map(|row| row.split_once("\">"))
        .filter_map(|(_, rest)| rest.split_once("</a>"))
        .map(|(name, _)| name.to_owned())
        .collect()
}

/// The list page with query `query`, as `session`.
async fn list(s: &Server, session: &str, query: &str) -> (StatusCode, String) {
    let answer = get(s, &format!("/ui/authentications?{query}"), Some(session)).await;
    let status = answer.status();
    (status, answer.text().await.expect("body"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_filter_of_the_api_narrows_the_list_and_stays_in_the_form() {
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
    // One in the editor's personal workspace, outside Sales.
    s.create(
        &s.editor,
        &s.editor.personal,
        "airtable",
        json!({"token": "t-3"}),
    )
    .await;
    s.call(
        Method::DELETE,
        &format!("/v1/authentications/{}", ids[1]),
        &s.editor.token,
        None,
    )
    .await
    .expect(200);
    let version = s
        .call(
            Method::GET,
            &format!("/v1/authentications/{}", ids[0]),
            &s.editor.token,
            None,
        )
        .await
        .expect(200)
        .body["service_version"]
        .as_str()
        .expect("a service version")
        .to_owned();
    let (session, _) = sign_in(&s, &s.editor.token).await;

    // The workspace is chosen by name.
    let (_, html) = list(&s, &session, "").await;
    assert!(
        html.contains(&format!("<option value=\"{}\">Sales</option>", s.shared)),
        "{html}"
    );
    for label in [
        "<label for=\"service\">",
        "<label for=\"service_version\">",
        "<label for=\"environment\">",
        "<label for=\"workspace\">",
        "<label for=\"kind\">",
        "<label for=\"state\">",
        "<label for=\"expires_within_days\">",
    ] {
        assert!(html.contains(label), "{label}: {html}");
    }

    let ws = format!("workspace={}", s.shared);
    let cases: Vec<(String, Vec<&str>)> = vec![
        (ws.clone(), vec!["Air sandbox", "Slack", "Slack later"]),
        (format!("{ws}&service=slack"), vec!["Slack", "Slack later"]),
        (
            format!(
                "{ws}&service=airtable&service_version={}",
                urlencode(&version)
            ),
            vec!["Air sandbox"],
        ),
        (format!("{ws}&service_version=no-such-version"), vec![]),
        (format!("{ws}&environment=sandbox"), vec!["Air sandbox"]),
        (format!("{ws}&kind=OAuth2"), vec!["Slack", "Slack later"]),
        (format!("{ws}&kind=Token"), vec!["Air sandbox"]),
        (format!("{ws}&state=deleted"), vec!["Air prod"]),
        (
            format!("{ws}&state=active"),
            vec!["Air sandbox", "Slack", "Slack later"],
        ),
        (format!("{ws}&state=needs_reauthorization"), vec![]),
        // 2030 is within 2000 days of the test's time; 2040 is not.
        (format!("{ws}&expires_within_days=2000"), vec!["Slack"]),
        (
            format!("{ws}&expires_within_days=3650&kind=OAuth2"),
            vec!["Slack"],
        ),
        // Empty inputs of a submitted form are no filter.
        (
            format!(
                "{ws}&service=&service_version=&environment=&kind=&state=&expires_within_days="
            ),
            vec!["Air sandbox", "Slack", "Slack later"],
        ),
    ];
    for (query, wanted) in cases {
        let (status, html) = list(&s, &session, &query).await;
        assert_eq!(status, StatusCode::OK, "{query}: {html}");
        assert_eq!(names(&html), wanted, "{query}");
        let count = format!("{} authentication", wanted.len());
        assert!(html.contains(&count), "{query}: {html}");
    }
    // Without the workspace filter the personal one shows too.
    let (_, html) = list(&s, &session, "kind=Token").await;
    assert_eq!(names(&html).len(), 2, "{html}");

    // The values stay in the form.
    let (_, html) = list(
        &s,
        &session,
        &format!("{ws}&kind=OAuth2&state=active&environment=sandbox&expires_within_days=30"),
    )
    .await;
    assert!(
        html.contains(&format!(
            "<option value=\"{}\" selected>Sales</option>",
            s.shared
        )),
        "{html}"
    );
    assert!(
        html.contains("<option value=\"OAuth2\" selected>"),
        "{html}"
    );
    assert!(
        html.contains("<option value=\"active\" selected>"),
        "{html}"
    );
    assert!(
        html.contains("name=\"environment\" value=\"sandbox\""),
        "{html}"
    );
    assert!(
        html.contains("name=\"expires_within_days\" type=\"number\" min=\"1\" max=\"3650\" inputmode=\"numeric\" value=\"30\""),
        "{html}"
    );

    // And in the paging links: page two of Sales' OAuth2 ones is the other Slack.
    let more = (0..60).map(|n| format!("Slack {n:02}"));
    for name in more {
        s.call(
            Method::POST,
            "/v1/authentications",
            &s.editor.token,
            Some(make(
                &name,
                "slack",
                json!({"access_token": "xoxb-n"}),
                None,
            )),
        )
        .await
        .expect(201);
    }
    let (_, first) = list(&s, &session, &format!("{ws}&kind=OAuth2&q=slack")).await;
    assert!(first.contains("62 authentications"), "{first}");
    let marker = "<a rel=\"next\" href=\"";
    let start = first.find(marker).expect("a next page link") + marker.len();
    let next = first[start..]
        .split('"')
        .next()
        .expect("href")
        .replace("&amp;", "&")
        .replace("&#38;", "&");
    assert!(next.contains(&format!("workspace={}", s.shared)), "{next}");
    assert!(next.contains("kind=OAuth2"), "{next}");
    assert!(next.contains("q=slack"), "{next}");
    let second = get(&s, &next, Some(&session))
        .await
        .text()
        .await
        .expect("body");
    let rows = names(&second);
    assert_eq!(rows.len(), 12, "{next}: {second}");
    assert!(rows.iter().all(|n| n.starts_with("Slack")), "{rows:?}");
    assert!(
        second.contains(&format!(
            "<option value=\"{}\" selected>Sales</option>",
            s.shared
        )),
        "the second page keeps the filters in its form"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_filter_is_refused_beside_its_input_for_the_apis_reason() {
    let s = Server::start().await;
    s.create_personal("airtable", json!({"token": "t-1"})).await;
    let (session, _) = sign_in(&s, &s.owner.token).await;

    // The API's reason for a malformed tag, shown beside the tag input.
    let api = s
        .call(
            Method::GET,
            "/v1/authentications?environment=Not%20a%20tag",
            &s.owner.token,
            None,
        )
        .await
        .expect(400);
    assert_eq!(api.body["field"], "environment", "{}", api.text);
    let detail = api.body["detail"].as_str().expect("detail").to_owned();
    let reason = detail
        .strip_prefix("environment: ")
        .unwrap_or(&detail)
        .replace('\'', "&#39;");
    let (status, html) = list(&s, &session, "environment=Not%20a%20tag").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{html}");
    assert!(
        html.contains(&format!(
            "<p id=\"environment-error\" class=\"field-error\">{reason}</p>"
        )),
        "{reason}: {html}"
    );
    assert!(
        html.contains("aria-describedby=\"environment-error\""),
        "{html}"
    );
    assert!(html.contains("value=\"Not a tag\""), "kept: {html}");
    assert!(names(&html).is_empty(), "nothing listed: {html}");

    // (query, input, part of the reason)
    let cases = [
        ("workspace=not-a-uuid", "workspace", ""),
        ("service=Not%20a%20service", "service", ""),
        ("kind=Nope", "kind", "not one of the choices"),
        ("state=asleep", "state", "choose active, deleted"),
        (
            "expires_within_days=soon",
            "expires_within_days",
            "whole number of days",
        ),
        (
            "expires_within_days=0",
            "expires_within_days",
            "whole number of days",
        ),
        (
            "expires_within_days=99999",
            "expires_within_days",
            "whole number of days",
        ),
    ];
    for (query, input, reason) in cases {
        let (status, html) = list(&s, &session, query).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {html}");
        let beside = format!("<p id=\"{input}-error\" class=\"field-error\">");
        let start = html
            .find(&beside)
            .unwrap_or_else(|| panic!("{query}: {html}"));
        let shown = html[start + beside.len()..]
            .split("</p>")
            .next()
            .unwrap_or_default();
        assert!(
            shown.contains(reason) && !shown.is_empty(),
            "{query}: {shown}"
        );
        assert_eq!(
            html.matches("class=\"field-error\"").count(),
            1,
            "{query}: {html}"
        );
    }
}
