//! What a run did to one thing it manages — an AWS resource, a certificate,
//! a file on a node, a unit: the one vocabulary of the end-of-run summary,
//! `--json` output, the REPL's counts and the typed values' `status`.

use std::fmt;

use serde::Serialize;

/// What happened to one resource, file or unit in this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// It did not exist and was made.
    Created,
    /// An AWS resource made from a local file: the key pair whose public
    /// key groundup already held (counted apart from `created`).
    Imported,
    /// An existing cloud resource was found and used as it is.
    Reused,
    /// It existed with other content or settings and was changed.
    Updated,
    /// It existed and was already right: not touched.
    Unchanged,
    /// Plan mode: it would be made or changed (nothing was).
    Planned,
    /// It was deleted.
    Deleted,
}

impl Outcome {
    /// The word shown to users and scripts: `created`, `reused`, …
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::Imported => "imported",
            Outcome::Reused => "reused",
            Outcome::Updated => "updated",
            Outcome::Unchanged => "unchanged",
            Outcome::Planned => "planned",
            Outcome::Deleted => "deleted",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<Outcome> for String {
    fn from(o: Outcome) -> String {
        o.as_str().to_string()
    }
}

impl PartialEq<str> for Outcome {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_match_the_json_names() {
        for o in [
            Outcome::Created,
            Outcome::Imported,
            Outcome::Reused,
            Outcome::Updated,
            Outcome::Unchanged,
            Outcome::Planned,
            Outcome::Deleted,
        ] {
            let json = serde_json::to_value(o).unwrap_or_default();
            assert_eq!(json.as_str(), Some(o.as_str()));
            assert_eq!(o.to_string(), o.as_str());
        }
    }
}
