//! The contract between bb and the daemons of a bottle's sidecar bundle,
//! as serde types both sides build against: the egress config bb renders
//! (routes, limits, DLP, token endpoints), the git gate's config, and the
//! proposal queue's files. A change on one side fails to build on the other.

pub mod egress;
pub mod gate;
pub mod proposal;
