//! Services an authentication is created against: the prebuilt catalog and custom services.

mod catalog;
mod custom;
#[cfg(test)]
pub(crate) mod fixtures;
mod oauth_client;
mod spec;

pub use catalog::{CatalogError, ServiceCatalog};
pub use custom::{
    apply_custom_service, check_use, decide_custom_service, CustomService, CustomServiceCommand,
    CustomServiceError, CustomServiceEvent, DefineMode, ServiceUse, ServiceUseError, UrlRule,
};
pub use oauth_client::{
    check_registration, ClientAuthMethod, ClientRegistration, OpaqueSealed, RegistrationError,
    MAX_AUTHORIZE_PARAMS, RESERVED_AUTHORIZE_PARAMS,
};
pub use spec::{
    base_fields, fill_url, placeholders, AuthKind, FieldFormat, FieldSpec, MethodProblem,
    OAuthEndpoints, ServiceSpec, ServiceSpecError, VerificationEndpoint, RESERVED_GENERIC_FIELDS,
};

use crate::domain::ids::{ServiceId, ServiceKey};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Which service an authentication belongs to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ServiceRef {
    /// A prebuilt catalog service, by key.
    Prebuilt(ServiceKey),
    /// A custom service, by id.
    Custom(ServiceId),
}

impl fmt::Display for ServiceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceRef::Prebuilt(key) => write!(f, "{key}"),
            ServiceRef::Custom(id) => write!(f, "custom:{id}"),
        }
    }
}

/// Looks up service specs: the prebuilt catalog plus the defined custom services.
#[derive(Debug, Clone, Default)]
pub struct ServiceRegistry {
    /// The prebuilt catalog.
    pub catalog: ServiceCatalog,
    /// Custom services by id.
    pub custom: BTreeMap<ServiceId, CustomService>,
}

impl ServiceRegistry {
    /// A registry over the given catalog with no custom services.
    pub fn new(catalog: ServiceCatalog) -> Self {
        Self {
            catalog,
            custom: BTreeMap::new(),
        }
    }
    /// Folds a custom service event into the registry.
    pub fn apply(&mut self, event: &CustomServiceEvent) {
        let service = event.service();
        let mut current = self.custom.remove(&service);
        apply_custom_service(&mut current, event);
        if let Some(current) = current {
            self.custom.insert(service, current);
        }
    }
    /// A custom service, if defined.
    pub fn custom(&self, id: ServiceId) -> Option<&CustomService> {
        self.custom.get(&id)
    }
    /// The spec of a service, if known.
    pub fn resolve(&self, service: &ServiceRef) -> Option<&ServiceSpec> {
        match service {
            ServiceRef::Prebuilt(key) => self.catalog.get(key),
            ServiceRef::Custom(id) => self.custom.get(id).map(|c| &c.spec),
        }
    }
}
