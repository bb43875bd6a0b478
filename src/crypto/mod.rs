//! Sealing secrets: key hierarchy (master key -> per-authentication data keys), AEAD sealing
//! bound to its record, keyed fingerprints, and plaintext holders that never leak.

mod api_token;
mod data_key;
mod error;
mod fingerprint;
pub mod key_file;
mod keystore;
mod master_key;
mod primitives;
mod seal;
mod secret;
mod signing_key;
mod webhook_signing;

pub use api_token::{
    generate_api_token, generate_sign_in_secret, hash_api_token, SIGN_IN_LINK_PREFIX, TOKEN_PREFIX,
};
pub use data_key::{DataKey, WrappedDataKey, WRAPPED_DATA_KEY_VERSION};
pub use error::{CryptoError, InternalFailure, Result};
pub use fingerprint::{Fingerprint, Fingerprinter, FINGERPRINT_BYTES, FINGERPRINT_PREFIX};
pub use keystore::{DataKeyStatus, DataKeyStore, KeyCensus, FINGERPRINT_KEY_OWNER};
pub use master_key::{ensure_key_file_outside, MasterKey, MasterKeyFingerprint, KEY_FILE_HEADER};
pub use seal::{open, seal, SealContext, Sealed, SealedSecret, SEALED_VERSION};
pub use secret::{SecretBytes, SecretString};
pub use signing_key::{SigningKey, SigningKeyError, SigningKeyProblem};
pub use webhook_signing::{WebhookSecret, SIGNATURE_VERSION, WEBHOOK_SECRET_PREFIX};

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use uuid::Uuid;

    const CANARY: &str = "CANARY-7f3a9c";

    /// End to end: key file, store, seal, fingerprint, failures; nothing printable leaks.
    #[test]
    fn no_printable_output_contains_the_canary_or_key_material() {
        let key_dir = tempfile::tempdir().expect("key dir");
        let data_dir = tempfile::tempdir().expect("data dir");
        let key_path = key_dir.path().join("master.key");
        ensure_key_file_outside(&key_path, data_dir.path()).expect("outside");
        let (master, created) = MasterKey::load_or_create(&key_path).expect("master");
        assert!(created);
        let master = Arc::new(master);
        let master_hex = hex::encode(master.key_bytes());
        let db = crate::ledger::open_db(data_dir.path()).expect("db");
        let store = DataKeyStore::new(
            db.open_tree(crate::storage::DATA_KEYS).expect("tree"),
            master.clone(),
        );
        let owner = Uuid::new_v4();
        let dk = store.create_for(owner).expect("dk");
        let dk_hex = hex::encode(dk.key_bytes());
        let ctx = SealContext {
            owner,
            field: "token",
            event_id: Uuid::now_v7(),
        };
        let secret = SecretString::from(CANARY);
        let bytes = secret.to_secret_bytes();
        let sealed = seal(&dk, &ctx, &bytes).expect("seal");
        let opened = open(&dk, &ctx, &sealed).expect("open");
        assert_eq!(opened.expose(), CANARY.as_bytes());
        let fper = Fingerprinter::from_master(&master).expect("fp");
        let fp = fper.fingerprint(&bytes);
        let wrapped = store.wrapped(owner).expect("w").expect("w");
        let other_master = MasterKey::generate().expect("other");
        let errors: Vec<CryptoError> = vec![
            open(
                &dk,
                &SealContext {
                    field: "password",
                    ..ctx
                },
                &sealed,
            )
            .expect_err("moved"),
            wrapped
                .unwrap_with(&other_master, owner)
                .expect_err("wrong master"),
            other_master
                .check_fingerprint(&master.fingerprint().expect("mfp"))
                .expect_err("wrong fp"),
            store.create_for(owner).expect_err("exists"),
        ];
        let mut outputs = vec![
            format!("{secret:?} {secret} {bytes:?} {bytes} {opened:?}"),
            format!("{master:?} {master:#?}"),
            format!("{dk:?} {wrapped:?} {sealed:?}"),
            format!("{fper:?} {fp:?} {fp}"),
            format!("{store:?} {:?}", store.status(owner).expect("status")),
        ];
        for e in &errors {
            outputs.push(format!("{e} {e:?}"));
        }
        store.destroy(owner).expect("destroy");
        let e = store.get(owner).expect_err("destroyed");
        outputs.push(format!("{e} {e:?}"));
        for out in outputs {
            assert!(!out.contains(CANARY), "canary leaked: {out}");
            assert!(!out.contains(&master_hex), "master key leaked: {out}");
            assert!(!out.contains(&dk_hex), "data key leaked: {out}");
        }
    }
}
