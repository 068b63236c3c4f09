//! Tokens at rest: AES-256-GCM under `TOKEN_ENCRYPTION_KEY`.
//!
//! A sealed value reads `v1.<key id>.<base64url(nonce ‖ ciphertext ‖ tag)>`.
//! The key id (first 8 hex digits of the key's SHA-256) says which key sealed
//! it, so a key can be rotated: the new key seals, the previous one still
//! opens. Each seal uses a fresh random 96-bit nonce, and the caller's
//! associated data (grant id and field name) binds a ciphertext to its place,
//! so it cannot be copied into another grant or field.

use aes_gcm::aead::{Aead as _, KeyInit as _, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use secrecy::{ExposeSecret as _, SecretString};
use sha2::{Digest as _, Sha256};

use crate::error::StoreError;

const VERSION: &str = "v1";
const NONCE_LEN: usize = 12;

struct Key {
    id: String,
    cipher: Aes256Gcm,
}

impl Key {
    fn new(bytes: &[u8; 32]) -> Key {
        let id = hex::encode(&Sha256::digest(bytes)[..4]);
        Key {
            id,
            cipher: Aes256Gcm::new(bytes.into()),
        }
    }
}

/// The current sealing key and, during a rotation, the previous one.
pub struct Keyring {
    current: Key,
    previous: Option<Key>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("current", &self.current.id)
            .field("previous", &self.previous.as_ref().map(|k| &k.id))
            .finish()
    }
}

impl Keyring {
    pub fn new(current: &[u8; 32], previous: Option<&[u8; 32]>) -> Keyring {
        Keyring {
            current: Key::new(current),
            previous: previous.map(Key::new),
        }
    }

    /// A keyring with a fresh random key (dev only).
    pub fn generate_key() -> [u8; 32] {
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        key
    }

    /// The id of the key that seals.
    pub fn current_key_id(&self) -> &str {
        &self.current.id
    }

    /// Seals `plaintext`, bound to `aad`.
    pub fn seal(&self, plaintext: &SecretString, aad: &str) -> Result<String, StoreError> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let sealed = self
            .current
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext.expose_secret().as_bytes(),
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| StoreError::Crypto("sealing failed"))?;
        let mut blob = Vec::with_capacity(NONCE_LEN + sealed.len());
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&sealed);
        Ok(format!(
            "{VERSION}.{}.{}",
            self.current.id,
            URL_SAFE_NO_PAD.encode(blob)
        ))
    }

    /// Opens a value sealed by [`Keyring::seal`] with either key.
    pub fn open(&self, sealed: &str, aad: &str) -> Result<SecretString, StoreError> {
        let mut parts = sealed.splitn(3, '.');
        let (Some(VERSION), Some(key_id), Some(body)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(StoreError::Crypto("not a sealed value"));
        };
        let key = [Some(&self.current), self.previous.as_ref()]
            .into_iter()
            .flatten()
            .find(|k| k.id == key_id)
            .ok_or(StoreError::Crypto(
                "sealed with a key that is not configured",
            ))?;
        let blob = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| StoreError::Crypto("sealed value is not base64"))?;
        if blob.len() < NONCE_LEN {
            return Err(StoreError::Crypto("sealed value is truncated"));
        }
        let (nonce, ciphertext) = blob.split_at(NONCE_LEN);
        let plaintext = key
            .cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| StoreError::Crypto("sealed value fails authentication"))?;
        String::from_utf8(plaintext)
            .map(SecretString::from)
            .map_err(|_| StoreError::Crypto("sealed value is not UTF-8"))
    }

    /// Whether `sealed` was sealed by the current key (else it should be resealed).
    pub fn is_current(&self, sealed: &str) -> bool {
        sealed.split('.').nth(1) == Some(self.current.id.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    #[test]
    fn seal_then_open_round_trips_and_hides_the_plaintext() {
        let ring = Keyring::new(&[7; 32], None);
        let sealed = ring.seal(&secret("access-token-123"), "g1:access").unwrap();
        assert!(sealed.starts_with(&format!("v1.{}.", ring.current_key_id())));
        assert!(!sealed.contains("access-token-123"));
        assert_eq!(
            ring.open(&sealed, "g1:access").unwrap().expose_secret(),
            "access-token-123"
        );
        // Fresh nonce each time.
        assert_ne!(
            sealed,
            ring.seal(&secret("access-token-123"), "g1:access").unwrap()
        );
    }

    #[test]
    fn a_ciphertext_moved_to_another_place_does_not_open() {
        let ring = Keyring::new(&[7; 32], None);
        let sealed = ring.seal(&secret("t"), "g1:refresh").unwrap();
        assert!(matches!(
            ring.open(&sealed, "g2:refresh"),
            Err(StoreError::Crypto(_))
        ));
        assert!(matches!(
            ring.open(&sealed, "g1:access"),
            Err(StoreError::Crypto(_))
        ));
    }

    #[test]
    fn tampering_and_junk_are_refused() {
        let ring = Keyring::new(&[7; 32], None);
        let sealed = ring.seal(&secret("token"), "a").unwrap();
        let mut tampered = sealed.clone().into_bytes();
        let last = tampered.len() - 2;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        for junk in [
            tampered.as_str(),
            "",
            "v1",
            "v1.x.y",
            "v2.abc.def",
            "plaintext-token",
        ] {
            assert!(ring.open(junk, "a").is_err(), "opened {junk:?}");
        }
    }

    #[test]
    fn rotation_opens_old_values_and_seals_with_the_new_key() {
        let old = Keyring::new(&[1; 32], None);
        let sealed_old = old.seal(&secret("refresh"), "g:refresh").unwrap();
        let rotated = Keyring::new(&[2; 32], Some(&[1; 32]));
        assert_eq!(
            rotated
                .open(&sealed_old, "g:refresh")
                .unwrap()
                .expose_secret(),
            "refresh"
        );
        assert!(!rotated.is_current(&sealed_old));
        let resealed = rotated.seal(&secret("refresh"), "g:refresh").unwrap();
        assert!(rotated.is_current(&resealed));
        // Once the old key is dropped, old values no longer open.
        let new_only = Keyring::new(&[2; 32], None);
        assert!(new_only.open(&sealed_old, "g:refresh").is_err());
        assert!(new_only.open(&resealed, "g:refresh").is_ok());
    }

    #[test]
    fn debug_shows_key_ids_only() {
        let ring = Keyring::new(&[9; 32], Some(&[8; 32]));
        let debug = format!("{ring:?}");
        assert!(debug.contains(ring.current_key_id()));
        assert!(!debug.contains("cipher"));
    }
}
