//! OAuth2 client registrations of custom services: a service editor brings their own OAuth
//! app. The client secret is sealed under the service's data key like any authentication
//! secret and recorded in the service's stream; only the OAuth2 flow and the refresher open it.

use crate::domain::ids::ServiceId;
use crate::domain::secret::SecretText;
use crate::domain::services::{
    check_registration, decide_custom_service, ClientRegistration, CustomService,
    CustomServiceCommand, CustomServiceError, OpaqueSealed,
};

use super::{App, AppError, Caller};

/// What a client secret is bound to besides its service and binding id.
const CLIENT_SECRET_FIELD: &str = "oauth_client.client_secret";

impl App {
    /// Registers (or replaces) the OAuth2 client of a custom OAuth2 service, for whoever may
    /// change the service (`If-Match`: `if_version`). Answers with the service as the write
    /// left it (the secret stays sealed in it).
    pub async fn register_oauth_client(
        &self,
        caller: &Caller,
        id: ServiceId,
        registration: ClientRegistration<SecretText>,
        if_version: Option<u64>,
    ) -> Result<CustomService, AppError> {
        check_registration(&registration, |s| s.expose().trim().is_empty())
            .map_err(CustomServiceError::from)?;
        // Decide once before sealing, so a refused request creates no data key.
        {
            let model = self.model().model().read().await;
            let trial = CustomServiceCommand::RegisterOAuthClient {
                registration: without_secret(&registration),
                actor: caller.user,
            };
            decide_custom_service(
                model.custom_services.get(&id),
                &model.directory,
                trial,
                self.url_rule(),
            )?;
        }
        let sealed = registration.map_secret(|secret| self.seal_client_secret(id, &secret))?;
        let command = CustomServiceCommand::RegisterOAuthClient {
            registration: sealed,
            actor: caller.user,
        };
        self.manage_service(caller, id, command, if_version).await
    }

    /// The OAuth2 client of a custom service with its secret opened: for the flow and the
    /// refresher, never for a caller's answer.
    pub(crate) async fn oauth_client_of(
        &self,
        id: ServiceId,
    ) -> Result<Option<ClientRegistration<SecretText>>, AppError> {
        let registration = {
            let model = self.model().model().read().await;
            match model
                .custom_services
                .get(&id)
                .and_then(|s| s.oauth_client.clone())
            {
                Some(registration) => registration,
                None => return Ok(None),
            }
        };
        registration
            .map_secret(|sealed| self.open_client_secret(id, &sealed))
            .map(Some)
    }

    fn seal_client_secret(
        &self,
        id: ServiceId,
        secret: &SecretText,
    ) -> Result<OpaqueSealed, AppError> {
        self.seal_opaque(
            id.as_uuid(),
            CLIENT_SECRET_FIELD,
            secret.expose().as_bytes(),
        )
    }

    fn open_client_secret(
        &self,
        id: ServiceId,
        sealed: &OpaqueSealed,
    ) -> Result<SecretText, AppError> {
        let plain = self.open_opaque(id.as_uuid(), CLIENT_SECRET_FIELD, sealed)?;
        let text = std::str::from_utf8(plain.expose()).map_err(|_| {
            AppError::Crypto(crate::crypto::CryptoError::OpenFailed {
                field: CLIENT_SECRET_FIELD.to_owned(),
            })
        })?;
        Ok(SecretText::new(text.to_owned()))
    }
}

/// The registration with a placeholder where the secret goes: enough to decide whether it
/// would be accepted.
fn without_secret(
    registration: &ClientRegistration<SecretText>,
) -> ClientRegistration<OpaqueSealed> {
    ClientRegistration {
        client_id: registration.client_id.clone(),
        client_secret: registration.client_secret.as_ref().map(|_| OpaqueSealed {
            binding: uuid::Uuid::nil(),
            bytes: Vec::new(),
        }),
        auth_method: registration.auth_method,
        authorize_params: registration.authorize_params.clone(),
        issuer: registration.issuer.clone(),
    }
}
