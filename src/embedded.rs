//! The runbooks and stdlib modules compiled into the binary (see build.rs).

include!(concat!(env!("OUT_DIR"), "/embedded.rs"));

/// An embedded runbook's source by name (`network`).
pub fn runbook(name: &str) -> Option<&'static str> {
    RUNBOOKS.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}

/// An embedded stdlib module's source by name (`cluster`).
pub fn stdlib(name: &str) -> Option<&'static str> {
    STDLIB.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}
