//! The prebuilt service catalog, shipped in the crate as `catalog.json`.

use super::{ServiceSpec, ServiceSpecError};
use crate::domain::ids::{IdError, ServiceKey};
use std::collections::BTreeMap;

/// The catalog file compiled into the crate.
const CATALOG_JSON: &str = include_str!("catalog.json");

/// Why the catalog could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The file is not valid JSON of the expected shape.
    #[error("service catalog: invalid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A key is not a valid service key.
    #[error("service catalog: key {key:?}: {reason}")]
    Key {
        /// The raw key.
        key: String,
        /// Why it is invalid.
        reason: IdError,
    },
    /// An entry is not a valid service definition.
    #[error("service catalog: {key}: {reason}")]
    Spec {
        /// The service key.
        key: ServiceKey,
        /// What is wrong.
        reason: ServiceSpecError,
    },
}

/// Prebuilt services by key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceCatalog {
    services: BTreeMap<ServiceKey, ServiceSpec>,
}

impl ServiceCatalog {
    /// Loads and validates the catalog shipped in the crate.
    pub fn builtin() -> Result<Self, CatalogError> {
        Self::from_json(CATALOG_JSON)
    }

    /// Loads and validates a catalog from JSON: an object of key -> service spec.
    pub fn from_json(json: &str) -> Result<Self, CatalogError> {
        Self::from_json_as(json, false)
    }

    /// Like [`ServiceCatalog::from_json`], accepting `http://` endpoints (development only).
    pub fn from_json_allowing_http(json: &str) -> Result<Self, CatalogError> {
        Self::from_json_as(json, true)
    }

    fn from_json_as(json: &str, allow_http: bool) -> Result<Self, CatalogError> {
        let raw: BTreeMap<String, ServiceSpec> = serde_json::from_str(json)?;
        let mut services = BTreeMap::new();
        for (key, spec) in raw {
            let key = ServiceKey::parse(&key).map_err(|reason| CatalogError::Key {
                key: key.clone(),
                reason,
            })?;
            let checked = if allow_http {
                spec.validate_allowing_http()
            } else {
                spec.validate()
            };
            checked.map_err(|reason| CatalogError::Spec {
                key: key.clone(),
                reason,
            })?;
            services.insert(key, spec);
        }
        Ok(Self { services })
    }

    /// Adds (or replaces) the services of another catalog, e.g. an operator's own services.
    pub fn extend(&mut self, other: ServiceCatalog) {
        self.services.extend(other.services);
    }

    /// A service by key.
    pub fn get(&self, key: &ServiceKey) -> Option<&ServiceSpec> {
        self.services.get(key)
    }

    /// Every service, ordered by key.
    pub fn iter(&self) -> impl Iterator<Item = (&ServiceKey, &ServiceSpec)> {
        self.services.iter()
    }

    /// Number of services.
    pub fn len(&self) -> usize {
        self.services.len()
    }

    /// Whether the catalog is empty.
    pub fn is_empty(&self) -> bool {
        self.services.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::FieldName;
    use crate::domain::services::{fill_url, AuthKind};

    fn key(k: &str) -> ServiceKey {
        ServiceKey::parse(k).expect("valid key")
    }

    #[test]
    fn builtin_catalog_parses_and_validates() {
        let catalog = ServiceCatalog::builtin().expect("shipped catalog is valid");
        let kinds: Vec<AuthKind> = catalog.iter().map(|(_, s)| s.auth_kind).collect();
        for kind in [
            AuthKind::Token,
            AuthKind::Basic,
            AuthKind::OAuth2,
            AuthKind::OAuth1,
            AuthKind::Certificate,
            AuthKind::Generic,
        ] {
            assert!(kinds.contains(&kind), "catalog lacks a {kind:?} service");
        }
        for k in [
            "airtable",
            "slack",
            "salesforce",
            "github",
            "jira",
            "trello",
            "mtls-api",
        ] {
            assert!(catalog.get(&key(k)).is_some(), "catalog lacks {k}");
        }
    }

    #[test]
    fn slack_has_required_scopes_within_available() {
        let catalog = ServiceCatalog::builtin().expect("valid");
        let slack = catalog.get(&key("slack")).expect("slack");
        assert_eq!(slack.auth_kind, AuthKind::OAuth2);
        assert!(!slack.required_scopes.is_empty());
        assert!(slack
            .required_scopes
            .iter()
            .all(|s| slack.scopes.contains(s)));
    }

    #[test]
    fn salesforce_token_url_uses_custom_domain() {
        let catalog = ServiceCatalog::builtin().expect("valid");
        let sf = catalog.get(&key("salesforce")).expect("salesforce");
        let oauth = sf.oauth.as_ref().expect("endpoints");
        assert_eq!(oauth.token_url, "https://{domain}/services/oauth2/token");
        let values = BTreeMap::from([(
            FieldName::parse("domain").expect("ok"),
            "acme.my.salesforce.com".to_owned(),
        )]);
        assert_eq!(
            fill_url(&oauth.token_url, &values).as_deref(),
            Some("https://acme.my.salesforce.com/services/oauth2/token")
        );
    }

    #[test]
    fn broken_catalogs_are_refused_with_the_reason() {
        assert!(matches!(
            ServiceCatalog::from_json("{"),
            Err(CatalogError::Json(_))
        ));
        let bad_key = r#"{"Bad Key": {"name":"x","api_version":"1","auth_kind":"Token","fields":[],"oauth":null,"scopes":[],"required_scopes":[],"verification":null}}"#;
        assert!(matches!(
            ServiceCatalog::from_json(bad_key),
            Err(CatalogError::Key { .. })
        ));
        let no_endpoints = r#"{"x": {"name":"x","api_version":"1","auth_kind":"OAuth2","fields":[],"oauth":null,"scopes":[],"required_scopes":[],"verification":null}}"#;
        assert!(matches!(
            ServiceCatalog::from_json(no_endpoints),
            Err(CatalogError::Spec { .. })
        ));
    }
}
