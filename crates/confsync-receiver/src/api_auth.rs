//! Bearer-token check for the connect and admin API. The comparison hashes
//! both sides and compares the digests in constant time, so neither the
//! token's content nor its length leaks through timing.

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use secrecy::{ExposeSecret as _, SecretString};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

/// The expected token's digest; an empty token admits nobody.
#[derive(Clone)]
pub(crate) struct ApiToken {
    digest: Option<[u8; 32]>,
}

impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiToken([redacted])")
    }
}

impl ApiToken {
    pub(crate) fn new(token: &SecretString) -> ApiToken {
        let token = token.expose_secret();
        ApiToken {
            digest: (!token.is_empty()).then(|| Sha256::digest(token.as_bytes()).into()),
        }
    }

    pub(crate) fn admits(&self, headers: &HeaderMap) -> bool {
        let Some(expected) = &self.digest else {
            return false;
        };
        let Some(presented) = headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
        else {
            return false;
        };
        let presented: [u8; 32] = Sha256::digest(presented.trim().as_bytes()).into();
        bool::from(presented.ct_eq(expected))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, value.parse().unwrap());
        h
    }

    #[test]
    fn only_the_exact_bearer_token_is_admitted() {
        let token = ApiToken::new(&SecretString::from("s3cret-token".to_owned()));
        assert!(token.admits(&headers("Bearer s3cret-token")));
        assert!(!token.admits(&headers("Bearer s3cret-toke")));
        assert!(!token.admits(&headers("Bearer s3cret-token2")));
        assert!(!token.admits(&headers("Basic s3cret-token")));
        assert!(!token.admits(&HeaderMap::new()));
        let nobody = ApiToken::new(&SecretString::from(String::new()));
        assert!(!nobody.admits(&headers("Bearer ")));
    }
}
