//! Warnings: accepted, but the caller should know.

use crate::domain::ids::WorkspaceId;
use crate::time::Timestamp;

/// Days before expiry from which a certificate is reported as expiring soon.
pub const CERTIFICATE_EXPIRY_WARNING_DAYS: i64 = 30;

/// Something the caller should know about an accepted command. Serializable because an
/// idempotency record keeps the warnings of the answer it replays.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Warning {
    /// OAuth1 is accepted but discouraged.
    OAuth1Discouraged,
    /// A generic service auth in an organization workspace: everyone there can use it.
    GenericAuthVisibleToOrganization {
        /// The organization workspace.
        workspace: WorkspaceId,
    },
    /// The granted scopes lack some of the service's required scopes.
    MissingRequiredScopes {
        /// The missing scopes.
        missing: Vec<String>,
    },
    /// The certificate has already expired.
    CertificateExpired {
        /// End of validity.
        not_after: Timestamp,
    },
    /// The certificate expires within [`CERTIFICATE_EXPIRY_WARNING_DAYS`].
    CertificateExpiresSoon {
        /// End of validity.
        not_after: Timestamp,
    },
    /// The private key does not carry its public half, so the pair could not be matched.
    CertificateKeyNotVerified,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Warning::OAuth1Discouraged => {
                f.write_str("OAuth1 is discouraged; prefer OAuth2 where the service offers it")
            }
            Warning::GenericAuthVisibleToOrganization { .. } => f.write_str(
                "generic service auth in the organization workspace: everyone in the organization can use it",
            ),
            Warning::MissingRequiredScopes { missing } => {
                write!(f, "scopes: missing required scopes {}", missing.join(", "))
            }
            Warning::CertificateExpired { not_after } => {
                write!(f, "certificate: expired at {not_after}")
            }
            Warning::CertificateExpiresSoon { not_after } => {
                write!(f, "certificate: expires at {not_after}")
            }
            Warning::CertificateKeyNotVerified => f.write_str(
                "private_key: the key does not embed its public key, so it could not be matched to the certificate",
            ),
        }
    }
}
