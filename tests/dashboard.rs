//! The dashboard over real HTTP: sign-in with an API token, the session cookie's flags, the
//! security headers of every page, CSRF and cross-site refusals, the list with its search,
//! one authentication's page (secrets never in the HTML), and sign-out.

mod dashboard_support;
mod http_support;

use dashboard_support::{csrf_of, get, location, post_form, sign_in, Pair};
use http_support::Server;
use reqwest::header::SET_COOKIE;
use reqwest::StatusCode;
use serde_json::json;

const CANARY: &str = "canary-dashboard-5d1c9e27";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_list_search_one_authentication_and_sign_out() {
    let s = Server::start().await;
    let airtable = s
        .create_personal("airtable", json!({"token": CANARY}))
        .await;
    s.create_personal("slack", json!({"access_token": format!("{CANARY}-slack")}))
        .await;

    // The root and /ui lead to the sign-in form when signed out.
    let root = get(&s, "/", None).await;
    assert_eq!(location(&root), "/ui");
    let home = get(&s, "/ui", None).await;
    assert_eq!(location(&home), "/ui/sign-in");
    let form = get(&s, "/ui/sign-in", None).await;
    assert_eq!(form.status(), StatusCode::OK);
    let headers = form.headers().clone();
    let policy = headers
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .expect("a CSP");
    assert!(policy.contains("default-src 'none'"), "{policy}");
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    assert!(!policy.contains("unsafe-inline"), "{policy}");
    assert_eq!(headers["x-frame-options"], "DENY");
    let html = form.text().await.expect("body");
    assert!(
        html.contains("<label for=\"token\">API token</label>"),
        "{html}"
    );
    // No inline script: the one script is the dashboard's own file.
    assert_eq!(
        html.matches("<script").count(),
        html.matches("<script src=\"/ui/static/app.js\" defer></script>")
            .count(),
        "only the dashboard's own script file"
    );
    assert!(policy.contains("script-src 'self'"), "{policy}");

    // Bad tokens: the message sits beside the field, with the status a person cannot see.
    // (case, token, status, message)
    let refusals = [
        (
            "empty",
            "  ",
            StatusCode::UNAUTHORIZED,
            "Enter an API token.",
        ),
        (
            "unknown",
            "cl_not-a-token",
            StatusCode::UNAUTHORIZED,
            "not valid",
        ),
        (
            "a runner's",
            s.runner_token.as_str(),
            StatusCode::UNAUTHORIZED,
            "sign in with a user",
        ),
        (
            "an auditor's",
            s.auditor_token.as_str(),
            StatusCode::UNAUTHORIZED,
            "sign in with a user",
        ),
    ];
    for (case, token, status, message) in refusals {
        let answer = post_form(&s, "/ui/sign-in", None, &[("token", token)], &[]).await;
        assert_eq!(answer.status(), status, "{case}");
        assert!(
            answer.headers().get(SET_COOKIE).is_none(),
            "{case}: no session"
        );
        let html = answer.text().await.expect("body");
        assert!(html.contains("id=\"token-error\""), "{case}: {html}");
        assert!(html.contains(message), "{case}: {html}");
    }
    // A form with no token field at all: the same page, with the message beside the field.
    let bare = post_form(&s, "/ui/sign-in", None, &[], &[]).await;
    assert_eq!(bare.status(), StatusCode::UNAUTHORIZED);
    let html = bare.text().await.expect("body");
    assert!(html.contains("id=\"token-error\""), "{html}");

    // A sign-in: the cookie is HttpOnly, SameSite=Strict, scoped to /ui, and not the token.
    let (session, set_cookie) = sign_in(&s, &s.owner.token).await;
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/ui"] {
        assert!(set_cookie.contains(flag), "{flag} in {set_cookie}");
    }
    assert!(!set_cookie.contains("Secure"), "plain http: {set_cookie}");
    assert!(
        !set_cookie.contains(&s.owner.token),
        "the cookie is not the token"
    );
    let behind_tls = post_form(
        &s,
        "/ui/sign-in",
        None,
        &[("token", &s.owner.token)],
        &[("x-forwarded-proto", "https")],
    )
    .await;
    let line = behind_tls.headers()[SET_COOKIE].to_str().expect("text");
    assert!(line.contains("Secure"), "{line}");

    // The list, and a search by name.
    let list = get(&s, "/ui/authentications", Some(&session)).await;
    assert_eq!(list.status(), StatusCode::OK);
    let html = list.text().await.expect("body");
    assert!(html.contains("2 authentications"), "{html}");
    assert!(
        html.contains(&format!("/ui/authentications/{airtable}")),
        "{html}"
    );
    assert!(html.contains("slack"), "{html}");
    let searched = get(&s, "/ui/authentications?q=AIRTABLE", Some(&session))
        .await
        .text()
        .await
        .expect("body");
    assert!(searched.contains("1 authentication "), "{searched}");
    assert!(!searched.contains(">slack<"), "{searched}");

    // One authentication: the secret is "set" with a fingerprint, never its value.
    let one = get(
        &s,
        &format!("/ui/authentications/{airtable}"),
        Some(&session),
    )
    .await;
    assert_eq!(one.status(), StatusCode::OK);
    let page = one.text().await.expect("body");
    assert!(page.contains("set <code>fp:"), "{page}");
    for html in [&html, &searched, &page] {
        assert!(!html.contains(CANARY), "a secret reached a page");
    }

    // Missing, hidden and malformed ids answer the same page.
    let (other, _) = sign_in(&s, &s.outsider.token).await;
    let mut not_found = Vec::new();
    for (who, id) in [
        (&session, uuid::Uuid::now_v7().to_string()),
        (&other, airtable.clone()),
        (&session, "not-an-id".to_owned()),
    ] {
        let answer = get(&s, &format!("/ui/authentications/{id}"), Some(who)).await;
        assert_eq!(answer.status(), StatusCode::NOT_FOUND);
        let text = answer.text().await.expect("body");
        let csrf = csrf_of(&text);
        not_found.push(text.replace(&csrf, "CSRF"));
    }
    assert!(not_found.windows(2).all(|w| w[0] == w[1]), "{not_found:?}");

    // Sign-out needs the session's CSRF token and a same-site form.
    let csrf = csrf_of(&html);
    // (case, form, headers)
    let refused: [(&str, Vec<Pair>, Vec<Pair>); 4] = [
        ("no token", vec![("csrf", "")], vec![]),
        ("no csrf field at all", vec![], vec![]),
        ("another token", vec![("csrf", "0123")], vec![]),
        (
            "from another site",
            vec![("csrf", &csrf)],
            vec![("sec-fetch-site", "cross-site")],
        ),
    ];
    for (case, form, extra) in &refused {
        let answer = post_form(&s, "/ui/sign-out", Some(&session), form, extra).await;
        assert_eq!(answer.status(), StatusCode::FORBIDDEN, "{case}");
        let still = get(&s, "/ui/authentications", Some(&session)).await;
        assert_eq!(still.status(), StatusCode::OK, "{case}: still signed in");
    }
    let out = post_form(&s, "/ui/sign-out", Some(&session), &[("csrf", &csrf)], &[]).await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&out), "/ui/sign-in");
    let after = get(&s, "/ui/authentications", Some(&session)).await;
    assert_eq!(location(&after), "/ui/sign-in", "the session is closed");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_an_authentication_from_the_dashboard_with_refusals_beside_their_fields() {
    let s = Server::start().await;
    let (session, _) = sign_in(&s, &s.owner.token).await;
    let choose = get(&s, "/ui/authentications/new", Some(&session)).await;
    assert_eq!(choose.status(), StatusCode::OK);
    let html = choose.text().await.expect("body");
    assert!(
        html.contains("href=\"/ui/authentications/new?service=airtable\""),
        "{html}"
    );
    assert!(
        html.contains("href=\"/ui/authentications/new?service=slack\""),
        "OAuth2 services are in the catalog too (they continue at the provider)"
    );
    let form = get(
        &s,
        "/ui/authentications/new?service=airtable",
        Some(&session),
    )
    .await
    .text()
    .await
    .expect("body");
    assert!(form.contains("name=\"field.token\""), "{form}");
    assert!(
        form.contains("type=\"password\""),
        "a secret is typed hidden"
    );
    let csrf = csrf_of(&form);
    let workspace = s.shared.as_str();

    // (case, name, workspace, token, csrf, status, where the message is, what it says)
    let refusals = [
        (
            "no CSRF token",
            "Airtable",
            workspace,
            CANARY,
            "",
            StatusCode::FORBIDDEN,
            "",
            "expired",
        ),
        (
            "blank name",
            "  ",
            workspace,
            CANARY,
            csrf.as_str(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "name-error",
            "must not be blank",
        ),
        (
            "no workspace",
            "Airtable",
            "",
            CANARY,
            csrf.as_str(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "workspace-error",
            "Choose a workspace",
        ),
        (
            "another person's personal workspace",
            "Airtable",
            s.member.personal.as_str(),
            CANARY,
            csrf.as_str(),
            StatusCode::FORBIDDEN,
            "workspace-error",
            "You may not change authentications in that workspace: it is another person",
        ),
        (
            "no token",
            "Airtable",
            workspace,
            "",
            csrf.as_str(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "field-token-error",
            "required",
        ),
    ];
    for (case, name, workspace, token, csrf, status, beside, says) in refusals {
        let answer = post_form(
            &s,
            "/ui/authentications/new",
            Some(&session),
            &[
                ("csrf", csrf),
                ("service", "airtable"),
                ("name", name),
                ("workspace", workspace),
                ("field.token", token),
            ],
            &[],
        )
        .await;
        assert_eq!(answer.status(), status, "{case}");
        let html = answer.text().await.expect("body");
        assert!(
            !html.contains(CANARY),
            "{case}: a typed secret came back into the page"
        );
        if !beside.is_empty() {
            let at = html
                .find(&format!("id=\"{beside}\""))
                .unwrap_or_else(|| panic!("{case}: no {beside} in {html}"));
            assert!(html[at..].contains(says), "{case}: {html}");
        } else {
            assert!(html.contains(says), "{case}: {html}");
        }
    }
    let listed = s.owner_get("/v1/authentications").await.expect(200);
    assert_eq!(listed.body["total"], 0, "nothing was created by a refusal");

    let created = post_form(
        &s,
        "/ui/authentications/new",
        Some(&session),
        &[
            ("csrf", &csrf),
            ("service", "airtable"),
            ("name", "Airtable from the dashboard"),
            ("workspace", workspace),
            ("field.token", CANARY),
        ],
        &[],
    )
    .await;
    assert_eq!(created.status(), StatusCode::SEE_OTHER);
    let target = location(&created).to_owned();
    let id = target
        .strip_prefix("/ui/authentications/")
        .expect("the new authentication's page")
        .to_owned();
    let page = get(&s, &target, Some(&session))
        .await
        .text()
        .await
        .expect("body");
    assert!(page.contains("Airtable from the dashboard"), "{page}");
    assert!(!page.contains(CANARY), "a secret reached a page");

    // The API sees it, and audit names the dashboard as its origin.
    let view = s
        .owner_get(&format!("/v1/authentications/{id}"))
        .await
        .expect(200);
    assert_eq!(view.body["workspace"], workspace);
    let audit = s
        .owner_get(&format!(
            "/v1/audit?authentication={id}&type=authentication.created"
        ))
        .await
        .expect(200);
    assert_eq!(
        audit.body["items"][0]["origin"], "dashboard",
        "{}",
        audit.text
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_keep_replace_or_clear_each_field_against_the_version_shown() {
    let s = Server::start().await;
    let id = s
        .create_personal("airtable", json!({"token": CANARY}))
        .await;
    let (session, _) = sign_in(&s, &s.owner.token).await;
    let path = format!("/ui/authentications/{id}/settings");
    let form = get(&s, &path, Some(&session)).await;
    assert_eq!(form.status(), StatusCode::OK);
    let html = form.text().await.expect("body");
    assert!(html.contains("token (required) — now: set · fp:"), "{html}");
    assert!(!html.contains(CANARY), "a saved secret was displayed");
    assert!(
        !html.contains("value=\"clear\""),
        "a required field cannot be cleared"
    );
    let csrf = csrf_of(&html);
    let before = s
        .owner_get(&format!("/v1/authentications/{id}"))
        .await
        .expect(200);
    let version = before.body["version"]
        .as_u64()
        .expect("version")
        .to_string();
    let fingerprint = before.body["fields"]["token"]["fingerprint"].clone();
    let replaced = format!("{CANARY}-2");

    // (case, csrf, version, what to do with the token, status, what the page says)
    let refusals = [
        (
            "no CSRF token",
            "",
            version.as_str(),
            "replace",
            StatusCode::FORBIDDEN,
            "expired",
        ),
        (
            "nothing changed",
            csrf.as_str(),
            version.as_str(),
            "keep",
            StatusCode::UNPROCESSABLE_ENTITY,
            "role=\"alert\"",
        ),
        (
            "changed meanwhile",
            csrf.as_str(),
            "1",
            "replace",
            StatusCode::PRECONDITION_FAILED,
            "version",
        ),
    ];
    for (case, csrf, version, action, status, says) in refusals {
        let answer = post_form(
            &s,
            &path,
            Some(&session),
            &[
                ("csrf", csrf),
                ("version", version),
                ("do.token", action),
                ("field.token", &replaced),
            ],
            &[],
        )
        .await;
        assert_eq!(answer.status(), status, "{case}");
        let text = answer.text().await.expect("body");
        assert!(text.contains(says), "{case}: {text}");
        assert!(!text.contains(CANARY), "{case}: a secret reached the page");
    }
    let unchanged = s
        .owner_get(&format!("/v1/authentications/{id}"))
        .await
        .expect(200);
    assert_eq!(unchanged.body, before.body, "no refusal changed anything");

    let saved = post_form(
        &s,
        &path,
        Some(&session),
        &[
            ("csrf", &csrf),
            ("version", &version),
            ("do.token", "replace"),
            ("field.token", &replaced),
        ],
        &[],
    )
    .await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&saved), format!("/ui/authentications/{id}"));
    let after = s
        .owner_get(&format!("/v1/authentications/{id}"))
        .await
        .expect(200);
    assert_ne!(after.body["fields"]["token"]["fingerprint"], fingerprint);
    // Audit of a personal workspace is the auditors' to read.
    let audit = s
        .call(
            reqwest::Method::GET,
            &format!("/v1/audit?authentication={id}&type=authentication.reauthenticated"),
            &s.auditor_token,
            None,
        )
        .await
        .expect(200);
    assert_eq!(
        audit.body["items"][0]["origin"], "dashboard",
        "{}",
        audit.text
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_restore_and_purge_with_a_typed_confirmation() {
    let s = Server::start().await;
    let id = s
        .create_personal("airtable", json!({"token": CANARY}))
        .await;
    let (session, _) = sign_in(&s, &s.owner.token).await;
    let page_path = format!("/ui/authentications/{id}");
    let version = |body: &serde_json::Value| body["version"].as_u64().expect("version").to_string();
    let view = || async {
        s.owner_get(&format!("/v1/authentications/{id}"))
            .await
            .expect(200)
            .body
    };
    let name = view().await["name"].as_str().expect("name").to_owned();
    let html = get(&s, &page_path, Some(&session))
        .await
        .text()
        .await
        .expect("body");
    assert!(html.contains("/delete"), "{html}");
    assert!(
        !html.contains("/purge"),
        "purge is offered only once deleted"
    );
    let csrf = csrf_of(&html);

    // (case, action, csrf, version, confirm, status, lifecycle after)
    let current = version(&view().await);
    let steps = [
        (
            "delete without CSRF",
            "delete",
            "",
            current.clone(),
            "",
            StatusCode::FORBIDDEN,
            "active",
        ),
        (
            "delete without ticking 'Yes, delete it'",
            "delete",
            csrf.as_str(),
            current.clone(),
            "",
            StatusCode::UNPROCESSABLE_ENTITY,
            "active",
        ),
        (
            "delete an older version",
            "delete",
            csrf.as_str(),
            "1".to_owned(),
            "",
            StatusCode::PRECONDITION_FAILED,
            "active",
        ),
        (
            "delete",
            "delete",
            csrf.as_str(),
            current.clone(),
            "",
            StatusCode::SEE_OTHER,
            "deleted",
        ),
    ];
    for (case, action, csrf, version, confirm, status, after) in steps {
        let answer = post_form(
            &s,
            &format!("{page_path}/{action}"),
            Some(&session),
            &[
                ("csrf", csrf),
                ("version", &version),
                ("confirm", confirm),
                ("sure", if case.contains("ticking") { "" } else { "yes" }),
            ],
            &[],
        )
        .await;
        assert_eq!(answer.status(), status, "{case}");
        if case.contains("ticking") {
            let html = answer.text().await.expect("body");
            assert!(
                html.contains("<p id=\"delete-sure-error\" class=\"field-error\">Tick"),
                "{case}: {html}"
            );
        }
        assert_eq!(view().await["lifecycle"], after, "{case}");
    }
    let deleted = get(&s, &page_path, Some(&session))
        .await
        .text()
        .await
        .expect("body");
    assert!(
        deleted.contains("/restore") && deleted.contains("/purge"),
        "{deleted}"
    );

    // A malformed or missing version is a page that says so, not the form extractor's text.
    for version in ["abc", ""] {
        let malformed = post_form(
            &s,
            &format!("{page_path}/restore"),
            Some(&session),
            &[("csrf", &csrf), ("version", version)],
            &[],
        )
        .await;
        assert_eq!(malformed.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let html = malformed.text().await.expect("body");
        assert!(html.contains("version is not a number"), "{html}");
    }
    assert_eq!(view().await["lifecycle"], "deleted", "nothing restored");

    let restored = post_form(
        &s,
        &format!("{page_path}/restore"),
        Some(&session),
        &[("csrf", &csrf), ("version", &version(&view().await))],
        &[],
    )
    .await;
    assert_eq!(restored.status(), StatusCode::SEE_OTHER);
    assert_eq!(view().await["lifecycle"], "active");

    let deleted_again = post_form(
        &s,
        &format!("{page_path}/delete"),
        Some(&session),
        &[
            ("csrf", &csrf),
            ("version", &version(&view().await)),
            ("sure", "yes"),
        ],
        &[],
    )
    .await;
    assert_eq!(deleted_again.status(), StatusCode::SEE_OTHER);
    let wrong = post_form(
        &s,
        &format!("{page_path}/purge"),
        Some(&session),
        &[
            ("csrf", &csrf),
            ("version", &version(&view().await)),
            ("confirm", "something else"),
        ],
        &[],
    )
    .await;
    assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(wrong
        .text()
        .await
        .expect("body")
        .contains("id=\"confirm-error\""));
    assert_eq!(
        view().await["lifecycle"],
        "deleted",
        "a wrong confirmation purges nothing"
    );
    let purged = post_form(
        &s,
        &format!("{page_path}/purge"),
        Some(&session),
        &[
            ("csrf", &csrf),
            ("version", &version(&view().await)),
            ("confirm", &name),
        ],
        &[],
    )
    .await;
    assert_eq!(purged.status(), StatusCode::SEE_OTHER);
    assert_eq!(view().await["lifecycle"], "purged");
    let after = get(&s, &page_path, Some(&session))
        .await
        .text()
        .await
        .expect("body");
    assert!(after.contains("Purged"), "{after}");
    assert!(!after.contains(CANARY));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_shows_each_change_by_fingerprint_and_restores_a_version() {
    let s = Server::start().await;
    let id = s
        .create_personal("airtable", json!({"token": CANARY}))
        .await;
    let first = s
        .owner_get(&format!("/v1/authentications/{id}"))
        .await
        .expect(200)
        .body;
    s.call(
        reqwest::Method::POST,
        &format!("/v1/authentications/{id}/reauthenticate"),
        &s.owner.token,
        Some(json!({"fields": {"token": format!("{CANARY}-2")}})),
    )
    .await
    .expect(200);
    let (session, _) = sign_in(&s, &s.owner.token).await;
    let history = get(
        &s,
        &format!("/ui/authentications/{id}/history"),
        Some(&session),
    )
    .await;
    assert_eq!(history.status(), StatusCode::OK);
    let html = history.text().await.expect("body");
    assert!(html.contains("authentication.reauthenticated"), "{html}");
    assert!(html.contains("token: overridden <code>fp:"), "{html}");
    assert!(html.contains(" → fp:"), "old and new fingerprints: {html}");
    assert!(!html.contains(CANARY), "a secret reached the history page");
    let (other, _) = sign_in(&s, &s.outsider.token).await;
    let hidden = get(
        &s,
        &format!("/ui/authentications/{id}/history"),
        Some(&other),
    )
    .await;
    assert_eq!(hidden.status(), StatusCode::NOT_FOUND);

    // Restore the first version from its entry: the token's fingerprint comes back.
    let now = s
        .owner_get(&format!("/v1/authentications/{id}"))
        .await
        .expect(200)
        .body;
    let first_version = first["version"].as_u64().expect("version").to_string();
    let current = now["version"].as_u64().expect("version").to_string();
    assert!(
        html.contains(&format!("Restore version {first_version}")),
        "{html}"
    );
    let restored = post_form(
        &s,
        &format!("/ui/authentications/{id}/restore"),
        Some(&session),
        &[
            ("csrf", &csrf_of(&html)),
            ("version", &current),
            ("to_version", &first_version),
        ],
        &[],
    )
    .await;
    assert_eq!(restored.status(), StatusCode::SEE_OTHER);
    let back = s
        .owner_get(&format!("/v1/authentications/{id}"))
        .await
        .expect(200)
        .body;
    assert_eq!(
        back["fields"]["token"]["fingerprint"],
        first["fields"]["token"]["fingerprint"]
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edit_details_renames_and_moves_with_rights_and_refuses_without() {
    let s = Server::start().await;
    let id = s
        .create_personal("airtable", json!({"token": CANARY}))
        .await;
    let view = || async {
        s.owner_get(&format!("/v1/authentications/{id}"))
            .await
            .expect(200)
            .body
    };
    let path = format!("/ui/authentications/{id}/details");
    let (owner, _) = sign_in(&s, &s.owner.token).await;
    let html = get(&s, &path, Some(&owner))
        .await
        .text()
        .await
        .expect("body");
    let csrf = csrf_of(&html);
    let before = view().await;
    let version = before["version"].as_u64().expect("version").to_string();
    let name = before["name"].as_str().expect("name").to_owned();

    // (case, name, workspace, status, what the page says)
    let personal = s.owner.personal.as_str();
    let refusals = [
        (
            "nothing changed",
            name.as_str(),
            personal,
            StatusCode::UNPROCESSABLE_ENTITY,
            "Nothing changed",
        ),
        (
            "blank name",
            " ",
            personal,
            StatusCode::UNPROCESSABLE_ENTITY,
            "id=\"name-error\"",
        ),
    ];
    for (case, name, workspace, status, says) in refusals {
        let answer = post_form(
            &s,
            &path,
            Some(&owner),
            &[
                ("csrf", &csrf),
                ("version", &version),
                ("name", name),
                ("workspace", workspace),
            ],
            &[],
        )
        .await;
        assert_eq!(answer.status(), status, "{case}");
        assert!(answer.text().await.expect("body").contains(says), "{case}");
    }
    assert_eq!(view().await, before, "no refusal changed anything");

    let moved = post_form(
        &s,
        &path,
        Some(&owner),
        &[
            ("csrf", &csrf),
            ("version", &version),
            ("name", "Renamed and moved"),
            ("workspace", &s.shared),
        ],
        &[],
    )
    .await;
    assert_eq!(moved.status(), StatusCode::SEE_OTHER);
    let after = view().await;
    assert_eq!(after["name"], "Renamed and moved");
    assert_eq!(after["workspace"], s.shared.as_str());

    // Someone who may not see it gets the same "not found" page as for a missing one, for
    // its details, settings and history alike.
    let (outsider, _) = sign_in(&s, &s.outsider.token).await;
    for page in ["details", "settings", "history"] {
        let hidden = get(
            &s,
            &format!("/ui/authentications/{id}/{page}"),
            Some(&outsider),
        )
        .await;
        assert_eq!(hidden.status(), StatusCode::NOT_FOUND, "{page}");
        let missing = get(
            &s,
            &format!("/ui/authentications/{}/{page}", uuid::Uuid::now_v7()),
            Some(&outsider),
        )
        .await;
        assert_eq!(missing.status(), StatusCode::NOT_FOUND, "{page}");
        assert_eq!(
            hidden.text().await.expect("body"),
            missing.text().await.expect("body"),
            "{page}"
        );
    }

    // A viewer of the shared workspace sees it but may not rename it: refused on the page.
    let (viewer, _) = sign_in(&s, &s.viewer.token).await;
    let html = get(&s, &path, Some(&viewer))
        .await
        .text()
        .await
        .expect("body");
    let refused = post_form(
        &s,
        &path,
        Some(&viewer),
        &[
            ("csrf", &csrf_of(&html)),
            (
                "version",
                &after["version"].as_u64().expect("version").to_string(),
            ),
            ("name", "Not mine to rename"),
            ("workspace", &s.shared),
        ],
        &[],
    )
    .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let text = refused.text().await.expect("body");
    assert!(
        text.contains("class=\"field-error\""),
        "the refusal is on the page: {text}"
    );
    assert_eq!(view().await["name"], "Renamed and moved");

    // The viewer's own authentication may not move into Sales, where they only view: the
    // reason is beside the workspace, in words, naming Sales (not `MoveTo in <uuid>`).
    let own = s
        .create(
            &s.viewer,
            &s.viewer.personal,
            "airtable",
            json!({"token": "t-own"}),
        )
        .await;
    let own_path = format!("/ui/authentications/{own}/details");
    let own_version = s
        .call(
            reqwest::Method::GET,
            &format!("/v1/authentications/{own}"),
            &s.viewer.token,
            None,
        )
        .await
        .expect(200)
        .body["version"]
        .to_string();
    let form = get(&s, &own_path, Some(&viewer))
        .await
        .text()
        .await
        .expect("body");
    let refused = post_form(
        &s,
        &own_path,
        Some(&viewer),
        &[
            ("csrf", &csrf_of(&form)),
            ("version", &own_version),
            ("name", "Mine, moved"),
            ("workspace", &s.shared),
        ],
        &[],
    )
    .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let text = refused.text().await.expect("body");
    assert!(
        text.contains(
            "<p id=\"workspace-error\" class=\"field-error\">You may not move authentications into Sales: your role there (Viewer) does not allow it.</p>"
        ),
        "{text}"
    );
    assert!(!text.contains("MoveTo"), "{text}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_resolve_command_names_this_authentication_and_never_copies_an_odd_host() {
    let s = Server::start().await;
    let id = s
        .create_personal("airtable", json!({"token": CANARY}))
        .await;
    let (cookie, _) = sign_in(&s, &s.owner.token).await;
    let path = format!("/ui/authentications/{id}");
    let page = get(&s, &path, Some(&cookie))
        .await
        .text()
        .await
        .expect("html");
    let port = s.base.rsplit(':').next().expect("port");
    // askama escapes the quotes of the JSON body.
    assert!(
        page.contains(&format!("&#34;authentication&#34;:&#34;{id}&#34;")),
        "{page}"
    );
    assert!(page.contains("$.auth.token"), "{page}");
    assert!(
        page.contains(&format!("http://127.0.0.1:{port}/v1/resolve")),
        "{page}"
    );
    assert!(!page.contains(CANARY), "a secret reached the page");

    // A Host header that is not a plain name and port is not pasted into a shell command.
    let odd = dashboard_support::client()
        .get(format!("{}{path}", s.base))
        .header(reqwest::header::COOKIE, &cookie)
        .header(reqwest::header::HOST, "x;touch pwned")
        .send()
        .await
        .expect("GET");
    assert_eq!(odd.status(), StatusCode::OK);
    let html = odd.text().await.expect("html");
    assert!(!html.contains("touch pwned"), "{html}");
    assert!(html.contains("http://127.0.0.1:8080/v1/resolve"), "{html}");
}
