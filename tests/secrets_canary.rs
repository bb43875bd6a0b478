//! Canary secrets: a secret value never shows up in read models, history, Debug strings, errors,
//! TRACE logs or the raw bytes of the data directory; it does come back from resolution to an
//! allowed principal; and a ciphertext moved to another authentication, field or event fails
//! to open. Also: a wrong master key is refused before anything is written.

mod app_support;
mod leak_check;

use std::collections::BTreeMap;
use std::path::Path;

use app_support::{caller, create, field, open_app, reauth, AppUnderTest};
use credledger::app::{App, AppConfig, AppError, ResolveRequest, RestoreTarget};
use credledger::crypto::MasterKey;
use credledger::domain::authentication::{
    AuthenticationEvent, ChangeOrigin, FieldOutcome, FieldValue, StoredField,
};
use credledger::domain::ids::AuthenticationId;
use credledger::ledger::{
    AppendRequest, EventId, EventMeta, EventStore, ExpectedVersion, NewEvent, StreamVersion,
};
use credledger::projections::payloads::{self, StoredAuthenticationEvent};
use credledger::projections::ListQuery;
use leak_check::{captured_logs, files_under, logged_text};
use serde_json::json;

const CANARY_TOKEN: &str = "CANARY-tok-5b1e77d0";
const CANARY_TOKEN_2: &str = "CANARY-tok2-93aa01fe";
const CANARY_PASSWORD: &str = "CANARY-pw-c4f2e9";
const CANARY_CSRF: &str = "CANARY-csrf-0d6b3a";
const CANARIES: [&str; 4] = [CANARY_TOKEN, CANARY_TOKEN_2, CANARY_PASSWORD, CANARY_CSRF];

fn assert_no_canary(what: &str, text: &str) {
    for canary in CANARIES {
        assert!(!text.contains(canary), "{what} leaks {canary}: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_secrets_never_leak_but_resolve_for_allowed_users() {
    captured_logs();
    let w = AppUnderTest::new().await;
    let owner = caller(w.owner);
    let (token_id, cmd) = create(
        "Canary token",
        w.shared,
        "airtable",
        &[("token", CANARY_TOKEN)],
        &[],
    );
    assert_no_canary("command Debug", &format!("{cmd:?}"));
    w.app
        .execute(&owner, token_id, cmd, None)
        .await
        .expect("create token");
    let (basic_id, cmd) = create(
        "Canary basic",
        w.shared,
        "jira",
        &[
            ("username", "ann"),
            ("password", CANARY_PASSWORD),
            ("site", "acme.atlassian.net"),
        ],
        &[],
    );
    w.app
        .execute(&owner, basic_id, cmd, None)
        .await
        .expect("create basic");
    let (hook_id, cmd) = create(
        "Canary hook",
        w.owner.personal,
        "webhook",
        &[("csrf_token", CANARY_CSRF)],
        &[],
    );
    w.app
        .execute(&owner, hook_id, cmd, None)
        .await
        .expect("create generic");
    w.app
        .execute(&owner, token_id, reauth(&[("token", CANARY_TOKEN_2)]), None)
        .await
        .expect("reauth");
    w.app
        .restore(&owner, token_id, RestoreTarget::Version(1), None)
        .await
        .expect("restore the first token");

    // Refused commands carrying secrets: the errors name fields, never values.
    let errors: Vec<AppError> = vec![
        w.app
            .execute(&owner, token_id, reauth(&[("nope", CANARY_TOKEN)]), None)
            .await
            .expect_err("unknown field"),
        w.app
            .execute(
                &caller(w.viewer),
                token_id,
                reauth(&[("token", CANARY_TOKEN_2)]),
                None,
            )
            .await
            .expect_err("viewer may not re-authenticate"),
        w.app
            .execute(
                &owner,
                token_id,
                reauth(&[("token", CANARY_TOKEN)]),
                Some(1),
            )
            .await
            .expect_err("stale version"),
        {
            let (cert_id, cmd) = create(
                "Bad cert",
                w.owner.personal,
                "mtls-api",
                &[
                    ("certificate", CANARY_TOKEN),
                    ("private_key", CANARY_PASSWORD),
                ],
                &[],
            );
            w.app
                .execute(&owner, cert_id, cmd, None)
                .await
                .expect_err("not PEM")
        },
        {
            // A valid certificate, and a secret where the key's PEM label belongs.
            // PEM labels are upper-case words.
            let key = "-----BEGIN CANARY PEM LABEL-----\nAAAA\n-----END CANARY PEM LABEL-----\n";
            let (cert_id, cmd) = create(
                "Bad key label",
                w.owner.personal,
                "mtls-api",
                &[
                    (
                        "certificate",
                        include_str!("../src/domain/authentication/testdata/rsa_cert.pem"),
                    ),
                    ("private_key", key),
                ],
                &[],
            );
            let err = w
                .app
                .execute(&owner, cert_id, cmd, None)
                .await
                .expect_err("not a private key label");
            assert!(err.to_string().contains("PEM label"), "{err}");
            assert!(!err.to_string().contains("CANARY PEM"), "{err}");
            assert!(!format!("{err:?}").contains("CANARY PEM"), "{err:?}");
            err
        },
    ];
    for err in &errors {
        assert_no_canary("error Display", &err.to_string());
        assert_no_canary("error Debug", &format!("{err:?}"));
    }

    // Every read: listing, get, as-of, history, for every user; the model's Debug.
    let mut reads = String::new();
    for person in [w.owner, w.admin, w.member, w.editor, w.viewer, w.outsider] {
        let page = w
            .app
            .list(person.id, &ListQuery::default())
            .await
            .expect("list");
        reads.push_str(&serde_json::to_string(&page.items).expect("json"));
        for id in [token_id, basic_id, hook_id] {
            if let Ok(view) = w.app.get(person.id, id).await {
                reads.push_str(&serde_json::to_string(&view).expect("json"));
            }
            if let Ok(history) = w.app.history(person.id, id).await {
                reads.push_str(&serde_json::to_string(&history).expect("json"));
                reads.push_str(&format!("{history:?}"));
            }
            for version in 1..=3 {
                if let Ok(view) = w
                    .app
                    .get_as_of(person.id, id, RestoreTarget::Version(version))
                    .await
                {
                    reads.push_str(&serde_json::to_string(&view).expect("json"));
                }
            }
        }
    }
    assert!(
        reads.contains("Canary token"),
        "the reads did see the authentications"
    );
    assert_no_canary("read models", &reads);
    let model = w.app.model().model().read().await.clone();
    assert_no_canary("model Debug", &format!("{model:?}"));

    // Resolution gives the values back to an allowed user, and its Debug stays redacted.
    let resolved = w
        .app
        .resolve(
            &app_support::runner(),
            ResolveRequest {
                authentication: token_id,
                workspace: w.shared,
                user: w.viewer.id,
                template: json!({"auth": "Bearer {$.auth.token}"}),
            },
        )
        .await
        .expect("viewer resolves");
    assert_no_canary("ResolvedTemplate Debug", &format!("{resolved:?}"));
    assert_eq!(
        resolved.into_value(),
        json!({"auth": format!("Bearer {CANARY_TOKEN}")})
    );
    let basic = w
        .app
        .resolve(
            &app_support::runner(),
            ResolveRequest {
                authentication: basic_id,
                workspace: w.shared,
                user: w.editor.id,
                template: json!("$.auth.password"),
            },
        )
        .await
        .expect("editor resolves");
    assert_eq!(basic.into_value(), json!(CANARY_PASSWORD));
    let refused = w
        .app
        .resolve(
            &app_support::runner(),
            ResolveRequest {
                authentication: hook_id,
                workspace: w.owner.personal,
                user: w.admin.id,
                template: json!("$.auth.csrf_token"),
            },
        )
        .await
        .expect_err("someone else's personal authentication");
    assert_no_canary("resolve error", &format!("{refused} {refused:?}"));

    // Nothing on disk: close (flushes and snapshots), then scan every file of the data dir.
    let data_dir = w.data_dir.clone();
    let key_file = w.key_file.clone();
    let AppUnderTest { app, .. } = w;
    app.close().await.expect("close");
    let files = files_under(&data_dir);
    assert!(!files.is_empty());
    let mut scanned = 0usize;
    for file in files {
        let bytes = std::fs::read(&file).expect("read data file");
        scanned += bytes.len();
        for canary in CANARIES {
            assert!(
                !bytes.windows(canary.len()).any(|w| w == canary.as_bytes()),
                "{} contains {canary}",
                file.display()
            );
        }
    }
    assert!(scanned > 0);
    let logged = logged_text();
    // Positive control: this test's own logging reached the buffer (opening its fresh ledger
    // generated a key file, and that warning names the file).
    assert!(
        logged.contains("generated a new master key file")
            && logged.contains(&key_file.display().to_string()),
        "the key generation of this test was not captured: {logged}"
    );
    assert_no_canary("TRACE logs", &logged);
}

/// Appends a forged authentication event directly to the ledger (as an attacker with write
/// access to the log would), bypassing the domain.
async fn forge(app: &App, id: AuthenticationId, version: u64, event: StoredAuthenticationEvent) {
    let outcome = app
        .store()
        .append(AppendRequest::new(
            payloads::authentication_stream(id),
            ExpectedVersion::Exact(StreamVersion(version)),
            vec![NewEvent {
                event_id: EventId::new(),
                event_type: event.event_type().to_owned(),
                schema_version: event.schema_version(),
                payload: payloads::encode_payload(&event).expect("encode"),
                meta: EventMeta::system(),
            }],
        ))
        .await
        .expect("forged append");
    app.model()
        .wait_for(outcome.last_position.0)
        .await
        .expect("the model folds the forged event");
}

fn sealed_token(
    app_model: &credledger::projections::LedgerModel,
    id: AuthenticationId,
    name: &str,
) -> credledger::crypto::SealedSecret {
    let auth = app_model.current(id).expect("auth");
    match auth.fields.get(&field(name)) {
        Some(StoredField::Secret { value, .. }) => value.clone(),
        other => panic!("no sealed {name}: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ciphertext_moved_to_another_record_does_not_open() {
    let w = AppUnderTest::new().await;
    let owner = caller(w.owner);
    let (a, cmd) = create(
        "A",
        w.owner.personal,
        "airtable",
        &[("token", CANARY_TOKEN)],
        &[],
    );
    w.app.execute(&owner, a, cmd, None).await.expect("create a");
    let (b, cmd) = create(
        "B",
        w.owner.personal,
        "airtable",
        &[("token", "b-token")],
        &[],
    );
    w.app.execute(&owner, b, cmd, None).await.expect("create b");
    let (hook, cmd) = create(
        "Hook",
        w.owner.personal,
        "webhook",
        &[("csrf_token", CANARY_CSRF), ("signing_secret", "s")],
        &[],
    );
    w.app
        .execute(&owner, hook, cmd, None)
        .await
        .expect("create hook");
    let stolen = sealed_token(&*w.app.model().model().read().await, a, "token");
    let resolve = |id, template| ResolveRequest {
        authentication: id,
        workspace: w.owner.personal,
        user: w.owner.id,
        template,
    };

    // Onto another authentication.
    let mut moved = BTreeMap::new();
    moved.insert(
        field("token"),
        FieldOutcome::Overridden(FieldValue::Secret(stolen.clone())),
    );
    // Airtable authentications are at version 2 (created, and the record that verification
    // is off); the webhook has no verification endpoint, so it is at version 1.
    forge(
        &w.app,
        b,
        2,
        AuthenticationEvent::Reauthenticated {
            fields: moved.clone(),
            expires_at: None,
            origin: ChangeOrigin::Api,
        },
    )
    .await;
    let err = w
        .app
        .resolve(&app_support::runner(), resolve(b, json!("$.auth.token")))
        .await
        .expect_err("other authentication");
    assert!(matches!(err, AppError::Crypto(_)), "{err}");
    assert_no_canary("error", &err.to_string());

    // Onto the same authentication, but a later event (the event id is bound too).
    forge(
        &w.app,
        a,
        2,
        AuthenticationEvent::Reauthenticated {
            fields: moved,
            expires_at: None,
            origin: ChangeOrigin::Api,
        },
    )
    .await;
    let err = w
        .app
        .resolve(&app_support::runner(), resolve(a, json!("$.auth.token")))
        .await
        .expect_err("other event");
    assert!(matches!(err, AppError::Crypto(_)), "{err}");

    // Onto another field of the same authentication.
    let csrf = sealed_token(&*w.app.model().model().read().await, hook, "csrf_token");
    let mut swapped = BTreeMap::new();
    swapped.insert(
        field("signing_secret"),
        FieldOutcome::Overridden(FieldValue::Secret(csrf)),
    );
    forge(
        &w.app,
        hook,
        1,
        AuthenticationEvent::Reauthenticated {
            fields: swapped,
            expires_at: None,
            origin: ChangeOrigin::Api,
        },
    )
    .await;
    let err = w
        .app
        .resolve(
            &app_support::runner(),
            resolve(hook, json!("$.auth.signing_secret")),
        )
        .await
        .expect_err("other field");
    assert!(matches!(err, AppError::Crypto(_)), "{err}");
    // The untouched field still opens.
    let ok = w
        .app
        .resolve(
            &app_support::runner(),
            resolve(hook, json!("$.auth.csrf_token")),
        )
        .await
        .expect("untouched field");
    assert_eq!(ok.into_value(), json!(CANARY_CSRF));
}

fn tree_bytes(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    files_under(dir)
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).expect("read");
            (p, bytes)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_master_key_is_refused_before_anything_is_written() {
    let w = AppUnderTest::new().await;
    let id = w
        .created(
            &caller(w.owner),
            create(
                "Kept",
                w.owner.personal,
                "airtable",
                &[("token", CANARY_TOKEN)],
                &[],
            ),
        )
        .await;
    let data_dir = w.data_dir.clone();
    let right_key = w.key_file.clone();
    let (owner_id, owner_personal) = (w.owner.id, w.owner.personal);
    let AppUnderTest { app, .. } = w;
    app.close().await.expect("close");
    let before = tree_bytes(&data_dir);

    let other_keys = tempfile::TempDir::new().expect("key dir");
    let wrong_key = other_keys.path().join("other.key");
    MasterKey::create(&wrong_key).expect("another key");
    let err = App::open(&AppConfig::new(&data_dir, &wrong_key))
        .await
        .err()
        .expect("wrong key refused");
    assert!(matches!(err, AppError::MasterKey(_)), "{err}");
    assert!(err.to_string().contains("does not belong"), "{err}");
    assert_eq!(
        tree_bytes(&data_dir),
        before,
        "nothing written with the wrong key"
    );

    // A missing key file for an existing data directory is an error, not a fresh key.
    let missing = other_keys.path().join("missing.key");
    assert!(App::open(&AppConfig::new(&data_dir, &missing))
        .await
        .is_err());
    assert!(
        !missing.exists(),
        "no key generated for an existing data directory"
    );

    // A key file inside the data directory, or readable by others, is refused. The copy inside
    // is the right key (mode 0600), so only its place can be the reason.
    let inside = data_dir.join("master.key");
    std::fs::copy(&right_key, &inside).expect("copy the key into the data dir");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&inside, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    let err = App::open(&AppConfig::new(&data_dir, &inside))
        .await
        .err()
        .expect("key file inside the data dir refused");
    assert!(
        err.to_string().contains("is inside the data directory"),
        "{err}"
    );
    assert!(err.to_string().contains("keep it elsewhere"), "{err}");
    std::fs::remove_file(&inside).expect("remove the copy");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&right_key, std::fs::Permissions::from_mode(0o644))
            .expect("chmod");
        let err = App::open(&AppConfig::new(&data_dir, &right_key))
            .await
            .err()
            .expect("0644 refused");
        assert!(err.to_string().contains("0644"), "{err}");
        std::fs::set_permissions(&right_key, std::fs::Permissions::from_mode(0o600))
            .expect("chmod");
    }
    assert_eq!(tree_bytes(&data_dir), before, "refusals wrote nothing");

    // The right key still opens it, and the secret is intact.
    let app = open_app(&data_dir, &right_key).await;
    let resolved = app
        .resolve(
            &app_support::runner(),
            ResolveRequest {
                authentication: id,
                workspace: owner_personal,
                user: owner_id,
                template: json!("$.auth.token"),
            },
        )
        .await
        .expect("the secret still resolves");
    assert_eq!(resolved.into_value(), json!(CANARY_TOKEN));
    app.close().await.expect("close");
}
