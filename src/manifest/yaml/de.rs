//! A serde Deserializer over [`Node`]s. It keeps the key path so errors can
//! say `egress.routes[0].auth.scheme`, refuses ambiguous bare scalars where a
//! string belongs, and turns unknown keys into "did you mean" hints.

use std::fmt;

use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};

use super::node::{Node, NodeKind, Plain};
use crate::suggest::did_you_mean;

/// One step of a key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// Where in a document a value failed, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeError {
    pub path: Vec<Seg>,
    pub line: Option<usize>,
    pub message: String,
}

impl DeError {
    pub fn new(message: impl Into<String>) -> Self {
        DeError {
            path: Vec::new(),
            line: None,
            message: message.into(),
        }
    }

    fn under(mut self, seg: Seg) -> Self {
        self.path.insert(0, seg);
        self
    }

    fn at(mut self, line: usize) -> Self {
        self.line.get_or_insert(line);
        self
    }

    /// `egress.routes[0].host`, or an empty string at the top level.
    pub fn path_string(&self) -> String {
        format_path(&self.path)
    }
}

pub fn format_path(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
            Seg::Key(k) if is_plain_key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Seg::Key(k) => out.push_str(&format!("[{k:?}]")),
        }
    }
    out
}

fn is_plain_key(k: &str) -> bool {
    !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.path_string(), self.message)
        }
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError::new(msg.to_string())
    }

    fn invalid_type(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        DeError::new(format!("expected {exp}, found {unexp}"))
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        let hint = did_you_mean(field, expected.iter().copied())
            .map(|s| format!("; did you mean {s:?}?"))
            .unwrap_or_default();
        let allowed = if expected.is_empty() {
            "none".to_string()
        } else {
            expected.join(", ")
        };
        DeError::new(format!("unknown key {field:?}{hint} (allowed: {allowed})"))
            .under(Seg::Key(field.to_string()))
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        let hint = did_you_mean(variant, expected.iter().copied())
            .map(|s| format!("; did you mean {s:?}?"))
            .unwrap_or_default();
        DeError::new(format!(
            "unknown value {variant:?}{hint} (one of: {})",
            expected.join(", ")
        ))
    }

    fn missing_field(field: &'static str) -> Self {
        DeError::new(format!("missing required key {field:?}"))
    }

    fn duplicate_field(field: &'static str) -> Self {
        DeError::new(format!("key {field:?} appears twice")).under(Seg::Key(field.to_string()))
    }
}

/// Deserialize `T` from a node tree.
pub fn from_node<'de, T: de::Deserialize<'de>>(node: &'de Node) -> Result<T, DeError> {
    T::deserialize(NodeDe(node))
}

pub struct NodeDe<'a>(pub &'a Node);

impl<'a> NodeDe<'a> {
    fn type_error(&self, expected: &str) -> DeError {
        let found = self.0.describe();
        let hint = match self.0.plain_kind() {
            Plain::Int(_) | Plain::Float(_) | Plain::Bool(_) if expected == "a string" => {
                "; quote it if you mean the text".to_string()
            }
            _ => String::new(),
        };
        DeError::new(format!("expected {expected}, found {found}{hint}")).at(self.0.line)
    }

    fn ambiguous(&self, value: &str) -> DeError {
        DeError::new(format!(
            "bare `{value}` is ambiguous in YAML (YAML 1.1 tools read it as a boolean, date or number); quote it: \"{value}\""
        ))
        .at(self.0.line)
    }

    fn str_value(&self) -> Result<&'a str, DeError> {
        match &self.0.kind {
            NodeKind::Scalar { value, plain } => {
                if *plain {
                    match self.0.plain_kind() {
                        Plain::Str => {}
                        Plain::Ambiguous => return Err(self.ambiguous(value)),
                        _ => return Err(self.type_error("a string")),
                    }
                }
                Ok(value)
            }
            _ => Err(self.type_error("a string")),
        }
    }
}

impl<'de> de::Deserializer<'de> for NodeDe<'de> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let line = self.0.line;
        let result = match &self.0.kind {
            NodeKind::Scalar { value, plain } => {
                if !*plain {
                    visitor.visit_str(value)
                } else {
                    match self.0.plain_kind() {
                        Plain::Null => visitor.visit_unit(),
                        Plain::Bool(b) => visitor.visit_bool(b),
                        Plain::Int(i) => visitor.visit_i64(i),
                        Plain::Float(f) => visitor.visit_f64(f),
                        Plain::Ambiguous | Plain::Str => visitor.visit_str(value),
                    }
                }
            }
            NodeKind::Seq(items) => visitor.visit_seq(SeqAccess {
                items: items.iter(),
                index: 0,
            }),
            NodeKind::Map(pairs) => {
                check_duplicate_keys(pairs)?;
                visitor.visit_map(MapAccess {
                    pairs: pairs.iter(),
                    pending: None,
                })
            }
        };
        result.map_err(|e| e.at(line))
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.0.plain_kind() {
            Plain::Bool(b) if matches!(self.0.kind, NodeKind::Scalar { plain: true, .. }) => {
                visitor.visit_bool(b)
            }
            Plain::Ambiguous if matches!(self.0.kind, NodeKind::Scalar { .. }) => {
                Err(DeError::new(format!(
                    "expected true or false, found `{}`; bb reads only true and false as booleans",
                    scalar_text(self.0)
                ))
                .at(self.0.line))
            }
            _ => Err(self.type_error("true or false")),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let s = self.str_value()?;
        visitor.visit_str(s).map_err(|e: DeError| e.at(self.0.line))
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.0.kind {
            NodeKind::Scalar { value, .. } => visitor
                .visit_str(value)
                .map_err(|e: DeError| e.at(self.0.line)),
            _ => Err(self.type_error("a key name")),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        if matches!(self.0.kind, NodeKind::Scalar { plain: true, .. })
            && self.0.plain_kind() == Plain::Null
        {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        if self.0.plain_kind() == Plain::Null
            && matches!(self.0.kind, NodeKind::Scalar { plain: true, .. })
        {
            visitor.visit_unit()
        } else {
            Err(self.type_error("nothing"))
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.0.kind {
            NodeKind::Seq(_) => self.deserialize_any(visitor),
            _ => Err(self.type_error("a list")),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.0.kind {
            NodeKind::Map(_) => self.deserialize_any(visitor),
            _ => Err(self.type_error("a mapping of keys to values")),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_map(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let s = match self.str_value() {
            Ok(s) => s,
            Err(_) if !matches!(self.0.plain_kind(), Plain::Ambiguous) => {
                return Err(self.type_error(&format!("one of {}", variants.join(", "))))
            }
            Err(e) => return Err(e),
        };
        visitor
            .visit_enum(IntoDeserializer::<DeError>::into_deserializer(s))
            .map_err(|e: DeError| e.at(self.0.line))
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 bytes byte_buf
    }
}

fn scalar_text(node: &Node) -> &str {
    match &node.kind {
        NodeKind::Scalar { value, .. } => value,
        _ => "",
    }
}

fn check_duplicate_keys(pairs: &[(Node, Node)]) -> Result<(), DeError> {
    let mut seen = std::collections::HashSet::new();
    for (k, _) in pairs {
        if let NodeKind::Scalar { value, .. } = &k.kind {
            if !seen.insert(value.as_str()) {
                return Err(DeError::new(format!("key {value:?} appears twice"))
                    .under(Seg::Key(value.clone()))
                    .at(k.line));
            }
        }
    }
    Ok(())
}

struct SeqAccess<'a> {
    items: std::slice::Iter<'a, Node>,
    index: usize,
}

impl<'de> de::SeqAccess<'de> for SeqAccess<'de> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        match self.items.next() {
            None => Ok(None),
            Some(node) => {
                let index = self.index;
                self.index += 1;
                seed.deserialize(NodeDe(node))
                    .map(Some)
                    .map_err(|e| e.at(node.line).under(Seg::Index(index)))
            }
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct MapAccess<'a> {
    pairs: std::slice::Iter<'a, (Node, Node)>,
    pending: Option<&'a (Node, Node)>,
}

impl<'de> de::MapAccess<'de> for MapAccess<'de> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        match self.pairs.next() {
            None => Ok(None),
            Some(pair) => {
                self.pending = Some(pair);
                seed.deserialize(NodeDe(&pair.0))
                    .map(Some)
                    .map_err(|e| e.at(pair.0.line))
            }
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let Some((key, value)) = self.pending.take() else {
            return Err(DeError::new("value requested before its key"));
        };
        seed.deserialize(NodeDe(value)).map_err(|e| {
            let e = e.at(value.line);
            match &key.kind {
                NodeKind::Scalar { value, .. } => e.under(Seg::Key(value.clone())),
                _ => e,
            }
        })
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.pairs.len())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Deserialize;

    use super::super::node::parse;
    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Route {
        host: String,
        #[serde(default)]
        tls: Option<bool>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Doc {
        #[serde(default)]
        routes: Vec<Route>,
        #[serde(default)]
        env: BTreeMap<String, String>,
    }

    fn load(text: &str) -> Result<Doc, DeError> {
        let node = parse(text).unwrap();
        from_node(&node)
    }

    #[test]
    fn reads_a_typed_document() {
        let doc =
            load("routes:\n  - host: a.example\n    tls: true\nenv:\n  A: \"yes\"\n").unwrap();
        assert_eq!(doc.routes[0].host, "a.example");
        assert_eq!(doc.routes[0].tls, Some(true));
        assert_eq!(doc.env["A"], "yes");
    }

    #[test]
    fn unknown_key_suggests_and_names_the_path() {
        let e = load("routes:\n  - host: a\n    tsl: true\n").unwrap_err();
        assert_eq!(e.path_string(), "routes[0].tsl");
        assert_eq!(e.line, Some(3));
        assert!(e.message.contains("did you mean \"tls\""), "{e}");
    }

    #[test]
    fn wrong_type_names_the_expected_type() {
        let e = load("routes:\n  - host: a\n    tls: maybe\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "routes[0].tls: expected true or false, found string \"maybe\""
        );
        let e = load("routes:\n  - host: [a]\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "routes[0].host: expected a string, found a list"
        );
    }

    #[test]
    fn ambiguous_scalars_where_strings_belong_must_be_quoted() {
        for bad in ["yes", "off", "2026-05-24", "0x1F"] {
            let e = load(&format!("env:\n  A: {bad}\n")).unwrap_err();
            assert!(e.message.contains("quote it"), "{bad}: {e}");
            assert_eq!(e.path_string(), "env.A");
        }
        let e = load("routes:\n  - host: a\n    tls: yes\n").unwrap_err();
        assert!(e.message.contains("only true and false"), "{e}");
    }

    #[test]
    fn numbers_where_strings_belong_are_refused() {
        let e = load("env:\n  PORT: 8080\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "env.PORT: expected a string, found integer `8080`; quote it if you mean the text"
        );
    }

    #[test]
    fn duplicate_keys_are_refused() {
        let e = load("env:\n  A: x\n  A: y\n").unwrap_err();
        assert_eq!(e.to_string(), "env.A: key \"A\" appears twice");
    }

    #[test]
    fn keys_with_dots_are_bracketed_in_paths() {
        let path = vec![
            Seg::Key("git".into()),
            Seg::Key("remotes".into()),
            Seg::Key("a.example".into()),
        ];
        assert_eq!(format_path(&path), "git.remotes[\"a.example\"]");
    }
}
