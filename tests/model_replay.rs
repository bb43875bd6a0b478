//! Property: random valid command sequences over many authentications, on a real sled data
//! directory; the live read model (its state in memory and everything it wrote to the read
//! store) equals a full replay of the log from position 1, equals the model reopened after a
//! restart, equals the read side put back as it was half-way plus the tail folded at start,
//! and equals a full rebuild of a read side whose checkpoint does not match the log.
//!
//! Many generated commands are refused by the domain (access, naming, lifecycle, field rules);
//! that is intended, and every refused command must leave the log untouched.
//!
//! `MODEL_REPLAY_CASES=n` runs more cases (default 32); `MODEL_REPLAY_REASONS=1` prints why each
//! refused command was refused (to check the mix of generated commands).

mod app_support;

use std::collections::{BTreeMap, BTreeSet};

use std::sync::Mutex;

use app_support::{caller, field, AppUnderTest, Persona};
use credledger::app::{AppError, CommandOutcome, RestoreTarget};
use credledger::domain::authentication::{
    AuthenticationCommand, AuthenticationError, ChangeOrigin, CreateAuthentication, FieldChange,
};
use credledger::domain::ids::{AuthenticationId, EnvironmentTag, ServiceKey, WorkspaceId};
use credledger::domain::secret::SecretText;
use credledger::domain::services::ServiceRef;
use credledger::ledger::{EventStore, Position};
use credledger::projections::{
    ChangeSet, Distrust, KeyRange, LedgerModel, ReadCheckpoint, ReadStore, ScanOrder,
    SledReadStore, StartKind, Table,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

/// Authentications per case (command targets are drawn from these slots).
const SLOTS: usize = 5;
/// Scopes offered to Slack authentications in this test.
const SLACK_SCOPES: [&str; 3] = ["channels:read", "chat:write", "users:read"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// The organization owner's personal workspace.
    OwnerPersonal,
    /// The shared workspace ("Sales").
    Shared,
    /// The organization workspace.
    Org,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Service {
    Airtable,
    Jira,
    Webhook,
    Slack,
}

/// What a re-authentication does with one field of the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pick {
    Omit,
    Set(u8),
    Clear,
    Invalid,
}

#[derive(Debug, Clone)]
enum Op {
    Create {
        slot: usize,
        who: Persona,
        service: Service,
        name: usize,
        place: Place,
        value: u8,
        optional: bool,
        scopes: u8,
        bad_scope: bool,
    },
    Rename {
        slot: usize,
        who: Persona,
        name: usize,
    },
    Move {
        slot: usize,
        who: Persona,
        to: Place,
    },
    Reauthenticate {
        slot: usize,
        who: Persona,
        picks: [Pick; 3],
        unknown_field: bool,
    },
    ChangeScopes {
        slot: usize,
        who: Persona,
        scopes: u8,
        extra: u8,
    },
    Delete {
        slot: usize,
        who: Persona,
    },
    Restore {
        slot: usize,
        who: Persona,
        pick: u8,
        in_range: bool,
    },
    Purge {
        slot: usize,
        who: Persona,
    },
}

impl Op {
    fn kind(&self) -> &'static str {
        match self {
            Op::Create { .. } => "create",
            Op::Rename { .. } => "rename",
            Op::Move { .. } => "move",
            Op::Reauthenticate { .. } => "reauthenticate",
            Op::ChangeScopes { .. } => "change_scopes",
            Op::Delete { .. } => "delete",
            Op::Restore { .. } => "restore",
            Op::Purge { .. } => "purge",
        }
    }

    fn slot(&self) -> usize {
        match self {
            Op::Create { slot, .. }
            | Op::Rename { slot, .. }
            | Op::Move { slot, .. }
            | Op::Reauthenticate { slot, .. }
            | Op::ChangeScopes { slot, .. }
            | Op::Delete { slot, .. }
            | Op::Restore { slot, .. }
            | Op::Purge { slot, .. } => *slot,
        }
    }

    fn who(&self) -> Persona {
        match self {
            Op::Create { who, .. }
            | Op::Rename { who, .. }
            | Op::Move { who, .. }
            | Op::Reauthenticate { who, .. }
            | Op::ChangeScopes { who, .. }
            | Op::Delete { who, .. }
            | Op::Restore { who, .. }
            | Op::Purge { who, .. } => *who,
        }
    }
}

/// Names: collisions and case variants first, then names the rules refuse.
fn name(index: usize) -> String {
    match index {
        0 => "Alpha".into(),
        1 => "alpha".into(),
        2 => "ALPHA".into(),
        3 => "  Alpha  ".into(),
        4 => "Beta".into(),
        5 => "beta".into(),
        6 => "Gamma".into(),
        7 => "Ünïcode Ω".into(),
        8 => "Delta".into(),
        9 => "Epsilon".into(),
        10 => String::new(),
        11 => "   ".into(),
        12 => "bell\u{7}name".into(),
        _ => "x".repeat(121),
    }
}

fn who() -> impl Strategy<Value = Persona> {
    prop_oneof![
        6 => Just(Persona::Owner),
        2 => Just(Persona::Admin),
        1 => Just(Persona::Member),
        2 => Just(Persona::Editor),
        1 => Just(Persona::Viewer),
        1 => Just(Persona::Outsider),
    ]
}

fn place() -> impl Strategy<Value = Place> {
    prop_oneof![
        Just(Place::OwnerPersonal),
        Just(Place::Shared),
        Just(Place::Org)
    ]
}

fn service() -> impl Strategy<Value = Service> {
    prop_oneof![
        1 => Just(Service::Airtable),
        1 => Just(Service::Jira),
        1 => Just(Service::Webhook),
        2 => Just(Service::Slack),
    ]
}

fn name_index() -> impl Strategy<Value = usize> {
    prop_oneof![10 => 0..10usize, 1 => 10..14usize]
}

fn slot() -> impl Strategy<Value = usize> {
    0..SLOTS
}

fn pick() -> impl Strategy<Value = Pick> {
    prop_oneof![
        3 => Just(Pick::Omit),
        3 => any::<u8>().prop_map(Pick::Set),
        1 => Just(Pick::Clear),
        1 => Just(Pick::Invalid),
    ]
}

fn create_op() -> impl Strategy<Value = Op> {
    (
        slot(),
        who(),
        service(),
        name_index(),
        place(),
        any::<u8>(),
        any::<bool>(),
        0u8..8,
        prop::bool::weighted(0.1),
    )
        .prop_map(
            |(slot, who, service, name, place, value, optional, scopes, bad_scope)| Op::Create {
                slot,
                who,
                service,
                name,
                place,
                value,
                optional,
                scopes,
                bad_scope,
            },
        )
}

fn op() -> impl Strategy<Value = Op> {
    let create = create_op();
    let rename =
        (slot(), who(), name_index()).prop_map(|(slot, who, name)| Op::Rename { slot, who, name });
    let move_ = (slot(), who(), place()).prop_map(|(slot, who, to)| Op::Move { slot, who, to });
    let reauthenticate = (
        slot(),
        who(),
        [pick(), pick(), pick()],
        prop::bool::weighted(0.1),
    )
        .prop_map(|(slot, who, picks, unknown_field)| Op::Reauthenticate {
            slot,
            who,
            picks,
            unknown_field,
        });
    let change_scopes =
        (slot(), who(), 0u8..8, 0u8..4).prop_map(|(slot, who, scopes, extra)| Op::ChangeScopes {
            slot,
            who,
            scopes,
            extra,
        });
    let delete = (slot(), who()).prop_map(|(slot, who)| Op::Delete { slot, who });
    let restore = (slot(), who(), any::<u8>(), prop::bool::weighted(0.85)).prop_map(
        |(slot, who, pick, in_range)| Op::Restore {
            slot,
            who,
            pick,
            in_range,
        },
    );
    let purge = (slot(), who()).prop_map(|(slot, who)| Op::Purge { slot, who });
    prop_oneof![
        2 => create,
        3 => rename,
        3 => move_,
        4 => reauthenticate,
        2 => change_scopes,
        2 => delete,
        3 => restore,
        1 => purge,
    ]
}

/// One create per slot by the owner first (each may still be refused, e.g. for its name), then
/// 15 to 55 random operations.
fn ops() -> impl Strategy<Value = Vec<Op>> {
    let creates: [_; SLOTS] = std::array::from_fn(|slot| {
        create_op().prop_map(move |mut op| {
            if let Op::Create { slot: s, who, .. } = &mut op {
                *s = slot;
                *who = Persona::Owner;
            }
            op
        })
    });
    (creates, prop::collection::vec(op(), 15..=55)).prop_map(|(first, rest)| {
        let mut all = first.to_vec();
        all.extend(rest);
        all
    })
}

fn workspace(world: &AppUnderTest, place: Place) -> WorkspaceId {
    match place {
        Place::OwnerPersonal => world.owner.personal,
        Place::Shared => world.shared,
        Place::Org => world.org_workspace,
    }
}

/// The fields of a service, as this test uses them.
fn service_fields(service: &str) -> &'static [&'static str] {
    match service {
        "airtable" => &["token"],
        "jira" => &["username", "password", "site"],
        "webhook" => &["csrf_token", "signing_secret"],
        "slack" => &["access_token", "refresh_token", "expires_at"],
        other => panic!("service {other} is not generated by this test"),
    }
}

/// A valid value for a field.
fn value(field_name: &str, index: u8) -> String {
    match field_name {
        "username" => ["ann", "bob", "carol"][usize::from(index % 3)].into(),
        "site" => ["acme.atlassian.net", "beta.atlassian.net"][usize::from(index % 2)].into(),
        "expires_at" => ["2030-01-01T00:00:00Z", "1893456000", "2001-01-01T00:00:00Z"]
            [usize::from(index % 3)]
        .into(),
        other => format!("{other}-{}", index % 4),
    }
}

/// A value the field rules refuse.
fn invalid_value(field_name: &str) -> String {
    match field_name {
        "username" => "ann:secret".into(),
        "site" => "https://not a host/".into(),
        "expires_at" => "soon".into(),
        _ => "   ".into(),
    }
}

fn scopes_from_mask(mask: u8) -> Vec<String> {
    SLACK_SCOPES
        .iter()
        .enumerate()
        .filter(|(i, _)| mask & (1 << i) != 0)
        .map(|(_, s)| (*s).to_owned())
        .collect()
}

fn service_key(service: Service) -> &'static str {
    match service {
        Service::Airtable => "airtable",
        Service::Jira => "jira",
        Service::Webhook => "webhook",
        Service::Slack => "slack",
    }
}

/// Runs one operation through the application layer.
async fn run_op(
    world: &AppUnderTest,
    ids: &[AuthenticationId; SLOTS],
    op: &Op,
) -> Result<CommandOutcome, AppError> {
    let id = ids[op.slot()];
    let acting = caller(world.person(op.who()));
    // Service and version of the target as the model knows it now.
    let (current_service, current_version) = {
        let model = world.app.model().model().read().await;
        let record = model.authentication(id);
        (
            record
                .as_ref()
                .and_then(|r| r.state.current.as_ref())
                .map(|a| a.service.to_string()),
            record.map_or(0, |r| r.state.version),
        )
    };
    let command = match op {
        Op::Create {
            service,
            name: name_index,
            place,
            value: index,
            optional,
            scopes,
            bad_scope,
            ..
        } => {
            let key = service_key(*service);
            let mut values: Vec<(&str, String)> = match service {
                Service::Airtable => vec![("token", value("token", *index))],
                Service::Jira => vec![
                    ("username", value("username", *index)),
                    ("password", value("password", *index)),
                    ("site", value("site", *index)),
                ],
                Service::Webhook => vec![("csrf_token", value("csrf_token", *index))],
                Service::Slack => vec![("access_token", value("access_token", *index))],
            };
            if *optional {
                match service {
                    Service::Webhook => {
                        values.push(("signing_secret", value("signing_secret", *index)))
                    }
                    Service::Slack => {
                        values.push(("refresh_token", value("refresh_token", *index)))
                    }
                    Service::Airtable | Service::Jira => {}
                }
            }
            let mut scopes = match service {
                Service::Slack => scopes_from_mask(*scopes),
                _ => Vec::new(),
            };
            if *bad_scope {
                // Not a Slack scope, or scopes on a kind without scopes: refused.
                scopes.push(match service {
                    Service::Slack => "admin:everything".into(),
                    _ => "channels:read".into(),
                });
            }
            AuthenticationCommand::Create(CreateAuthentication {
                id,
                name: name(*name_index),
                workspace: workspace(world, *place),
                service: ServiceRef::Prebuilt(ServiceKey::parse(key).expect("service key")),
                fields: values
                    .into_iter()
                    .map(|(k, v)| (field(k), SecretText::new(v)))
                    .collect(),
                scopes,
                extra_permissions: Vec::new(),
                environment: Some(EnvironmentTag::parse("production").expect("tag")),
                origin: ChangeOrigin::Api,
            })
        }
        Op::Rename {
            name: name_index, ..
        } => AuthenticationCommand::Rename {
            name: name(*name_index),
        },
        Op::Move { to, .. } => AuthenticationCommand::Move {
            to: workspace(world, *to),
        },
        Op::Reauthenticate {
            picks,
            unknown_field,
            ..
        } => {
            let names = service_fields(current_service.as_deref().unwrap_or("airtable"));
            let mut changes = BTreeMap::new();
            for (field_name, pick) in names.iter().zip(picks.iter()) {
                let change = match pick {
                    Pick::Omit => continue,
                    Pick::Set(index) => {
                        FieldChange::Set(SecretText::new(value(field_name, *index)))
                    }
                    Pick::Clear => FieldChange::Clear,
                    Pick::Invalid => FieldChange::Set(SecretText::new(invalid_value(field_name))),
                };
                changes.insert(field(field_name), change);
            }
            if *unknown_field {
                changes.insert(field("not_a_field"), FieldChange::Set(SecretText::new("x")));
            }
            AuthenticationCommand::Reauthenticate {
                fields: changes,
                origin: ChangeOrigin::Dashboard,
            }
        }
        Op::ChangeScopes { scopes, extra, .. } => AuthenticationCommand::ChangeScopes {
            scopes: scopes_from_mask(*scopes),
            extra_permissions: match extra {
                0 => Vec::new(),
                1 => vec!["extra:one".into()],
                2 => vec!["extra:one".into(), " extra:one ".into(), "extra:two".into()],
                _ => vec![" ".into()],
            },
        },
        Op::Delete { .. } => AuthenticationCommand::Delete,
        Op::Purge { .. } => AuthenticationCommand::Purge,
        Op::Restore { pick, in_range, .. } => {
            let pick = u64::from(*pick);
            let target = if *in_range && current_version >= 2 {
                1 + pick % (current_version - 1)
            } else {
                // 0, the current version or a future one: all refused.
                [0, current_version, current_version + 1][(pick % 3) as usize]
            };
            return world
                .app
                .restore(&acting, id, RestoreTarget::Version(target), None)
                .await;
        }
    };
    world.app.execute(&acting, id, command, None).await
}

/// Where two models differ, precisely enough to find the event responsible.
fn difference(a: &LedgerModel, b: &LedgerModel) -> String {
    let mut out = Vec::new();
    if a.position != b.position {
        out.push(format!("position {} vs {}", a.position, b.position));
    }
    if a.directory_version != b.directory_version {
        out.push(format!(
            "directory_version {} vs {}",
            a.directory_version, b.directory_version
        ));
    }
    if a.directory != b.directory {
        out.push(format!(
            "directory differs:\n{:#?}\nvs\n{:#?}",
            a.directory, b.directory
        ));
    }
    if a.custom_services != b.custom_services {
        out.push("custom_services differ".into());
    }
    if (a.tokens_version, &a.tokens) != (b.tokens_version, &b.tokens) {
        out.push(format!(
            "tokens differ (versions {} vs {})",
            a.tokens_version, b.tokens_version
        ));
    }
    if a.names != b.names {
        out.push(format!("names differ:\n{:?}\nvs\n{:?}", a.names, b.names));
    }
    let ids: BTreeSet<_> = a
        .authentications
        .ids()
        .chain(b.authentications.ids())
        .collect();
    for id in ids {
        match (a.authentications.get(id), b.authentications.get(id)) {
            (Some(x), Some(y)) if x == y => {}
            (Some(x), Some(y)) => {
                if x.state != y.state {
                    out.push(format!(
                        "authentication {id}: state\n{:#?}\nvs\n{:#?}",
                        x.state, y.state
                    ));
                }
                if (x.created_at, x.updated_at) != (y.created_at, y.updated_at) {
                    out.push(format!(
                        "authentication {id}: times {:?} vs {:?}",
                        (x.created_at, x.updated_at),
                        (y.created_at, y.updated_at)
                    ));
                }
            }
            (x, y) => out.push(format!(
                "authentication {id}: present {} vs {}",
                x.is_some(),
                y.is_some()
            )),
        }
    }
    out.join("\n")
}

/// Every entry of a read store: table, key, value.
type Dump = Vec<(Table, Vec<u8>, Vec<u8>)>;

/// Everything a read store holds, table by table.
fn dump(store: &SledReadStore) -> Dump {
    let mut out = Vec::new();
    for table in Table::ALL {
        let entries = store
            .scan(
                table,
                &KeyRange::prefix(Vec::new()),
                ScanOrder::Ascending,
                usize::MAX,
            )
            .expect("scan");
        for (key, value) in entries {
            if table == Table::Audit {
                // Blocks follow batch boundaries; the postings they hold do not.
                let postings =
                    credledger::projections::audit::postings_of(&key, &value).expect("audit block");
                out.extend(postings.into_iter().map(|k| (table, k, Vec::new())));
            } else {
                out.push((table, key, value));
            }
        }
    }
    out.sort();
    out
}

fn same_store(
    label: &str,
    expected: &[(Table, Vec<u8>, Vec<u8>)],
    actual: &[(Table, Vec<u8>, Vec<u8>)],
) -> Result<(), TestCaseError> {
    if expected == actual {
        return Ok(());
    }
    let first = expected
        .iter()
        .zip(actual)
        .position(|(a, b)| a != b)
        .unwrap_or(expected.len().min(actual.len()));
    Err(TestCaseError::fail(format!(
        "{label}: read stores differ: {} vs {} entries, first difference at {first}: {:?} vs {:?}",
        expected.len(),
        actual.len(),
        expected.get(first).map(|(t, k, _)| (t, hex::encode(k))),
        actual.get(first).map(|(t, k, _)| (t, hex::encode(k))),
    )))
}

fn same(label: &str, expected: &LedgerModel, actual: &LedgerModel) -> Result<(), TestCaseError> {
    if expected == actual {
        Ok(())
    } else {
        Err(TestCaseError::fail(format!(
            "{label}: models differ (expected vs actual):\n{}",
            difference(expected, actual)
        )))
    }
}

/// Accepted and refused commands per kind, over all cases (for the summary line).
type Tally = Mutex<BTreeMap<&'static str, (usize, usize)>>;

async fn run_case(ops: Vec<Op>, tally: &Tally) -> Result<(), TestCaseError> {
    let world = AppUnderTest::new().await;
    let ids: [AuthenticationId; SLOTS] = std::array::from_fn(|_| AuthenticationId::new());
    let half = ops.len() / 2;
    let mut halfway: Option<(Dump, ReadCheckpoint)> = None;

    for (step, op) in ops.iter().enumerate() {
        if step == half {
            let store = world.app.model().store();
            let checkpoint = store.checkpoint().expect("checkpoint").expect("written");
            prop_assert_eq!(checkpoint.position, world.app.store().head().position);
            prop_assert_eq!(checkpoint.position, world.app.model().applied());
            halfway = Some((dump(store), checkpoint));
        }
        let head = world.app.store().head().position;
        let applied = world.app.model().applied();
        let service_before = world
            .app
            .model()
            .model()
            .read()
            .await
            .authentication(ids[op.slot()])
            .and_then(|r| r.state.current.map(|a| a.service));
        let existed = service_before.is_some();
        // Verification is off in tests: a create or re-authentication of a service with a
        // verification endpoint (all but the webhook) also records `not_verifiable`.
        let webhook = ServiceRef::Prebuilt(ServiceKey::parse("webhook").expect("key"));
        let records_verification = match op {
            Op::Create { service, .. } => *service != Service::Webhook,
            Op::Reauthenticate { .. } => service_before.as_ref().is_some_and(|s| *s != webhook),
            _ => false,
        };
        let result = run_op(&world, &ids, op).await;
        let after = world.app.store().head().position;
        {
            let mut counts = tally.lock().unwrap_or_else(|e| e.into_inner());
            let entry = counts.entry(op.kind()).or_default();
            if result.is_ok() {
                entry.0 += 1;
            } else {
                entry.1 += 1;
            }
        }
        match result {
            Ok(outcome) => {
                prop_assert_eq!(
                    after,
                    head + 1 + u64::from(records_verification),
                    "step {}: {:?} wrote its event (and its verification record)",
                    step,
                    op
                );
                prop_assert_eq!(outcome.position, after, "step {}: {:?}", step, op);
                prop_assert!(
                    world.app.model().applied() >= after,
                    "step {}: read-your-writes",
                    step
                );
            }
            Err(err) => {
                if std::env::var_os("MODEL_REPLAY_REASONS").is_some() {
                    eprintln!("{} refused: {err}", op.kind());
                }
                prop_assert!(
                    !matches!(
                        err,
                        AppError::Store(_)
                            | AppError::Projection(_)
                            | AppError::Storage(_)
                            | AppError::Crypto(_)
                            | AppError::Conflict(_)
                    ),
                    "step {}: {:?} failed for an unexpected reason: {}",
                    step,
                    op,
                    err
                );
                // A refusal for lack of rights on an existing authentication writes exactly
                // its access record (`access.refused`); every other refusal writes nothing.
                let access_refusal = existed
                    && matches!(
                        err,
                        AppError::NotFound
                            | AppError::Authentication(AuthenticationError::AccessDenied { .. })
                    );
                prop_assert!(
                    after == head + u64::from(access_refusal),
                    "step {}: refused {:?} ({}) wrote {} events to the log",
                    step,
                    op,
                    err,
                    after - head
                );
                prop_assert_eq!(
                    world.app.model().applied(),
                    applied + (after - head),
                    "step {}",
                    step
                );
            }
        }
    }
    let (halfway_store, halfway_checkpoint) = halfway.expect("at least 20 operations");

    // (1) The live model: its state in memory and what it wrote.
    let live = world.app.model().model().read().await.clone();
    let live_store = dump(world.app.model().store());
    let head = world.app.store().head().position;
    prop_assert_eq!(live.position, head, "live model is caught up");

    // (2) A full replay from position 1, in memory.
    let all = world
        .app
        .store()
        .read_all(Position::FIRST, usize::MAX)
        .await
        .expect("read all");
    prop_assert_eq!(all.len() as u64, head, "gapless log");
    let full = LedgerModel::replay(&all).expect("replay");
    same("full replay vs live", &full, &live)?;

    // (3) A real restart: the live state is read back from the read store.
    let AppUnderTest {
        app,
        data_dir,
        key_file,
        ..
    } = world;
    app.close().await.expect("close");
    let app = app_support::open_app(&data_dir, &key_file).await;
    prop_assert!(
        matches!(app.model().start_kind(), StartKind::Resumed { from } if *from == head),
        "restart resumes, got {:?}",
        app.model().start_kind()
    );
    same(
        "restart vs live before it",
        &live,
        &app.model().model().read().await.clone(),
    )?;
    same_store("restart vs live", &live_store, &dump(app.model().store()))?;
    app.close().await.expect("close");

    // (4) The read side as it was half-way: the start folds the tail itself.
    let replant = |entries: &[(Table, Vec<u8>, Vec<u8>)], checkpoint: ReadCheckpoint| {
        let db = credledger::ledger::open_db(&data_dir).expect("open the data dir");
        let store = SledReadStore::open(&db).expect("read store");
        store.clear().expect("clear");
        let mut changes = ChangeSet::default();
        for (table, key, value) in entries {
            changes.put(*table, key.clone(), value.clone());
        }
        store.commit(&changes, checkpoint).expect("commit");
        db.flush().expect("flush");
    };
    replant(&halfway_store, halfway_checkpoint);
    let app = app_support::open_app(&data_dir, &key_file).await;
    prop_assert!(
        matches!(
            app.model().start_kind(),
            StartKind::Resumed { from } if *from == halfway_checkpoint.position
        ),
        "a half-way read side resumes, got {:?}",
        app.model().start_kind()
    );
    same(
        "half-way read side + tail vs live",
        &live,
        &app.model().model().read().await.clone(),
    )?;
    same_store(
        "half-way + tail vs live",
        &live_store,
        &dump(app.model().store()),
    )?;
    app.close().await.expect("close");

    // (5) The same read side under a checkpoint whose chain hash is not this log's: not
    // believed, rebuilt from the log.
    let mut forged = halfway_checkpoint;
    forged.hash.0[0] ^= 1;
    replant(&halfway_store, forged);
    let app = app_support::open_app(&data_dir, &key_file).await;
    prop_assert!(
        matches!(
            app.model().start_kind(),
            StartKind::Rebuilt {
                reason: Distrust::OtherChain { .. }
            }
        ),
        "a forged checkpoint is rebuilt, got {:?}",
        app.model().start_kind()
    );
    same(
        "rebuilt vs live",
        &live,
        &app.model().model().read().await.clone(),
    )?;
    same_store("rebuilt vs live", &live_store, &dump(app.model().store()))?;
    app.close().await.expect("close");
    Ok(())
}

#[test]
fn live_model_equals_full_replay_restart_tail_and_rebuild() {
    let config = Config {
        cases: std::env::var("MODEL_REPLAY_CASES")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(32),
        max_shrink_iters: 32,
        failure_persistence: None,
        ..Config::default()
    };
    let tally = Tally::default();
    let mut runner = TestRunner::new(config);
    let result = runner.run(&ops(), |ops| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(run_case(ops, &tally))
    });
    let counts = tally.lock().unwrap_or_else(|e| e.into_inner());
    let summary: Vec<String> = counts
        .iter()
        .map(|(kind, (accepted, refused))| format!("{kind} {accepted}/{}", accepted + refused))
        .collect();
    eprintln!("accepted/attempted: {}", summary.join(", "));
    if let Err(failure) = result {
        panic!("{failure}");
    }
}
