//! Golden bytes: the stored payloads of domain events must never change.
//!
//! `snapshots/events/` holds one file per (event type, schema version), named
//! `<event_type>-v<schema_version>.bin` and holding exactly the bytes of
//! `payloads::encode_payload`. The test compares the encoding of a deterministic sample with
//! the file, decodes the file through the real `payloads::decode` path (inside a sealed
//! envelope on the right stream) and compares the result with the sample. Set
//! `UPDATE_SNAPSHOTS=1` only when adding a new file; an existing file is never rewritten.
//! A change to a payload needs a new schema version with its own decoder, not new bytes.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;
use std::sync::OnceLock;

use credledger::crypto::{
    Fingerprint, Fingerprinter, MasterKey, Sealed, SealedSecret, SecretBytes, KEY_FILE_HEADER,
    SEALED_VERSION,
};
use credledger::domain::access_log::{AccessEvent, WorkflowStepRef};
use credledger::domain::authentication::{
    AuthenticationEvent, ChangeOrigin, FieldOutcome, FieldValue, VerificationOutcome,
    AUTHENTICATION_EVENT_TYPES,
};
use credledger::domain::directory::{DirectoryEvent, OrgRole, WorkspaceRole};
use credledger::domain::ids::{
    AuthenticationId, EnvironmentTag, FieldName, OrganizationId, PrincipalId, ServiceId, StepId,
    TokenId, UserId, WebhookId, WorkflowId, WorkspaceId,
};
use credledger::domain::keys::{KeysEvent, MasterKeyRef};
use credledger::domain::principals::{Principal, TokenEvent};
use credledger::domain::services::{
    AuthKind, ClientAuthMethod, ClientRegistration, CustomServiceEvent, FieldFormat, FieldSpec,
    OAuthEndpoints, OpaqueSealed, ServiceRef, ServiceSpec, VerificationEndpoint,
};
use credledger::domain::token_scope::{TokenScope, TokenScopes, TokenUse, TokenUseEvent};
use credledger::domain::webhooks::WebhookEvent;
use credledger::ledger::{
    self, Actor, ChainHash, Envelope, EnvelopeBody, EventId, Position, StreamId, StreamVersion,
};
use credledger::projections::payloads::{
    self, authentication_stream, directory_stream, service_stream, DomainEvent,
    StoredAuthenticationEvent, TokenEventV1,
};
use credledger::time::Timestamp;
use uuid::Uuid;

fn uuid(n: u128) -> Uuid {
    Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 | n)
}

fn organization() -> OrganizationId {
    OrganizationId::from_uuid(uuid(1))
}
fn org_workspace() -> WorkspaceId {
    WorkspaceId::from_uuid(uuid(2))
}
fn user(n: u128) -> UserId {
    UserId::from_uuid(uuid(10 + n))
}
fn personal_workspace() -> WorkspaceId {
    WorkspaceId::from_uuid(uuid(20))
}
fn shared_workspace() -> WorkspaceId {
    WorkspaceId::from_uuid(uuid(21))
}
fn custom_service() -> ServiceId {
    ServiceId::from_uuid(uuid(30))
}
fn authentication() -> AuthenticationId {
    AuthenticationId::from_uuid(uuid(40))
}
fn data_key_id() -> Uuid {
    uuid(50)
}

fn field(name: &str) -> FieldName {
    FieldName::parse(name).expect("valid field name")
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// A real fingerprinter under a fixed master key, loaded from a key file written here.
fn fingerprinter() -> &'static Fingerprinter {
    static FINGERPRINTER: OnceLock<Fingerprinter> = OnceLock::new();
    FINGERPRINTER.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("master.key");
        let key_hex: String = (1u8..=32).map(|b| format!("{b:02x}")).collect();
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&path).expect("create key file");
        write!(
            file,
            "{KEY_FILE_HEADER}\nkey_id=golden-payloads\nkey={key_hex}\n"
        )
        .expect("write key file");
        drop(file);
        let master = MasterKey::load(&path).expect("load fixed master key");
        Fingerprinter::from_master(&master).expect("fingerprinter")
    })
}

fn fingerprint(plaintext: &str) -> Fingerprint {
    fingerprinter().fingerprint(&SecretBytes::from_slice(plaintext.as_bytes()))
}

/// A sealed secret with a fixed nonce and ciphertext (not openable; only its encoding matters).
fn sealed_secret(n: u8, plaintext: &str) -> SealedSecret {
    let ciphertext = (0..plaintext.len() + 16)
        .map(|i| n.wrapping_mul(31).wrapping_add(i as u8))
        .collect();
    SealedSecret {
        sealed: Sealed {
            version: SEALED_VERSION,
            data_key_id: data_key_id(),
            nonce: [n; 12],
            ciphertext,
        },
        fingerprint: fingerprint(plaintext),
    }
}

fn workflow_step() -> ChangeOrigin {
    ChangeOrigin::WorkflowStep {
        workflow: WorkflowId::parse("wf-invoices/v2").expect("workflow id"),
        step: StepId::parse("step:3").expect("step id"),
    }
}

fn spec() -> ServiceSpec {
    ServiceSpec {
        name: "Acme CRM \u{e9}".into(),
        api_version: "2024-06".into(),
        auth_kind: AuthKind::OAuth2,
        fields: vec![FieldSpec {
            name: field("instance"),
            secret: false,
            required: true,
            format: FieldFormat::Hostname,
            description: "Instance host, e.g. acme.crm.test".into(),
        }],
        oauth: Some(OAuthEndpoints {
            authorize_url: "https://{instance}/oauth/authorize".into(),
            token_url: "https://{instance}/oauth/token".into(),
            request_token_url: None,
        }),
        scopes: strings(&["contacts.read", "contacts.write", "deals.read"]),
        required_scopes: strings(&["contacts.read"]),
        verification: Some(VerificationEndpoint {
            method: "GET".into(),
            url: "https://{instance}/api/me".into(),
        }),
    }
}

/// One sample event of a family, with what its stream and decoded form must be.
#[derive(Debug, Clone)]
enum Sample {
    Directory(DirectoryEvent),
    Service(CustomServiceEvent),
    Token(TokenEvent),
    /// A token event at schema version 1: its frozen form and what it decodes to today.
    TokenV1(TokenEventV1, TokenEvent),
    TokenUse(TokenUseEvent),
    Authentication(AuthenticationId, StoredAuthenticationEvent),
    Access(AccessEvent),
    Keys(KeysEvent),
    Webhook(WebhookId, WebhookEvent),
}

impl Sample {
    fn event_type(&self) -> &'static str {
        match self {
            Sample::Directory(e) => e.event_type(),
            Sample::Service(e) => e.event_type(),
            Sample::Token(e) | Sample::TokenV1(_, e) => e.event_type(),
            Sample::TokenUse(e) => e.event_type(),
            Sample::Authentication(_, e) => e.event_type(),
            Sample::Access(e) => e.event_type(),
            Sample::Keys(e) => e.event_type(),
            Sample::Webhook(_, e) => e.event_type(),
        }
    }

    fn schema_version(&self) -> u16 {
        match self {
            Sample::Directory(e) => e.schema_version(),
            Sample::Service(e) => e.schema_version(),
            Sample::Token(e) => e.schema_version(),
            Sample::TokenV1(..) => 1,
            Sample::TokenUse(e) => e.schema_version(),
            Sample::Authentication(_, e) => e.schema_version(),
            Sample::Access(e) => e.schema_version(),
            Sample::Keys(e) => e.schema_version(),
            Sample::Webhook(_, e) => e.schema_version(),
        }
    }

    fn encode(&self) -> Vec<u8> {
        match self {
            Sample::Directory(e) => payloads::encode_payload(e),
            Sample::Service(e) => payloads::encode_payload(e),
            Sample::Token(e) => payloads::encode_payload(e),
            Sample::TokenV1(e, _) => payloads::encode_payload(e),
            Sample::TokenUse(e) => payloads::encode_payload(e),
            Sample::Authentication(_, e) => payloads::encode_payload(e),
            Sample::Access(e) => payloads::encode_payload(e),
            Sample::Keys(e) => payloads::encode_payload(e),
            Sample::Webhook(_, e) => payloads::encode_payload(e),
        }
        .expect("encode payload")
    }

    fn stream(&self) -> StreamId {
        match self {
            Sample::Directory(_) => directory_stream(),
            Sample::Service(e) => service_stream(e.service()),
            Sample::Token(_) | Sample::TokenV1(..) => payloads::tokens_stream(),
            Sample::TokenUse(e) => payloads::token_use_stream(e.token()),
            Sample::Authentication(id, _) => authentication_stream(*id),
            Sample::Access(e) => payloads::access_stream(e.authentication()),
            Sample::Keys(_) => payloads::keys_stream(),
            Sample::Webhook(id, _) => payloads::webhook_stream(*id),
        }
    }

    fn expected(&self) -> DomainEvent {
        match self {
            Sample::Directory(e) => DomainEvent::Directory(e.clone()),
            Sample::Service(e) => DomainEvent::Service(e.clone()),
            Sample::Token(e) | Sample::TokenV1(_, e) => DomainEvent::Token(e.clone()),
            Sample::TokenUse(e) => DomainEvent::TokenUse(e.clone()),
            Sample::Authentication(id, e) => DomainEvent::Authentication(*id, e.clone()),
            Sample::Access(e) => DomainEvent::Access(e.clone()),
            Sample::Keys(e) => DomainEvent::Keys(e.clone()),
            Sample::Webhook(id, e) => DomainEvent::Webhook(*id, e.clone()),
        }
    }
}

fn directory_samples() -> Vec<(&'static str, Sample)> {
    use DirectoryEvent::*;
    vec![
        (
            "directory.organization_created-v1.bin",
            OrganizationCreated {
                organization: organization(),
                workspace: org_workspace(),
                name: "Acme Industries".into(),
                owner: user(1),
            },
        ),
        (
            "directory.user_created-v1.bin",
            UserCreated {
                user: user(2),
                personal_workspace: personal_workspace(),
                name: "Zo\u{eb} Example".into(),
                email: "zoe@example.test".into(),
            },
        ),
        (
            "directory.user_joined_organization-v1.bin",
            UserJoinedOrganization {
                organization: organization(),
                user: user(2),
                role: OrgRole::Member,
            },
        ),
        (
            "directory.org_role_changed-v1.bin",
            OrgRoleChanged {
                organization: organization(),
                user: user(2),
                from: OrgRole::Member,
                to: OrgRole::Admin,
            },
        ),
        (
            "directory.workspace_created-v1.bin",
            WorkspaceCreated {
                workspace: shared_workspace(),
                organization: organization(),
                name: "Finance".into(),
            },
        ),
        (
            "directory.workspace_member_added-v1.bin",
            WorkspaceMemberAdded {
                workspace: shared_workspace(),
                user: user(2),
                role: WorkspaceRole::Viewer,
            },
        ),
        (
            "directory.workspace_role_changed-v1.bin",
            WorkspaceRoleChanged {
                workspace: shared_workspace(),
                user: user(2),
                from: WorkspaceRole::Viewer,
                to: WorkspaceRole::Editor,
            },
        ),
        (
            "directory.workspace_member_removed-v1.bin",
            WorkspaceMemberRemoved {
                workspace: shared_workspace(),
                user: user(2),
            },
        ),
        (
            "directory.user_left_organization-v1.bin",
            UserLeftOrganization {
                organization: organization(),
                user: user(2),
            },
        ),
        (
            "directory.workspace_renamed-v1.bin",
            WorkspaceRenamed {
                workspace: shared_workspace(),
                from: "Ops: EU".into(),
                to: "Operations \u{2013} EU".into(),
            },
        ),
        (
            "directory.organization_renamed-v1.bin",
            OrganizationRenamed {
                organization: organization(),
                from: "Acme".into(),
                to: "Acme Holding".into(),
            },
        ),
        (
            "directory.user_deactivated-v1.bin",
            UserDeactivated { user: user(2) },
        ),
        (
            "directory.user_reactivated-v1.bin",
            UserReactivated { user: user(2) },
        ),
    ]
    .into_iter()
    .map(|(name, e)| (name, Sample::Directory(e)))
    .collect()
}

fn service_samples() -> Vec<(&'static str, Sample)> {
    let mut changed = spec();
    changed.name = "Acme CRM 2".into();
    changed.api_version = "2025-01".into();
    changed.scopes.push("reports.read".into());
    vec![
        (
            "service.custom_defined-v1.bin",
            Sample::Service(CustomServiceEvent::CustomServiceDefined {
                service: custom_service(),
                workspace: personal_workspace(),
                spec: spec(),
                defined_by: user(2),
            }),
        ),
        (
            "service.custom_changed-v1.bin",
            Sample::Service(CustomServiceEvent::CustomServiceChanged {
                service: custom_service(),
                spec: changed,
                changed_by: user(3),
            }),
        ),
        (
            "service.custom_retired-v1.bin",
            Sample::Service(CustomServiceEvent::CustomServiceRetired {
                service: custom_service(),
                retired_by: user(2),
            }),
        ),
        (
            "service.oauth_client_registered-v1.bin",
            Sample::Service(CustomServiceEvent::OAuthClientRegistered {
                service: custom_service(),
                registration: ClientRegistration {
                    client_id: "crm-app-7".into(),
                    client_secret: Some(OpaqueSealed {
                        binding: uuid::Uuid::from_u128(0x0190_a1b2_c3d4_7e5f_8a6b_7c8d_9e0f_1a2b),
                        bytes: vec![0x01, 0x02, 0xfe, 0xff],
                    }),
                    auth_method: ClientAuthMethod::ClientSecretPost,
                    authorize_params: [("prompt".to_owned(), "consent".to_owned())]
                        .into_iter()
                        .collect(),
                    issuer: Some("https://login.crm.example".into()),
                },
                registered_by: user(2),
            }),
        ),
    ]
}

fn keys_samples() -> Vec<(&'static str, Sample)> {
    vec![(
        "keys.rotated-v1.bin",
        Sample::Keys(KeysEvent::MasterKeyRotated {
            old_master_key: MasterKeyRef {
                key_id: "0190a1b2-c3d4-4e5f-8a6b-7c8d9e0f1a2b".into(),
                fingerprint: "00112233445566778899aabbccddeeff".into(),
            },
            new_master_key: MasterKeyRef {
                key_id: "golden-new.key_2".into(),
                fingerprint: "ffeeddccbbaa99887766554433221100".into(),
            },
            data_keys_rewrapped: 10_000,
            data_keys_destroyed: 3,
            fingerprint_key_id: uuid(60),
            resumed: true,
        }),
    )]
}

fn token_samples() -> Vec<(&'static str, Sample)> {
    vec![
        (
            "token.issued-v1.bin",
            Sample::TokenV1(
                TokenEventV1::Issued {
                    token: TokenId::from_uuid(uuid(40)),
                    principal: Principal::User(user(2)),
                    label: "CI deploy \u{2013} read only".into(),
                    token_hash: [0xab; 32],
                },
                TokenEvent::Issued {
                    token: TokenId::from_uuid(uuid(40)),
                    principal: Principal::User(user(2)),
                    label: "CI deploy \u{2013} read only".into(),
                    token_hash: [0xab; 32],
                    expires_at: None,
                    scopes: TokenScopes::unrestricted(),
                },
            ),
        ),
        (
            "token.issued-v2.bin",
            Sample::Token(TokenEvent::Issued {
                token: TokenId::from_uuid(uuid(41)),
                principal: Principal::Runner {
                    id: PrincipalId::from_uuid(uuid(42)),
                    name: "deploy runner".into(),
                },
                label: "resolve only, 90 days".into(),
                token_hash: [0xcd; 32],
                expires_at: Some(Timestamp(1_767_225_600_000_000)),
                scopes: TokenScopes::of([TokenScope::Resolve, TokenScope::Read]).expect("scopes"),
            }),
        ),
        (
            "token.revoked-v1.bin",
            Sample::Token(TokenEvent::Revoked {
                token: TokenId::from_uuid(uuid(40)),
            }),
        ),
        (
            "token.sign_in_link_issued-v2.bin",
            Sample::Token(TokenEvent::SignInLinkIssued {
                link: TokenId::from_uuid(uuid(41)),
                user: user(2),
                secret_hash: [0xcd; 32],
                expires_at: Timestamp(1_767_225_600_000_000),
            }),
        ),
        (
            "token.sign_in_link_used-v2.bin",
            Sample::Token(TokenEvent::SignInLinkUsed {
                link: TokenId::from_uuid(uuid(41)),
            }),
        ),
        (
            "token_use.refused-v1.bin",
            Sample::TokenUse(TokenUseEvent::Refused {
                token: TokenId::from_uuid(uuid(41)),
                wanted: TokenUse::Write,
                reason: "authorization: the token's scopes do not allow write".into(),
            }),
        ),
    ]
}

fn access_samples() -> Vec<(&'static str, Sample)> {
    let step = || WorkflowStepRef {
        workflow: WorkflowId::parse("wf-invoices").expect("workflow id"),
        step: StepId::parse("step-3").expect("step id"),
    };
    vec![
        (
            "access.resolved-v1.bin",
            Sample::Access(AccessEvent::Resolved {
                authentication: authentication(),
                user: user(2),
                workspace: shared_workspace(),
                fields: vec!["access_token".into(), "instance_url".into()],
                workflow: Some(step()),
            }),
        ),
        (
            "access.refused-v1.bin",
            Sample::Access(AccessEvent::Refused {
                authentication: authentication(),
                user: Some(user(3)),
                action: "resolve".into(),
                fields: vec!["access_token".into()],
                workflow: Some(step()),
                reason: "this user may not use it".into(),
            }),
        ),
    ]
}

fn authentication_samples() -> Vec<(&'static str, Sample)> {
    use AuthenticationEvent::*;
    let created: StoredAuthenticationEvent = Created {
        authentication: authentication(),
        name: "Acme CRM (production) \u{2013} main".into(),
        workspace: shared_workspace(),
        service: ServiceRef::Custom(custom_service()),
        service_version: "2024-06".into(),
        kind: AuthKind::OAuth2,
        fields: BTreeMap::from([
            (
                field("access_token"),
                FieldValue::Secret(sealed_secret(1, "at-CANARY-0001")),
            ),
            (
                field("expires_at"),
                FieldValue::Plain("2030-01-01T00:00:00Z".into()),
            ),
            (field("instance"), FieldValue::Plain("acme.crm.test".into())),
            (
                field("refresh_token"),
                FieldValue::Secret(sealed_secret(2, "rt-CANARY-0002")),
            ),
        ]),
        scopes: strings(&["contacts.read", "deals.read"]),
        extra_permissions: strings(&["read-only on archived deals"]),
        environment: Some(EnvironmentTag::parse("production").expect("environment")),
        origin: workflow_step(),
        expires_at: Some(Timestamp::from_unix_seconds(1_893_456_000)),
    };
    let reauthenticated: StoredAuthenticationEvent = Reauthenticated {
        fields: BTreeMap::from([
            (
                field("access_token"),
                FieldOutcome::Overridden(FieldValue::Secret(sealed_secret(3, "at-CANARY-0003"))),
            ),
            (
                field("expires_at"),
                FieldOutcome::Overridden(FieldValue::Plain("2031-06-30T12:00:00Z".into())),
            ),
            (field("instance"), FieldOutcome::Kept),
            (field("refresh_token"), FieldOutcome::Cleared),
        ]),
        expires_at: Some(Timestamp(1_940_760_000_000_000)),
        origin: ChangeOrigin::Api,
    };
    let restored: StoredAuthenticationEvent = Restored {
        restored_from_version: 3,
        name: "Acme CRM (production)".into(),
        fields: BTreeMap::from([
            (
                field("access_token"),
                FieldValue::Secret(sealed_secret(4, "at-CANARY-0001")),
            ),
            (field("instance"), FieldValue::Plain("acme.crm.test".into())),
        ]),
        scopes: strings(&["contacts.read"]),
        extra_permissions: Vec::new(),
        expires_at: None,
    };
    vec![
        ("authentication.created-v1.bin", created),
        (
            "authentication.renamed-v1.bin",
            Renamed {
                from: "Acme CRM (production) \u{2013} main".into(),
                to: "Acme CRM (production)".into(),
            },
        ),
        (
            "authentication.moved-v1.bin",
            Moved {
                from: shared_workspace(),
                to: personal_workspace(),
            },
        ),
        ("authentication.reauthenticated-v1.bin", reauthenticated),
        (
            "authentication.scopes_changed-v1.bin",
            ScopesChanged {
                scopes: strings(&["contacts.read", "contacts.write"]),
                extra_permissions: strings(&["bulk export"]),
                missing_required: strings(&["deals.read"]),
            },
        ),
        ("authentication.deleted-v1.bin", Deleted),
        ("authentication.restored-v1.bin", restored),
        ("authentication.purged-v1.bin", Purged),
        (
            "authentication.grant_recorded-v1.bin",
            GrantRecorded {
                requested_scopes: strings(&["contacts.read", "deals.read"]),
                granted_scopes: strings(&["contacts.read"]),
                extra_permissions: strings(&["read-only on archived deals"]),
                missing_required: strings(&["deals.read"]),
            },
        ),
        (
            "authentication.reauthorization_required-v1.bin",
            ReauthorizationRequired {
                reason: "invalid_grant: the refresh token was revoked".into(),
            },
        ),
        (
            "authentication.verification_recorded-v1.bin",
            VerificationRecorded {
                outcome: VerificationOutcome::Failed {
                    host: "api.acme-crm.test".into(),
                    status: Some(401),
                    reason: "the service answered 401".into(),
                },
                saved_unverified: true,
            },
        ),
        (
            "authentication.refresh_failed-v1.bin",
            RefreshFailed {
                reason: "login.acme-crm.test: the token endpoint could not be used (timed out)"
                    .into(),
            },
        ),
        (
            "authentication.certificate_expiring-v1.bin",
            CertificateExpiring {
                not_after: Timestamp::parse("2026-06-30T12:00:00Z").expect("a valid time"),
                days_before: 7,
            },
        ),
        (
            "authentication.certificate_expired-v1.bin",
            CertificateExpired {
                not_after: Timestamp::parse("2026-06-30T12:00:00Z").expect("a valid time"),
            },
        ),
    ]
    .into_iter()
    .map(|(name, e)| (name, Sample::Authentication(authentication(), e)))
    .collect()
}

fn samples() -> Vec<(&'static str, Sample)> {
    let mut all = directory_samples();
    all.extend(service_samples());
    all.extend(token_samples());
    all.extend(authentication_samples());
    all.extend(access_samples());
    all.extend(keys_samples());
    all.extend(webhook_samples());
    all
}

fn webhook_samples() -> Vec<(&'static str, Sample)> {
    let webhook = WebhookId::from_uuid(uuid(60));
    vec![
        (
            "webhook.subscribed-v1.bin",
            Sample::Webhook(
                webhook,
                WebhookEvent::Subscribed {
                    webhook,
                    owner: user(2),
                    receiver: "https://hooks.example.com".into(),
                    url: OpaqueSealed {
                        binding: uuid(61),
                        bytes: vec![0x5e; 48],
                    },
                    event_types: vec!["authentication.reauthorization_required".into()],
                    workspace: Some(shared_workspace()),
                    description: "alerting \u{2013} on-call".into(),
                },
            ),
        ),
        (
            "webhook.disabled-v1.bin",
            Sample::Webhook(
                webhook,
                WebhookEvent::Disabled {
                    reason: "hooks.example.com answered 503".into(),
                    undelivered: 4242,
                },
            ),
        ),
        (
            "webhook.enabled-v1.bin",
            Sample::Webhook(webhook, WebhookEvent::Enabled),
        ),
        (
            "webhook.unsubscribed-v1.bin",
            Sample::Webhook(webhook, WebhookEvent::Unsubscribed),
        ),
    ]
}

fn snapshot_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("snapshots/events")
}

/// With `UPDATE_SNAPSHOTS=1`, writes the golden files that are missing (once per test run,
/// before any test reads them); an existing file is never opened for writing.
fn create_missing_golden_files() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        if !std::env::var("UPDATE_SNAPSHOTS").is_ok_and(|v| v == "1") {
            return;
        }
        std::fs::create_dir_all(snapshot_dir()).expect("mkdir");
        for (name, sample) in samples() {
            let path = snapshot_dir().join(name);
            if path.exists() {
                continue;
            }
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .expect("create golden file");
            file.write_all(&sample.encode()).expect("write golden file");
        }
    });
}

fn read_golden(name: &str) -> Vec<u8> {
    create_missing_golden_files();
    let path = snapshot_dir().join(name);
    assert!(
        path.exists(),
        "missing golden file {}; create it with UPDATE_SNAPSHOTS=1",
        path.display()
    );
    std::fs::read(&path).expect("read golden file")
}

/// Wraps a payload in a sealed envelope on `stream`, as the store would hand it out.
fn envelope(stream: StreamId, event_type: &str, schema_version: u16, payload: Vec<u8>) -> Envelope {
    let body = EnvelopeBody {
        position: Position(1),
        stream_id: stream,
        stream_version: StreamVersion(1),
        event_id: EventId(uuid(900)),
        event_type: event_type.to_owned(),
        schema_version,
        recorded_at: Timestamp(1_764_158_400_000_000),
        actor: Actor::system(),
        origin: ledger::Origin::System,
        correlation_id: uuid(901),
        causation_id: None,
        payload,
        prev_hash: ChainHash::GENESIS,
    };
    Envelope::chained(body).expect("seal envelope")
}

#[test]
fn stored_payload_bytes_never_change() {
    for (name, sample) in samples() {
        let event_type = sample.event_type();
        let schema_version = sample.schema_version();
        assert_eq!(
            format!("{event_type}-v{schema_version}.bin"),
            name,
            "type string or schema version of the {name} sample changed"
        );
        let golden = read_golden(name);
        let encoded = sample.encode();
        assert_eq!(
            encoded, golden,
            "{name}: payload encoding changed; add a new schema version instead"
        );
        let decoded = payloads::decode(&envelope(
            sample.stream(),
            event_type,
            schema_version,
            golden,
        ))
        .unwrap_or_else(|e| panic!("{name}: golden bytes do not decode: {e}"));
        assert_eq!(decoded, sample.expected(), "{name}: decoded golden payload");
        if let Sample::Keys(event) = &sample {
            let keys = payloads::decode_keys(&envelope(
                sample.stream(),
                event_type,
                schema_version,
                read_golden(name),
            ))
            .unwrap_or_else(|e| panic!("{name}: golden bytes do not decode as a key event: {e}"));
            assert_eq!(keys.as_ref(), Some(event), "{name}: decoded key event");
        }
    }
}

#[test]
fn every_event_type_has_golden_bytes() {
    let catalog: Vec<&str> = AUTHENTICATION_EVENT_TYPES
        .iter()
        .chain(DirectoryEvent::TYPES.iter())
        .chain(CustomServiceEvent::TYPES.iter())
        .chain(TokenEvent::TYPES.iter())
        .chain(TokenUseEvent::TYPES.iter())
        .chain(AccessEvent::TYPES.iter())
        .chain(KeysEvent::TYPES.iter())
        .chain(WebhookEvent::TYPES.iter())
        .copied()
        .collect();
    let sampled: BTreeSet<&str> = samples().iter().map(|(_, s)| s.event_type()).collect();
    let mut names: BTreeSet<&str> = BTreeSet::new();
    for (name, _) in samples() {
        assert!(names.insert(name), "{name}: two samples for one file");
        read_golden(name);
    }
    for event_type in &catalog {
        assert!(
            sampled.contains(event_type),
            "{event_type}: no golden sample; add one (and its file under snapshots/events/)"
        );
    }
    let known: BTreeSet<&str> = catalog.iter().copied().collect();
    assert_eq!(known.len(), catalog.len(), "a type string is listed twice");
    assert_eq!(
        sampled, known,
        "a sample's type is missing from the type lists"
    );
    let on_disk: BTreeSet<String> = std::fs::read_dir(snapshot_dir())
        .expect("read snapshots/events")
        .map(|entry| {
            entry
                .expect("dir entry")
                .file_name()
                .into_string()
                .expect("utf-8 file name")
        })
        .collect();
    let expected: BTreeSet<String> = names.iter().map(|n| (*n).to_owned()).collect();
    assert_eq!(
        on_disk, expected,
        "every golden file is checked by a sample, and every sample has its file"
    );
}

#[test]
fn unknown_schema_versions_are_refused() {
    // One sample per family, at the family's newest schema version.
    let mut newest: BTreeMap<&str, (&str, Sample)> = BTreeMap::new();
    for (name, sample) in samples() {
        let family = sample.event_type().split('.').next().expect("family");
        let newer = newest
            .get(family)
            .is_none_or(|(_, s)| s.schema_version() < sample.schema_version());
        if newer {
            newest.insert(family, (name, sample));
        }
    }
    let families: BTreeSet<&str> = newest.keys().copied().collect();
    for (name, sample) in newest.into_values() {
        let unknown = sample.schema_version() + 1;
        let err = payloads::decode(&envelope(
            sample.stream(),
            sample.event_type(),
            unknown,
            read_golden(name),
        ))
        .expect_err("an unknown schema version is refused");
        let message = err.to_string();
        assert!(
            message.contains(&format!("schema version {unknown} is not known")),
            "{name}: {message}"
        );
        assert!(
            message.contains(&format!("{} v{unknown}", sample.event_type())),
            "{name}: {message}"
        );
    }
    assert_eq!(
        families,
        BTreeSet::from([
            "access",
            "authentication",
            "directory",
            "keys",
            "service",
            "token",
            "token_use",
            "webhook",
        ])
    );
}

/// The golden file of `authentication.verification_recorded` holds a `Failed` outcome; the
/// other two outcomes are pinned here, byte for byte (variant 10, then the outcome's variant).
#[test]
fn verification_outcomes_encode_as_pinned() {
    let cases: [(VerificationOutcome, Vec<u8>); 2] = [
        (
            VerificationOutcome::Verified {
                host: "h.test".into(),
                status: 200,
            },
            [&[0x0a, 0x00, 0x06][..], b"h.test", &[0xc8, 0x00]].concat(),
        ),
        (
            VerificationOutcome::NotVerifiable {
                reason: "turned off by the operator".into(),
            },
            [
                &[0x0a, 0x02, 0x1a][..],
                b"turned off by the operator",
                &[0x00],
            ]
            .concat(),
        ),
    ];
    for (outcome, pinned) in cases {
        let event: StoredAuthenticationEvent = AuthenticationEvent::VerificationRecorded {
            outcome,
            saved_unverified: false,
        };
        let encoded = payloads::encode_payload(&event).expect("encode");
        assert_eq!(encoded, pinned, "{event:?}");
        let decoded = payloads::decode(&envelope(
            authentication_stream(authentication()),
            event.event_type(),
            1,
            encoded,
        ))
        .expect("decode");
        assert_eq!(
            decoded,
            DomainEvent::Authentication(authentication(), event.clone())
        );
    }
}
