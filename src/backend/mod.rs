//! Where bottles run. Docker through bollard today; the smolmachines
//! backend and the `Backend` trait grow here with launching.

pub mod docker;
