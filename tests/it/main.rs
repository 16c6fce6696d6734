//! groundup's integration tests: one binary, a module per area.
//!
//! AWS is a real `moto_server` started on 127.0.0.1 per test (see
//! `support`); PKI output is checked by real peers (see `peers`). Every
//! groundup process runs with `GROUNDUP_REQUIRE_LOOPBACK_ENDPOINT=1`, so
//! nothing here can reach real AWS. Anything on nodes runs on real test
//! nodes (see `testnodes`): Debian containers on this machine.

mod peers;
mod support;
mod testnodes;

mod bad_input;
mod cli;
mod compile;
mod compute;
mod distribute;
mod docs;
mod doctor;
mod emulator;
mod etcd;
mod init;
mod layout;
mod lifecycle;
mod network;
mod output;
mod pki;
mod preflight;
mod progress;
mod proxy;
mod quickstart;
mod reliability;
mod repl;
mod ssh;
mod testnodes_tests;
