//! Invariants across streams through the application layer, on a real sled directory: name
//! claims rebuilt at open for ledgers written without them, and idempotency keys that make a
//! retried write answer from its first outcome instead of running again.

mod app_support;

use app_support::{airtable, caller, create, AppUnderTest};
use credledger::app::{AppError, Caller, IdempotencyRequest};
use credledger::domain::authentication::AuthenticationCommand;
use credledger::domain::directory::{DirectoryCommand, DirectoryEvent};
use credledger::domain::ids::{ServiceId, WorkspaceId};
use credledger::domain::naming::name_key;
use credledger::domain::principals::Principal;
use credledger::domain::services::{AuthKind, ServiceSpec};
use credledger::ledger::{
    open_db, AppendRequest, EventStore, ExpectedVersion, StoreError, StreamId, UniqueKey,
};
use credledger::projections::payloads::authentication_stream;

/// The name key layout the application claims (documented in docs/ledger.md).
fn name_claim(workspace: WorkspaceId, name: &str) -> UniqueKey {
    let mut bytes = b"authentication-name\0".to_vec();
    bytes.extend_from_slice(workspace.as_uuid().as_bytes());
    bytes.extend_from_slice(name_key(name).as_bytes());
    UniqueKey::new(bytes)
}

/// Tries to claim a key for a probe stream, straight through the ledger.
async fn probe(w: &AppUnderTest, key: UniqueKey) -> Result<(), StoreError> {
    let stream = StreamId::new(format!("probe-{}", uuid::Uuid::now_v7())).expect("stream");
    let event = credledger::ledger::NewEvent {
        event_id: credledger::ledger::EventId::new(),
        event_type: "test.probe".into(),
        schema_version: 1,
        payload: Vec::new(),
        meta: credledger::ledger::EventMeta::system(),
    };
    w.app
        .store()
        .append(AppendRequest::new(stream, ExpectedVersion::NoStream, vec![event]).claim(key))
        .await
        .map(|_| ())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn name_claims_are_rebuilt_at_open_for_ledgers_written_without_them() {
    let w = AppUnderTest::new().await;
    let owner = caller(w.owner);
    let legacy = w
        .created(
            &owner,
            create("Legacy Name", w.shared, "airtable", &[("token", "t")], &[]),
        )
        .await;
    let gone = w
        .created(
            &owner,
            create("Gone", w.shared, "airtable", &[("token", "t")], &[]),
        )
        .await;
    w.app
        .execute(&owner, gone, AuthenticationCommand::Delete, None)
        .await
        .expect("delete");
    // As a ledger from before name claims: no claims at all, plus a stale one.
    let stale = name_claim(w.shared, "ghost");
    let w = w
        .restart_after(|dir| {
            let db = open_db(dir).expect("open the directory");
            assert!(
                db.drop_tree("unique_keys").expect("drop"),
                "the claims tree exists under this name"
            );
            let tree = db.open_tree("unique_keys").expect("tree");
            tree.insert(stale.as_bytes(), "authentication-stale")
                .expect("stale claim");
            db.flush().expect("flush");
        })
        .await;
    match probe(&w, name_claim(w.shared, "LEGACY name")).await {
        Err(StoreError::UniqueKeyTaken { holder, .. }) => {
            assert_eq!(holder, authentication_stream(legacy));
        }
        other => panic!("the live name is claimed again: {other:?}"),
    }
    probe(&w, name_claim(w.shared, "ghost"))
        .await
        .expect("the stale claim is gone");
    probe(&w, name_claim(w.shared, "gone"))
        .await
        .expect("a deleted authentication holds no name");
}

fn keyed(caller: &Caller, key: u8, hash: u8) -> Caller {
    Caller {
        idempotency: Some(IdempotencyRequest {
            key: [key; 32],
            request_hash: [hash; 32],
        }),
        ..caller.clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_write_answers_from_its_first_outcome() {
    let w = AppUnderTest::new().await;
    let owner = keyed(&caller(w.owner), 1, 1);
    let (first_id, cmd) = create("Once", w.shared, "airtable", &[("token", "t")], &[]);
    let first = w
        .app
        .execute(&owner, first_id, cmd, None)
        .await
        .expect("create");
    assert!(!first.replayed);
    let head = w.app.store().head().position;
    // The retry decides with a new id, as a handler does; it gets the first one back.
    let (retry_id, cmd) = create("Once", w.shared, "airtable", &[("token", "t")], &[]);
    let again = w
        .app
        .execute(&owner, retry_id, cmd, None)
        .await
        .expect("replay");
    assert!(again.replayed);
    assert_eq!(
        (again.id, again.version, again.warnings.clone()),
        // Created, and its verification record (off in tests).
        (first_id, 2, first.warnings)
    );
    assert_eq!(w.app.store().head().position, head, "nothing ran again");
    // The same key with another request is refused.
    let (other_id, cmd) = create("Twice", w.shared, "airtable", &[("token", "t")], &[]);
    let reused = w
        .app
        .execute(&keyed(&caller(w.owner), 1, 2), other_id, cmd, None)
        .await;
    assert!(
        matches!(reused, Err(AppError::IdempotencyKeyReused)),
        "{reused:?}"
    );

    // A directory command replays the events it wrote (so the first ids come back).
    let create_workspace = |workspace| DirectoryCommand::CreateWorkspace {
        workspace,
        organization: w.org,
        name: "Replayed".into(),
    };
    let owner = keyed(&caller(w.owner), 3, 3);
    let first_ws = WorkspaceId::new();
    w.app
        .directory_command(&owner, create_workspace(first_ws))
        .await
        .expect("create workspace");
    let events = w
        .app
        .directory_command(&owner, create_workspace(WorkspaceId::new()))
        .await
        .expect("replay");
    assert!(matches!(
        events.as_slice(),
        [DirectoryEvent::WorkspaceCreated { workspace, .. }] if *workspace == first_ws
    ));

    // A token's answer held its text: a replay says so instead of repeating or re-issuing it.
    let owner = keyed(&caller(w.owner), 4, 4);
    let principal = Principal::User(w.owner.id);
    w.app
        .issue_token(Some(&owner), principal.clone(), "once", Default::default())
        .await
        .expect("issue");
    let head = w.app.store().head().position;
    let replay = w
        .app
        .issue_token(Some(&owner), principal, "once", Default::default())
        .await;
    assert!(
        matches!(replay, Err(AppError::AnswerShownOnce)),
        "{replay:?}"
    );
    assert_eq!(w.app.store().head().position, head);

    // A custom service with its authentication (two appends) replays both ids.
    let owner = keyed(&caller(w.owner), 5, 5);
    let together = |service| {
        let (id, cmd) = airtable("Together", w.owner.personal);
        let AuthenticationCommand::Create(create) = cmd else {
            unreachable!("create() builds a create command")
        };
        (service, id, create)
    };
    let (service, id, first) = together(ServiceId::new());
    let made = w
        .app
        .create_with_new_service(&owner, service, token_service(), first)
        .await
        .expect("service and authentication");
    assert_eq!((made.0, made.1.id), (service, id));
    let head = w.app.store().head().position;
    let (other_service, _, retry) = together(ServiceId::new());
    let replayed = w
        .app
        .create_with_new_service(&owner, other_service, token_service(), retry)
        .await
        .expect("replay");
    assert_eq!(
        (replayed.0, replayed.1.id, replayed.1.replayed),
        (service, id, true)
    );
    assert_eq!(w.app.store().head().position, head, "nothing ran again");
}

fn token_service() -> ServiceSpec {
    ServiceSpec {
        name: "Internal API".into(),
        api_version: "v1".into(),
        auth_kind: AuthKind::Token,
        fields: Vec::new(),
        oauth: None,
        scopes: Vec::new(),
        required_scopes: Vec::new(),
        verification: None,
    }
}
