//! Signing keys by id: minting and constant-time verification.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{Claims, Encoded, TokenError};
use crate::config::KeyConfig;

type HmacSha256 = Hmac<Sha256>;

struct Key {
    /// The keyed state after absorbing the key: cloning it skips re-hashing the key per
    /// request.
    mac: HmacSha256,
    /// Keyed by a key derived from this one for password cookies only, so that no cookie
    /// tag can ever pass for a token MAC or the other way round.
    cookie: HmacSha256,
    verify_only: bool,
}

/// The label the cookie key is derived under: HMAC(signing key, label).
const COOKIE_KEY_LABEL: &[u8] = b"tollgate/v1/password-cookie-key";

pub struct Keyring {
    keys: HashMap<String, Key>,
    /// The key that mints by default: the first one in the config that is not verify-only.
    default_kid: Option<String>,
    /// Every key that may mint, in config order.
    minting: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MintError {
    #[error("no key `{0}`")]
    UnknownKey(String),
    #[error("key `{0}` is verify_only and cannot mint")]
    VerifyOnly(String),
    #[error("no key can mint")]
    NoKey,
    #[error("these claims could not be verified: {0}")]
    InvalidClaims(TokenError),
}

impl Keyring {
    pub fn new(keys: &[KeyConfig]) -> Keyring {
        let mut map = HashMap::new();
        let mut default_kid = None;
        let mut minting = Vec::new();
        for k in keys {
            // HMAC accepts keys of any length, so this cannot fail.
            let Ok(mac) = HmacSha256::new_from_slice(k.secret.expose()) else {
                continue;
            };
            let mut derive = mac.clone();
            derive.update(COOKIE_KEY_LABEL);
            let Ok(cookie) = HmacSha256::new_from_slice(&derive.finalize().into_bytes()) else {
                continue;
            };
            if !k.verify_only {
                if default_kid.is_none() {
                    default_kid = Some(k.id.clone());
                }
                minting.push(k.id.clone());
            }
            map.insert(
                k.id.clone(),
                Key {
                    mac,
                    cookie,
                    verify_only: k.verify_only,
                },
            );
        }
        Keyring {
            keys: map,
            default_kid,
            minting,
        }
    }

    /// Every key id that may mint, in config order.
    pub fn minting_ids(&self) -> impl Iterator<Item = &str> {
        self.minting.iter().map(String::as_str)
    }

    pub fn has_key(&self, kid: &str) -> bool {
        self.keys.contains_key(kid)
    }

    /// The key id to mint with: `kid` if given and allowed, else the default.
    pub fn minting_kid(&self, kid: Option<&str>) -> Result<String, MintError> {
        match kid {
            Some(id) => match self.keys.get(id) {
                None => Err(MintError::UnknownKey(id.to_owned())),
                Some(k) if k.verify_only => Err(MintError::VerifyOnly(id.to_owned())),
                Some(_) => Ok(id.to_owned()),
            },
            None => self.default_kid.clone().ok_or(MintError::NoKey),
        }
    }

    fn mac(key: &Key, claims: &[u8], rest: &str) -> HmacSha256 {
        let mut m = key.mac.clone();
        m.update(claims);
        m.update(b"\n");
        m.update(rest.as_bytes());
        m
    }

    /// Mints the token string for `claims` (whose `kid` must be a minting key) bound to the
    /// query string `rest` (every parameter but `token`, exactly as the URL will carry it).
    pub fn mint(&self, claims: &Claims, rest: &str) -> Result<String, MintError> {
        let key = self
            .keys
            .get(&claims.kid)
            .ok_or_else(|| MintError::UnknownKey(claims.kid.clone()))?;
        if key.verify_only {
            return Err(MintError::VerifyOnly(claims.kid.clone()));
        }
        let body = claims.encode();
        // Never hand out a token that the verifier would refuse (an empty method set, an
        // empty download name, a 20-digit expiry...): the encoder and the strict parser
        // must agree on these exact claims.
        match Claims::parse(&body) {
            Ok(back) if back == *claims => {}
            Ok(_) => {
                return Err(MintError::InvalidClaims(TokenError::Malformed(
                    "round trip",
                )));
            }
            Err(e) => return Err(MintError::InvalidClaims(e)),
        }
        let tag = Self::mac(key, body.as_bytes(), rest)
            .finalize()
            .into_bytes();
        let mut out = URL_SAFE_NO_PAD.encode(body.as_bytes());
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(tag, &mut out);
        Ok(out)
    }

    /// A tag for a password cookie over `data`, by the cookie key of `kid` (a key that may
    /// mint; the caller picks one that is not revoked).
    pub fn cookie_tag(&self, kid: &str, data: &str) -> Option<[u8; 32]> {
        let key = self.keys.get(kid).filter(|k| !k.verify_only)?;
        let mut m = key.cookie.clone();
        m.update(data.as_bytes());
        Some(m.finalize().into_bytes().into())
    }

    /// True when `tag` is the cookie tag over `data` by the cookie key of `kid`, in constant
    /// time. The caller refuses cookies of revoked keys.
    pub fn cookie_ok(&self, kid: &str, data: &str, tag: &[u8]) -> bool {
        let Some(key) = self.keys.get(kid) else {
            return false;
        };
        let mut m = key.cookie.clone();
        m.update(data.as_bytes());
        m.verify_slice(tag).is_ok()
    }

    /// Verifies the MAC of a split token against the request's query rest, then parses the
    /// claims. The comparison is constant-time (`Mac::verify_slice`).
    pub fn verify(&self, enc: &Encoded, rest: &str) -> Result<Claims, TokenError> {
        // The key id is needed before the MAC can be checked; read it from the second line
        // without trusting anything else yet.
        let text =
            std::str::from_utf8(&enc.claims).map_err(|_| TokenError::Malformed("not UTF-8"))?;
        let kid = text
            .split('\n')
            .nth(1)
            .ok_or(TokenError::Malformed("too few claim lines"))?;
        let key = self.keys.get(kid).ok_or(TokenError::UnknownKey)?;
        Self::mac(key, &enc.claims, rest)
            .verify_slice(&enc.mac)
            .map_err(|_| TokenError::BadSignature)?;
        Claims::parse(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;
    use crate::token::{Scope, split};

    fn ring() -> Keyring {
        Keyring::new(&[
            KeyConfig {
                id: "old".into(),
                secret: Secret::new(vec![1; 32]),
                verify_only: true,
            },
            KeyConfig {
                id: "k1".into(),
                secret: Secret::new(vec![2; 32]),
                verify_only: false,
            },
        ])
    }

    #[test]
    fn mint_then_verify() {
        let r = ring();
        let c = crate::token::tests::sample();
        let t = r.mint(&c, "a=1").unwrap();
        assert!(!t.contains(['&', '=', '+', '/', ' ']));
        assert_eq!(r.verify(&split(&t).unwrap(), "a=1").unwrap(), c);
        assert_eq!(
            r.verify(&split(&t).unwrap(), "a=2"),
            Err(TokenError::BadSignature)
        );
        assert_eq!(
            r.verify(&split(&t).unwrap(), ""),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn verify_only_keys_verify_but_never_mint() {
        let r = ring();
        assert_eq!(r.minting_kid(None).unwrap(), "k1");
        assert_eq!(
            r.minting_kid(Some("old")),
            Err(MintError::VerifyOnly("old".into()))
        );
        let mut c = crate::token::tests::sample();
        c.kid = "old".into();
        assert!(r.mint(&c, "").is_err());
    }

    #[test]
    fn claims_that_would_not_verify_are_not_minted() {
        let r = ring();
        let base = crate::token::tests::sample();
        let bad = [
            Claims {
                methods: crate::token::Methods::default(),
                ..base.clone()
            },
            Claims {
                download_name: Some(String::new()),
                ..base.clone()
            },
            Claims {
                exp: u64::MAX,
                ..base.clone()
            },
            Claims {
                max_views: Some(0),
                ..base.clone()
            },
            Claims {
                path: "/files/../x".into(),
                ..base.clone()
            },
        ];
        for c in bad {
            assert!(
                matches!(r.mint(&c, ""), Err(MintError::InvalidClaims(_))),
                "{c:?}"
            );
        }
    }

    #[test]
    fn unknown_key_is_refused() {
        let r = ring();
        let mut c = crate::token::tests::sample();
        c.scope = Scope::File;
        let t = r.mint(&c, "").unwrap();
        let other = Keyring::new(&[KeyConfig {
            id: "k2".into(),
            secret: Secret::new(vec![2; 32]),
            verify_only: false,
        }]);
        assert_eq!(
            other.verify(&split(&t).unwrap(), ""),
            Err(TokenError::UnknownKey)
        );
    }
}
