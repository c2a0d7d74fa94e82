//! The contract between bb and the daemons of a bottle's sidecar bundle,
//! as serde types both sides build against: the egress config bb renders
//! (routes, limits, DLP, token endpoints), the git gate's config, the
//! proposal queue's files and egress's audit log. A change on one side fails to build on the other.

pub mod audit;
pub mod egress;
pub mod gate;
pub mod operator;
pub mod proposal;
