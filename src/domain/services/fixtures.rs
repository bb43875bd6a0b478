//! Service definitions for tests.

use super::{AuthKind, FieldFormat, FieldSpec, ServiceSpec};
use crate::domain::ids::FieldName;

/// A generic service, "Internal API", with one required secret field `api_key`.
pub(crate) fn internal_api() -> ServiceSpec {
    ServiceSpec {
        name: "Internal API".into(),
        api_version: "1".into(),
        auth_kind: AuthKind::Generic,
        fields: vec![FieldSpec {
            name: FieldName::parse("api_key").expect("a valid field name"),
            secret: true,
            required: true,
            format: FieldFormat::Text,
            description: "key".into(),
        }],
        oauth: None,
        scopes: vec![],
        required_scopes: vec![],
        verification: None,
    }
}
