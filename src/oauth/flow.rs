//! The authorization-code flow with PKCE: start (state stored server-side, single use, bound to
//! the caller, expiring), callback (state checked before any token call, code exchanged with
//! the PKCE verifier), and the grant recorded as a create or a re-authentication.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use oauth2::basic::BasicClient;
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet,
    EndpointSet, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse, TokenUrl,
};
use ring::digest;

use super::request::{
    check_plain_fields, check_scope_tokens, error_code, missing_required, named, requested,
};
use super::settings::ClientAuthMethod;
use super::{OAuth, OAuthError, RequestProblem, UrlSetting};
use crate::app::{Accessor, Caller, CommandOutcome};
use crate::crypto::SecretString;
use crate::domain::access::Action;
use crate::domain::authentication::{
    AuthenticationCommand, ChangeOrigin, CreateAuthentication, FieldChange, Warning,
};
use crate::domain::ids::{AuthenticationId, EnvironmentTag, FieldName, WorkspaceId};
use crate::domain::secret::SecretText;
use crate::domain::services::{fill_url, AuthKind, ServiceRef, ServiceSpec};
use crate::time::Timestamp;

/// An oauth2 client with its authorization and token endpoints set.
pub(crate) type ConfiguredClient =
    BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// What the authorization is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A new authentication.
    New {
        /// Its name.
        name: String,
        /// Its workspace.
        workspace: WorkspaceId,
        /// Environment tag.
        environment: Option<EnvironmentTag>,
        /// Plain fields the service needs before the grant (e.g. a custom `domain`).
        fields: BTreeMap<FieldName, String>,
    },
    /// A re-consent of an existing authentication (new grant, possibly other scopes).
    Existing {
        /// The authentication.
        id: AuthenticationId,
        /// New plain settings for the new grant (e.g. another custom `domain`); the
        /// current ones are kept otherwise.
        fields: BTreeMap<FieldName, String>,
    },
}

/// `POST /v1/oauth/authorize`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizeRequest {
    /// An OAuth2 service: prebuilt, or a custom one with a registered client.
    pub service: ServiceRef,
    /// New or existing authentication.
    pub target: Target,
    /// Scopes chosen from the service's list.
    pub scopes: Vec<String>,
    /// Free-text extra permissions, requested as scopes too; `None` keeps a re-consented
    /// authentication's current ones (none for a new authentication).
    pub extra_permissions: Option<Vec<String>>,
    /// Where to send the browser after the callback (must be on the allow-list).
    pub return_to: Option<String>,
}

pub use super::request::given_before_the_grant;

/// Where an authorization was started. Said by the code that calls [`OAuth::start`], never
/// by the request: a dashboard start's callback may continue with the dashboard session
/// instead of a bearer token, so no header or field of an API request may claim it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartedIn {
    /// `POST /v1/oauth/authorize`: the callback needs the caller's bearer token.
    Api,
    /// The dashboard's form: the callback continues at `/ui/oauth/callback`.
    Dashboard,
}

/// A started authorization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    /// The provider's authorization URL to send the user to.
    pub authorization_url: String,
    /// How long the authorization stays valid.
    pub expires_in: Duration,
    /// Scopes sent to the provider: the chosen ones, then the extra permissions.
    pub requested_scopes: Vec<String>,
    /// Said before the user leaves (e.g. required scopes not chosen).
    pub warnings: Vec<Warning>,
}

/// What the provider's redirect carried to the callback.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallbackParams {
    /// The state of the authorization.
    pub state: Option<String>,
    /// The authorization code (absent on an error callback).
    pub code: Option<String>,
    /// The provider's error code (`access_denied`, …).
    pub error: Option<String>,
    /// The issuer identifier (RFC 9207).
    pub iss: Option<String>,
}

/// A completed authorization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completed {
    /// The authentication created or re-authenticated.
    pub authentication: AuthenticationId,
    /// Its new version and warnings.
    pub outcome: CommandOutcome,
    /// Where to send the browser now, if anywhere.
    pub return_to: Option<String>,
    /// Scopes requested.
    pub requested_scopes: Vec<String>,
    /// Scopes granted.
    pub granted_scopes: Vec<String>,
}

/// A started authorization, kept server-side until its callback.
pub(crate) struct Pending {
    user: crate::domain::ids::UserId,
    /// Started from the dashboard: its callback continues at `/ui/oauth/callback`, where the
    /// dashboard session stands in for the bearer token.
    from_dashboard: bool,
    request: AuthorizeRequest,
    /// The extra permissions asked for (the request's, or the kept ones).
    extra_permissions: Vec<String>,
    verifier: SecretString,
    authorize_url: String,
    token_url: String,
    started: Instant,
}

/// Started authorizations by the SHA-256 of their state; each is taken out once.
#[derive(Default)]
pub(crate) struct PendingStore {
    by_state_hash: Mutex<HashMap<[u8; 32], Pending>>,
}

fn state_hash(state: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, state.as_bytes()).as_ref());
    out
}

impl PendingStore {
    fn insert(&self, state: &str, pending: Pending, ttl: Duration) -> Result<(), OAuthError> {
        let mut map = self
            .by_state_hash
            .lock()
            .map_err(|_| OAuthError::Internal)?;
        map.retain(|_, p| p.started.elapsed() < ttl);
        map.insert(state_hash(state), pending);
        Ok(())
    }

    /// Takes the authorization of a state out (single use). Looking it up by its hash keeps
    /// the comparison independent of how much of a guessed state matches.
    fn take(&self, state: &str) -> Result<Option<Pending>, OAuthError> {
        let mut map = self
            .by_state_hash
            .lock()
            .map_err(|_| OAuthError::Internal)?;
        Ok(map.remove(&state_hash(state)))
    }

    /// Whether a live authorization with this state was started from the dashboard (looked
    /// at, not taken out).
    fn started_in_dashboard(&self, state: &str) -> bool {
        self.by_state_hash
            .lock()
            .map(|map| {
                map.get(&state_hash(state))
                    .is_some_and(|p| p.from_dashboard)
            })
            .unwrap_or(false)
    }
}

/// The provider's endpoints for a service, with custom-domain fields filled in.
pub(crate) fn endpoints(
    spec: &ServiceSpec,
    fields: &BTreeMap<String, String>,
) -> Result<(String, String), OAuthError> {
    let oauth = spec.oauth.as_ref().ok_or(OAuthError::NotOAuth2)?;
    let values: BTreeMap<FieldName, String> = fields
        .iter()
        .filter_map(|(k, v)| Some((FieldName::parse(k).ok()?, v.clone())))
        .collect();
    let fill = |template: &str| {
        fill_url(template, &values).ok_or_else(|| {
            OAuthError::Invalid(RequestProblem::EndpointNeedsField {
                template: template.to_owned(),
            })
        })
    };
    Ok((fill(&oauth.authorize_url)?, fill(&oauth.token_url)?))
}

impl OAuth {
    /// The spec and client registration of an OAuth2 service: a prebuilt one's from this
    /// server's clients file, a custom one's from the ledger (and only when `user`, if given,
    /// may see it).
    pub(crate) async fn service(
        &self,
        service: &ServiceRef,
        user: Option<crate::domain::ids::UserId>,
    ) -> Result<(ServiceSpec, super::OAuthClient), OAuthError> {
        let (spec, registration) = match service {
            ServiceRef::Prebuilt(key) => {
                let spec = self.app.catalog().get(key).cloned().ok_or_else(|| {
                    OAuthError::Invalid(RequestProblem::UnknownService(key.clone()))
                })?;
                let registration = self.settings.clients.get(key.as_str()).cloned();
                (spec, registration)
            }
            ServiceRef::Custom(id) => {
                let custom = match user {
                    Some(user) => self.app.custom_service(user, *id).await,
                    None => self.app.custom_service_for_system(*id).await,
                }
                .map_err(|_| OAuthError::Invalid(RequestProblem::ServiceNotFound))?;
                let registration =
                    self.app
                        .oauth_client_of(*id)
                        .await?
                        .map(|r| super::OAuthClient {
                            client_secret: r
                                .client_secret
                                .map(|s| SecretString::new(s.expose().to_owned())),
                            client_id: r.client_id,
                            auth_method: r.auth_method,
                            authorize_params: r.authorize_params,
                            issuer: r.issuer,
                        });
                (custom.spec, registration)
            }
        };
        if spec.auth_kind != AuthKind::OAuth2 {
            return Err(OAuthError::NotOAuth2);
        }
        let registration = registration.ok_or_else(|| OAuthError::NoClient(service.clone()))?;
        Ok((spec, registration))
    }

    /// An oauth2 client for a service's endpoints, authenticating the way the registration
    /// says (HTTP Basic, form body, or a public client that sends only its id).
    pub(crate) fn client(
        &self,
        registration: &super::OAuthClient,
        authorize_url: &str,
        token_url: &str,
    ) -> Result<ConfiguredClient, OAuthError> {
        let bad = |what| OAuthError::Invalid(RequestProblem::NotAUrl(what));
        let mut client = BasicClient::new(ClientId::new(registration.client_id.clone()))
            .set_auth_uri(
                AuthUrl::new(authorize_url.to_owned())
                    .map_err(|_| bad(UrlSetting::AuthorizeUrl))?,
            )
            .set_token_uri(
                TokenUrl::new(token_url.to_owned()).map_err(|_| bad(UrlSetting::TokenUrl))?,
            )
            .set_redirect_uri(
                RedirectUrl::new(self.settings.redirect_url.clone())
                    .map_err(|_| bad(UrlSetting::RedirectUrl))?,
            )
            .set_auth_type(match registration.auth_method {
                ClientAuthMethod::ClientSecretBasic => AuthType::BasicAuth,
                ClientAuthMethod::ClientSecretPost | ClientAuthMethod::None => {
                    AuthType::RequestBody
                }
            });
        if let Some(secret) = &registration.client_secret {
            client = client.set_client_secret(ClientSecret::new(secret.expose().to_owned()));
        }
        Ok(client)
    }

    /// Starts an authorization `started_in` the API or the dashboard: checks the caller may,
    /// stores the state and PKCE verifier, and returns the provider URL.
    pub async fn start(
        &self,
        caller: &Caller,
        request: AuthorizeRequest,
        started_in: StartedIn,
    ) -> Result<Started, OAuthError> {
        let (spec, registration) = self.service(&request.service, Some(caller.user)).await?;
        for scope in &request.scopes {
            if !spec.scopes.contains(scope) {
                return Err(RequestProblem::ScopeNotOffered {
                    scope: scope.clone(),
                }
                .into());
            }
        }
        if let Some(extra) = &request.extra_permissions {
            check_scope_tokens(extra)?;
        }
        if let Some(target) = &request.return_to {
            if !self.settings.return_allowed(target) {
                return Err(RequestProblem::ReturnToNotAllowed.into());
            }
        }
        let (plain_fields, extra_permissions) = match &request.target {
            Target::New {
                workspace, fields, ..
            } => {
                check_plain_fields(&spec, fields)?;
                self.app
                    .require_access_in(caller, *workspace, Action::Edit)
                    .await?;
                (
                    named(fields),
                    request.extra_permissions.clone().unwrap_or_default(),
                )
            }
            Target::Existing { id, fields } => {
                check_plain_fields(&spec, fields)?;
                let auth = self
                    .app
                    .authentication_for(caller, *id, Action::Edit)
                    .await?;
                if auth.service != request.service {
                    return Err(RequestProblem::NotTheAuthenticationsService.into());
                }
                let grant = self
                    .app
                    .grant_state(*id)
                    .await
                    .ok_or(OAuthError::NotFound)?;
                let mut plain = grant.plain_fields;
                plain.extend(named(fields));
                let extra = request
                    .extra_permissions
                    .clone()
                    .unwrap_or(grant.extra_permissions);
                (plain, extra)
            }
        };
        let (authorize_url, token_url) = endpoints(&spec, &plain_fields)?;
        // Refuse a token endpoint we would not call, before sending anyone to the provider.
        self.settings.policy.check_url(&token_url)?;
        let client = self.client(&registration, &authorize_url, &token_url)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let state = CsrfToken::new_random();
        let requested_scopes = requested(&request.scopes, &extra_permissions);
        let mut authorize = client
            .authorize_url(|| state.clone())
            .add_scopes(requested_scopes.iter().cloned().map(Scope::new))
            .set_pkce_challenge(challenge);
        for (name, value) in &registration.authorize_params {
            authorize = authorize.add_extra_param(name.as_str(), value.as_str());
        }
        let (url, _) = authorize.url();
        let warnings = missing_required(&spec.required_scopes, &request.scopes);
        self.pending.insert(
            state.secret(),
            Pending {
                user: caller.user,
                from_dashboard: started_in == StartedIn::Dashboard,
                request,
                extra_permissions,
                verifier: SecretString::new(verifier.secret().clone()),
                authorize_url,
                token_url,
                started: Instant::now(),
            },
            self.settings.state_ttl,
        )?;
        Ok(Started {
            authorization_url: url.to_string(),
            expires_in: self.settings.state_ttl,
            requested_scopes,
            warnings,
        })
    }

    /// Whether the authorization of `state` was started from the dashboard, so that its
    /// callback belongs to the dashboard session rather than to a bearer token.
    pub fn started_from_dashboard(&self, state: &str) -> bool {
        self.pending.started_in_dashboard(state)
    }

    /// Completes an authorization. The state is taken out first, whatever the redirect
    /// carries (an error callback uses it up too), and checked (same caller, not expired,
    /// the provider's `iss` when its registration names an issuer) before any token call;
    /// then the code is exchanged and the grant recorded.
    pub async fn callback(
        &self,
        caller: &Caller,
        params: CallbackParams,
    ) -> Result<Completed, OAuthError> {
        let state = params.state.as_deref().ok_or(OAuthError::InvalidState)?;
        let pending = self.pending.take(state)?.ok_or(OAuthError::InvalidState)?;
        if pending.user != caller.user {
            return Err(OAuthError::InvalidState);
        }
        if pending.started.elapsed() >= self.settings.state_ttl {
            return Err(OAuthError::StateExpired);
        }
        let (spec, registration) = self
            .service(&pending.request.service, Some(caller.user))
            .await?;
        if let Some(expected) = &registration.issuer {
            // RFC 9207: a provider that sends `iss` lets the client tell a mix-up apart.
            if params.iss.as_deref() != Some(expected.as_str()) {
                return Err(OAuthError::IssuerMismatch);
            }
        }
        if let Some(error) = &params.error {
            let code = error_code(error);
            self.record_error_callback(caller, &pending, &code).await?;
            return Err(OAuthError::Refused { code });
        }
        let code = params
            .code
            .as_deref()
            .ok_or_else(|| OAuthError::Invalid(RequestProblem::NoCodeNorError))?;
        let client = self.client(&registration, &pending.authorize_url, &pending.token_url)?;
        let url = self.settings.policy.check_url(&pending.token_url)?;
        let http = self.settings.policy.client_for(&url).await?;
        let token = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier.expose().to_owned()))
            .request_async(&http)
            .await
            .map_err(super::provider_error)?;
        let request = pending.request;
        let requested_scopes = requested(&request.scopes, &pending.extra_permissions);
        let granted: Vec<String> = match token.scopes() {
            Some(scopes) => scopes.iter().map(|s| s.to_string()).collect(),
            // RFC 6749 §5.1: no scope in the answer means what was asked for.
            None => requested_scopes.clone(),
        };
        let mut secrets = BTreeMap::new();
        secrets.insert(
            field("access_token"),
            SecretText::new(token.access_token().secret().clone()),
        );
        if let Some(refresh) = token.refresh_token() {
            secrets.insert(
                field("refresh_token"),
                SecretText::new(refresh.secret().clone()),
            );
        }
        if let Some(expires_in) = token.expires_in() {
            secrets.insert(
                field("expires_at"),
                SecretText::new(expiry_text(expires_in)),
            );
        }
        let grant = AuthenticationCommand::RecordGrant {
            requested_scopes: requested_scopes.clone(),
            granted_scopes: granted.clone(),
            extra_permissions: pending.extra_permissions.clone(),
        };
        let (id, mut outcome) = match request.target {
            Target::New {
                name,
                workspace,
                environment,
                fields,
            } => {
                let id = AuthenticationId::new();
                let mut all = secrets;
                for (k, v) in fields {
                    all.insert(k, SecretText::new(v));
                }
                let create = AuthenticationCommand::Create(CreateAuthentication {
                    id,
                    name,
                    workspace,
                    service: request.service.clone(),
                    fields: all,
                    // What was granted of the service's own scopes; the grant below
                    // records all of it, with the request.
                    scopes: granted
                        .iter()
                        .filter(|s| spec.scopes.contains(s))
                        .cloned()
                        .collect(),
                    extra_permissions: pending.extra_permissions.clone(),
                    environment,
                    origin: change_origin(caller),
                });
                let outcome = self
                    .app
                    .execute_all(caller, id, vec![create, grant], None)
                    .await?;
                (id, outcome)
            }
            Target::Existing { id, fields } => {
                let mut changes: BTreeMap<FieldName, FieldChange> = secrets
                    .into_iter()
                    .map(|(k, v)| (k, FieldChange::Set(v)))
                    .collect();
                for (k, v) in fields {
                    changes.insert(k, FieldChange::Set(SecretText::new(v)));
                }
                if token.expires_in().is_none() {
                    // The new grant states no lifetime: the old expiry no longer applies.
                    changes
                        .entry(field("expires_at"))
                        .or_insert(FieldChange::Clear);
                }
                let reauth = AuthenticationCommand::ReauthenticateByGrant {
                    fields: changes,
                    origin: change_origin(caller),
                };
                let outcome = self
                    .app
                    .execute_all(caller, id, vec![reauth, grant], None)
                    .await?;
                (id, outcome)
            }
        };
        // The create and the grant both see the same missing scopes: say it once.
        let mut seen = Vec::new();
        outcome.warnings.retain(|w| {
            let new = !seen.contains(w);
            if new {
                seen.push(w.clone());
            }
            new
        });
        Ok(Completed {
            authentication: id,
            outcome,
            return_to: request.return_to,
            requested_scopes,
            granted_scopes: granted,
        })
    }

    /// An error callback is kept: in the log, and as a refused access on the authentication
    /// a re-consent was for.
    async fn record_error_callback(
        &self,
        caller: &Caller,
        pending: &Pending,
        code: &str,
    ) -> Result<(), OAuthError> {
        tracing::info!(
            service = %pending.request.service,
            user = %caller.user,
            error = code,
            "the provider refused an authorization"
        );
        if let Target::Existing { id, .. } = &pending.request.target {
            let by = Accessor {
                actor: caller.meta().actor,
                workflow: None,
            };
            let reason = format!("the provider refused the authorization ({code})");
            self.app
                .record_refusal(
                    &by,
                    *id,
                    Some(caller.user),
                    "oauth_authorize",
                    Vec::new(),
                    &reason,
                )
                .await?;
        }
        Ok(())
    }
}

/// The origin a grant's command records: the dashboard or the API, as the caller came in.
fn change_origin(caller: &Caller) -> ChangeOrigin {
    caller.clone().change_origin(None)
}

/// A field name this module knows to be valid.
pub(crate) fn field(name: &str) -> FieldName {
    FieldName::parse(name).expect("OAuth2 field names are valid constants")
}

/// `expires_in` from now, as RFC 3339 text for the `expires_at` field.
pub(crate) fn expiry_text(expires_in: Duration) -> String {
    let at = Timestamp::now().0 + i64::try_from(expires_in.as_micros()).unwrap_or(i64::MAX / 2);
    let ts = Timestamp(at);
    serde_json::to_value(ts)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| ts.unix_seconds().to_string())
}
