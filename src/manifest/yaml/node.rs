//! A YAML document as a tree of nodes that remember where they came from
//! (line) and how scalars were written (plain or quoted). serde_yaml drops
//! the quoting, and bb needs it: a bare `yes` where a string belongs must be
//! an error, while `"yes"` is fine.

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// One YAML node with the line it starts on (1-based, in the parsed text).
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub kind: NodeKind,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    Scalar { value: String, plain: bool },
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

/// What a plain (unquoted) scalar means under the YAML 1.2 core schema, plus
/// the shapes YAML 1.1 tools read as something other than a string.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Plain {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// A string that a YAML 1.1 reader (PyYAML, many editors) would turn
    /// into a boolean, a date, a sexagesimal or a hex/octal number.
    Ambiguous,
    Str,
}

impl Node {
    /// Classify a plain scalar; quoted and block scalars are always strings.
    pub fn plain_kind(&self) -> Plain {
        match &self.kind {
            NodeKind::Scalar { value, plain: true } => classify_plain(value),
            _ => Plain::Str,
        }
    }

    pub fn describe(&self) -> String {
        match &self.kind {
            NodeKind::Scalar { value, plain } => match (plain, self.plain_kind()) {
                (true, Plain::Null) => "null".to_string(),
                (true, Plain::Bool(b)) => format!("boolean `{b}`"),
                (true, Plain::Int(_)) => format!("integer `{value}`"),
                (true, Plain::Float(_)) => format!("number `{value}`"),
                _ => format!("string {value:?}"),
            },
            NodeKind::Seq(_) => "a list".to_string(),
            NodeKind::Map(_) => "a mapping".to_string(),
        }
    }
}

fn classify_plain(v: &str) -> Plain {
    match v {
        "" | "~" | "null" | "Null" | "NULL" => return Plain::Null,
        "true" | "True" | "TRUE" => return Plain::Bool(true),
        "false" | "False" | "FALSE" => return Plain::Bool(false),
        _ => {}
    }
    if let Ok(i) = v.parse::<i64>() {
        // `0755` is an octal number to YAML 1.1 and a decimal to 1.2.
        let digits = v.trim_start_matches(['-', '+']);
        if digits.len() > 1 && digits.starts_with('0') {
            return Plain::Ambiguous;
        }
        return Plain::Int(i);
    }
    if looks_like_float(v) {
        if let Ok(f) = v.parse::<f64>() {
            return Plain::Float(f);
        }
    }
    if is_ambiguous(v) {
        return Plain::Ambiguous;
    }
    Plain::Str
}

fn looks_like_float(v: &str) -> bool {
    let lower = v.to_ascii_lowercase();
    matches!(lower.as_str(), ".inf" | "-.inf" | "+.inf" | ".nan")
        || (v.chars().any(|c| c.is_ascii_digit())
            && v.chars()
                .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+')))
}

fn is_ambiguous(v: &str) -> bool {
    let lower = v.to_ascii_lowercase();
    if matches!(lower.as_str(), "y" | "n" | "yes" | "no" | "on" | "off") {
        return true;
    }
    let bytes = lower.as_bytes();
    // 0x1F, 0o17, 0b101
    if bytes.len() > 2
        && bytes[0] == b'0'
        && matches!(bytes[1], b'x' | b'o' | b'b')
        && lower[2..]
            .chars()
            .all(|c| c.is_ascii_hexdigit() || c == '_')
    {
        return true;
    }
    // 2026-05-24 (and timestamps starting with a date)
    if bytes.len() >= 8 {
        let date = lower.split(['t', ' ']).next().unwrap_or("");
        let parts: Vec<&str> = date.split('-').collect();
        if parts.len() == 3
            && parts[0].len() == 4
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
        {
            return true;
        }
    }
    // 1:30 (sexagesimal in YAML 1.1)
    if lower.contains(':')
        && lower
            .split(':')
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
    {
        return true;
    }
    false
}

/// Why a YAML text could not become a node tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub line: usize,
    pub message: String,
}

/// Parse one YAML document. An empty document is an empty mapping.
pub fn parse(text: &str) -> Result<Node, SyntaxError> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    parser.load(&mut builder, false).map_err(|e| SyntaxError {
        line: e.marker().line(),
        message: e.info().to_string(),
    })?;
    if let Some(err) = builder.error {
        return Err(err);
    }
    Ok(builder.root.unwrap_or(Node {
        kind: NodeKind::Map(Vec::new()),
        line: 1,
    }))
}

#[derive(Default)]
struct Builder {
    stack: Vec<Partial>,
    root: Option<Node>,
    error: Option<SyntaxError>,
}

enum Partial {
    Seq(Vec<Node>, usize),
    Map(Vec<(Node, Node)>, Option<Node>, usize),
}

impl Builder {
    fn refuse(&mut self, line: usize, message: &str) {
        if self.error.is_none() {
            self.error = Some(SyntaxError {
                line,
                message: message.to_string(),
            });
        }
    }

    fn push_node(&mut self, node: Node) {
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(node);
                }
            }
            Some(Partial::Seq(items, _)) => items.push(node),
            Some(Partial::Map(pairs, key, _)) => match key.take() {
                None => *key = Some(node),
                Some(k) => pairs.push((k, node)),
            },
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        let line = mark.line();
        match ev {
            Event::Alias(_) => self.refuse(
                line,
                "anchors and aliases (&name, *name) are not supported; write the value out",
            ),
            Event::Scalar(_, _, anchor, _)
            | Event::SequenceStart(anchor, _)
            | Event::MappingStart(anchor, _)
                if anchor != 0 =>
            {
                self.refuse(
                    line,
                    "anchors and aliases (&name, *name) are not supported; write the value out",
                )
            }
            Event::Scalar(_, _, _, Some(_))
            | Event::SequenceStart(_, Some(_))
            | Event::MappingStart(_, Some(_)) => {
                self.refuse(line, "YAML tags (!tag) are not supported; remove the tag")
            }
            Event::Scalar(value, style, _, None) => self.push_node(Node {
                kind: NodeKind::Scalar {
                    value,
                    plain: style == TScalarStyle::Plain,
                },
                line,
            }),
            Event::SequenceStart(_, None) => self.stack.push(Partial::Seq(Vec::new(), line)),
            Event::MappingStart(_, None) => self.stack.push(Partial::Map(Vec::new(), None, line)),
            Event::SequenceEnd | Event::MappingEnd => {
                let node = match self.stack.pop() {
                    Some(Partial::Seq(items, line)) => Node {
                        kind: NodeKind::Seq(items),
                        line,
                    },
                    Some(Partial::Map(pairs, _, line)) => Node {
                        kind: NodeKind::Map(pairs),
                        line,
                    },
                    None => return,
                };
                self.push_node(node);
            }
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart
            | Event::DocumentEnd => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar(text: &str) -> Node {
        match parse(&format!("k: {text}")).map(|n| n.kind) {
            Ok(NodeKind::Map(mut pairs)) => pairs.remove(0).1,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn plain_scalars_are_classified() {
        assert_eq!(scalar("yes").plain_kind(), Plain::Ambiguous);
        assert_eq!(scalar("NO").plain_kind(), Plain::Ambiguous);
        assert_eq!(scalar("on").plain_kind(), Plain::Ambiguous);
        assert_eq!(scalar("2026-05-24").plain_kind(), Plain::Ambiguous);
        assert_eq!(scalar("0x1F").plain_kind(), Plain::Ambiguous);
        assert_eq!(scalar("0755").plain_kind(), Plain::Ambiguous);
        assert_eq!(scalar("1:30").plain_kind(), Plain::Ambiguous);
        assert_eq!(scalar("true").plain_kind(), Plain::Bool(true));
        assert_eq!(scalar("42").plain_kind(), Plain::Int(42));
        assert_eq!(scalar("1.5").plain_kind(), Plain::Float(1.5));
        assert_eq!(scalar("~").plain_kind(), Plain::Null);
        assert_eq!(scalar("api.example.com").plain_kind(), Plain::Str);
        assert_eq!(scalar("ssh://git@h:22/p.git").plain_kind(), Plain::Str);
        assert_eq!(scalar("\"yes\"").plain_kind(), Plain::Str);
        assert_eq!(scalar("'0x1F'").plain_kind(), Plain::Str);
    }

    #[test]
    fn lines_are_one_based() {
        let node = parse("a: 1\nb:\n  - x\n").unwrap();
        let NodeKind::Map(pairs) = node.kind else {
            panic!()
        };
        assert_eq!(pairs[0].0.line, 1);
        assert_eq!(pairs[1].0.line, 2);
    }

    #[test]
    fn anchors_and_tags_are_refused() {
        assert!(parse("a: &x 1\nb: *x\n")
            .unwrap_err()
            .message
            .contains("anchors"));
        assert!(parse("a: !!str 1\n").unwrap_err().message.contains("tags"));
    }

    #[test]
    fn empty_document_is_an_empty_map() {
        assert_eq!(parse("").unwrap().kind, NodeKind::Map(Vec::new()));
    }
}
