//! The credentials egress injects. They start as this process's
//! environment and are replaced in memory when a provider's token endpoint
//! issues new ones through the proxy, so a session outlives a short-lived
//! access token while the agent only ever holds placeholders.

use std::collections::HashMap;
use std::sync::RwLock;

use serde_json::Value;

pub use bb_contract::egress::RefreshConfig;

#[derive(Default)]
pub struct Tokens {
    live: RwLock<HashMap<String, String>>,
}

impl Tokens {
    /// The current value of the credential named `name`.
    pub fn get(&self, name: &str) -> Option<String> {
        let live = self.live.read().unwrap_or_else(|p| p.into_inner());
        live.get(name)
            .cloned()
            .or_else(|| crate::secrets::get(name))
            .filter(|v| !v.is_empty())
    }

    pub fn set(&self, name: &str, value: String) {
        self.live
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_string(), value);
    }
}

/// The agent's refresh grant with the real refresh token in place of its
/// placeholder; None when the body is not a JSON refresh grant.
pub fn rewrite_grant(body: &[u8], real_refresh: &str) -> Option<Vec<u8>> {
    let mut grant: Value = serde_json::from_slice(body).ok()?;
    if grant.get("grant_type")?.as_str()? != "refresh_token" {
        return None;
    }
    grant["refresh_token"] = Value::String(real_refresh.to_string());
    serde_json::to_vec(&grant).ok()
}

/// New tokens from the endpoint's answer.
#[derive(Debug, PartialEq, Eq)]
pub struct Issued {
    pub access: String,
    pub refresh: Option<String>,
}

/// Take the tokens out of a successful answer: what egress keeps, and the
/// answer the agent gets, with placeholders and an unsigned id_token.
pub fn rewrite_answer(body: &[u8], placeholder: &str) -> Option<(Issued, Vec<u8>)> {
    let mut answer: Value = serde_json::from_slice(body).ok()?;
    let access = answer.get("access_token")?.as_str()?.to_string();
    let refresh = answer
        .get("refresh_token")
        .and_then(Value::as_str)
        .map(String::from);
    // Clients read an access token's claims (expiry, account); an unsigned
    // copy keeps those and authenticates nothing.
    answer["access_token"] = Value::String(
        crate::jwt::unsigned_copy(&access).unwrap_or_else(|| placeholder.to_string()),
    );
    if refresh.is_some() {
        answer["refresh_token"] = Value::String(placeholder.to_string());
    }
    if let Some(id) = answer.get("id_token").and_then(Value::as_str) {
        answer["id_token"] = match crate::jwt::unsigned_copy(id) {
            Some(copy) => Value::String(copy),
            None => Value::String(placeholder.to_string()),
        };
    }
    let out = serde_json::to_vec(&answer).ok()?;
    Some((Issued { access, refresh }, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grant_gets_the_real_token_and_the_answer_loses_it() {
        let grant = br#"{"client_id":"c","grant_type":"refresh_token","refresh_token":"PLACE"}"#;
        let out: Value = serde_json::from_slice(&rewrite_grant(grant, "real-r").unwrap()).unwrap();
        assert_eq!(out["refresh_token"], "real-r");
        assert_eq!(out["client_id"], "c");
        assert!(rewrite_grant(br#"{"grant_type":"authorization_code"}"#, "x").is_none());
        assert!(rewrite_grant(b"grant_type=refresh_token", "x").is_none());

        let answer = br#"{"access_token":"new-a","refresh_token":"new-r","id_token":"x.eyJhIjoxfQ.SIGNATURE","expires_in":5}"#;
        let (issued, out) = rewrite_answer(answer, "PLACE").unwrap();
        assert_eq!(
            issued,
            Issued {
                access: "new-a".into(),
                refresh: Some("new-r".into())
            }
        );
        let text = String::from_utf8(out).unwrap();
        assert!(!text.contains("new-a") && !text.contains("new-r") && !text.contains("SIGNATURE"));
        let out: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            crate::jwt::claims(out["id_token"].as_str().unwrap()).unwrap()["a"],
            1
        );
        assert_eq!(out["expires_in"], 5);
    }

    #[test]
    fn live_values_win_over_the_environment() {
        let t = Tokens::default();
        std::env::set_var("BB_TOKENS_TEST_VAR", "from-env");
        assert_eq!(t.get("BB_TOKENS_TEST_VAR").as_deref(), Some("from-env"));
        t.set("BB_TOKENS_TEST_VAR", "refreshed".into());
        assert_eq!(t.get("BB_TOKENS_TEST_VAR").as_deref(), Some("refreshed"));
        assert_eq!(t.get("BB_TOKENS_TEST_UNSET"), None);
    }
}
