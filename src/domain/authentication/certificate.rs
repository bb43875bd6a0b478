//! Client certificate checks: parse the PEM certificate and private key, match them.
//!
//! Matching compares public key material without any crypto primitive:
//! - RSA: the modulus and public exponent stored in the private key (PKCS#1, or PKCS#8
//!   wrapping PKCS#1) against the certificate's RSA public key.
//! - EC: the public point that SEC1 private keys normally embed (OpenSSL always writes it)
//!   against the certificate's public point.
//! - Ed25519 and other algorithms: the PKCS#8 v2 embedded public key, when present.
//!
//! Limitation: when a key does not embed its public half (an EC key without the optional
//! public point, a PKCS#8 v1 Ed25519 key, or an algorithm other than RSA/EC/Ed25519), the
//! public key would have to be derived by scalar multiplication, which needs curve
//! arithmetic the domain deliberately does not carry. Such pairs are accepted with
//! `KeyMatch::NotVerifiable` (surfaced as a warning), never silently reported as matching.

use crate::time::Timestamp;
use pkcs8::der;
use pkcs8::der::pem;
use pkcs8::der::{Decode, DecodePem};
use x509_cert::Certificate;

const OID_RSA: &str = "1.2.840.113549.1.1.1";
const OID_EC: &str = "1.2.840.10045.2.1";

/// Whether the private key was shown to belong to the certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyMatch {
    /// The key's public half equals the certificate's public key.
    Verified,
    /// The key does not carry its public half; see the module documentation.
    NotVerifiable,
}

/// What the certificate check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CertificateInfo {
    /// End of the certificate's validity.
    pub not_after: Timestamp,
    /// Whether the key was shown to match.
    pub key_match: KeyMatch,
}

/// Why a certificate or key was refused. Never contains key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateError {
    /// No `-----BEGIN CERTIFICATE-----` block.
    #[error("certificate: no PEM CERTIFICATE block found")]
    NoCertificateBlock,
    /// The certificate block is not a valid X.509 certificate.
    #[error("certificate: not a valid X.509 certificate ({source})")]
    InvalidCertificate {
        /// Which part of the certificate does not decode.
        part: CertificatePart,
        /// What the DER decoder found (a position and a tag or length, never content).
        #[source]
        source: der::Error,
    },
    /// The private key is not PEM.
    #[error("private_key: not PEM-armoured")]
    KeyNotPem,
    /// Encrypted private keys cannot be checked.
    #[error("private_key: encrypted keys are not accepted; supply the unencrypted PEM key")]
    EncryptedKey,
    /// The PEM label is not a private key label. The label is not named: it is part of the
    /// value the caller sent, which may be a secret pasted into the wrong field.
    #[error("private_key: the PEM label is not PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY")]
    UnsupportedKeyLabel,
    /// The key's DER structure is invalid.
    #[error("private_key: not a valid private key ({source})")]
    InvalidKey {
        /// The structure the key was decoded as.
        format: KeyFormat,
        /// What the DER decoder found (a position and a tag or length, never content).
        #[source]
        source: der::Error,
    },
    /// The key's algorithm differs from the certificate's.
    #[error("private_key: key algorithm {key} does not match certificate algorithm {certificate}")]
    AlgorithmMismatch {
        /// Key algorithm OID.
        key: String,
        /// Certificate algorithm OID.
        certificate: String,
    },
    /// The key's public half differs from the certificate's public key.
    #[error("private_key: does not belong to the certificate (public keys differ)")]
    KeyMismatch,
}

impl CertificateError {
    /// The field the refusal is about: `certificate` or `private_key`.
    pub fn field(&self) -> Option<String> {
        let field = match self {
            CertificateError::NoCertificateBlock | CertificateError::InvalidCertificate { .. } => {
                "certificate"
            }
            CertificateError::KeyNotPem
            | CertificateError::EncryptedKey
            | CertificateError::UnsupportedKeyLabel
            | CertificateError::InvalidKey { .. }
            | CertificateError::AlgorithmMismatch { .. }
            | CertificateError::KeyMismatch => "private_key",
        };
        Some(field.to_owned())
    }
}

/// The part of a certificate that did not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificatePart {
    /// The X.509 structure itself.
    X509,
    /// Its RSA public key (PKCS#1), read to match an RSA private key.
    RsaPublicKey,
}

/// The structure a private key was decoded as, chosen by its PEM label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFormat {
    /// `PRIVATE KEY`: PKCS#8.
    Pkcs8,
    /// `RSA PRIVATE KEY`, or the RSA key inside PKCS#8: PKCS#1.
    Pkcs1,
    /// `EC PRIVATE KEY`, or the EC key inside PKCS#8: SEC1.
    Sec1,
}

fn invalid_certificate(part: CertificatePart) -> impl FnOnce(der::Error) -> CertificateError {
    move |source| CertificateError::InvalidCertificate { part, source }
}

fn invalid_key(format: KeyFormat) -> impl FnOnce(der::Error) -> CertificateError {
    move |source| CertificateError::InvalidKey { format, source }
}

/// Parses both PEM texts, records the expiry and checks that the key matches.
pub fn check_certificate(
    certificate_pem: &str,
    key_pem: &str,
) -> Result<CertificateInfo, CertificateError> {
    let block = first_certificate_block(certificate_pem)?;
    let cert = Certificate::from_pem(block.as_bytes())
        .map_err(invalid_certificate(CertificatePart::X509))?;
    let tbs = &cert.tbs_certificate;
    let secs = tbs.validity.not_after.to_unix_duration().as_secs();
    let not_after = Timestamp::from_unix_seconds(i64::try_from(secs).unwrap_or(i64::MAX));
    let cert_alg = tbs.subject_public_key_info.algorithm.oid.to_string();
    let cert_key = tbs.subject_public_key_info.subject_public_key.raw_bytes();

    let (label, der) =
        pem::decode_vec(key_pem.trim().as_bytes()).map_err(|_| CertificateError::KeyNotPem)?;
    let key_match = match label {
        "PRIVATE KEY" => {
            let info =
                pkcs8::PrivateKeyInfo::from_der(&der).map_err(invalid_key(KeyFormat::Pkcs8))?;
            let key_alg = info.algorithm.oid.to_string();
            if key_alg != cert_alg {
                return Err(CertificateError::AlgorithmMismatch {
                    key: key_alg,
                    certificate: cert_alg,
                });
            }
            match key_alg.as_str() {
                OID_RSA => match_rsa(info.private_key, cert_key)?,
                OID_EC => match_ec(info.private_key, info.public_key, cert_key)?,
                _ => match_embedded(info.public_key, cert_key)?,
            }
        }
        "RSA PRIVATE KEY" => {
            require_alg(OID_RSA, &cert_alg)?;
            match_rsa(&der, cert_key)?
        }
        "EC PRIVATE KEY" => {
            require_alg(OID_EC, &cert_alg)?;
            match_ec(&der, None, cert_key)?
        }
        "ENCRYPTED PRIVATE KEY" => return Err(CertificateError::EncryptedKey),
        _ => return Err(CertificateError::UnsupportedKeyLabel),
    };
    Ok(CertificateInfo {
        not_after,
        key_match,
    })
}

fn first_certificate_block(text: &str) -> Result<&str, CertificateError> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let start = text
        .find(BEGIN)
        .ok_or(CertificateError::NoCertificateBlock)?;
    let end = text[start..]
        .find(END)
        .ok_or(CertificateError::NoCertificateBlock)?;
    Ok(&text[start..start + end + END.len()])
}

fn require_alg(key_alg: &str, cert_alg: &str) -> Result<(), CertificateError> {
    if key_alg == cert_alg {
        Ok(())
    } else {
        Err(CertificateError::AlgorithmMismatch {
            key: key_alg.to_owned(),
            certificate: cert_alg.to_owned(),
        })
    }
}

fn match_rsa(private_der: &[u8], cert_key: &[u8]) -> Result<KeyMatch, CertificateError> {
    let private =
        pkcs1::RsaPrivateKey::from_der(private_der).map_err(invalid_key(KeyFormat::Pkcs1))?;
    let public = pkcs1::RsaPublicKey::from_der(cert_key)
        .map_err(invalid_certificate(CertificatePart::RsaPublicKey))?;
    if private.modulus.as_bytes() == public.modulus.as_bytes()
        && private.public_exponent.as_bytes() == public.public_exponent.as_bytes()
    {
        Ok(KeyMatch::Verified)
    } else {
        Err(CertificateError::KeyMismatch)
    }
}

fn match_ec(
    private_der: &[u8],
    outer_public: Option<&[u8]>,
    cert_key: &[u8],
) -> Result<KeyMatch, CertificateError> {
    let private =
        sec1::EcPrivateKey::from_der(private_der).map_err(invalid_key(KeyFormat::Sec1))?;
    match_embedded(private.public_key.or(outer_public), cert_key)
}

fn match_embedded(public: Option<&[u8]>, cert_key: &[u8]) -> Result<KeyMatch, CertificateError> {
    match public {
        Some(public) if public == cert_key => Ok(KeyMatch::Verified),
        Some(_) => Err(CertificateError::KeyMismatch),
        None => Ok(KeyMatch::NotVerifiable),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) const EC_CERT: &str = include_str!("testdata/ec_cert.pem");
    pub(crate) const EC_KEY: &str = include_str!("testdata/ec_key.pem");
    pub(crate) const OTHER_EC_KEY: &str = include_str!("testdata/other_ec_key.pem");
    const RSA_CERT: &str = include_str!("testdata/rsa_cert.pem");
    const RSA_KEY: &str = include_str!("testdata/rsa_key.pem");
    const ED_CERT: &str = include_str!("testdata/ed25519_cert.pem");
    const ED_KEY: &str = include_str!("testdata/ed25519_key.pem");

    #[test]
    fn matching_ec_pair_is_verified_and_expiry_recorded() {
        let info = check_certificate(EC_CERT, EC_KEY).expect("pair matches");
        assert_eq!(info.key_match, KeyMatch::Verified);
        assert!(info.not_after > Timestamp::parse("2100-01-01T00:00:00Z").expect("ok"));
    }

    #[test]
    fn matching_rsa_pair_is_verified() {
        let info = check_certificate(RSA_CERT, RSA_KEY).expect("pair matches");
        assert_eq!(info.key_match, KeyMatch::Verified);
    }

    #[test]
    fn ed25519_without_embedded_public_key_is_not_verifiable() {
        let info = check_certificate(ED_CERT, ED_KEY).expect("accepted");
        assert_eq!(info.key_match, KeyMatch::NotVerifiable);
    }

    #[test]
    fn mismatches_are_refused() {
        assert_eq!(
            check_certificate(EC_CERT, OTHER_EC_KEY),
            Err(CertificateError::KeyMismatch)
        );
        assert!(matches!(
            check_certificate(RSA_CERT, EC_KEY),
            Err(CertificateError::AlgorithmMismatch { .. })
        ));
    }

    #[test]
    fn garbage_is_refused_with_field_named() {
        assert_eq!(
            check_certificate("hello", EC_KEY),
            Err(CertificateError::NoCertificateBlock)
        );
        let broken = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----";
        let err = check_certificate(broken, EC_KEY).expect_err("broken");
        assert!(err.to_string().starts_with("certificate:"), "{err}");
        assert!(
            matches!(
                err,
                CertificateError::InvalidCertificate {
                    part: CertificatePart::X509,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(std::error::Error::source(&err).is_some(), "the DER error");
        assert_eq!(
            check_certificate(EC_CERT, "not a key"),
            Err(CertificateError::KeyNotPem)
        );
        let enc =
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----";
        assert_eq!(
            check_certificate(EC_CERT, enc),
            Err(CertificateError::EncryptedKey)
        );
        // Error text never echoes key material.
        let err = check_certificate(EC_CERT, OTHER_EC_KEY).expect_err("mismatch");
        assert!(!err.to_string().contains("MII"));
        // A key whose DER breaks: the decoder's finding, in text and Debug, holds no key byte.
        let (_, mut der) = pem::decode_vec(EC_KEY.trim().as_bytes()).expect("PEM");
        der.truncate(40);
        let broken = pem::encode_string("EC PRIVATE KEY", pem::LineEnding::LF, &der).expect("PEM");
        let err = check_certificate(EC_CERT, &broken).expect_err("truncated");
        assert!(
            matches!(
                err,
                CertificateError::InvalidKey {
                    format: KeyFormat::Sec1,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err
            .to_string()
            .starts_with("private_key: not a valid private key ("));
        let base64_body: String = broken.lines().filter(|l| !l.starts_with("-----")).collect();
        for shown in [err.to_string(), format!("{err:?}")] {
            assert!(!shown.contains(&base64_body[..16]), "{shown}");
            assert!(!shown.contains(&hex::encode(&der[8..24])), "{shown}");
        }
    }

    #[test]
    fn every_error_names_its_field() {
        let failed = || der::Error::from(der::ErrorKind::Failed);
        let table = [
            (CertificateError::NoCertificateBlock, "certificate"),
            (
                CertificateError::InvalidCertificate {
                    part: CertificatePart::X509,
                    source: failed(),
                },
                "certificate",
            ),
            (CertificateError::KeyNotPem, "private_key"),
            (CertificateError::EncryptedKey, "private_key"),
            (CertificateError::UnsupportedKeyLabel, "private_key"),
            (
                CertificateError::InvalidKey {
                    format: KeyFormat::Pkcs8,
                    source: failed(),
                },
                "private_key",
            ),
            (
                CertificateError::AlgorithmMismatch {
                    key: "1.2.840.10045.2.1".into(),
                    certificate: "1.2.840.113549.1.1.1".into(),
                },
                "private_key",
            ),
            (CertificateError::KeyMismatch, "private_key"),
        ];
        for (error, field) in table {
            assert_eq!(error.field().as_deref(), Some(field), "{error:?}");
            assert!(error.to_string().starts_with(&format!("{field}: ")));
        }
    }
}
