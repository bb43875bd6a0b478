//! Authentications end to end through the application layer, on a real sled directory:
//! lifecycle, override semantics, restore, resolution, access, listing, as-of, restart.

mod app_support;

use std::collections::BTreeMap;

use app_support::{airtable, caller, create, reauth, reauthenticate, AppUnderTest};
use credledger::app::{AppError, ResolveError, ResolveRequest, RestoreTarget};
use credledger::domain::authentication::{
    AuthenticationCommand, AuthenticationError, ChangeOrigin, Warning,
};
use credledger::ledger::{EventStore, Position};
use credledger::projections::{FieldChangeKind, FieldView, HistoryDetail, ListQuery};
use serde_json::json;

fn resolve_request(
    id: credledger::domain::ids::AuthenticationId,
    user: app_support::Person,
    workspace: credledger::domain::ids::WorkspaceId,
    template: serde_json::Value,
) -> ResolveRequest {
    ResolveRequest {
        authentication: id,
        workspace,
        user: user.id,
        template,
    }
}

fn secret_fingerprint(view: &credledger::projections::AuthenticationView, name: &str) -> String {
    match view.fields.get(name) {
        Some(FieldView::Secret { fingerprint, .. }) => fingerprint.as_str().to_owned(),
        other => panic!("{name} is not a set secret: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_create_rename_move_reauthenticate_delete_restore_resolve() {
    let w = AppUnderTest::new().await;
    let owner = caller(w.owner);
    let (id, cmd) = create(
        "Airtable prod",
        w.owner.personal,
        "airtable",
        &[("token", "tok-one")],
        &[],
    );
    let created = w.app.execute(&owner, id, cmd, None).await.expect("create");
    // Created, then the record that it was not verified (verification is off in tests).
    assert_eq!(created.version, 2);

    let page = w
        .app
        .list(w.owner.id, &ListQuery::default())
        .await
        .expect("list");
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].name, "Airtable prod");

    w.app
        .execute(
            &owner,
            id,
            AuthenticationCommand::Rename {
                name: "  Airtable main  ".into(),
            },
            Some(2),
        )
        .await
        .expect("rename");
    assert_eq!(
        w.app.get(w.owner.id, id).await.expect("get").name,
        "Airtable main"
    );

    w.app
        .execute(
            &owner,
            id,
            AuthenticationCommand::Move { to: w.shared },
            Some(3),
        )
        .await
        .expect("owner moves personal -> shared");
    let view = w
        .app
        .get(w.viewer.id, id)
        .await
        .expect("viewer sees it in the shared workspace");
    assert_eq!(view.workspace, w.shared);
    let first_fp = secret_fingerprint(&view, "token");

    w.app
        .execute(
            &caller(w.editor),
            id,
            reauth(&[("token", "tok-two")]),
            Some(4),
        )
        .await
        .expect("editor re-authenticates");
    let view = w.app.get(w.owner.id, id).await.expect("get");
    assert_ne!(
        secret_fingerprint(&view, "token"),
        first_fp,
        "a new value has a new fingerprint"
    );

    let template = json!({"Authorization": "Bearer {$.auth.token}"});
    let resolved = w
        .app
        .resolve(
            &app_support::runner(),
            resolve_request(id, w.viewer, w.shared, template.clone()),
        )
        .await
        .expect("viewer may use it");
    assert_eq!(
        resolved.into_value(),
        json!({"Authorization": "Bearer tok-two"})
    );

    w.app
        .execute(&owner, id, AuthenticationCommand::Delete, Some(6))
        .await
        .expect("delete");
    assert!(w
        .app
        .list(w.owner.id, &ListQuery::default())
        .await
        .expect("list")
        .items
        .is_empty());
    let err = w
        .app
        .resolve(
            &app_support::runner(),
            resolve_request(id, w.viewer, w.shared, template.clone()),
        )
        .await
        .expect_err("deleted authentications do not resolve");
    assert!(
        matches!(err, AppError::Resolve(ResolveError::NotUsable(_))),
        "{err}"
    );

    // Restore version 4: the first token, in the shared workspace, undeleted.
    let restored = w
        .app
        .restore(&owner, id, RestoreTarget::Version(4), Some(7))
        .await
        .expect("restore");
    assert_eq!(restored.version, 8);
    let view = w.app.get(w.owner.id, id).await.expect("get");
    assert_eq!(view.lifecycle, "active");
    assert_eq!(
        secret_fingerprint(&view, "token"),
        first_fp,
        "same value, same fingerprint"
    );
    let resolved = w
        .app
        .resolve(
            &app_support::runner(),
            resolve_request(id, w.viewer, w.shared, template),
        )
        .await
        .expect("resolve after restore");
    assert_eq!(
        resolved.into_value(),
        json!({"Authorization": "Bearer tok-one"})
    );

    let history = w.app.history(w.owner.id, id).await.expect("history");
    let types: Vec<&str> = history.iter().map(|h| h.event_type.as_str()).collect();
    assert_eq!(
        types,
        vec![
            "authentication.created",
            "authentication.verification_recorded",
            "authentication.renamed",
            "authentication.moved",
            "authentication.reauthenticated",
            "authentication.verification_recorded",
            "authentication.deleted",
            "authentication.restored",
        ]
    );
    assert!(matches!(
        history[7].detail,
        HistoryDetail::Restored { from_version: 4 }
    ));
    assert_eq!(history[4].actor, format!("user:{}", w.editor.id));
    assert_eq!(history[5].actor, format!("user:{}", w.editor.id));
    assert!(matches!(
        &history[5].detail,
        HistoryDetail::VerificationRecorded { outcome, .. } if outcome == "not_verifiable"
    ));

    // The events are in the ledger, in the authentication's stream.
    let stream = w
        .app
        .store()
        .read_stream(
            &credledger::projections::payloads::authentication_stream(id),
            credledger::ledger::StreamRange::all(),
        )
        .await
        .expect("read stream");
    assert_eq!(stream.len(), 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reauthenticate_overrides_keeps_and_clears_per_field() {
    let w = AppUnderTest::new().await;
    let owner = caller(w.owner);
    let id = w
        .created(
            &owner,
            create(
                "Webhook",
                w.owner.personal,
                "webhook",
                &[("csrf_token", "csrf-1"), ("signing_secret", "sign-1")],
                &[],
            ),
        )
        .await;
    let before = w.app.get(w.owner.id, id).await.expect("get");

    // Supply csrf_token only: it is overridden, signing_secret is kept.
    let csrf_only = reauthenticate(&[("csrf_token", Some("csrf-2"))], ChangeOrigin::Dashboard);
    w.app
        .execute(&owner, id, csrf_only, None)
        .await
        .expect("override one");
    let after = w.app.get(w.owner.id, id).await.expect("get");
    assert_ne!(
        secret_fingerprint(&after, "csrf_token"),
        secret_fingerprint(&before, "csrf_token")
    );
    assert_eq!(
        secret_fingerprint(&after, "signing_secret"),
        secret_fingerprint(&before, "signing_secret")
    );

    // Clear the optional field explicitly.
    let clear = reauthenticate(&[("signing_secret", None)], ChangeOrigin::Api);
    w.app
        .execute(&owner, id, clear, None)
        .await
        .expect("clear optional");
    let cleared = w.app.get(w.owner.id, id).await.expect("get");
    assert!(!cleared.fields.contains_key("signing_secret"));

    // Clearing a required field is refused and writes nothing.
    let head = w.app.store().head().position;
    let clear_required = reauthenticate(&[("csrf_token", None)], ChangeOrigin::Api);
    let err = w
        .app
        .execute(&owner, id, clear_required, None)
        .await
        .expect_err("required field");
    assert!(err.to_string().contains("csrf_token"), "{err}");
    assert_eq!(w.app.store().head().position, head);

    let history = w.app.history(w.owner.id, id).await.expect("history");
    let kinds = |entry: usize| -> BTreeMap<String, FieldChangeKind> {
        history[entry]
            .fields
            .iter()
            .map(|d| (d.field.clone(), d.change.clone()))
            .collect()
    };
    assert_eq!(kinds(1)["csrf_token"], FieldChangeKind::Overridden);
    assert_eq!(kinds(1)["signing_secret"], FieldChangeKind::Kept);
    assert_eq!(kinds(2)["signing_secret"], FieldChangeKind::Cleared);
    let overridden = history[1]
        .fields
        .iter()
        .find(|d| d.field == "csrf_token")
        .expect("diff");
    assert!(overridden.secret && overridden.value.is_none());
    assert_eq!(
        overridden
            .previous_fingerprint
            .as_ref()
            .map(|f| f.as_str().to_owned()),
        Some(secret_fingerprint(&before, "csrf_token"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_brings_back_a_secret_overridden_two_versions_ago() {
    let w = AppUnderTest::new().await;
    let owner = caller(w.owner);
    let id = w
        .created(
            &owner,
            create(
                "Jira",
                w.owner.personal,
                "jira",
                &[
                    ("username", "ann"),
                    ("password", "pw-1"),
                    ("site", "acme.atlassian.net"),
                ],
                &[],
            ),
        )
        .await;
    for pw in ["pw-2", "pw-3"] {
        w.app
            .execute(&owner, id, reauth(&[("password", pw)]), None)
            .await
            .expect("reauth");
    }
    let template = json!({"user": "$.auth.username", "pass": "$.auth.password"});
    let now = w
        .app
        .resolve(
            &app_support::runner(),
            resolve_request(id, w.owner, w.owner.personal, template.clone()),
        )
        .await
        .expect("resolve");
    assert_eq!(now.into_value(), json!({"user": "ann", "pass": "pw-3"}));
    w.app
        .restore(&owner, id, RestoreTarget::Version(1), Some(6))
        .await
        .expect("restore v1");
    let back = w
        .app
        .resolve(
            &app_support::runner(),
            resolve_request(id, w.owner, w.owner.personal, template),
        )
        .await
        .expect("resolve");
    assert_eq!(back.into_value(), json!({"user": "ann", "pass": "pw-1"}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn as_of_version_and_time_show_the_past() {
    let w = AppUnderTest::new().await;
    let owner = caller(w.owner);
    let id = w
        .created(&owner, airtable("Old name", w.owner.personal))
        .await;
    // The head is the create's verification record; the create is just before it.
    let created_at = w.app.store().head();
    let first = w
        .app
        .store()
        .read_all(Position(created_at.position - 1), 1)
        .await
        .expect("read")[0]
        .body
        .recorded_at;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    w.app
        .execute(
            &owner,
            id,
            AuthenticationCommand::Rename {
                name: "New name".into(),
            },
            None,
        )
        .await
        .expect("rename");
    let v1 = w
        .app
        .get_as_of(w.owner.id, id, RestoreTarget::Version(1))
        .await
        .expect("v1");
    assert_eq!((v1.name.as_str(), v1.version), ("Old name", 1));
    let t1 = w
        .app
        .get_as_of(w.owner.id, id, RestoreTarget::Time(first))
        .await
        .expect("t1");
    assert_eq!(t1.name, "Old name");
    let before = credledger::time::Timestamp(first.0 - 1);
    assert!(matches!(
        w.app
            .get_as_of(w.owner.id, id, RestoreTarget::Time(before))
            .await,
        Err(AppError::NotFound)
    ));
    assert!(matches!(
        w.app
            .get_as_of(w.outsider.id, id, RestoreTarget::Version(1))
            .await,
        Err(AppError::NotFound)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_rules_hold_for_personal_shared_and_organization_workspaces() {
    let w = AppUnderTest::new().await;
    let (personal, cmd) = create(
        "Mine",
        w.member.personal,
        "airtable",
        &[("token", "p")],
        &[],
    );
    w.app
        .execute(&caller(w.member), personal, cmd, None)
        .await
        .expect("member creates in own personal");
    let (shared, cmd) = create("Team", w.shared, "airtable", &[("token", "s")], &[]);
    w.app
        .execute(&caller(w.editor), shared, cmd, None)
        .await
        .expect("editor creates in shared");
    let (org, cmd) = create(
        "Company",
        w.org_workspace,
        "airtable",
        &[("token", "o")],
        &[],
    );
    w.app
        .execute(&caller(w.admin), org, cmd, None)
        .await
        .expect("org admin creates in org workspace");

    // Personal: nobody else learns it exists, not even from a refused command or restore.
    for other in [w.owner, w.admin, w.outsider] {
        let rename = AuthenticationCommand::Rename {
            name: "Theirs".into(),
        };
        assert!(matches!(
            w.app.execute(&caller(other), personal, rename, None).await,
            Err(AppError::NotFound)
        ));
        assert!(matches!(
            w.app
                .restore(&caller(other), personal, RestoreTarget::Version(1), None)
                .await,
            Err(AppError::NotFound)
        ));
        assert!(matches!(
            w.app.get(other.id, personal).await,
            Err(AppError::NotFound)
        ));
        assert!(w
            .app
            .list(other.id, &ListQuery::default())
            .await
            .expect("list")
            .items
            .iter()
            .all(|v| v.id != personal));
    }
    // Shared: viewer sees and uses, may not edit; plain org member sees nothing.
    assert!(w.app.get(w.viewer.id, shared).await.is_ok());
    let err = w
        .app
        .execute(
            &caller(w.viewer),
            shared,
            AuthenticationCommand::Rename { name: "X".into() },
            None,
        )
        .await
        .expect_err("viewer may not edit");
    assert!(
        matches!(
            err,
            AppError::Authentication(AuthenticationError::AccessDenied { .. })
        ),
        "{err}"
    );
    assert!(matches!(
        w.app.get(w.member.id, shared).await,
        Err(AppError::NotFound)
    ));
    // Organization workspace: every member sees and uses; members may not edit.
    assert!(w.app.get(w.member.id, org).await.is_ok());
    let resolved = w
        .app
        .resolve(
            &app_support::runner(),
            resolve_request(org, w.member, w.org_workspace, json!("$.auth.token")),
        )
        .await
        .expect("member uses org auth");
    assert_eq!(resolved.into_value(), json!("o"));
    assert!(w
        .app
        .execute(&caller(w.member), org, AuthenticationCommand::Delete, None)
        .await
        .is_err());
    // A workflow in the shared workspace can reach the organization's authentication...
    assert!(w
        .app
        .resolve(
            &app_support::runner(),
            resolve_request(org, w.viewer, w.shared, json!("$.auth.token"))
        )
        .await
        .is_ok());
    // ...but not someone's personal one, and outsiders get nothing at all.
    assert!(w
        .app
        .resolve(
            &app_support::runner(),
            resolve_request(personal, w.member, w.shared, json!("$.auth.token"))
        )
        .await
        .is_err());
    assert!(matches!(
        w.app
            .resolve(
                &app_support::runner(),
                resolve_request(shared, w.outsider, w.shared, json!("$.auth.token"))
            )
            .await,
        Err(AppError::NotFound)
    ));
    // Moving needs edit rights on both sides: the editor cannot move into the org workspace.
    let err = w
        .app
        .execute(
            &caller(w.editor),
            shared,
            AuthenticationCommand::Move {
                to: w.org_workspace,
            },
            None,
        )
        .await
        .expect_err("no edit rights on the destination");
    assert!(
        matches!(
            err,
            AppError::Authentication(AuthenticationError::AccessDenied { .. })
        ),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warnings_and_refusals_come_back_from_the_domain() {
    let w = AppUnderTest::new().await;
    let owner = caller(w.owner);
    let (id, cmd) = create(
        "Slack",
        w.owner.personal,
        "slack",
        &[("access_token", "xoxb")],
        &["channels:read", "chat:write"],
    );
    w.app
        .execute(&owner, id, cmd, None)
        .await
        .expect("create slack");
    let outcome = w
        .app
        .execute(
            &owner,
            id,
            AuthenticationCommand::RecordGrant {
                requested_scopes: vec!["channels:read".into(), "chat:write".into()],
                granted_scopes: vec!["channels:read".into()],
                extra_permissions: vec![],
            },
            None,
        )
        .await
        .expect("a narrower grant is recorded");
    assert_eq!(
        outcome.warnings,
        vec![Warning::MissingRequiredScopes {
            missing: vec!["chat:write".into()]
        }]
    );
    // Changing OAuth2 scopes directly is refused: they change through re-consent.
    let err = w
        .app
        .execute(
            &owner,
            id,
            AuthenticationCommand::ChangeScopes {
                scopes: vec!["channels:read".into(), "chat:write".into()],
                extra_permissions: vec![],
            },
            None,
        )
        .await
        .expect_err("re-consent required");
    assert!(err.to_string().contains("re-consent"), "{err}");

    let (trello, cmd) = create(
        "Trello",
        w.owner.personal,
        "trello",
        &[
            ("consumer_key", "ck"),
            ("consumer_secret", "cs"),
            ("token", "t"),
            ("token_secret", "ts"),
        ],
        &[],
    );
    let outcome = w
        .app
        .execute(&owner, trello, cmd, None)
        .await
        .expect("oauth1");
    assert!(outcome.warnings.contains(&Warning::OAuth1Discouraged));

    let (generic, cmd) = create(
        "Hook",
        w.org_workspace,
        "webhook",
        &[("csrf_token", "c")],
        &[],
    );
    let outcome = w
        .app
        .execute(&caller(w.admin), generic, cmd, None)
        .await
        .expect("generic in org");
    assert!(outcome
        .warnings
        .iter()
        .any(|w| matches!(w, Warning::GenericAuthVisibleToOrganization { .. })));

    // Duplicate names (case-insensitive) in one workspace, stale If-Match, unknown service.
    let (dup, cmd) = create(
        "slack",
        w.owner.personal,
        "airtable",
        &[("token", "x")],
        &[],
    );
    let err = w
        .app
        .execute(&owner, dup, cmd, None)
        .await
        .expect_err("duplicate name");
    assert!(err.to_string().to_lowercase().contains("name"), "{err}");
    let err = w
        .app
        .execute(
            &owner,
            id,
            AuthenticationCommand::Rename {
                name: "Slack 2".into(),
            },
            Some(1),
        )
        .await
        .expect_err("stale version");
    assert!(
        matches!(
            err,
            AppError::VersionMismatch {
                expected: 1,
                // Created, its verification record, the grant.
                actual: 3
            }
        ),
        "{err}"
    );
    let (unknown, mut cmd) = create("U", w.owner.personal, "airtable", &[("token", "x")], &[]);
    if let AuthenticationCommand::Create(c) = &mut cmd {
        c.service = credledger::domain::services::ServiceRef::Prebuilt(
            credledger::domain::ids::ServiceKey::parse("nope").expect("key"),
        );
    }
    assert!(w.app.execute(&owner, unknown, cmd, None).await.is_err());
    // Resolution errors name the field.
    let err = w
        .app
        .resolve(
            &app_support::runner(),
            resolve_request(id, w.owner, w.owner.personal, json!("$.auth.password")),
        )
        .await
        .expect_err("unknown field");
    assert!(err.to_string().contains("password"), "{err}");
    let err = w
        .app
        .resolve(
            &app_support::runner(),
            resolve_request(id, w.owner, w.owner.personal, json!("$.auth.expires_at")),
        )
        .await
        .expect_err("unset field");
    assert!(
        matches!(err, AppError::Resolve(ResolveError::FieldNotSet { .. })),
        "{err}"
    );
    // An OAuth2 refresh token is the ledger's own: never resolved, set or not.
    let err = w
        .app
        .resolve(
            &app_support::runner(),
            resolve_request(id, w.owner, w.owner.personal, json!("$.auth.refresh_token")),
        )
        .await
        .expect_err("never resolved");
    assert!(
        matches!(err, AppError::Resolve(ResolveError::NotResolvable { .. })),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_searches_filters_and_pages() {
    let w = AppUnderTest::new().await;
    let owner = caller(w.owner);
    for i in 0..7 {
        w.created(&owner, airtable(&format!("Airtable {i}"), w.owner.personal))
            .await;
    }
    let (_, cmd) = create(
        "GitHub bot",
        w.owner.personal,
        "github",
        &[("access_token", "g")],
        &["read:user"],
    );
    let id = match &cmd {
        AuthenticationCommand::Create(c) => c.id,
        _ => unreachable!(),
    };
    w.app
        .execute(&owner, id, cmd, None)
        .await
        .expect("create github");

    let app = &w.app;
    let user = w.owner.id;
    let q = |q: ListQuery| async move { app.list(user, &q).await.expect("list") };
    let search = q(ListQuery {
        q: Some("AIRTABLE".into()),
        ..Default::default()
    })
    .await;
    assert_eq!(search.items.len(), 7);
    let by_service = q(ListQuery {
        service: Some(credledger::domain::services::ServiceRef::Prebuilt(
            credledger::domain::ids::ServiceKey::parse("github").expect("key"),
        )),
        ..Default::default()
    })
    .await;
    assert_eq!(by_service.items.len(), 1);
    let by_tag = q(ListQuery {
        environment: Some("sandbox".into()),
        ..Default::default()
    })
    .await;
    assert!(by_tag.items.is_empty());
    let by_workspace = q(ListQuery {
        workspace: Some(w.shared),
        ..Default::default()
    })
    .await;
    assert!(by_workspace.items.is_empty());

    let mut names = Vec::new();
    let mut cursor = None;
    loop {
        let page = q(ListQuery {
            limit: Some(3),
            cursor: cursor.clone(),
            ..Default::default()
        })
        .await;
        names.extend(page.items.iter().map(|v| v.name.clone()));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let mut sorted = names.clone();
    sorted.sort_by_key(|n| n.to_lowercase());
    assert_eq!(names, sorted, "stable name order across pages");
    assert_eq!(names.len(), 8, "no duplicates, nothing missing");
    assert!(matches!(
        w.app
            .list(
                w.owner.id,
                &ListQuery {
                    cursor: Some("zz".into()),
                    ..Default::default()
                }
            )
            .await,
        Err(AppError::Cursor(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_shreds_secrets_for_good() {
    let w = AppUnderTest::new().await;
    let owner = caller(w.owner);
    let id = w
        .created(&owner, airtable("Doomed", w.owner.personal))
        .await;
    w.app
        .execute(&owner, id, AuthenticationCommand::Delete, None)
        .await
        .expect("delete");
    w.app
        .execute(&owner, id, AuthenticationCommand::Purge, None)
        .await
        .expect("purge");
    assert!(w
        .app
        .restore(&owner, id, RestoreTarget::Version(1), None)
        .await
        .is_err());
    assert!(w
        .app
        .resolve(
            &app_support::runner(),
            resolve_request(id, w.owner, w.owner.personal, json!("$.auth.token"))
        )
        .await
        .is_err());
    // The history stays readable.
    let history = w
        .app
        .history(w.owner.id, id)
        .await
        .expect("history survives purge");
    // Created, its verification record, deleted, purged.
    assert_eq!(history.len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purged_authentication_leaves_memory_and_still_answers_the_same() {
    let w = AppUnderTest::new().await;
    let owner = caller(w.owner);
    let gone = w.created(&owner, airtable("Gone", w.owner.personal)).await;
    for command in [AuthenticationCommand::Delete, AuthenticationCommand::Purge] {
        w.app
            .execute(&owner, gone, command, None)
            .await
            .expect("delete, purge");
    }
    // A later batch lets the purged record go from memory.
    let kept = w
        .created(
            &owner,
            create("Kept", w.owner.personal, "airtable", &[("token", "k")], &[]),
        )
        .await;
    async fn purged_view(
        app: &credledger::app::App,
        id: credledger::domain::ids::AuthenticationId,
    ) -> (
        Vec<credledger::domain::ids::AuthenticationId>,
        Option<credledger::projections::model::AuthRecord>,
    ) {
        let model = app.model().model().read().await;
        let in_memory: Vec<_> = model.authentications.ids().collect();
        (in_memory, model.authentication(id))
    }
    let (in_memory, record) = purged_view(&w.app, gone).await;
    assert_eq!(
        in_memory,
        vec![kept],
        "only the live authentication is in memory"
    );
    let record = record.expect("the purged record is read from the read store");
    assert!(record.is_purged());
    let restore = w
        .app
        .restore(&owner, gone, RestoreTarget::Version(1), None)
        .await
        .expect_err("restoring a purged authentication");
    let before = restore.to_string();
    assert!(before.contains("purged"), "{before}");
    let history = w.app.history(w.owner.id, gone).await.expect("history");

    let w = w.restart().await;
    let (in_memory, again) = purged_view(&w.app, gone).await;
    assert_eq!(
        in_memory,
        vec![kept],
        "a restart loads only the live authentication"
    );
    assert_eq!(again, Some(record), "the same record after a restart");
    let after = w
        .app
        .restore(&owner, gone, RestoreTarget::Version(1), None)
        .await
        .expect_err("restoring after a restart");
    assert_eq!(after.to_string(), before);
    assert_eq!(
        w.app.history(w.owner.id, gone).await.expect("history"),
        history
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_resumes_from_snapshot_and_tail() {
    let w = AppUnderTest::new().await;
    let owner = caller(w.owner);
    let id = w
        .created(
            &owner,
            create(
                "Kept",
                w.owner.personal,
                "airtable",
                &[("token", "t-1")],
                &[],
            ),
        )
        .await;
    let before = w.app.model().model().read().await.clone();
    let w = w.restart().await;
    let after = w.app.model().model().read().await.clone();
    assert_eq!(before, after);
    w.app
        .execute(
            &owner,
            id,
            AuthenticationCommand::Rename {
                name: "Kept 2".into(),
            },
            None,
        )
        .await
        .expect("commands continue after restart");
    let resolved = w
        .app
        .resolve(
            &app_support::runner(),
            resolve_request(id, w.owner, w.owner.personal, json!("$.auth.token")),
        )
        .await
        .expect("resolve after restart");
    assert_eq!(resolved.into_value(), json!("t-1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_purge_is_finished_at_the_next_open() {
    let w = AppUnderTest::new().await;
    let owner = caller(w.owner);
    let id = w
        .created(&owner, airtable("Half purged", w.owner.personal))
        .await;
    w.app
        .execute(&owner, id, AuthenticationCommand::Delete, None)
        .await
        .expect("delete");
    // Append the purge event directly, as if the process died before destroying the key.
    let event: credledger::projections::payloads::StoredAuthenticationEvent =
        credledger::domain::authentication::AuthenticationEvent::Purged;
    w.app
        .store()
        .append(credledger::ledger::AppendRequest::new(
            credledger::projections::payloads::authentication_stream(id),
            // Created, its verification record, deleted.
            credledger::ledger::ExpectedVersion::Exact(credledger::ledger::StreamVersion(3)),
            vec![credledger::ledger::NewEvent {
                event_id: credledger::ledger::EventId::new(),
                event_type: event.event_type().to_owned(),
                schema_version: event.schema_version(),
                payload: credledger::projections::payloads::encode_payload(&event).expect("encode"),
                meta: credledger::ledger::EventMeta::system(),
            }],
        ))
        .await
        .expect("append purge");
    assert!(
        !w.app.secrets_destroyed(id).expect("status"),
        "the key survived the 'crash'"
    );
    let w = w.restart().await;
    assert!(
        w.app.secrets_destroyed(id).expect("status"),
        "reopening finished the purge"
    );
}

fn internal_api() -> credledger::domain::services::ServiceSpec {
    credledger::domain::services::ServiceSpec {
        name: "Internal API".into(),
        api_version: "v1".into(),
        auth_kind: credledger::domain::services::AuthKind::Token,
        fields: Vec::new(),
        oauth: None,
        scopes: Vec::new(),
        required_scopes: Vec::new(),
        verification: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_services_alone_anywhere_editable_and_with_an_auth_only_in_personal() {
    use credledger::domain::ids::ServiceId;
    use credledger::domain::services::{CustomServiceError, ServiceRef};
    let w = AppUnderTest::new().await;

    // Service only: an editor may define one in the shared workspace, a viewer may not.
    let service = ServiceId::new();
    w.app
        .define_service(&caller(w.editor), service, w.shared, internal_api())
        .await
        .expect("editor defines a service");
    let err = w
        .app
        .define_service(
            &caller(w.viewer),
            ServiceId::new(),
            w.shared,
            internal_api(),
        )
        .await
        .expect_err("viewer may not");
    assert!(
        matches!(
            err,
            AppError::CustomService(CustomServiceError::AccessDenied { .. })
        ),
        "{err}"
    );
    let (id, mut cmd) = create("Internal", w.shared, "airtable", &[("token", "i-1")], &[]);
    if let AuthenticationCommand::Create(c) = &mut cmd {
        c.service = ServiceRef::Custom(service);
    }
    w.app
        .execute(&caller(w.editor), id, cmd, None)
        .await
        .expect("auth on the custom service");
    assert_eq!(
        w.app.get(w.viewer.id, id).await.expect("get").service,
        format!("custom:{service}")
    );

    // Service and authentication together: only in the caller's personal workspace.
    let together = |workspace, token: &str| {
        let (id, cmd) = create("Together", workspace, "airtable", &[("token", token)], &[]);
        match cmd {
            AuthenticationCommand::Create(c) => (id, c),
            _ => unreachable!(),
        }
    };
    let head = w.app.store().head().position;
    let (_, in_shared) = together(w.shared, "t");
    let err = w
        .app
        .create_with_new_service(
            &caller(w.editor),
            ServiceId::new(),
            internal_api(),
            in_shared,
        )
        .await
        .expect_err("not in a shared workspace");
    assert!(
        matches!(
            err,
            AppError::CustomService(CustomServiceError::TogetherOnlyInPersonal { .. })
        ),
        "{err}"
    );
    let (_, invalid) = together(w.editor.personal, " ");
    assert!(w
        .app
        .create_with_new_service(&caller(w.editor), ServiceId::new(), internal_api(), invalid)
        .await
        .is_err());
    assert_eq!(
        w.app.store().head().position,
        head,
        "refusals wrote neither service nor auth"
    );
    let (id, ok) = together(w.editor.personal, "t-2");
    let service = ServiceId::new();
    let (used, outcome) = w
        .app
        .create_with_new_service(&caller(w.editor), service, internal_api(), ok)
        .await
        .expect("in the personal workspace");
    assert_eq!((used, outcome.id, outcome.version), (service, id, 1));
    assert_eq!(
        w.app.store().head().position,
        head + 2,
        "one service event, one authentication event"
    );
    assert!(w
        .app
        .get(w.editor.id, id)
        .await
        .expect("get")
        .service
        .starts_with("custom:"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_value_leaves_without_its_access_record() {
    let w = AppUnderTest::new().await;
    let id = w
        .created(
            &caller(w.editor),
            create(
                "Airtable audited",
                w.shared,
                "airtable",
                &[("token", "unaudited-canary")],
                &[],
            ),
        )
        .await;
    // The log stops accepting writes: a resolution must fail rather than go unrecorded.
    w.app.store().close().await.expect("close the writer");
    let err = w
        .app
        .resolve(
            &app_support::runner(),
            resolve_request(id, w.viewer, w.shared, json!("$.auth.token")),
        )
        .await
        .expect_err("no access record, no value");
    assert!(matches!(err, AppError::Store(_)), "{err}");
    // A refused attempt that cannot be recorded fails too (instead of a silent refusal).
    let err = w
        .app
        .resolve(
            &app_support::runner(),
            resolve_request(id, w.outsider, w.outsider.personal, json!("$.auth.token")),
        )
        .await
        .expect_err("refusal not recorded");
    assert!(matches!(err, AppError::Store(_)), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_follows_renames_moves_deletes_purges_and_a_restart() {
    let w = AppUnderTest::new().await;
    let owner = caller(w.owner);
    let mut ids = Vec::new();
    for name in ["Delta", "alpha", "Charlie", "bravo", "Echo"] {
        ids.push(w.created(&owner, airtable(name, w.owner.personal)).await);
    }
    let run = |cmd: AuthenticationCommand, id: credledger::domain::ids::AuthenticationId| {
        let (w, owner) = (&w, &owner);
        async move { w.app.execute(owner, id, cmd, None).await.expect("command") }
    };
    run(
        AuthenticationCommand::Rename {
            name: "Zulu".into(),
        },
        ids[1],
    )
    .await; // alpha → Zulu
    run(AuthenticationCommand::Move { to: w.shared }, ids[2]).await; // Charlie to shared
    run(AuthenticationCommand::Delete, ids[3]).await; // bravo deleted
    run(AuthenticationCommand::Delete, ids[4]).await;
    run(AuthenticationCommand::Purge, ids[4]).await; // Echo purged
    let everything = ListQuery {
        include_deleted: true,
        ..Default::default()
    };
    let expected = (
        vec![
            "bravo".to_owned(),
            "Charlie".into(),
            "Delta".into(),
            "Zulu".into(),
        ],
        4,
    );
    assert_eq!(
        names(&w.app, w.owner.id, everything.clone()).await,
        expected
    );
    let active = (vec!["Charlie".to_owned(), "Delta".into(), "Zulu".into()], 3);
    assert_eq!(
        names(&w.app, w.owner.id, ListQuery::default()).await,
        active
    );
    let shared = ListQuery {
        workspace: Some(w.shared),
        ..Default::default()
    };
    assert_eq!(
        names(&w.app, w.owner.id, shared.clone()).await,
        (vec!["Charlie".to_owned()], 1)
    );
    let renamed_away = ListQuery {
        q: Some("alpha".into()),
        ..Default::default()
    };
    assert_eq!(
        names(&w.app, w.owner.id, renamed_away.clone()).await,
        (vec![], 0)
    );
    // The index is rebuilt from the stored records at start: the same answers.
    let w = w.restart().await;
    assert_eq!(names(&w.app, w.owner.id, everything).await, expected);
    assert_eq!(
        names(&w.app, w.owner.id, ListQuery::default()).await,
        active
    );
    assert_eq!(
        names(&w.app, w.owner.id, shared).await,
        (vec!["Charlie".to_owned()], 1)
    );
    assert_eq!(names(&w.app, w.owner.id, renamed_away).await, (vec![], 0));
}

/// The names of a listing's page, and its total.
async fn names(
    app: &credledger::app::App,
    user: credledger::domain::ids::UserId,
    query: ListQuery,
) -> (Vec<String>, usize) {
    let page = app.list(user, &query).await.expect("list");
    let names = page.items.iter().map(|v| v.name.clone()).collect();
    (names, page.total)
}
