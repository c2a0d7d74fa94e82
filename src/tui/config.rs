//! Workspace settings: defaults in assets/config.yaml, overridden by
//! `<bb home>/config.yaml`.

use std::collections::BTreeMap;
use std::path::Path;

use crossterm::event::KeyModifiers;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;

use super::keymap::{Action, Key, Keymap, ACTIONS};
use crate::backend::engines::EngineConfig;
use crate::manifest::yaml;

pub const DEFAULTS: &str = include_str!("../../assets/config.yaml");

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub scrollback: usize,
    pub workspace_limit_mb: u64,
    pub keymap: Keymap,
    /// CA files egress trusts for upstream TLS beside the system's roots,
    /// as written (`~/` allowed).
    pub upstream_ca: Vec<String>,
    pub attention: Attention,
    /// Engines besides the default one, by name.
    pub engines: BTreeMap<String, EngineConfig>,
    /// Where bottles go without a choice (else the default engine).
    pub default_engine: Option<String>,
}

/// How bb calls you to an agent that needs you.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attention {
    /// Ring the outer terminal's bell.
    pub bell: bool,
    /// Send a desktop notification (OSC 777 and OSC 9).
    pub notify: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AttentionDoc {
    bell: Option<bool>,
    notify: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigDoc {
    attention: Option<AttentionDoc>,
    scrollback_lines: Option<usize>,
    workspace_limit_mb: Option<u64>,
    keys: Option<KeysDoc>,
    upstream_ca: Option<Vec<String>>,
    engines: Option<BTreeMap<String, EngineConfig>>,
    default_engine: Option<String>,
}

/// `keys:`: `prefix`, `direct_jump`, and a key or keys for each action by
/// its name in [`ACTIONS`].
type KeysDoc = BTreeMap<String, OneOrMany>;

/// A key, or a list of keys.
#[derive(Debug, Clone)]
struct OneOrMany(Vec<String>);

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OneOrMany;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a key or a list of keys")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<OneOrMany, E> {
                Ok(OneOrMany(vec![v.to_string()]))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<OneOrMany, E> {
                Ok(OneOrMany(vec![v.to_string()]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<OneOrMany, A::Error> {
                let mut out = Vec::new();
                while let Some(s) = seq.next_element::<String>()? {
                    out.push(s);
                }
                Ok(OneOrMany(out))
            }
        }
        d.deserialize_any(V)
    }
}

impl Default for Config {
    fn default() -> Config {
        // The defaults ship in the binary and are tested to parse.
        match parse(DEFAULTS, None) {
            Ok(c) => c,
            Err(e) => panic!("assets/config.yaml is invalid: {e}"),
        }
    }
}

/// Read `<home>/config.yaml` over the defaults. A missing file is fine.
pub fn load(home: &Path) -> Result<Config, String> {
    let path = home.join("config.yaml");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            parse(&text, Some(Config::default())).map_err(|e| format!("{}:{e}", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
        Err(e) => Err(format!("{}: cannot read: {e}", path.display())),
    }
}

/// Parse a config text over `base` (or from nothing, for the defaults).
fn parse(text: &str, base: Option<Config>) -> Result<Config, String> {
    let node = yaml::parse(text).map_err(|e| format!("{}: invalid YAML: {}", e.line, e.message))?;
    let doc: ConfigDoc = yaml::from_node(&node).map_err(|e| match e.line {
        Some(l) => format!("{l}: {e}"),
        None => format!(" {e}"),
    })?;
    let keys = doc.keys.unwrap_or_default();
    for name in keys.keys() {
        let known = ["prefix", "direct_jump"]
            .into_iter()
            .chain(ACTIONS.iter().map(|n| n.name));
        if !known.clone().any(|k| k == name) {
            let near = known
                .map(|k| (strsim::jaro_winkler(k, name), k))
                .filter(|(score, _)| *score > 0.8)
                .max_by(|a, b| a.0.total_cmp(&b.0))
                .map(|(_, k)| format!("; did you mean \"{k}\"?"))
                .unwrap_or_default();
            return Err(format!(" keys.{name} is not a key setting{near}"));
        }
    }
    let one = |name: &str| -> Result<Option<&str>, String> {
        match keys.get(name).map(|v| v.0.as_slice()) {
            None => Ok(None),
            Some([one]) => Ok(Some(one.as_str())),
            Some(_) => Err(format!(" keys.{name}: one value, not a list")),
        }
    };
    let base_km = base.as_ref().map(|b| b.keymap.clone());
    let prefix = match one("prefix")? {
        Some(p) => Key::parse(p).map_err(|e| format!(" keys.prefix: {e}"))?,
        None => base_km
            .as_ref()
            .map(|k| k.prefix)
            .ok_or(" keys.prefix is required")?,
    };
    if prefix
        .mods
        .intersection(KeyModifiers::CONTROL | KeyModifiers::ALT)
        .is_empty()
    {
        return Err(format!(
            " keys.prefix: {} has no ctrl or alt; the agent would lose that key for typing",
            prefix.label()
        ));
    }
    let direct_jump = match one("direct_jump")? {
        None => base_km.as_ref().and_then(|k| k.direct_jump),
        Some("alt") => Some(KeyModifiers::ALT),
        Some("ctrl") => Some(KeyModifiers::CONTROL),
        Some("none") => None,
        Some(other) => {
            return Err(format!(
                " keys.direct_jump: {other:?} is not alt, ctrl or none"
            ))
        }
    };
    let mut bindings: Vec<(Key, Action)> = Vec::new();
    for named in ACTIONS {
        let (name, action) = (named.name, named.action);
        let keys: Vec<Key> = match keys.get(name) {
            Some(OneOrMany(specs)) => specs
                .iter()
                .map(|s| Key::parse(s).map_err(|e| format!(" keys.{name}: {e}")))
                .collect::<Result<_, _>>()?,
            None => base_km
                .as_ref()
                .map(|k| {
                    k.bindings
                        .iter()
                        .filter(|(_, a)| *a == action)
                        .map(|(k, _)| *k)
                        .collect()
                })
                .unwrap_or_default(),
        };
        for k in keys {
            if k == prefix {
                return Err(format!(" keys.{name}: {} is the prefix itself", k.label()));
            }
            if let Some((_, other)) = bindings.iter().find(|(b, _)| *b == k) {
                return Err(format!(
                    " keys.{name}: {} is already bound to {:?}",
                    k.label(),
                    other.describe()
                ));
            }
            bindings.push((k, action));
        }
    }
    let upstream_ca = match doc.upstream_ca {
        Some(files) => {
            if let Some(bad) = files
                .iter()
                .find(|f| !(f.starts_with('/') || f.starts_with("~/")))
            {
                return Err(format!(
                    " upstream_ca: {bad:?} is relative; write an absolute path or one under ~/"
                ));
            }
            files
        }
        None => base
            .as_ref()
            .map(|b| b.upstream_ca.clone())
            .unwrap_or_default(),
    };
    let base_attention = base.as_ref().map(|b| b.attention);
    let doc_attention = doc.attention.unwrap_or_default();
    let attention = Attention {
        bell: doc_attention
            .bell
            .or(base_attention.map(|a| a.bell))
            .unwrap_or(true),
        notify: doc_attention
            .notify
            .or(base_attention.map(|a| a.notify))
            .unwrap_or(true),
    };
    let engines = match doc.engines {
        Some(e) => e,
        None => base.as_ref().map(|b| b.engines.clone()).unwrap_or_default(),
    };
    let default_engine = doc
        .default_engine
        .or(base.as_ref().and_then(|b| b.default_engine.clone()));
    if let Some(name) = &default_engine {
        if name != crate::backend::engines::DEFAULT && !engines.contains_key(name) {
            return Err(format!(
                " default_engine: {name} is not one of `engines:` (or \"{}\")",
                crate::backend::engines::DEFAULT
            ));
        }
    }
    Ok(Config {
        upstream_ca,
        attention,
        engines,
        default_engine,
        workspace_limit_mb: doc
            .workspace_limit_mb
            .or(base.as_ref().map(|b| b.workspace_limit_mb))
            .unwrap_or(crate::workspace::DEFAULT_LIMIT_MB),
        scrollback: doc
            .scrollback_lines
            .or(base.map(|b| b.scrollback))
            .unwrap_or(crate::session::DEFAULT_SCROLLBACK),
        keymap: Keymap {
            prefix,
            bindings,
            direct_jump,
        },
    })
}

#[cfg(test)]
mod tests {
    use crossterm::event::KeyCode;

    use super::*;

    #[test]
    fn defaults_parse() {
        let c = Config::default();
        assert_eq!(c.scrollback, 10_000);
        assert_eq!(
            c.keymap.prefix,
            Key::new(KeyCode::Char('b'), KeyModifiers::CONTROL)
        );
        assert_eq!(c.keymap.chord(Action::NewAgent), "C-b n");
    }

    #[test]
    fn user_config_overrides_only_what_it_names() {
        let c = parse(
            "keys:\n  prefix: ctrl-a\n  zoom: Z\nscrollback_lines: 500\n",
            Some(Config::default()),
        )
        .unwrap();
        assert_eq!(c.keymap.prefix.label(), "C-a");
        assert_eq!(c.keymap.chord(Action::Zoom), "C-a Z");
        assert_eq!(c.keymap.chord(Action::NewAgent), "C-a n");
        assert_eq!(c.scrollback, 500);
    }

    #[test]
    fn bad_configs_say_what_is_wrong() {
        let base = || Some(Config::default());
        assert!(parse("keys:\n  prefix: b\n", base())
            .unwrap_err()
            .contains("no ctrl or alt"));
        assert!(parse("keys:\n  zoom: n\n", base())
            .unwrap_err()
            .contains("already bound"));
        assert!(parse("keys:\n  zom: z\n", base())
            .unwrap_err()
            .contains("did you mean \"zoom\""));
        assert!(parse("keys:\n  direct_jump: meta\n", base())
            .unwrap_err()
            .contains("direct_jump"));
    }
}
