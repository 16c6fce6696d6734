//! The runbooks and stdlib modules compiled into the binary, so an installed
//! groundup carries its runbooks (`groundup run network`).
//!
//! The list is explicit: `include_str!` paths are resolved from this
//! crate's own directory at compile time, so a target directory shared by
//! several checkouts can never embed another checkout's files. A test checks
//! that the list and the `runbooks/` and `stdlib/` directories agree.

macro_rules! embed {
    ($dir:literal: $($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/", $dir, "/", $name, ".rhai")))),*]
    };
}

/// Embedded runbooks: (name, source).
pub const RUNBOOKS: &[(&str, &str)] =
    embed!("runbooks": "compute", "distribute", "etcd", "network", "pki", "teardown");

/// Embedded stdlib modules: (name, source).
pub const STDLIB: &[(&str, &str)] = embed!("stdlib": "cluster", "nodes");

/// An embedded runbook's source by name (`network`).
pub fn runbook(name: &str) -> Option<&'static str> {
    RUNBOOKS.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}

/// An embedded stdlib module's source by name (`cluster`).
pub fn stdlib(name: &str) -> Option<&'static str> {
    STDLIB.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on_disk(dir: &str) -> Vec<String> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
        let mut names: Vec<String> = std::fs::read_dir(&root)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "rhai"))
            .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn every_shipped_file_is_embedded_and_nothing_else() {
        let names = |l: &[(&str, &str)]| l.iter().map(|(n, _)| n.to_string()).collect::<Vec<_>>();
        assert_eq!(
            names(RUNBOOKS),
            on_disk("runbooks"),
            "edit the list in src/embedded.rs"
        );
        assert_eq!(
            names(STDLIB),
            on_disk("stdlib"),
            "edit the list in src/embedded.rs"
        );
        for (name, text) in RUNBOOKS.iter().chain(STDLIB) {
            assert!(!text.is_empty(), "{name}");
        }
    }
}
