//! The pure decision: command + state + context -> events and warnings.

mod changes;
mod grants;
mod notices;

use super::commands::{AuthenticationCommand, CreateAuthentication, RestoreSnapshot};
use super::events::AuthenticationEvent;
use super::state::{Authentication, AuthenticationState, Lifecycle};
use super::validate::{certificate_warnings, check_all, check_scopes, FieldError, ScopeError};
use super::warnings::Warning;
use crate::domain::access::{decide_access, Action, DenyReason};
use crate::domain::directory::{Directory, WorkspaceKind};
use crate::domain::ids::{AuthenticationId, FieldName, UserId, WorkspaceId};
use crate::domain::naming::{name_key, normalize_text, NameError, MAX_NAME_LEN};
use crate::domain::secret::SecretText;
use crate::domain::services::{
    check_use, AuthKind, ServiceRef, ServiceRegistry, ServiceSpec, ServiceUse, ServiceUseError,
};
use crate::time::Timestamp;

/// Everything besides the state that a decision needs.
pub struct DecisionContext<'a> {
    /// The acting user.
    pub actor: UserId,
    /// The directory, for access decisions.
    pub directory: &'a Directory,
    /// Prebuilt and custom services.
    pub services: &'a ServiceRegistry,
    /// Whether a live authentication of a workspace has this name key (see
    /// [`crate::domain::naming::name_key`]); names are unique per workspace.
    pub name_taken: &'a dyn Fn(WorkspaceId, &str) -> bool,
    /// The current time (for certificate expiry warnings).
    pub now: Timestamp,
}

/// Events to append plus warnings for the caller.
#[derive(Debug, PartialEq, Eq)]
pub struct Decision {
    /// Events with plaintext secrets; seal them with `map_secrets` before storing.
    pub events: Vec<AuthenticationEvent<SecretText>>,
    /// Warnings about the accepted command.
    pub warnings: Vec<Warning>,
}

/// Why an authentication command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthenticationError {
    /// No authentication with this id.
    #[error("authentication: does not exist")]
    NotFound,
    /// Create on an existing stream.
    #[error("authentication: {0} already exists")]
    AlreadyExists(AuthenticationId),
    /// The authentication is deleted; only restore or purge are possible.
    #[error("authentication: is deleted; restore it first")]
    Deleted,
    /// The authentication was purged; nothing is possible.
    #[error("authentication: was purged")]
    Purged,
    /// The actor lacks the access level.
    #[error("workspace: may not {action:?} in {workspace}: {reason}")]
    AccessDenied {
        /// The refused action.
        action: Action,
        /// The workspace.
        workspace: WorkspaceId,
        /// Why.
        reason: DenyReason,
    },
    /// The service is not known (or is a custom service the actor may not see).
    #[error("service: {0} is not known")]
    UnknownService(ServiceRef),
    /// The custom service is retired: it backs no new authentications.
    #[error("service: is retired; it backs no new authentications (existing ones keep working)")]
    ServiceRetired,
    /// The custom service may not back an authentication in this workspace: some who may see
    /// the authentication there could not see the service.
    #[error("service: cannot back authentications in this workspace, whose members may not all see it; a custom service backs authentications in its own workspace, or, when defined in an organization workspace, in that organization's workspaces")]
    ServiceNotUsableHere,
    /// The name breaks the name rules.
    #[error("{0}")]
    Name(#[from] NameError),
    /// A field value was refused.
    #[error("{0}")]
    Field(#[from] FieldError),
    /// Scopes were refused.
    #[error("{0}")]
    Scope(#[from] ScopeError),
    /// Rename to the current name.
    #[error("name: is unchanged")]
    NameUnchanged,
    /// Move to the current workspace.
    #[error("workspace: the authentication is already in {0}")]
    SameWorkspace(WorkspaceId),
    /// Re-authentication without any field.
    #[error("fields: re-authentication needs at least one field")]
    NothingToChange,
    /// The requested scopes equal the current ones.
    #[error("scopes: are unchanged")]
    ScopesUnchanged,
    /// OAuth2 scopes change only with a new grant from the provider.
    #[error("scopes: OAuth2 scopes change only through re-consent (POST /v1/oauth/authorize)")]
    ReconsentRequired,
    /// The field sets where the OAuth2 grant is used (a custom domain): a grant made at
    /// other endpoints does not carry over.
    #[error("{field}: changing it needs a new grant at the new endpoints (POST /v1/oauth/authorize with the authentication and the new value)")]
    NewGrantRequired {
        /// The endpoint field.
        field: FieldName,
    },
    /// The command only applies to OAuth2 authentications.
    #[error("kind: only OAuth2 authentications have grants")]
    NotOAuth2,
    /// The authentication is already marked as needing re-authorization.
    #[error("authentication: already needs re-authorization")]
    AlreadyNeedsReauthorization,
    /// A refresh failure of the current streak is already recorded.
    #[error("authentication: a refresh failure is already recorded since the last refresh")]
    RefreshFailureAlreadyRecorded,
    /// No certificate notice is due (not a certificate, not near its end, or already sent).
    #[error("authentication: no certificate notice is due")]
    NoCertificateNoticeDue,
    /// Purge destroys secrets for good: only a deleted authentication may be purged, so that
    /// an authentication still in use is never shredded by one request.
    #[error("authentication: is active; delete it before purging it")]
    PurgeActive,
    /// Restore target is not an earlier version.
    #[error("version: {requested} is not an earlier version (current version is {current})")]
    RestoreVersionOutOfRange {
        /// Requested version.
        requested: u64,
        /// Current version.
        current: u64,
    },
}

impl AuthenticationError {
    /// The request field the refusal is about, as its text begins (`fields.token`, `name`, …).
    pub fn field(&self) -> Option<String> {
        use AuthenticationError as E;
        let field = match self {
            E::Name(inner) => return inner.field(),
            E::Field(inner) => return inner.field(),
            E::Scope(inner) => return inner.field(),
            E::NewGrantRequired { field } => return Some(field.to_string()),
            E::NotFound
            | E::AlreadyExists(_)
            | E::Deleted
            | E::Purged
            | E::AlreadyNeedsReauthorization
            | E::RefreshFailureAlreadyRecorded
            | E::NoCertificateNoticeDue
            | E::PurgeActive => "authentication",
            E::AccessDenied { .. } | E::SameWorkspace(_) => "workspace",
            E::UnknownService(_) | E::ServiceRetired | E::ServiceNotUsableHere => "service",
            E::NameUnchanged => "name",
            E::NothingToChange => "fields",
            E::ScopesUnchanged | E::ReconsentRequired => "scopes",
            E::NotOAuth2 => "kind",
            E::RestoreVersionOutOfRange { .. } => "version",
        };
        Some(field.to_owned())
    }
}

type Result<T> = std::result::Result<T, AuthenticationError>;

/// An existing authentication a command is decided on, with what every decision reads.
struct Existing<'a, S> {
    auth: &'a Authentication<S>,
    service: &'a ServiceSpec,
    /// The stream version (for restore).
    version: u64,
    ctx: &'a DecisionContext<'a>,
}

impl<S> Existing<'_, S> {
    /// The actor may do `action` where the authentication lives.
    fn require(&self, action: Action) -> Result<()> {
        require(self.ctx, self.auth.workspace, action)
    }

    /// Grants, refreshes and re-authorization exist only for OAuth2.
    fn require_oauth2(&self) -> Result<()> {
        if self.service.auth_kind == AuthKind::OAuth2 {
            Ok(())
        } else {
            Err(AuthenticationError::NotOAuth2)
        }
    }
}

/// A decision with one event and no warning.
fn one(event: AuthenticationEvent<SecretText>) -> Decision {
    Decision {
        events: vec![event],
        warnings: Vec::new(),
    }
}

/// Decides an authentication command. Pure: no I/O, no crypto, no clock.
pub fn decide<S>(
    state: &AuthenticationState<S>,
    command: AuthenticationCommand,
    ctx: &DecisionContext<'_>,
) -> Result<Decision> {
    use AuthenticationCommand as C;
    let Some(auth) = &state.current else {
        return match command {
            C::Create(create) => create_new(create, ctx),
            _ => Err(AuthenticationError::NotFound),
        };
    };
    admit(auth, &command)?;
    let service = ctx
        .services
        .resolve(&auth.service)
        .ok_or_else(|| AuthenticationError::UnknownService(auth.service.clone()))?;
    let on = Existing {
        auth,
        service,
        version: state.version,
        ctx,
    };
    match command {
        C::Create(_) => Err(AuthenticationError::AlreadyExists(auth.id)),
        C::Rename { name } => rename(&on, &name),
        C::Move { to } => move_to(&on, to),
        C::Reauthenticate { fields, origin } => changes::by_person(&on, fields, origin),
        C::ReauthenticateByGrant { fields, origin } => changes::by_grant(&on, fields, origin),
        C::ChangeScopes {
            scopes,
            extra_permissions,
        } => grants::change_scopes(&on, scopes, extra_permissions),
        C::RecordGrant {
            requested_scopes,
            granted_scopes,
            extra_permissions,
        } => grants::record_grant(&on, requested_scopes, granted_scopes, extra_permissions),
        C::RecordRefresh {
            fields,
            granted_scopes,
        } => grants::record_refresh(&on, fields, granted_scopes),
        C::RequireReauthorization { reason } => grants::require_reauthorization(&on, reason),
        C::RecordRefreshFailure { reason } => notices::record_refresh_failure(&on, reason),
        C::RecordCertificateNotice => notices::record_certificate_notice(&on),
        C::Delete => delete(&on),
        C::Restore {
            to_version,
            snapshot,
        } => restore(&on, to_version, snapshot),
        C::Purge => purge(&on),
    }
}

/// What the lifecycle allows: nothing once purged, no second create, and only restore or
/// purge while deleted.
fn admit<S>(auth: &Authentication<S>, command: &AuthenticationCommand) -> Result<()> {
    use AuthenticationCommand as C;
    match (auth.lifecycle, command) {
        (Lifecycle::Purged, _) => Err(AuthenticationError::Purged),
        (_, C::Create(_)) => Err(AuthenticationError::AlreadyExists(auth.id)),
        (Lifecycle::Deleted, C::Restore { .. } | C::Purge) => Ok(()),
        (Lifecycle::Deleted, _) => Err(AuthenticationError::Deleted),
        (Lifecycle::Active, _) => Ok(()),
    }
}

fn rename<S>(on: &Existing<'_, S>, name: &str) -> Result<Decision> {
    on.require(Action::Edit)?;
    let auth = on.auth;
    let name = checked_name(on.ctx, name, auth.workspace, Some(&auth.name))?;
    if name == auth.name {
        return Err(AuthenticationError::NameUnchanged);
    }
    Ok(one(AuthenticationEvent::Renamed {
        from: auth.name.clone(),
        to: name,
    }))
}

fn move_to<S>(on: &Existing<'_, S>, to: WorkspaceId) -> Result<Decision> {
    let (auth, ctx) = (on.auth, on.ctx);
    if to == auth.workspace {
        return Err(AuthenticationError::SameWorkspace(to));
    }
    on.require(Action::MoveFrom)?;
    require(ctx, to, Action::MoveTo)?;
    usable_service(ctx, &auth.service, to, ServiceUse::Move)?;
    checked_name(ctx, &auth.name, to, None)?;
    let mut decision = one(AuthenticationEvent::Moved {
        from: auth.workspace,
        to,
    });
    decision.warnings = placement_warnings(on.service, to, ctx.directory);
    Ok(decision)
}

fn delete<S>(on: &Existing<'_, S>) -> Result<Decision> {
    on.require(Action::Edit)?;
    Ok(one(AuthenticationEvent::Deleted))
}

fn purge<S>(on: &Existing<'_, S>) -> Result<Decision> {
    on.require(Action::Purge)?;
    if on.auth.lifecycle == Lifecycle::Active {
        return Err(AuthenticationError::PurgeActive);
    }
    Ok(one(AuthenticationEvent::Purged))
}

fn require(ctx: &DecisionContext<'_>, workspace: WorkspaceId, action: Action) -> Result<()> {
    decide_access(ctx.directory, ctx.actor, workspace, action)
        .into_result()
        .map_err(|reason| AuthenticationError::AccessDenied {
            action,
            workspace,
            reason,
        })
}

/// Normalizes a name and checks it is free in `workspace`; `own` is the authentication's
/// current name, which it may keep or re-case in its own workspace.
fn checked_name(
    ctx: &DecisionContext<'_>,
    raw: &str,
    workspace: WorkspaceId,
    own: Option<&str>,
) -> Result<String> {
    let name = normalize_text(raw, MAX_NAME_LEN)?;
    let key = name_key(&name);
    let is_own = own.is_some_and(|o| name_key(o) == key);
    if !is_own && (ctx.name_taken)(workspace, &key) {
        return Err(NameError::Duplicate { name }.into());
    }
    Ok(name)
}

fn placement_warnings(
    service: &ServiceSpec,
    workspace: WorkspaceId,
    directory: &Directory,
) -> Vec<Warning> {
    let in_org = directory
        .workspace(workspace)
        .is_some_and(|w| w.kind() == WorkspaceKind::Organization);
    if service.auth_kind == AuthKind::Generic && in_org {
        vec![Warning::GenericAuthVisibleToOrganization { workspace }]
    } else {
        Vec::new()
    }
}

fn scope_warnings(missing: Vec<String>) -> Vec<Warning> {
    if missing.is_empty() {
        Vec::new()
    } else {
        vec![Warning::MissingRequiredScopes { missing }]
    }
}

/// A custom service must be one the actor sees and one that may back authentications in
/// `workspace` (see [`check_use`]); a hidden one refuses exactly like an unknown one.
fn usable_service(
    ctx: &DecisionContext<'_>,
    service: &ServiceRef,
    workspace: WorkspaceId,
    purpose: ServiceUse,
) -> Result<()> {
    let ServiceRef::Custom(id) = service else {
        return Ok(());
    };
    let Some(custom) = ctx.services.custom(*id) else {
        return Err(AuthenticationError::UnknownService(service.clone()));
    };
    check_use(custom, ctx.directory, ctx.actor, workspace, purpose).map_err(|e| match e {
        ServiceUseError::Hidden => AuthenticationError::UnknownService(service.clone()),
        ServiceUseError::Retired => AuthenticationError::ServiceRetired,
        ServiceUseError::NotReachable => AuthenticationError::ServiceNotUsableHere,
    })
}

fn create_new(create: CreateAuthentication, ctx: &DecisionContext<'_>) -> Result<Decision> {
    require(ctx, create.workspace, Action::Edit)?;
    usable_service(
        ctx,
        &create.service,
        create.workspace,
        ServiceUse::NewAuthentication,
    )?;
    let service = ctx
        .services
        .resolve(&create.service)
        .ok_or_else(|| AuthenticationError::UnknownService(create.service.clone()))?;
    let name = checked_name(ctx, &create.name, create.workspace, None)?;
    let checked = check_all(service, create.fields)?;
    let scopes = check_scopes(service, create.scopes, create.extra_permissions)?;
    let mut warnings = Vec::new();
    if service.auth_kind == AuthKind::OAuth1 {
        warnings.push(Warning::OAuth1Discouraged);
    }
    warnings.extend(placement_warnings(service, create.workspace, ctx.directory));
    warnings.extend(scope_warnings(scopes.missing_required));
    if let Some(info) = &checked.certificate {
        warnings.extend(certificate_warnings(info, ctx.now));
    }
    Ok(Decision {
        events: vec![AuthenticationEvent::Created {
            authentication: create.id,
            name,
            workspace: create.workspace,
            service: create.service,
            service_version: service.api_version.clone(),
            kind: service.auth_kind,
            fields: checked.values,
            scopes: scopes.scopes,
            extra_permissions: scopes.extra_permissions,
            environment: create.environment,
            origin: create.origin,
            expires_at: checked.expires_at,
        }],
        warnings,
    })
}

fn restore<S>(
    on: &Existing<'_, S>,
    to_version: u64,
    snapshot: RestoreSnapshot,
) -> Result<Decision> {
    on.require(Action::Restore)?;
    if to_version == 0 || to_version >= on.version {
        return Err(AuthenticationError::RestoreVersionOutOfRange {
            requested: to_version,
            current: on.version,
        });
    }
    let (auth, service, ctx) = (on.auth, on.service, on.ctx);
    // A deleted authentication's name is free for others; it may only keep it while live.
    let own = (auth.lifecycle == Lifecycle::Active).then_some(auth.name.as_str());
    let name = checked_name(ctx, &snapshot.name, auth.workspace, own)?;
    let checked = check_all(service, snapshot.fields)?;
    let scopes = check_scopes(service, snapshot.scopes, snapshot.extra_permissions)?;
    let mut warnings = scope_warnings(scopes.missing_required);
    if let Some(info) = &checked.certificate {
        warnings.extend(certificate_warnings(info, ctx.now));
    }
    Ok(Decision {
        events: vec![AuthenticationEvent::Restored {
            restored_from_version: to_version,
            name,
            fields: checked.values,
            scopes: scopes.scopes,
            extra_permissions: scopes.extra_permissions,
            expires_at: checked.expires_at,
        }],
        warnings,
    })
}

#[cfg(test)]
mod field_tests {
    use super::*;
    use crate::domain::authentication::CertificateError;
    use crate::domain::ids::ServiceKey;

    #[test]
    fn every_error_names_its_field() {
        let workspace = WorkspaceId::new();
        let slack = ServiceRef::Prebuilt(ServiceKey::parse("slack").expect("a valid key"));
        let table = [
            (AuthenticationError::NotFound, "authentication"),
            (
                AuthenticationError::AlreadyExists(AuthenticationId::new()),
                "authentication",
            ),
            (AuthenticationError::Deleted, "authentication"),
            (AuthenticationError::Purged, "authentication"),
            (
                AuthenticationError::AccessDenied {
                    action: Action::Edit,
                    workspace,
                    reason: DenyReason::UnknownWorkspace(workspace),
                },
                "workspace",
            ),
            (AuthenticationError::UnknownService(slack), "service"),
            (AuthenticationError::ServiceRetired, "service"),
            (AuthenticationError::ServiceNotUsableHere, "service"),
            (AuthenticationError::Name(NameError::Empty), "name"),
            (
                AuthenticationError::Name(NameError::Duplicate {
                    name: "a: b".into(),
                }),
                "name",
            ),
            (
                AuthenticationError::Field(FieldError::Missing {
                    field: FieldName::parse("token").expect("a valid field name"),
                }),
                "fields.token",
            ),
            (
                AuthenticationError::Field(FieldError::Certificate(CertificateError::EncryptedKey)),
                "fields.private_key",
            ),
            (
                AuthenticationError::Scope(ScopeError::BadExtraPermission {
                    index: 0,
                    reason: "must not be blank",
                }),
                "extra_permissions[0]",
            ),
            (AuthenticationError::NameUnchanged, "name"),
            (AuthenticationError::SameWorkspace(workspace), "workspace"),
            (AuthenticationError::NothingToChange, "fields"),
            (AuthenticationError::ScopesUnchanged, "scopes"),
            (AuthenticationError::ReconsentRequired, "scopes"),
            (
                AuthenticationError::NewGrantRequired {
                    field: FieldName::parse("domain").expect("a valid field name"),
                },
                "domain",
            ),
            (AuthenticationError::NotOAuth2, "kind"),
            (
                AuthenticationError::AlreadyNeedsReauthorization,
                "authentication",
            ),
            (AuthenticationError::PurgeActive, "authentication"),
            (
                AuthenticationError::RefreshFailureAlreadyRecorded,
                "authentication",
            ),
            (
                AuthenticationError::NoCertificateNoticeDue,
                "authentication",
            ),
            (
                AuthenticationError::RestoreVersionOutOfRange {
                    requested: 5,
                    current: 3,
                },
                "version",
            ),
        ];
        for (error, field) in table {
            assert_eq!(error.field().as_deref(), Some(field), "{error:?}");
            assert!(error.to_string().starts_with(&format!("{field}: ")));
        }
    }
}
