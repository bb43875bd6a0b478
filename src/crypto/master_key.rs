//! The master key: loaded from a key file kept outside the data directory.
//!
//! File format (UTF-8 text, mode 0600, LF line endings):
//!
//! ```text
//! credledger-master-key v1
//! key_id=<id: 1-64 chars of [A-Za-z0-9._-], generated as a UUID>
//! key=<64 lowercase hex characters = 32 bytes>
//! ```
//!
//! Empty lines and lines starting with `#` are ignored; every other line must be one of
//! the two fields, each exactly once.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;
use zeroize::Zeroizing;

use super::error::{CryptoError, InternalFailure, Result};
use super::key_file::{read_private, write_private_new};
use super::primitives::{hkdf_derive, random_key, KEY_LEN};

/// First line of a version-1 key file.
pub const KEY_FILE_HEADER: &str = "credledger-master-key v1";
const HEADER_PREFIX: &str = "credledger-master-key ";
const MAX_KEY_FILE_LEN: u64 = 4096;
const FINGERPRINT_INFO: &[u8] = b"credledger/master-key-fingerprint/v1";
const FINGERPRINT_LEN: usize = 16;

/// The root key of the hierarchy; wraps data keys and derives the fingerprinting key.
pub struct MasterKey {
    key_id: String,
    key: Zeroizing<[u8; KEY_LEN]>,
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey")
            .field("key_id", &self.key_id)
            .field("key", &"[REDACTED]")
            .finish()
    }
}

fn valid_key_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn malformed(path: &Path, line: usize, reason: impl Into<String>) -> CryptoError {
    CryptoError::MalformedKeyFile {
        path: path.to_path_buf(),
        line,
        reason: reason.into(),
    }
}

impl MasterKey {
    /// Generates a new random master key with a fresh UUID key id (not written anywhere).
    pub fn generate() -> Result<Self> {
        Ok(Self {
            key_id: Uuid::new_v4().to_string(),
            key: random_key()?,
        })
    }

    /// Builds a master key from an id and raw bytes (crate-internal: tests and rotation tooling).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn from_parts(key_id: &str, key: [u8; KEY_LEN]) -> Result<Self> {
        if !valid_key_id(key_id) {
            return Err(CryptoError::Internal(InternalFailure::InvalidMasterKeyId));
        }
        Ok(Self {
            key_id: key_id.to_owned(),
            key: Zeroizing::new(key),
        })
    }

    /// The raw key bytes (tests only).
    #[cfg(test)]
    pub(crate) fn key_bytes(&self) -> &[u8; KEY_LEN] {
        &self.key
    }

    /// The public id of this master key (recorded next to everything it protects).
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Derives `out.len()` bytes from the master key under a fixed `info` label (HKDF-SHA256).
    pub(crate) fn derive(&self, info: &[u8], out: &mut [u8]) -> Result<()> {
        hkdf_derive(self.key.as_ref(), info, out)
    }

    /// A public fingerprint of this key, to be stored in the data directory and checked at open.
    pub fn fingerprint(&self) -> Result<MasterKeyFingerprint> {
        let mut digest = [0u8; FINGERPRINT_LEN];
        self.derive(FINGERPRINT_INFO, &mut digest)?;
        Ok(MasterKeyFingerprint {
            key_id: self.key_id.clone(),
            digest: hex::encode(digest),
        })
    }

    /// Checks that this is the master key whose fingerprint was stored.
    pub fn check_fingerprint(&self, stored: &MasterKeyFingerprint) -> Result<()> {
        if stored.key_id != self.key_id {
            return Err(CryptoError::WrongMasterKey {
                expected_key_id: stored.key_id.clone(),
                found_key_id: self.key_id.clone(),
            });
        }
        if self.fingerprint()?.digest != stored.digest {
            return Err(CryptoError::MasterKeyFingerprintMismatch {
                key_id: self.key_id.clone(),
            });
        }
        Ok(())
    }

    /// Loads a key file, refusing group/world-accessible or malformed files.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let raw = read_private(path, MAX_KEY_FILE_LEN)?;
        let text = std::str::from_utf8(&raw).map_err(|_| malformed(path, 0, "not UTF-8 text"))?;
        parse_key_file(path, text)
    }

    /// Creates a new key file with mode 0600 (atomically, never overwriting) and returns its key.
    pub fn create(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let key = Self::generate()?;
        key.write_new(path)?;
        Ok(key)
    }

    /// Loads the key file, or creates it when absent; the flag tells whether it was created.
    pub fn load_or_create(path: impl AsRef<Path>) -> Result<(Self, bool)> {
        let path = path.as_ref();
        match Self::load(path) {
            Ok(key) => Ok((key, false)),
            Err(CryptoError::KeyFileIo { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                match Self::create(path) {
                    Ok(key) => {
                        tracing::warn!(
                            path = %path.display(),
                            key_id = %key.key_id,
                            "generated a new master key file; back it up: data sealed under it cannot be read without it"
                        );
                        Ok((key, true))
                    }
                    // Lost a race with another creator: use theirs.
                    Err(CryptoError::KeyFileExists { .. }) => Ok((Self::load(path)?, false)),
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Writes this key to a new key file (mode 0600, temp file, fsync, link); never overwrites.
    pub fn write_new_file(&self, path: impl AsRef<Path>) -> Result<()> {
        self.write_new(path.as_ref())
    }

    fn file_contents(&self) -> Zeroizing<String> {
        let mut s = Zeroizing::new(String::with_capacity(160));
        s.push_str(KEY_FILE_HEADER);
        s.push_str("\nkey_id=");
        s.push_str(&self.key_id);
        s.push_str("\nkey=");
        let hex_key = Zeroizing::new(hex::encode(self.key.as_ref()));
        s.push_str(&hex_key);
        s.push('\n');
        s
    }

    /// Writes this key to a new private file; never overwrites.
    fn write_new(&self, path: &Path) -> Result<()> {
        write_private_new(path, self.file_contents().as_bytes())
    }
}

/// Resolves symlinks and `..` in the longest existing prefix of `p`; keeps the rest as is.
fn resolve(p: &Path) -> PathBuf {
    let abs = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    };
    let mut existing = abs.as_path();
    let mut rest = Vec::new();
    loop {
        if let Ok(c) = existing.canonicalize() {
            let mut out = c;
            out.extend(rest.iter().rev());
            return out;
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                existing = parent;
            }
            _ => return abs,
        }
    }
}

/// Refuses a master key file located inside `data_dir` (the key must live apart from the data).
pub fn ensure_key_file_outside(key_path: &Path, data_dir: &Path) -> Result<()> {
    let key = resolve(key_path);
    let data = resolve(data_dir);
    if key.starts_with(&data) {
        return Err(CryptoError::KeyFileInsideDataDir {
            path: key_path.to_path_buf(),
            data_dir: data_dir.to_path_buf(),
        });
    }
    Ok(())
}

fn parse_key_file(path: &Path, text: &str) -> Result<MasterKey> {
    let mut lines = text.split('\n').enumerate();
    let header = lines
        .next()
        .map(|(_, l)| l.trim_end_matches('\r'))
        .unwrap_or("");
    if header != KEY_FILE_HEADER {
        if let Some(version) = header.strip_prefix(HEADER_PREFIX) {
            let version: String = version.chars().take(16).collect();
            return Err(malformed(
                path,
                1,
                format!("unsupported format version `{version}` (expected v1)"),
            ));
        }
        return Err(malformed(
            path,
            1,
            format!("expected header `{KEY_FILE_HEADER}`"),
        ));
    }
    let mut key_id: Option<String> = None;
    let mut key: Option<Zeroizing<[u8; KEY_LEN]>> = None;
    for (idx, line) in lines {
        let lineno = idx + 1;
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((name, value)) = line.split_once('=') else {
            return Err(malformed(path, lineno, "expected `name=value`"));
        };
        let (name, value) = (name.trim(), value.trim());
        match name {
            "key_id" => {
                if key_id.is_some() {
                    return Err(malformed(path, lineno, "duplicate `key_id` field"));
                }
                if !valid_key_id(value) {
                    return Err(malformed(
                        path,
                        lineno,
                        "`key_id` must be 1-64 characters of A-Z, a-z, 0-9, '.', '_' or '-'",
                    ));
                }
                key_id = Some(value.to_owned());
            }
            "key" => {
                if key.is_some() {
                    return Err(malformed(path, lineno, "duplicate `key` field"));
                }
                let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
                if value.len() != 2 * KEY_LEN
                    || hex::decode_to_slice(value, bytes.as_mut()).is_err()
                {
                    return Err(malformed(
                        path,
                        lineno,
                        "`key` must be 64 hexadecimal characters (32 bytes)",
                    ));
                }
                if bytes.iter().all(|b| *b == 0) {
                    return Err(malformed(path, lineno, "`key` must not be all zeros"));
                }
                key = Some(bytes);
            }
            other => {
                let shown = if other.len() <= 32
                    && other
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                {
                    format!("unknown field `{other}`")
                } else {
                    "unknown field".to_owned()
                };
                return Err(malformed(path, lineno, shown));
            }
        }
    }
    let key_id = key_id.ok_or_else(|| malformed(path, 0, "missing `key_id` field"))?;
    let key = key.ok_or_else(|| malformed(path, 0, "missing `key` field"))?;
    Ok(MasterKey { key_id, key })
}

/// Public fingerprint of a master key: its id and a 16-byte HKDF-derived digest (hex).
///
/// Text form: `<key_id>:<32 hex chars>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MasterKeyFingerprint {
    /// Id of the master key.
    pub key_id: String,
    /// Hex of the 16-byte digest derived from the key.
    pub digest: String,
}

impl fmt::Display for MasterKeyFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.key_id, self.digest)
    }
}

impl FromStr for MasterKeyFingerprint {
    type Err = CryptoError;

    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim();
        let (key_id, digest) = s
            .rsplit_once(':')
            .ok_or(CryptoError::MalformedFingerprint {
                reason: "expected `<key_id>:<hex digest>`",
            })?;
        if !valid_key_id(key_id) {
            return Err(CryptoError::MalformedFingerprint {
                reason: "invalid key id",
            });
        }
        if digest.len() != 2 * FINGERPRINT_LEN || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(CryptoError::MalformedFingerprint {
                reason: "digest must be 32 hexadecimal characters",
            });
        }
        Ok(Self {
            key_id: key_id.to_owned(),
            digest: digest.to_ascii_lowercase(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    fn mode_of(path: &Path) -> u32 {
        fs::metadata(path).expect("meta").permissions().mode() & 0o7777
    }

    #[test]
    fn load_or_create_creates_0600_then_loads_same_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keys").join("master.key");
        let (k1, created) = MasterKey::load_or_create(&path).expect("create");
        assert!(created);
        assert_eq!(mode_of(&path), 0o600);
        let (k2, created) = MasterKey::load_or_create(&path).expect("load");
        assert!(!created);
        assert_eq!(k1.key_id(), k2.key_id());
        assert_eq!(k1.key.as_ref(), k2.key.as_ref());
        k2.check_fingerprint(&k1.fingerprint().expect("fp"))
            .expect("same key");
        // No temp files left behind.
        let names: Vec<_> = fs::read_dir(path.parent().expect("parent"))
            .expect("read_dir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        let text = fs::read_to_string(&path).expect("read");
        assert!(text.starts_with("credledger-master-key v1\nkey_id="));
    }

    #[test]
    fn create_refuses_to_overwrite() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("master.key");
        MasterKey::create(&path).expect("create");
        let err = MasterKey::create(&path).expect_err("exists");
        assert!(matches!(err, CryptoError::KeyFileExists { .. }), "{err}");
    }

    #[test]
    fn refuses_group_or_world_readable_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("master.key");
        MasterKey::create(&path).expect("create");
        for mode in [0o644, 0o640, 0o604, 0o660] {
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).expect("chmod");
            let err = MasterKey::load(&path).expect_err("insecure");
            match &err {
                CryptoError::InsecureKeyFile { path: p, mode: m } => {
                    assert_eq!(p, &path);
                    assert_eq!(*m, mode);
                }
                other => panic!("unexpected {other}"),
            }
            let msg = err.to_string();
            assert!(msg.contains(&path.display().to_string()), "{msg}");
            assert!(msg.contains(&format!("{mode:04o}")), "{msg}");
            // load_or_create must not replace an insecure file either.
            assert!(MasterKey::load_or_create(&path).is_err());
        }
        fs::set_permissions(&path, fs::Permissions::from_mode(0o400)).expect("chmod");
        MasterKey::load(&path).expect("0400 is fine");
    }

    fn write_key_file(dir: &Path, contents: &str) -> PathBuf {
        let path = dir.join(format!("k-{}", Uuid::new_v4().simple()));
        fs::write(&path, contents).expect("write");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod");
        path
    }

    const HEXKEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    #[test]
    fn parses_valid_file_with_comments_and_crlf() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = write_key_file(
            dir.path(),
            &format!(
                "credledger-master-key v1\r\n# backup me\r\nkey_id=mk-1\r\n\r\nkey={HEXKEY}\r\n"
            ),
        );
        let k = MasterKey::load(&p).expect("load");
        assert_eq!(k.key_id(), "mk-1");
    }

    #[test]
    fn malformed_files_get_precise_errors_without_key_material() {
        let dir = tempfile::tempdir().expect("tempdir");
        let short = &HEXKEY[..62];
        let cases: Vec<(String, usize, &str)> = vec![
            (String::new(), 1, "expected header"),
            (
                format!("hello\nkey_id=a\nkey={HEXKEY}\n"),
                1,
                "expected header",
            ),
            (
                format!("credledger-master-key v2\nkey_id=a\nkey={HEXKEY}\n"),
                1,
                "unsupported format version `v2`",
            ),
            (
                format!("{KEY_FILE_HEADER}\nkey={HEXKEY}\n"),
                0,
                "missing `key_id`",
            ),
            (format!("{KEY_FILE_HEADER}\nkey_id=a\n"), 0, "missing `key`"),
            (
                format!("{KEY_FILE_HEADER}\nkey_id=a\nkey={short}\n"),
                3,
                "64 hexadecimal",
            ),
            (
                format!("{KEY_FILE_HEADER}\nkey_id=a\nkey={}zz\n", &HEXKEY[..62]),
                3,
                "64 hexadecimal",
            ),
            (
                format!("{KEY_FILE_HEADER}\nkey_id=a\nkey={HEXKEY}\nkey={HEXKEY}\n"),
                4,
                "duplicate `key`",
            ),
            (
                format!("{KEY_FILE_HEADER}\nkey_id=a b\nkey={HEXKEY}\n"),
                2,
                "`key_id` must be",
            ),
            (
                format!("{KEY_FILE_HEADER}\nkey_id=a\nsecret=1\nkey={HEXKEY}\n"),
                3,
                "unknown field `secret`",
            ),
            (
                format!("{KEY_FILE_HEADER}\nkey_id=a\n{HEXKEY}\n"),
                3,
                "expected `name=value`",
            ),
            (
                format!("{KEY_FILE_HEADER}\nkey_id=a\nkey={}\n", "0".repeat(64)),
                3,
                "all zeros",
            ),
        ];
        for (contents, line, needle) in cases {
            let p = write_key_file(dir.path(), &contents);
            let err = MasterKey::load(&p).expect_err("malformed");
            let msg = err.to_string();
            match &err {
                CryptoError::MalformedKeyFile { line: l, .. } => {
                    assert_eq!(*l, line, "{msg}")
                }
                other => panic!("unexpected {other}"),
            }
            assert!(msg.contains(needle), "{msg}");
            assert!(msg.contains(&p.display().to_string()), "{msg}");
            assert!(!msg.contains(&HEXKEY[..16]), "key material leaked: {msg}");
        }
    }

    #[test]
    fn missing_file_error_names_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("absent.key");
        let err = MasterKey::load(&p).expect_err("missing");
        assert!(err.to_string().contains(&p.display().to_string()));
    }

    #[test]
    fn fingerprint_check_detects_other_keys() {
        let a = MasterKey::generate().expect("a");
        let b = MasterKey::generate().expect("b");
        let fp = a.fingerprint().expect("fp");
        a.check_fingerprint(&fp).expect("ok");
        match b.check_fingerprint(&fp) {
            Err(CryptoError::WrongMasterKey {
                expected_key_id,
                found_key_id,
            }) => {
                assert_eq!(expected_key_id, a.key_id());
                assert_eq!(found_key_id, b.key_id());
            }
            other => panic!("unexpected {other:?}"),
        }
        // Same id, different bytes: a replaced key file.
        let forged = MasterKey::from_parts(a.key_id(), [7u8; 32]).expect("forged");
        assert!(matches!(
            forged.check_fingerprint(&fp),
            Err(CryptoError::MasterKeyFingerprintMismatch { .. })
        ));
        // Text roundtrip.
        let parsed: MasterKeyFingerprint = fp.to_string().parse().expect("parse");
        assert_eq!(parsed, fp);
        assert!("nonsense".parse::<MasterKeyFingerprint>().is_err());
        assert!("a:xyz".parse::<MasterKeyFingerprint>().is_err());
    }

    #[test]
    fn key_file_must_be_outside_data_dir() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        fs::create_dir(&data).expect("mkdir");
        let inside = data.join("sub").join("master.key");
        let err = ensure_key_file_outside(&inside, &data).expect_err("inside");
        assert!(
            matches!(err, CryptoError::KeyFileInsideDataDir { .. }),
            "{err}"
        );
        let sneaky = dir.path().join("data/../data/master.key");
        assert!(ensure_key_file_outside(&sneaky, &data).is_err());
        ensure_key_file_outside(&dir.path().join("keys/master.key"), &data).expect("outside");
        // A sibling whose name merely starts with the data dir's name is outside.
        ensure_key_file_outside(&dir.path().join("data2/master.key"), &data).expect("sibling");
    }

    #[test]
    fn debug_shows_only_key_id() {
        let k = MasterKey::from_parts("mk-test", [0xAB; 32]).expect("k");
        let dbg = format!("{k:?}");
        assert!(dbg.contains("mk-test"));
        assert!(dbg.contains("[REDACTED]"));
        assert!(!dbg.to_lowercase().contains("abab"));
        assert!(!dbg.contains("171"));
    }
}
