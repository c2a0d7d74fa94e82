//! JWT-shaped stand-ins. Clients such as Codex parse the claims of the
//! tokens they hold (account, plan, expiry) but never check a signature
//! — the server does. A copy of the claims with no signature satisfies
//! the client and authenticates nothing, so the agent may hold it.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;

/// The claims of a JWT, when `token` is one.
pub fn claims(token: &str) -> Option<Value> {
    let mut parts = token.split('.');
    let (_header, payload) = (parts.next()?, parts.next()?);
    parts.next()?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// An unsigned JWT (`alg: none`) carrying `claims`.
pub fn unsigned(claims: &Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{header}.{payload}.bb-unsigned")
}

/// `token`'s claims without its signature; None when it is not a JWT.
pub fn unsigned_copy(token: &str) -> Option<String> {
    claims(token).map(|c| unsigned(&c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_keeps_the_claims_and_drops_the_signature() {
        let claims = serde_json::json!({"email": "a@b.c", "exp": 42});
        let signed = format!(
            "{}.{}.c2lnbmF0dXJl",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256"}"#),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let copy = unsigned_copy(&signed).unwrap();
        assert_eq!(super::claims(&copy).unwrap(), claims);
        assert!(!copy.contains("c2lnbmF0dXJl"));
        assert!(unsigned_copy("not-a-jwt").is_none());
        assert!(unsigned_copy("a.%%%.c").is_none());
    }
}
