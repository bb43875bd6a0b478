//! One-time dashboard sign-in links over real HTTP: issued through `POST /v1/sign-in-links`
//! under the rule of issuing tokens, opened as a page that spends nothing, used once by its
//! button (a second use, 30 racing uses and a use after a restart are refused), expired links
//! refused, and the secret never in the log, the audit trail or the data directory's bytes.

mod dashboard_support;
mod http_support;
mod leak_check;

use dashboard_support::{csrf_of, get, location, post_form, sign_in};
use http_support::Server;
use leak_check::{assert_no_secret_in_files, captured_logs, logged_text};
use reqwest::header::SET_COOKIE;
use reqwest::{Method, StatusCode};
use serde_json::json;

/// Issues a link for `user` as the holder of `token`; answers its path.
async fn issue(s: &Server, token: &str, user: &str) -> String {
    let answer = s
        .call(
            Method::POST,
            "/v1/sign-in-links",
            token,
            Some(json!({ "user": user })),
        )
        .await
        .expect(201);
    assert_eq!(answer.body["user"], user);
    answer.body["path"].as_str().expect("path").to_owned()
}

/// Uses a link through its button; answers the status and the session cookie, if any.
async fn use_link(s: &Server, path: &str) -> (StatusCode, Option<String>, String) {
    let answer = post_form(s, path, None, &[], &[("sec-fetch-site", "same-origin")]).await;
    let status = answer.status();
    let cookie = answer
        .headers()
        .get(SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .map(|c| c.split(';').next().unwrap_or_default().to_owned());
    let to = location(&answer).to_owned();
    (status, cookie, to)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_signs_in_once_and_never_again() {
    captured_logs();
    let mut s = Server::start().await;
    let path = issue(&s, &s.owner.token, &s.member.id).await;
    assert!(path.starts_with("/ui/sign-in/link/cll_"), "{path}");
    let secret = path.rsplit('/').next().expect("secret").to_owned();

    // Opening the link spends nothing: it shows the button, twice if need be.
    for _ in 0..2 {
        let page = get(&s, &path, None).await;
        assert_eq!(page.status(), StatusCode::OK);
        let html = page.text().await.expect("html");
        assert!(
            html.contains("<button type=\"submit\">Sign in</button>"),
            "{html}"
        );
    }
    let (status, cookie, to) = use_link(&s, &path).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(to, "/ui/authentications");
    let cookie = cookie.expect("a session cookie");
    let list = get(&s, "/ui/authentications", Some(&cookie)).await;
    assert_eq!(list.status(), StatusCode::OK, "the session is the member's");

    // A second use is refused on a page, without a session.
    let (status, cookie, _) = use_link(&s, &path).await;
    assert_eq!(status, StatusCode::GONE);
    assert!(cookie.is_none());

    // An unknown link gets the same answer as a used one.
    let (status, _, _) = use_link(&s, "/ui/sign-in/link/cll_not-a-real-link").await;
    assert_eq!(status, StatusCode::GONE);

    // Audit shows the use by the member through a link, from the dashboard; never the secret.
    let audit = s
        .call(
            Method::GET,
            "/v1/audit?type=token.sign_in_link_used",
            &s.auditor_token,
            None,
        )
        .await
        .expect(200);
    let record = &audit.body["items"][0];
    assert_eq!(record["actor"], format!("user:{}", s.member.id), "{record}");
    assert_eq!(record["auth_method"], "sign_in_link", "{record}");
    assert_eq!(record["origin"], "dashboard", "{record}");
    let everything = s
        .call(Method::GET, "/v1/audit?limit=500", &s.auditor_token, None)
        .await
        .expect(200);
    assert!(
        !everything.text.contains(&secret),
        "the secret is not in audit"
    );

    // Across a restart: the used link stays used, an unused one still works once.
    let unused = issue(&s, &s.admin.token, &s.member.id).await;
    s.restart().await;
    assert_eq!(use_link(&s, &path).await.0, StatusCode::GONE);
    assert_eq!(use_link(&s, &unused).await.0, StatusCode::SEE_OTHER);
    assert_eq!(use_link(&s, &unused).await.0, StatusCode::GONE);

    let unused_secret = unused.rsplit('/').next().expect("secret").to_owned();
    let logged = logged_text();
    assert!(logged.contains("/ui/sign-in/link/"), "requests were logged");
    for secret in [&secret, &unused_secret] {
        assert!(
            !logged.contains(secret.as_str()),
            "a link's secret was logged"
        );
    }
    s.shutdown().await;
    assert_no_secret_in_files(&s.data_dir, &[secret, unused_secret]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_racing_uses_of_one_link_open_one_session() {
    let s = Server::start().await;
    let path = issue(&s, &s.owner.token, &s.editor.id).await;
    let uses = (0..30).map(|_| use_link(&s, &path));
    let answers = futures::future::join_all(uses).await;
    let opened = answers
        .iter()
        .filter(|(status, cookie, _)| *status == StatusCode::SEE_OTHER && cookie.is_some())
        .count();
    let refused = answers
        .iter()
        .filter(|(status, cookie, _)| *status == StatusCode::GONE && cookie.is_none())
        .count();
    assert_eq!((opened, refused), (1, 29), "{answers:?}");
    let audit = s
        .call(
            Method::GET,
            "/v1/audit?type=token.sign_in_link_used",
            &s.auditor_token,
            None,
        )
        .await
        .expect(200);
    assert_eq!(audit.body["items"].as_array().map(Vec::len), Some(1));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_are_issued_by_whoever_may_issue_that_users_tokens() {
    let s = Server::start().await;
    // A user for themselves (no `user`: the caller), an administrator for a member.
    let own = s
        .call(
            Method::POST,
            "/v1/sign-in-links",
            &s.viewer.token,
            Some(json!({})),
        )
        .await
        .expect(201);
    assert_eq!(own.body["user"], s.viewer.id);
    issue(&s, &s.admin.token, &s.viewer.id).await;
    // A member for someone else, a runner, an unknown user, a stray field.
    let refused = s
        .call(
            Method::POST,
            "/v1/sign-in-links",
            &s.member.token,
            Some(json!({ "user": s.viewer.id })),
        )
        .await
        .expect(403);
    assert_eq!(refused.body["field"], "principal");
    s.call(
        Method::POST,
        "/v1/sign-in-links",
        &s.runner_token,
        Some(json!({ "user": s.viewer.id })),
    )
    .await
    .expect(403);
    let nobody = uuid::Uuid::now_v7().to_string();
    let unknown = s
        .call(
            Method::POST,
            "/v1/sign-in-links",
            &s.owner.token,
            Some(json!({ "user": nobody })),
        )
        .await
        .expect(404);
    assert_eq!(unknown.body["field"], "user");
    s.call(
        Method::POST,
        "/v1/sign-in-links",
        &s.owner.token,
        Some(json!({ "user": s.viewer.id, "expires": 1 })),
    )
    .await
    .expect(422);
    // The answer is not cached, and the link is not an API token.
    let issued = s
        .call(
            Method::POST,
            "/v1/sign-in-links",
            &s.owner.token,
            Some(json!({ "user": s.viewer.id })),
        )
        .await
        .expect(201);
    let secret = issued.body["path"]
        .as_str()
        .and_then(|p| p.rsplit('/').next())
        .expect("secret")
        .to_owned();
    s.call(Method::GET, "/v1/authentications", &secret, None)
        .await
        .expect(401);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_link_session_does_is_recorded_as_done_through_a_sign_in_link() {
    let s = Server::start().await;
    let path = issue(&s, &s.owner.token, &s.member.id).await;
    let (status, cookie, _) = use_link(&s, &path).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let session = cookie.expect("a session cookie");
    let form = get(
        &s,
        "/ui/authentications/new?service=airtable",
        Some(&session),
    )
    .await
    .text()
    .await
    .expect("body");
    let csrf = csrf_of(&form);
    let created = post_form(
        &s,
        "/ui/authentications/new",
        Some(&session),
        &[
            ("csrf", &csrf),
            ("service", "airtable"),
            ("name", "Airtable through a link"),
            ("workspace", &s.member.personal),
            ("field.token", "canary-link-session-7f3a"),
        ],
        &[],
    )
    .await;
    assert_eq!(created.status(), StatusCode::SEE_OTHER);
    let id = location(&created)
        .strip_prefix("/ui/authentications/")
        .expect("the new authentication's page")
        .to_owned();
    let audit = s
        .call(
            Method::GET,
            &format!("/v1/audit?authentication={id}&type=authentication.created"),
            &s.auditor_token,
            None,
        )
        .await
        .expect(200);
    let record = &audit.body["items"][0];
    assert_eq!(record["actor"], format!("user:{}", s.member.id), "{record}");
    assert_eq!(record["auth_method"], "sign_in_link", "{record}");
    assert_eq!(record["origin"], "dashboard", "{record}");

    // A session opened with an API token is recorded as such.
    let (token_session, _) = sign_in(&s, &s.member.token).await;
    let form = get(
        &s,
        "/ui/authentications/new?service=airtable",
        Some(&token_session),
    )
    .await
    .text()
    .await
    .expect("body");
    let created = post_form(
        &s,
        "/ui/authentications/new",
        Some(&token_session),
        &[
            ("csrf", &csrf_of(&form)),
            ("service", "airtable"),
            ("name", "Airtable through a token"),
            ("workspace", &s.member.personal),
            ("field.token", "canary-token-session-7f3a"),
        ],
        &[],
    )
    .await;
    assert_eq!(created.status(), StatusCode::SEE_OTHER);
    let id = location(&created)
        .strip_prefix("/ui/authentications/")
        .expect("the new authentication's page")
        .to_owned();
    let audit = s
        .call(
            Method::GET,
            &format!("/v1/audit?authentication={id}&type=authentication.created"),
            &s.auditor_token,
            None,
        )
        .await
        .expect(200);
    assert_eq!(
        audit.body["items"][0]["auth_method"], "api_token",
        "{}",
        audit.text
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_of_a_user_deactivated_since_it_was_issued_signs_nobody_in() {
    let s = Server::start().await;
    let path = issue(&s, &s.owner.token, &s.member.id).await;
    s.call(
        Method::POST,
        &format!("/v1/users/{}/deactivate", s.member.id),
        &s.owner.token,
        None,
    )
    .await
    .expect(200);
    let (status, cookie, _) = use_link(&s, &path).await;
    assert_eq!(
        status,
        StatusCode::GONE,
        "refused like a used or expired link"
    );
    assert!(cookie.is_none(), "no session");
    let audit = s
        .call(
            Method::GET,
            "/v1/audit?type=token.sign_in_link_used",
            &s.auditor_token,
            None,
        )
        .await
        .expect(200);
    assert_eq!(
        audit.body["items"].as_array().map(Vec::len),
        Some(0),
        "the link was not used: {}",
        audit.text
    );
    s.stop().await;
}
