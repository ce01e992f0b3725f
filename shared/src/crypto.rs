//! Secrets: tokens, key hashing, password hashing and encryption at rest.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A random token of `bytes` bytes, base64url without padding.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// SHA-256 of a high-entropy secret (API key, session or invite token), hex.
///
/// These secrets carry 256 random bits, so a fast hash is the right tool: it
/// cannot be brute-forced, and lookups by hash stay cheap on every request.
pub fn token_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Hashes a password with argon2id (the crate's OWASP-recommended defaults).
pub fn hash_password(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Checks a password against a stored argon2 hash.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// A hash to verify against when a login names an unknown user, so a wrong
/// e-mail costs the same time as a wrong password (no account enumeration).
pub fn decoy_password_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password("decoy password never used").unwrap_or_default())
}

/// Encrypts provider credentials and secret headers at rest (AES-256-GCM).
#[derive(Clone)]
pub struct Cipher {
    cipher: Aes256Gcm,
}

/// Prefix of every ciphertext, naming the scheme so it can change later.
const SEALED_PREFIX: &str = "v1:";

impl Cipher {
    /// A cipher over a 32-byte key.
    pub fn new(key: &[u8; 32]) -> Self {
        Self {
            cipher: Aes256Gcm::new(key.into()),
        }
    }

    /// Parses a base64 key of exactly 32 bytes.
    pub fn from_base64(key: &str) -> Result<Self, String> {
        let bytes = STANDARD
            .decode(key.trim())
            .map_err(|e| format!("encryption key is not base64: {e}"))?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| "encryption key must be 32 bytes".to_owned())?;
        Ok(Self::new(&key))
    }

    /// A fresh random key, base64.
    pub fn generate_key() -> String {
        let mut key = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut key);
        STANDARD.encode(key)
    }

    /// Encrypts `plaintext` with a random nonce: `v1:<base64(nonce || ciphertext)>`.
    pub fn seal(&self, plaintext: &str) -> String {
        let mut nonce = [0u8; 12];
        rand::thread_rng().fill_bytes(&mut nonce);
        // Encryption with a valid key and nonce size cannot fail.
        let sealed = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), plaintext.as_bytes())
            .unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend(sealed);
        format!("{SEALED_PREFIX}{}", STANDARD.encode(out))
    }

    /// Decrypts what [`Cipher::seal`] made with the same key.
    pub fn open(&self, sealed: &str) -> Result<String, String> {
        let body = sealed
            .strip_prefix(SEALED_PREFIX)
            .ok_or("not a sealed value")?;
        let bytes = STANDARD
            .decode(body)
            .map_err(|_| "sealed value is not base64")?;
        if bytes.len() < 12 {
            return Err("sealed value too short".into());
        }
        let (nonce, ct) = bytes.split_at(12);
        let plain = self
            .cipher
            .decrypt(Nonce::from_slice(nonce), ct)
            .map_err(|_| "cannot decrypt: wrong key or corrupt")?;
        String::from_utf8(plain).map_err(|_| "decrypted value is not UTF-8".into())
    }
}

/// Shortest secret whose last characters are shown; a shorter one would give away
/// too large a share of itself.
const HINT_MIN_CHARS: usize = 12;
/// Characters of a secret a read may show.
const HINT_CHARS: usize = 4;
/// What a read shows in place of a secret (followed by the hint, if any).
pub const MASK: &str = "••••";

/// The part of a secret a read may show: its last 4 characters, or nothing for a secret
/// shorter than 12. Computed when the secret is written and stored beside the ciphertext,
/// so reads never decrypt a secret just to mask it.
pub fn secret_hint(secret: &str) -> Option<String> {
    let count = secret.chars().count();
    (count >= HINT_MIN_CHARS).then(|| secret.chars().skip(count - HINT_CHARS).collect())
}

/// The masked form of a secret from its stored hint: `••••abcd`, or `••••`.
pub fn mask_hint(hint: Option<&str>) -> String {
    format!("{MASK}{}", hint.unwrap_or_default())
}

/// Shows enough of a secret to recognise it, and no more: `••••abcd` (the last 4
/// characters), `••••` for a short one.
pub fn mask(secret: &str) -> String {
    mask_hint(secret_hint(secret).as_deref())
}

/// A secret as stored: [`Cipher::seal`] output, and the hint a read shows
/// ([`secret_hint`], computed at write time so reads never decrypt to mask).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "SealedRepr", into = "SealedRepr")]
pub struct Sealed {
    /// The ciphertext.
    pub ciphertext: String,
    /// The last characters of the clear value, when it is long enough to show them.
    pub hint: Option<String>,
}

impl Sealed {
    /// Encrypts `plaintext` and notes its hint.
    pub fn seal(cipher: &Cipher, plaintext: &str) -> Sealed {
        Sealed {
            ciphertext: cipher.seal(plaintext),
            hint: secret_hint(plaintext),
        }
    }

    /// The clear value (for the executors and connectors only).
    pub fn open(&self, cipher: &Cipher) -> Result<String, String> {
        cipher.open(&self.ciphertext)
    }

    /// What a read shows: `••••abcd`, from the stored hint.
    pub fn masked(&self) -> String {
        mask_hint(self.hint.as_deref())
    }
}

/// How a [`Sealed`] is stored: `{"sealed", "hint"}`; a bare ciphertext string is what
/// secrets written before hints existed look like (they read as `••••`).
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum SealedRepr {
    Hinted {
        sealed: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        hint: Option<String>,
    },
    Bare(String),
}

impl From<SealedRepr> for Sealed {
    fn from(repr: SealedRepr) -> Sealed {
        match repr {
            SealedRepr::Hinted { sealed, hint } => Sealed {
                ciphertext: sealed,
                hint,
            },
            SealedRepr::Bare(ciphertext) => Sealed {
                ciphertext,
                hint: None,
            },
        }
    }
}

impl From<Sealed> for SealedRepr {
    fn from(sealed: Sealed) -> SealedRepr {
        SealedRepr::Hinted {
            sealed: sealed.ciphertext,
            hint: sealed.hint,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_round_trips_and_rejects_other_keys() {
        let a = Cipher::from_base64(&Cipher::generate_key()).unwrap();
        let b = Cipher::from_base64(&Cipher::generate_key()).unwrap();
        let sealed = a.seal("sk-secret");
        assert_ne!(a.seal("sk-secret"), sealed, "nonces differ");
        assert_eq!(a.open(&sealed).unwrap(), "sk-secret");
        assert!(b.open(&sealed).is_err());
        assert!(a.open("v1:!!").is_err());
    }

    #[test]
    fn passwords_verify_only_when_equal() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong", &h));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn masks_show_at_most_the_last_four_characters() {
        assert_eq!(mask("sk-1234567890abcd"), "••••abcd");
        assert_eq!(mask("Bearer tok_ABCDEFGH"), "••••EFGH");
        // Short secrets show nothing: 4 of 8 characters is half the secret.
        assert_eq!(mask("short"), "••••");
        assert_eq!(mask("elevenchars"), "••••");
        assert_eq!(mask("twelve_chars"), "••••hars");
        assert_eq!(mask("ünïcödé-ßecrét"), "••••crét");
    }
}
