//! etcd on the masters (lesson step 7), plain Rust: the member command
//! line ([`flags`]), checked release downloads ([`release`]) and the
//! cluster's health ([`health`]). `src/api/etcd.rs` binds it.

pub mod flags;
pub mod health;
pub mod release;
pub mod remote;
