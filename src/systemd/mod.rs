//! systemd services on the nodes, plain Rust: a unit as a typed value and
//! its text ([`unit`]), and what to do with each member of a service once
//! its unit is installed ([`rollout`]). `src/api/systemd.rs` binds it.

pub mod remote;
pub mod rollout;
pub mod status;
pub mod unit;

pub use unit::Unit;
