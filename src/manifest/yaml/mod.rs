//! YAML with positions and quoting kept, read into typed structs by serde.

mod de;
mod node;

pub use de::{format_path, from_node, DeError, Seg};
pub use node::{parse, Node, NodeKind, SyntaxError};
