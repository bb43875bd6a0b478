//! Webhook signing in the Standard Webhooks layout (<https://www.standardwebhooks.com>).
//!
//! A subscription's signing secret is not stored anywhere: it is derived from the
//! subscription's own data key (HMAC-SHA256 under the data key over a fixed label and the
//! subscription id), so the ledger never holds it, even sealed, and destroying the data key
//! when the subscription is removed destroys the secret. Shown as `whsec_` + base64 of its
//! 32 bytes. A delivery's `webhook-signature` header is `v1,` + base64 of
//! HMAC-SHA256(secret, `<webhook-id>.<webhook-timestamp>.<body>`).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ring::hmac;
use uuid::Uuid;

use super::data_key::DataKey;
use super::secret::{SecretBytes, SecretString};

/// What the text of a signing secret starts with.
pub const WEBHOOK_SECRET_PREFIX: &str = "whsec_";
/// The signature scheme's tag in `webhook-signature`.
pub const SIGNATURE_VERSION: &str = "v1";
/// What the derivation binds besides the subscription id.
const DERIVE_LABEL: &[u8] = b"credledger/webhook-signing-secret/v1";

/// A subscription's signing secret (never printed: `Debug` shows nothing of it).
pub struct WebhookSecret(SecretBytes);

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret([redacted])")
    }
}

impl WebhookSecret {
    /// The secret of subscription `webhook`, derived from its data key.
    pub fn derive(data_key: &DataKey, webhook: Uuid) -> WebhookSecret {
        let key = hmac::Key::new(hmac::HMAC_SHA256, data_key.key_bytes());
        let mut ctx = hmac::Context::with_key(&key);
        ctx.update(DERIVE_LABEL);
        ctx.update(webhook.as_bytes());
        WebhookSecret(SecretBytes::from_slice(ctx.sign().as_ref()))
    }

    /// The secret as its receiver configures it: `whsec_` + base64.
    pub fn to_text(&self) -> SecretString {
        SecretString::new(format!(
            "{WEBHOOK_SECRET_PREFIX}{}",
            STANDARD.encode(self.0.expose())
        ))
    }

    /// The `webhook-signature` header of one delivery.
    pub fn sign(&self, message_id: &str, timestamp: i64, body: &[u8]) -> String {
        let key = hmac::Key::new(hmac::HMAC_SHA256, self.0.expose());
        let mut ctx = hmac::Context::with_key(&key);
        ctx.update(message_id.as_bytes());
        ctx.update(b".");
        ctx.update(timestamp.to_string().as_bytes());
        ctx.update(b".");
        ctx.update(body);
        format!(
            "{SIGNATURE_VERSION},{}",
            STANDARD.encode(ctx.sign().as_ref())
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification: secret, id, timestamp and body
    /// give exactly its published signature.
    #[test]
    fn signs_the_specification_example() {
        let secret = STANDARD
            .decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
            .expect("base64");
        let secret = WebhookSecret(SecretBytes::from_slice(&secret));
        let signature = secret.sign(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn each_subscription_has_its_own_secret_and_debug_shows_none() {
        let key = DataKey::generate().expect("key");
        let a = WebhookSecret::derive(&key, Uuid::from_u128(1));
        let b = WebhookSecret::derive(&key, Uuid::from_u128(2));
        assert_ne!(a.to_text().expose(), b.to_text().expose());
        assert_eq!(
            a.to_text().expose(),
            WebhookSecret::derive(&key, Uuid::from_u128(1))
                .to_text()
                .expose()
        );
        assert!(a.to_text().expose().starts_with(WEBHOOK_SECRET_PREFIX));
        assert_eq!(format!("{a:?}"), "WebhookSecret([redacted])");
    }
}
