//! The daemons of a bb bottle's sidecar bundle.

pub mod console;
pub mod dlp;
pub mod egress;
pub mod front;
pub mod gate;
pub mod init;
pub mod join;
pub mod jwt;
pub mod operator;
pub mod secrets;
pub mod supervise;
