//! The egress daemon's config: the contract's types (bb renders them).

pub use bb_contract::egress::*;
