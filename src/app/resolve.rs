//! Resolving `$.auth.<field>` references of a workflow step to the authentication's values.
//!
//! A string that is exactly `$.auth.token` becomes the value; inside longer strings a
//! reference is written in braces: `"Bearer {$.auth.token}"`. Only a user allowed to use the
//! authentication, running a workflow in a workspace that can reach it, gets values back.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

use crate::domain::access::{decide_resolve, resolving_user, Action};
use crate::domain::authentication::{Lifecycle, StoredField};
use crate::domain::ids::{AuthenticationId, FieldName, UserId, WorkspaceId};
use crate::domain::principals::Principal;
use crate::domain::secret::SecretText;

use super::audit::Accessor;
use super::{App, AppError};
use crate::domain::access_log::AccessEvent;

/// The prefix of a reference.
const PREFIX: &str = "$.auth.";

/// A workflow runner's request to resolve a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolveRequest {
    /// The authentication referred to.
    pub authentication: AuthenticationId,
    /// The workspace the workflow runs in.
    pub workspace: WorkspaceId,
    /// The user the workflow runs as.
    pub user: UserId,
    /// The JSON template with references.
    pub template: Value,
}

/// Why a resolution was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// The service has no such field.
    #[error("template: $.auth.{field} is not a field of this authentication's service")]
    UnknownField {
        /// The field referred to.
        field: String,
    },
    /// The field exists but has no value.
    #[error("template: $.auth.{field} is not set on this authentication")]
    FieldNotSet {
        /// The field referred to.
        field: String,
    },
    /// The reference is malformed.
    #[error("template: {reference:?} is not a valid $.auth.<field> reference")]
    BadReference {
        /// The text found.
        reference: String,
    },
    /// The user or workspace may not use this authentication.
    #[error("authentication: {0}")]
    NotUsable(Unusable),
    /// The caller may not resolve for the user the request names (or named nobody).
    #[error(transparent)]
    OnBehalf(OnBehalfRefusal),
    /// The field is the ledger's own to use, never handed out (an OAuth2 refresh token: a
    /// workflow refreshing with it would revoke the stored grant at a rotating provider).
    #[error("template: $.auth.{field} is kept by the ledger to refresh the grant and is never resolved; use $.auth.access_token")]
    NotResolvable {
        /// The field referred to.
        field: String,
    },
}

pub use crate::domain::access::{OnBehalfRefusal, Unusable};

impl ResolveError {
    /// The request field the refusal is about: `template`, `authentication`, or the on-behalf
    /// refusal's own.
    pub fn field(&self) -> Option<String> {
        match self {
            ResolveError::UnknownField { .. }
            | ResolveError::FieldNotSet { .. }
            | ResolveError::BadReference { .. }
            | ResolveError::NotResolvable { .. } => Some("template".to_owned()),
            ResolveError::NotUsable(_) => Some("authentication".to_owned()),
            ResolveError::OnBehalf(refusal) => refusal.field(),
        }
    }
}

/// Fields of an authentication kind that resolve never returns.
pub fn never_resolved(kind: crate::domain::services::AuthKind) -> &'static [&'static str] {
    match kind {
        crate::domain::services::AuthKind::OAuth2 => &["refresh_token"],
        _ => &[],
    }
}

/// A resolved template. Holds plaintext secrets: its Debug output is redacted.
pub struct ResolvedTemplate {
    value: Value,
    fields: Vec<String>,
}

impl ResolvedTemplate {
    /// The resolved JSON (contains secret values; hand it only to the allowed caller).
    pub fn into_value(self) -> Value {
        self.value
    }

    /// The fields that were resolved.
    pub fn fields(&self) -> &[String] {
        &self.fields
    }
}

impl fmt::Debug for ResolvedTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResolvedTemplate")
            .field("value", &"[REDACTED]")
            .field("fields", &self.fields)
            .finish()
    }
}

/// Every `$.auth.<field>` reference in a template, in order of first appearance.
pub fn references(template: &Value) -> Result<Vec<String>, ResolveError> {
    fn walk(value: &Value, out: &mut Vec<String>) -> Result<(), ResolveError> {
        match value {
            Value::String(s) => {
                for field in references_in(s)? {
                    if !out.contains(&field) {
                        out.push(field);
                    }
                }
            }
            Value::Array(items) => items.iter().try_for_each(|v| walk(v, out))?,
            Value::Object(map) => map.values().try_for_each(|v| walk(v, out))?,
            _ => {}
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(template, &mut out)?;
    Ok(out)
}

fn valid_field(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// At most 40 characters of a bad reference, anything but printable ASCII as `?`: the
/// refusal names the spot without growing with the input (the fuzzer found a 405-byte one,
/// and an invalid field name was echoed whole) or carrying escapes.
fn excerpt(text: &str) -> String {
    text.chars()
        .take(40)
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect()
}

/// References in one string: the whole string, or `{$.auth.x}` inside it.
fn references_in(text: &str) -> Result<Vec<String>, ResolveError> {
    if let Some(field) = text.strip_prefix(PREFIX) {
        if valid_field(field) {
            return Ok(vec![field.to_owned()]);
        }
    }
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(&format!("{{{PREFIX}")) {
        let after = &rest[start + 1 + PREFIX.len()..];
        let end = after.find('}').ok_or_else(|| ResolveError::BadReference {
            reference: excerpt(&rest[start..]),
        })?;
        let field = &after[..end];
        if !valid_field(field) {
            return Err(ResolveError::BadReference {
                reference: excerpt(&format!("{{{PREFIX}{field}}}")),
            });
        }
        out.push(field.to_owned());
        rest = &after[end + 1..];
    }
    Ok(out)
}

fn substitute(value: Value, values: &BTreeMap<String, SecretText>) -> Value {
    match value {
        Value::String(s) => {
            if let Some(v) = s.strip_prefix(PREFIX).and_then(|f| values.get(f)) {
                return Value::String(v.expose().to_owned());
            }
            let mut text = s;
            for (field, v) in values {
                let reference = format!("{{{PREFIX}{field}}}");
                if text.contains(&reference) {
                    text = text.replace(&reference, v.expose());
                }
            }
            Value::String(text)
        }
        Value::Array(items) => {
            Value::Array(items.into_iter().map(|v| substitute(v, values)).collect())
        }
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, substitute(v, values)))
                .collect(),
        ),
        other => other,
    }
}

/// The fields a resolution will read, once access and the references are checked.
/// The wanted fields as stored, each secret with the event id that sealed it (from the live
/// record, so that opening it reads nothing more).
type Wanted = Vec<(
    FieldName,
    StoredField<crate::crypto::SealedSecret>,
    Option<uuid::Uuid>,
)>;

/// Whether a refusal is for lack of rights (recorded in audit) rather than a bad request.
fn refusal_reason(error: &AppError) -> Option<String> {
    match error {
        AppError::NotFound => Some("not visible to this user".to_owned()),
        AppError::Resolve(ResolveError::NotUsable(why)) => Some(why.to_string()),
        _ => None,
    }
}

impl App {
    /// For whom `principal` resolves when the request names `named`
    /// ([`crate::domain::access::resolving_user`]); a refusal for lack of rights is recorded in
    /// audit against authentication `id`.
    pub async fn resolving_user(
        &self,
        by: &Accessor,
        principal: &Principal,
        named: Option<UserId>,
        id: AuthenticationId,
    ) -> Result<UserId, AppError> {
        let decided = {
            let model = self.model().model().read().await;
            resolving_user(&model.directory, principal, named)
        };
        let refusal = match decided {
            Ok(user) => return Ok(user),
            Err(refusal) => refusal,
        };
        if refusal.is_lack_of_rights() {
            let me = match principal {
                Principal::User(me) => Some(*me),
                Principal::Runner { .. } | Principal::Auditor { .. } => None,
            };
            let reason = refusal.to_string();
            self.record_refusal(by, id, me, "resolve", Vec::new(), &reason)
                .await?;
        }
        Err(ResolveError::OnBehalf(refusal).into())
    }

    /// Checks that `request` may be resolved (access, lifecycle, reachability, fields) without
    /// opening anything; a refusal for lack of rights is recorded in audit.
    pub async fn authorize_resolve(
        &self,
        by: &Accessor,
        request: &ResolveRequest,
    ) -> Result<(), AppError> {
        self.checked(by, request).await.map(|_| ())
    }

    /// Resolves the references of a template for a workflow step. The values leave only after
    /// the access record is flushed; a refusal for lack of rights is recorded too.
    pub async fn resolve(
        &self,
        by: &Accessor,
        request: ResolveRequest,
    ) -> Result<ResolvedTemplate, AppError> {
        let (wanted, sealed) = self.checked(by, &request).await?;
        let id = request.authentication;
        let mut values = BTreeMap::new();
        if sealed.iter().any(|(_, f, _)| f.is_secret()) {
            let data_key = self.keys.get(id.as_uuid())?.ok_or(AppError::NotFound)?;
            for (name, stored, sealed_by) in sealed {
                let text = match stored {
                    StoredField::Plain { value, .. } => SecretText::new(value),
                    StoredField::Secret {
                        value,
                        changed_at_version,
                    } => {
                        let event_id = match sealed_by {
                            Some(event_id) => event_id,
                            None => self.event_id_at(id, changed_at_version).await?,
                        };
                        self.open_sealed(id, &name, event_id, &data_key, &value)?
                    }
                };
                values.insert(name.as_str().to_owned(), text);
            }
        } else {
            for (name, stored, _) in sealed {
                if let StoredField::Plain { value, .. } = stored {
                    values.insert(name.as_str().to_owned(), SecretText::new(value));
                }
            }
        }
        self.record_access(
            by.meta(),
            AccessEvent::Resolved {
                authentication: id,
                user: request.user,
                workspace: request.workspace,
                fields: wanted.clone(),
                workflow: by.workflow.clone(),
            },
        )
        .await?;
        Ok(ResolvedTemplate {
            value: substitute(request.template, &values),
            fields: wanted,
        })
    }

    /// [`App::check_resolve`], recording a refusal for lack of rights.
    async fn checked(
        &self,
        by: &Accessor,
        request: &ResolveRequest,
    ) -> Result<(Vec<String>, Wanted), AppError> {
        let wanted = references(&request.template)?;
        match self.check_resolve(request, &wanted).await {
            Ok(sealed) => Ok((wanted, sealed)),
            Err(error) => {
                if let Some(reason) = refusal_reason(&error) {
                    self.record_refusal(
                        by,
                        request.authentication,
                        Some(request.user),
                        "resolve",
                        wanted,
                        &reason,
                    )
                    .await?;
                }
                Err(error)
            }
        }
    }

    /// Access, lifecycle, reachability and field checks of a resolution.
    async fn check_resolve(
        &self,
        request: &ResolveRequest,
        wanted: &[String],
    ) -> Result<Wanted, AppError> {
        let id = request.authentication;
        let model = self.model().model().read().await;
        let record = model.authentication(id).ok_or(AppError::NotFound)?;
        let auth = record
            .state
            .current
            .as_ref()
            .filter(|a| model.allows(request.user, a.workspace, Action::View))
            .ok_or(AppError::NotFound)?;
        decide_resolve(
            &model.directory,
            request.user,
            auth.workspace,
            auth.lifecycle == Lifecycle::Active,
            request.workspace,
        )
        .map_err(ResolveError::NotUsable)?;
        let spec = model.service_spec(self.catalog(), &auth.service);
        let mut sealed = Vec::with_capacity(wanted.len());
        for field in wanted {
            let name = FieldName::parse(field).map_err(|_| ResolveError::UnknownField {
                field: field.clone(),
            })?;
            if spec.is_some_and(|s| s.field(&name).is_none()) {
                return Err(ResolveError::UnknownField {
                    field: field.clone(),
                }
                .into());
            }
            if never_resolved(auth.kind).contains(&name.as_str()) {
                return Err(ResolveError::NotResolvable {
                    field: field.clone(),
                }
                .into());
            }
            let stored = auth
                .fields
                .get(&name)
                .ok_or_else(|| ResolveError::FieldNotSet {
                    field: field.clone(),
                })?;
            let sealed_by = record.sealing_event(stored.changed_at_version());
            sealed.push((name, stored.clone(), sealed_by));
        }
        Ok(sealed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_whole_and_embedded_references() {
        let template = json!({
            "headers": {"Authorization": "Bearer {$.auth.token}", "X-User": "$.auth.username"},
            "list": ["{$.auth.token}-{$.auth.domain}", 3, null],
        });
        assert_eq!(
            references(&template).expect("valid"),
            vec![
                "token".to_owned(),
                "username".to_owned(),
                "domain".to_owned()
            ]
        );
    }

    #[test]
    fn refuses_malformed_references() {
        assert!(matches!(
            references(&json!("Bearer {$.auth.token")),
            Err(ResolveError::BadReference { .. })
        ));
        // A long or unprintable bad reference is named by a short printable excerpt.
        let long = format!("{{$.auth.{}}}", "\u{15}x".repeat(5000));
        let Err(ResolveError::BadReference { reference }) = references(&json!(long)) else {
            panic!("a bad reference");
        };
        assert_eq!(reference.chars().count(), 40);
        assert!(reference.chars().all(|c| c.is_ascii_graphic() || c == ' '));
        assert!(matches!(
            references(&json!("{$.auth.to ken}")),
            Err(ResolveError::BadReference { .. })
        ));
    }

    #[test]
    fn substitutes_values() {
        let mut values = BTreeMap::new();
        values.insert("token".to_owned(), SecretText::new("t0k"));
        let out = substitute(
            json!({"a": "$.auth.token", "b": "Bearer {$.auth.token}!"}),
            &values,
        );
        assert_eq!(out, json!({"a": "t0k", "b": "Bearer t0k!"}));
    }
}

#[cfg(test)]
mod field_tests {
    use super::*;

    #[test]
    fn every_resolve_error_names_its_field() {
        let table = [
            (
                ResolveError::UnknownField {
                    field: "nope".into(),
                },
                "template",
            ),
            (
                ResolveError::FieldNotSet {
                    field: "refresh_token".into(),
                },
                "template",
            ),
            (
                ResolveError::BadReference {
                    reference: "$.auth.: x".into(),
                },
                "template",
            ),
            (ResolveError::NotUsable(Unusable::Deleted), "authentication"),
            (
                ResolveError::NotUsable(Unusable::WorkspaceMayNot),
                "authentication",
            ),
            (
                ResolveError::OnBehalf(OnBehalfRefusal::OnlyForThemselves),
                "user",
            ),
            (
                ResolveError::OnBehalf(OnBehalfRefusal::RunnerNamedNobody),
                "user",
            ),
            (
                ResolveError::OnBehalf(OnBehalfRefusal::AuditorsNeverReceiveSecrets),
                "principal",
            ),
            (
                ResolveError::NotResolvable {
                    field: "refresh_token".into(),
                },
                "template",
            ),
        ];
        for (error, field) in table {
            assert_eq!(error.field().as_deref(), Some(field), "{error:?}");
            assert!(error.to_string().starts_with(&format!("{field}: ")));
        }
    }
}
