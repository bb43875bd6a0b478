//! The pure decision: command + state + context -> events and warnings.

use super::commands::{
    AuthenticationCommand, CreateAuthentication, FieldChange, Origin, RestoreSnapshot,
};
use super::events::{AuthenticationEvent, FieldOutcome};
use super::state::{Authentication, AuthenticationState, Lifecycle};
use super::validate::{
    certificate_warnings, check_all, check_pair, check_scopes, check_value, to_value, FieldError,
    ScopeError,
};
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
use std::collections::BTreeMap;

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

type Result<T> = std::result::Result<T, AuthenticationError>;

/// Decides an authentication command. Pure: no I/O, no crypto, no clock.
pub fn decide<S>(
    state: &AuthenticationState<S>,
    command: AuthenticationCommand,
    ctx: &DecisionContext<'_>,
) -> Result<Decision> {
    let auth = match (&state.current, command) {
        (None, AuthenticationCommand::Create(create)) => return create_new(create, ctx),
        (None, _) => return Err(AuthenticationError::NotFound),
        (Some(auth), command) => (auth, command),
    };
    let (auth, command) = auth;
    match (auth.lifecycle, &command) {
        (Lifecycle::Purged, _) => return Err(AuthenticationError::Purged),
        (_, AuthenticationCommand::Create(_)) => {
            return Err(AuthenticationError::AlreadyExists(auth.id))
        }
        (Lifecycle::Deleted, AuthenticationCommand::Restore { .. })
        | (Lifecycle::Deleted, AuthenticationCommand::Purge) => {}
        (Lifecycle::Deleted, _) => return Err(AuthenticationError::Deleted),
        (Lifecycle::Active, _) => {}
    }
    let service = ctx
        .services
        .resolve(&auth.service)
        .ok_or_else(|| AuthenticationError::UnknownService(auth.service.clone()))?;
    let one = |event| Decision {
        events: vec![event],
        warnings: Vec::new(),
    };
    match command {
        AuthenticationCommand::Create(_) => Err(AuthenticationError::AlreadyExists(auth.id)),
        AuthenticationCommand::Rename { name } => {
            require(ctx, auth.workspace, Action::Edit)?;
            let name = checked_name(ctx, &name, auth.workspace, Some(&auth.name))?;
            if name == auth.name {
                return Err(AuthenticationError::NameUnchanged);
            }
            Ok(one(AuthenticationEvent::Renamed {
                from: auth.name.clone(),
                to: name,
            }))
        }
        AuthenticationCommand::Move { to } => {
            if to == auth.workspace {
                return Err(AuthenticationError::SameWorkspace(to));
            }
            require(ctx, auth.workspace, Action::MoveFrom)?;
            require(ctx, to, Action::MoveTo)?;
            usable_service(ctx, &auth.service, to, ServiceUse::Move)?;
            checked_name(ctx, &auth.name, to, None)?;
            let mut decision = one(AuthenticationEvent::Moved {
                from: auth.workspace,
                to,
            });
            decision.warnings = placement_warnings(service, to, ctx.directory);
            Ok(decision)
        }
        AuthenticationCommand::Reauthenticate { fields, origin } => {
            require(ctx, auth.workspace, Action::Edit)?;
            if service.auth_kind == AuthKind::OAuth2 {
                let endpoint_fields = service.endpoint_fields();
                if let Some(field) = fields.keys().find(|f| endpoint_fields.contains(f)) {
                    return Err(AuthenticationError::NewGrantRequired {
                        field: field.clone(),
                    });
                }
            }
            reauthenticate(auth, service, fields, origin, ctx.now)
        }
        AuthenticationCommand::ReauthenticateByGrant { fields, origin } => {
            require(ctx, auth.workspace, Action::Edit)?;
            if service.auth_kind != AuthKind::OAuth2 {
                return Err(AuthenticationError::NotOAuth2);
            }
            reauthenticate(auth, service, fields, origin, ctx.now)
        }
        AuthenticationCommand::ChangeScopes {
            scopes,
            extra_permissions,
        } => {
            require(ctx, auth.workspace, Action::Edit)?;
            if service.auth_kind == AuthKind::OAuth2 {
                return Err(AuthenticationError::ReconsentRequired);
            }
            let checked = check_scopes(service, scopes, extra_permissions)?;
            if checked.scopes == auth.scopes && checked.extra_permissions == auth.extra_permissions
            {
                return Err(AuthenticationError::ScopesUnchanged);
            }
            let mut decision = one(AuthenticationEvent::ScopesChanged {
                scopes: checked.scopes,
                extra_permissions: checked.extra_permissions,
                missing_required: checked.missing_required.clone(),
            });
            decision.warnings = scope_warnings(checked.missing_required);
            Ok(decision)
        }
        AuthenticationCommand::RecordGrant {
            requested_scopes,
            granted_scopes,
            extra_permissions,
        } => {
            require(ctx, auth.workspace, Action::Edit)?;
            if service.auth_kind != AuthKind::OAuth2 {
                return Err(AuthenticationError::NotOAuth2);
            }
            // The provider decides what it grants: record it as given, warn about the gaps.
            let missing_required: Vec<String> = service
                .required_scopes
                .iter()
                .filter(|s| !granted_scopes.contains(s))
                .cloned()
                .collect();
            let mut decision = one(AuthenticationEvent::GrantRecorded {
                requested_scopes,
                granted_scopes,
                extra_permissions,
                missing_required: missing_required.clone(),
            });
            decision.warnings = scope_warnings(missing_required);
            Ok(decision)
        }
        AuthenticationCommand::RecordRefresh {
            fields,
            granted_scopes,
        } => {
            // A system command: the provider, not a person, vouches for the new tokens.
            if service.auth_kind != AuthKind::OAuth2 {
                return Err(AuthenticationError::NotOAuth2);
            }
            let mut decision = reauthenticate(auth, service, fields, Origin::System, ctx.now)?;
            let changed = granted_scopes.filter(|granted| {
                let mut now = auth.scopes.clone();
                let mut then = granted.clone();
                now.sort();
                then.sort();
                now != then
            });
            if let Some(granted_scopes) = changed {
                let missing_required: Vec<String> = service
                    .required_scopes
                    .iter()
                    .filter(|s| !granted_scopes.contains(s))
                    .cloned()
                    .collect();
                decision.events.push(AuthenticationEvent::GrantRecorded {
                    requested_scopes: auth.scopes.clone(),
                    granted_scopes,
                    extra_permissions: auth.extra_permissions.clone(),
                    missing_required,
                });
            }
            Ok(decision)
        }
        AuthenticationCommand::RequireReauthorization { reason } => {
            // A system command: the refresh task reports what the provider answered.
            if service.auth_kind != AuthKind::OAuth2 {
                return Err(AuthenticationError::NotOAuth2);
            }
            if auth.needs_reauthorization {
                return Err(AuthenticationError::AlreadyNeedsReauthorization);
            }
            Ok(one(AuthenticationEvent::ReauthorizationRequired { reason }))
        }
        AuthenticationCommand::Delete => {
            require(ctx, auth.workspace, Action::Edit)?;
            Ok(one(AuthenticationEvent::Deleted))
        }
        AuthenticationCommand::Restore {
            to_version,
            snapshot,
        } => {
            require(ctx, auth.workspace, Action::Restore)?;
            if to_version == 0 || to_version >= state.version {
                return Err(AuthenticationError::RestoreVersionOutOfRange {
                    requested: to_version,
                    current: state.version,
                });
            }
            restore(auth, service, to_version, snapshot, ctx)
        }
        AuthenticationCommand::Purge => {
            require(ctx, auth.workspace, Action::Purge)?;
            if auth.lifecycle == Lifecycle::Active {
                return Err(AuthenticationError::PurgeActive);
            }
            Ok(one(AuthenticationEvent::Purged))
        }
    }
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

/// Names in `workspace` other than this authentication's own current name.
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

fn reauthenticate<S>(
    auth: &Authentication<S>,
    service: &ServiceSpec,
    mut changes: BTreeMap<FieldName, FieldChange>,
    origin: super::commands::Origin,
    now: Timestamp,
) -> Result<Decision> {
    if changes.is_empty() {
        return Err(AuthenticationError::NothingToChange);
    }
    let specs = service.all_fields();
    if let Some(field) = changes
        .keys()
        .find(|k| !specs.iter().any(|s| &s.name == *k))
    {
        return Err(FieldError::Unknown {
            field: field.clone(),
        }
        .into());
    }
    let mut warnings = Vec::new();
    let mut expires_at = auth.expires_at;
    if service.auth_kind == AuthKind::Certificate {
        let touched = |n: &str| changes.keys().any(|k| k.as_str() == n);
        if touched("certificate") || touched("private_key") {
            let mut pair = BTreeMap::new();
            for (name, change) in &changes {
                match change {
                    FieldChange::Set(value) => {
                        pair.insert(name.clone(), value.clone());
                    }
                    FieldChange::Clear => {}
                }
            }
            if !(pair.keys().any(|k| k.as_str() == "certificate")
                && pair.keys().any(|k| k.as_str() == "private_key"))
            {
                let cleared_required = changes
                    .iter()
                    .find(|(_, c)| matches!(c, FieldChange::Clear))
                    .map(|(k, _)| k.clone());
                return Err(match cleared_required {
                    Some(field)
                        if field.as_str() == "certificate" || field.as_str() == "private_key" =>
                    {
                        FieldError::CannotClearRequired { field }
                    }
                    _ => FieldError::CertificatePairRequired,
                }
                .into());
            }
            let info = check_pair(&pair)?;
            expires_at = Some(info.not_after);
            warnings.extend(certificate_warnings(&info, now));
        }
    }
    let mut outcomes = BTreeMap::new();
    for spec in &specs {
        let outcome = match changes.remove(&spec.name) {
            Some(FieldChange::Set(value)) => {
                check_value(service.auth_kind, spec, &value)?;
                FieldOutcome::Overridden(to_value(spec, value))
            }
            Some(FieldChange::Clear) if spec.required => {
                return Err(FieldError::CannotClearRequired {
                    field: spec.name.clone(),
                }
                .into())
            }
            Some(FieldChange::Clear) => FieldOutcome::Cleared,
            None if auth.fields.contains_key(&spec.name) => FieldOutcome::Kept,
            None => continue,
        };
        if spec.name.as_str() == "expires_at" && service.auth_kind == AuthKind::OAuth2 {
            expires_at = match &outcome {
                FieldOutcome::Overridden(super::events::FieldValue::Plain(text)) => {
                    Timestamp::parse(text)
                }
                FieldOutcome::Cleared => None,
                _ => expires_at,
            };
        }
        outcomes.insert(spec.name.clone(), outcome);
    }
    Ok(Decision {
        events: vec![AuthenticationEvent::Reauthenticated {
            fields: outcomes,
            expires_at,
            origin,
        }],
        warnings,
    })
}

fn restore<S>(
    auth: &Authentication<S>,
    service: &ServiceSpec,
    to_version: u64,
    snapshot: RestoreSnapshot,
    ctx: &DecisionContext<'_>,
) -> Result<Decision> {
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
