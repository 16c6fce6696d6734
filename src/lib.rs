//! groundup: builds the "Kubernetes from the ground up" cluster on AWS from
//! editable Rhai runbooks.
//!
//! Layout: `aws`, `net` (and `pki`) hold the plain-Rust logic; `api` binds
//! it into Rhai; `engine` builds the one engine; `host` is the shared
//! context of a run; `cli` and `commands` are the command line.

pub mod api;
mod architecture;
pub mod aws;
mod build_profiles;
pub mod catalog;
pub mod cli;
pub mod commands;
pub mod completions;
pub mod docgen;
pub mod docs;
pub mod doctor;
pub mod durable;
pub mod embedded;
pub mod emulator;
pub mod engine;
pub mod error;
pub mod etcd;
pub mod host;
pub mod init;
pub mod layout;
pub mod local;
pub mod names;
pub mod net;
pub mod outcome;
pub mod pki;
pub mod pki_cluster;
pub mod plan;
pub mod preflight;
pub mod progress;
pub mod repl;
pub mod settings;
pub mod ssh;
pub mod state;
pub mod style;
pub mod summary;
pub mod systemd;
