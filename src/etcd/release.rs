//! etcd release downloads, checked: names and URLs of the release files,
//! `SHA256SUMS` parsing, verification, and the installed-version check.
//!
//! Where the download happens: **on each node**, with `curl`, and the
//! tarball's SHA-256 (the node's `sha256sum`) is compared here, in groundup,
//! against the release's `SHA256SUMS` before anything is unpacked. Why on
//! the node and not once on the admin machine, then pushed:
//! - the nodes are where the binaries are needed, as in the lesson (`wget`
//!   on each master); on AWS they fetch from the release site at data-centre
//!   speed, in parallel, while pushing would send the ~40 MB of binaries
//!   once per master through the admin machine's uplink and SSH;
//! - groundup needs no HTTP client of its own for it (no new dependency);
//! - the decision stays here: groundup reads the node's hash and the
//!   `SHA256SUMS` text, and every master must have fetched the same,
//!   listed digest — so a mirror serving different bytes to one node is
//!   caught too.

use crate::error::{Error, Result};

/// Where binaries go on a node.
pub const BIN_DIR: &str = "/usr/local/bin";

/// The release tarball's file name: `etcd-v3.4.23-linux-amd64.tar.gz`.
pub fn tarball(version: &str) -> String {
    format!("etcd-v{version}-linux-amd64.tar.gz")
}

/// The directory inside the tarball: `etcd-v3.4.23-linux-amd64`.
pub fn top_dir(version: &str) -> String {
    format!("etcd-v{version}-linux-amd64")
}

/// The release's directory URL: `<base>/v<version>`.
pub fn release_url(base: &str, version: &str) -> String {
    format!("{}/v{version}", base.trim_end_matches('/'))
}

/// The release version and URL checks: settings rules.
pub use crate::settings::rules::{check_url, check_version};

/// Parses a `SHA256SUMS` file (`<hex>  <file>` or `<hex> *<file>` lines):
/// `(file, lowercase hex)` pairs. A malformed line is an error naming it.
pub fn parse_sums(text: &str) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let parsed = line.split_once(' ').and_then(|(hash, rest)| {
            // `<hex>  <file>` (text mode) or `<hex> *<file>` (binary mode).
            let file = rest.strip_prefix(' ').or_else(|| rest.strip_prefix('*'))?;
            let file = file.strip_prefix('*').unwrap_or(file);
            let hex_ok = hash.len() == 64 && hash.chars().all(|c| c.is_ascii_hexdigit());
            (hex_ok && !file.is_empty()).then(|| (file.to_string(), hash.to_ascii_lowercase()))
        });
        match parsed {
            Some(p) => out.push(p),
            None => {
                return Err(Error::script(format!(
                    "SHA256SUMS line {}: expected `<64 hex digits>  <file>`, got `{}`",
                    n + 1,
                    line.chars().take(120).collect::<String>()
                )));
            }
        }
    }
    Ok(out)
}

/// The digest `SHA256SUMS` lists for `file` (by its base name).
pub fn expected(sums: &[(String, String)], file: &str) -> Result<String> {
    sums.iter()
        .find(|(f, _)| f.rsplit('/').next() == Some(file))
        .map(|(_, h)| h.clone())
        .ok_or_else(|| {
            Error::script(format!(
                "SHA256SUMS does not list {file} (it lists {} files)",
                sums.len()
            ))
        })
}

/// Verifies a downloaded file's digest: a mismatch names the file, where
/// it came from and both hashes.
pub fn verify(file: &str, source: &str, expected: &str, actual: &str) -> Result<()> {
    if expected.eq_ignore_ascii_case(actual) {
        Ok(())
    } else {
        Err(Error::script(format!(
            "checksum mismatch for {file} from {source}: SHA256SUMS says {expected}, the download is {actual}; nothing was installed"
        )))
    }
}

/// The first SHA-256 digest in `sha256sum` output.
pub fn sha256sum_digest(out: &str) -> Option<String> {
    let h = out.split_whitespace().next()?;
    (h.len() == 64 && h.chars().all(|c| c.is_ascii_hexdigit())).then(|| h.to_ascii_lowercase())
}

/// The version `etcd --version` (`etcd Version: 3.4.23`) or `etcdctl
/// version` (`etcdctl version: 3.4.23`) prints, whichever comes first.
pub fn parse_version(out: &str) -> Option<String> {
    tool_version(out, "etcd").or_else(|| tool_version(out, "etcdctl"))
}

/// The version `tool` (`etcd` or `etcdctl`) printed, from output that may
/// hold both.
pub fn tool_version(out: &str, tool: &str) -> Option<String> {
    let key = format!("{tool} version");
    out.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim().eq_ignore_ascii_case(&key)).then(|| v.trim().to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "9a8e2bd1b8d9a81fe8da4e0f3e1bbf5c3c1f54b98a8b6fa6bd2bbbe1b0d1a2b3";

    #[test]
    fn names_and_urls() {
        assert_eq!(tarball("3.4.23"), "etcd-v3.4.23-linux-amd64.tar.gz");
        assert_eq!(top_dir("3.4.23"), "etcd-v3.4.23-linux-amd64");
        assert_eq!(
            release_url(
                "https://github.com/etcd-io/etcd/releases/download/",
                "3.4.23"
            ),
            "https://github.com/etcd-io/etcd/releases/download/v3.4.23"
        );
    }

    #[test]
    fn sums_parse_both_styles_and_find_by_base_name() {
        let text = format!(
            "{A}  etcd-v3.4.23-linux-amd64.tar.gz\n{} *etcd-v3.4.23-darwin-amd64.zip\n\n",
            "B".repeat(64)
        );
        let sums = parse_sums(&text).unwrap();
        assert_eq!(sums.len(), 2);
        assert_eq!(
            expected(&sums, "etcd-v3.4.23-linux-amd64.tar.gz").unwrap(),
            A
        );
        assert_eq!(
            expected(&sums, "etcd-v3.4.23-darwin-amd64.zip").unwrap(),
            "b".repeat(64)
        );
        let e = expected(&sums, "etcd-v3.5.0-linux-amd64.tar.gz").unwrap_err();
        assert!(
            e.message
                .contains("does not list etcd-v3.5.0-linux-amd64.tar.gz")
        );
        let sums = parse_sums(&format!("{A}  ./release/x.tar.gz\n")).unwrap();
        assert_eq!(expected(&sums, "x.tar.gz").unwrap(), A);
    }

    #[test]
    fn a_malformed_sums_line_is_named() {
        let e = parse_sums(&format!("{A}  ok.tar.gz\n<html>Not Found</html>\n")).unwrap_err();
        assert!(e.message.contains("line 2"), "{}", e.message);
        assert!(e.message.contains("<html>"));
        assert!(parse_sums("abc  x\n").is_err());
    }

    #[test]
    fn a_mismatch_names_the_file_and_both_hashes() {
        verify("f.tar.gz", "http://x/v1", A, &A.to_uppercase()).unwrap();
        let other = "0".repeat(64);
        let e = verify("f.tar.gz", "http://x/v1", A, &other)
            .unwrap_err()
            .message;
        assert!(
            e.contains("f.tar.gz") && e.contains(A) && e.contains(&other),
            "{e}"
        );
        assert!(e.contains("nothing was installed"));
    }

    #[test]
    fn digests_and_versions_from_tool_output() {
        assert_eq!(
            sha256sum_digest(&format!("{A}  /var/tmp/x\n")).as_deref(),
            Some(A)
        );
        assert_eq!(sha256sum_digest("sha256sum: x: No such file"), None);
        let etcd = "etcd Version: 3.4.23\nGit SHA: Not provided\nGo Version: go1.19.8\n";
        assert_eq!(parse_version(etcd).as_deref(), Some("3.4.23"));
        let ctl = "etcdctl version: 3.4.23\nAPI version: 3.4\n";
        assert_eq!(parse_version(ctl).as_deref(), Some("3.4.23"));
        assert_eq!(parse_version("sh: 1: etcd: not found"), None);
        let both = format!("{etcd}{ctl}");
        assert_eq!(tool_version(&both, "etcdctl").as_deref(), Some("3.4.23"));
        assert_eq!(
            tool_version(&format!("etcd Version: 3.4.22\n{ctl}"), "etcd").as_deref(),
            Some("3.4.22")
        );
        assert_eq!(tool_version(etcd, "etcdctl"), None);
    }
}
