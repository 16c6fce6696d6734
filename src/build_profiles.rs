//! The build profiles' one rule, checked by a unit test that reads
//! Cargo.toml and Cargo.lock: the crates a run spends CPU in are optimised
//! (opt-level 1 or 3) at the same level in the dev profile, which the tests and `scripts/bench` use,
//! and in the release profile, which `cargo install` builds. Cargo has no way
//! to share a package list between two profiles, so the two lists are
//! written twice and this test keeps them equal; and since Cargo only warns
//! about a package name that matches nothing, every name must be a package
//! in Cargo.lock (a crate renamed or dropped upstream would otherwise stop
//! being optimised without anyone noticing).

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    /// An `opt-level` above 0, from the text after `opt-level`.
    fn level(text: &str) -> Option<u32> {
        let digits: String = text
            .trim_start_matches([' ', '='])
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().ok().filter(|l| *l > 0)
    }

    /// Package -> opt-level (above 0) of the `[profile.dev.package.NAME]`
    /// tables.
    fn dev_levels(toml: &str) -> BTreeMap<String, u32> {
        let mut out = BTreeMap::new();
        let mut current: Option<String> = None;
        for line in toml.lines().map(str::trim) {
            if line.starts_with('[') {
                current = line
                    .strip_prefix("[profile.dev.package.")
                    .and_then(|r| r.strip_suffix(']'))
                    .map(|n| n.trim_matches('"').to_string());
            } else if let Some(name) = &current
                && let Some(l) = line.strip_prefix("opt-level").and_then(level)
            {
                out.insert(name.clone(), l);
            }
        }
        out
    }

    /// Package -> opt-level (above 0) in the `[profile.release.package]`
    /// table (`name = { opt-level = N }`).
    fn release_levels(toml: &str) -> BTreeMap<String, u32> {
        let mut out = BTreeMap::new();
        let mut inside = false;
        for line in toml.lines().map(str::trim) {
            if line.starts_with('[') {
                inside = line == "[profile.release.package]";
            } else if inside
                && let Some((name, value)) = line.split_once('=')
                && let Some(l) = value
                    .trim()
                    .strip_prefix('{')
                    .map(str::trim)
                    .and_then(|v| v.strip_prefix("opt-level"))
                    .and_then(level)
            {
                out.insert(name.trim().trim_matches('"').to_string(), l);
            }
        }
        out
    }

    fn locked_packages(lock: &str) -> BTreeSet<String> {
        lock.lines()
            .filter_map(|l| l.strip_prefix("name = "))
            .map(|n| n.trim_matches('"').to_string())
            .collect()
    }

    #[test]
    fn dev_and_release_optimise_the_same_crates_and_every_one_exists() {
        let toml = include_str!("../Cargo.toml");
        let lock = include_str!("../Cargo.lock");
        let (dev, release) = (dev_levels(toml), release_levels(toml));
        assert_eq!(dev.get("aws-lc-sys"), Some(&3), "{dev:?}");
        assert_eq!(
            dev, release,
            "Cargo.toml: the dev profile's optimised crates and the release profile's differ"
        );
        let known = locked_packages(lock);
        let missing: Vec<_> = dev.keys().filter(|n| !known.contains(*n)).collect();
        assert!(
            missing.is_empty(),
            "Cargo.toml optimises crates that are not in Cargo.lock: {missing:?}"
        );
    }

    #[test]
    fn the_parsers_read_both_table_forms() {
        let toml = "[profile.dev.package.a]\nopt-level = 3\n[profile.dev.package.b]\nopt-level = 0\n\
                    [profile.dev.package.e]\nopt-level=1\n\
                    [profile.release.package]\n\"*\" = { opt-level = 0 }\nc = { opt-level = 3 }\n\
                    f = {opt-level=1}\n[x]\nd = { opt-level = 3 }\n";
        let map = |xs: &[(&str, u32)]| -> BTreeMap<String, u32> {
            xs.iter().map(|(n, l)| (n.to_string(), *l)).collect()
        };
        assert_eq!(dev_levels(toml), map(&[("a", 3), ("e", 1)]));
        assert_eq!(release_levels(toml), map(&[("c", 3), ("f", 1)]));
        assert_eq!(
            locked_packages("[[package]]\nname = \"x\"\nversion = \"1\"\n"),
            BTreeSet::from(["x".to_string()])
        );
    }
}
