//! The cluster's public key infrastructure, made in-process.
//!
//! The lesson makes its certificate authority, certificates, kubeconfigs and
//! the secrets encryption config with `cfssl`, `kubectl config` and
//! `head -c 32 /dev/urandom | base64`. This module makes the same files with
//! plain Rust (`rcgen` to issue, `x509-parser` to read back), so that
//! re-running a runbook is idempotent:
//!
//! * [`ensure_ca`] creates `<stem>.pem` + `<stem>-key.pem` once and then only
//!   ever loads them: a CA is never replaced implicitly.
//! * [`ensure_leaf`] keeps an existing certificate when it still matches the
//!   request and re-issues it (with a new key) when it does not, saying why.
//! * [`ensure_kubeconfig`] and [`ensure_encryption_config`] write the
//!   kubeconfigs and the `EncryptionConfiguration`; the encryption key, like
//!   the CA, is never replaced implicitly.
//! * [`PkiDir`] runs each of them in one [`Mode`], apply or plan: the same
//!   decision in both, a [`Done`] saying what became (or would become) of
//!   the files, for the `pki::` host functions to hand on.
//! * [`check()`] audits a directory of PEM files the way a person would with
//!   `openssl x509 -text` and `ls -l`.
//!
//! Private keys, kubeconfigs (which embed keys) and the encryption config are
//! written with mode 0600 from their first byte ([`write_secret`]). No
//! function here prints or logs key material, and no [`PkiError`] message
//! contains any.

mod ca;
mod check;
mod encryption;
mod ensure;
mod files;
mod info;
mod issue;
mod keys;
mod kubeconfig;
mod leaf;
mod request;
mod types;

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

pub use ca::{Ca, ensure_ca, load_ca, plan_ca};
pub use check::{CheckReport, CheckRow, CheckSpec, KubeletExpect, check};
pub(crate) use encryption::create_encryption_config;
pub use encryption::{
    encryption_config_yaml, encryption_key_len, ensure_encryption_config, plan_encryption_config,
};
pub use ensure::{Decision, Done, KubeconfigRequest, Mode, PkiDir, PlannedWrite, batch_threads};
pub(crate) use files::file_mode;
pub use files::{write_public, write_secret};
pub use info::{CertInfo, KeyFacts, inspect_pem, load_cert};
pub use issue::preview;
pub use kubeconfig::{KubeconfigSpec, ensure_kubeconfig, kubeconfig_yaml, plan_kubeconfig};
pub use leaf::{ensure_leaf, ensure_leaves, plan_leaf};
pub use request::{CertRequest, RequestDefaults, RequestFields, Subject, Usages};
pub use types::{Cert, EncryptionConfig, Kubeconfig, PrivateKey, Signer};

/// Everything that can go wrong while making or reading the PKI.
///
/// Every variant names the file or the stem it is about. No message ever
/// contains key material: file contents are never copied into an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PkiError {
    /// Reading, writing or inspecting a file failed.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// What was being done: "read", "write", "create", "rename", ...
        action: &'static str,
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Only one of a CA's two files exists. The CA is never recreated over a
    /// surviving half, because a running cluster trusts the old one.
    #[error(
        "CA `{stem}` is incomplete: {present} exists but {missing} does not; refusing to \
         overwrite it. Restore {missing}, or move {present} away to create a new CA"
    )]
    IncompleteCa {
        /// The CA's stem.
        stem: String,
        /// The file that exists.
        present: PathBuf,
        /// The file that is missing.
        missing: PathBuf,
    },
    /// A CA file is missing when loading an existing CA.
    #[error("CA `{stem}` not found: {path} does not exist")]
    MissingCa {
        /// The CA's stem.
        stem: String,
        /// The missing file.
        path: PathBuf,
    },
    /// A file (or PEM text) that should hold a certificate does not.
    #[error("{what} is not a usable PEM certificate: {reason}")]
    InvalidCert {
        /// The file, or a description of the PEM text when there is no file.
        what: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A file that should hold a private key does not hold a usable one.
    /// The message never contains the key itself.
    #[error("{path} is not a usable private key: {reason}")]
    InvalidKey {
        /// The key file.
        path: PathBuf,
        /// What is wrong with it (never key bytes).
        reason: String,
    },
    /// An existing CA cannot be used: its key does not match, or it is not a
    /// CA certificate. It is left untouched.
    #[error("CA `{stem}` cannot be used: {reason}")]
    BadCa {
        /// The CA's stem.
        stem: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A host in a certificate request is neither an IP address nor a valid
    /// DNS name.
    #[error("certificate `{stem}`: host `{host}` is not an IP address or a valid DNS name")]
    InvalidHost {
        /// The certificate's stem.
        stem: String,
        /// The offending host.
        host: String,
    },
    /// Key generation or signing failed.
    #[error("cannot issue certificate `{stem}`: {reason}")]
    Issue {
        /// The certificate's stem.
        stem: String,
        /// The underlying error.
        reason: String,
    },
    /// An existing encryption config cannot be read back.
    #[error("{path} is not a usable encryption config: {reason}")]
    InvalidEncryptionConfig {
        /// The config file.
        path: PathBuf,
        /// What is wrong with it (never the key itself).
        reason: String,
    },
    /// A key algorithm name is not one of the supported ones.
    #[error("unknown key algorithm `{value}`: expected one of {}", KeyAlgorithm::NAMES.join(", "))]
    UnknownAlgorithm {
        /// The rejected name.
        value: String,
    },
}

/// The key algorithm of a generated key pair.
///
/// Written and parsed as `rsa-2048` (the lesson's choice, cfssl's
/// `"key": {"algo": "rsa", "size": 2048}`), `rsa-3072`, `rsa-4096` or
/// `ecdsa-p256`. RSA keys are signed with SHA-256, P-256 keys with ECDSA
/// SHA-256.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyAlgorithm {
    /// RSA, 2048-bit modulus.
    Rsa2048,
    /// RSA, 3072-bit modulus.
    Rsa3072,
    /// RSA, 4096-bit modulus.
    Rsa4096,
    /// ECDSA on NIST P-256.
    EcdsaP256,
}

impl KeyAlgorithm {
    /// The accepted names, in the order of the enum.
    pub const NAMES: [&'static str; 4] = ["rsa-2048", "rsa-3072", "rsa-4096", "ecdsa-p256"];

    /// The canonical name, e.g. `rsa-2048`.
    pub fn name(self) -> &'static str {
        match self {
            KeyAlgorithm::Rsa2048 => Self::NAMES[0],
            KeyAlgorithm::Rsa3072 => Self::NAMES[1],
            KeyAlgorithm::Rsa4096 => Self::NAMES[2],
            KeyAlgorithm::EcdsaP256 => Self::NAMES[3],
        }
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for KeyAlgorithm {
    type Err = PkiError;

    /// Parses `rsa-2048`, `rsa-3072`, `rsa-4096` or `ecdsa-p256`
    /// (case-insensitive, surrounding blanks ignored).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "rsa-2048" => Ok(KeyAlgorithm::Rsa2048),
            "rsa-3072" => Ok(KeyAlgorithm::Rsa3072),
            "rsa-4096" => Ok(KeyAlgorithm::Rsa4096),
            "ecdsa-p256" => Ok(KeyAlgorithm::EcdsaP256),
            _ => Err(PkiError::UnknownAlgorithm {
                value: s.to_string(),
            }),
        }
    }
}

/// What an `ensure_*` function did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// The file(s) did not exist and were created.
    Created,
    /// The existing file(s) were kept unchanged.
    Kept,
    /// The existing file(s) were replaced; the string says why, e.g.
    /// `SANs changed: +10.0.0.1 -old.example`.
    Reissued(String),
}

impl fmt::Display for Action {
    /// `created`, `kept` or `re-issued: <why>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Created => f.write_str("created"),
            Action::Kept => f.write_str("kept"),
            Action::Reissued(why) => write!(f, "re-issued: {why}"),
        }
    }
}

#[cfg(test)]
mod fixtures;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithm_names_round_trip() {
        for (name, alg) in KeyAlgorithm::NAMES.iter().zip([
            KeyAlgorithm::Rsa2048,
            KeyAlgorithm::Rsa3072,
            KeyAlgorithm::Rsa4096,
            KeyAlgorithm::EcdsaP256,
        ]) {
            assert_eq!(name.parse::<KeyAlgorithm>().unwrap(), alg);
            assert_eq!(alg.to_string(), *name);
        }
        assert_eq!(
            " RSA-2048 ".parse::<KeyAlgorithm>().unwrap(),
            KeyAlgorithm::Rsa2048
        );
    }

    #[test]
    fn unknown_algorithm_lists_valid_values() {
        let err = "rsa".parse::<KeyAlgorithm>().unwrap_err().to_string();
        assert_eq!(
            err,
            "unknown key algorithm `rsa`: expected one of rsa-2048, rsa-3072, rsa-4096, ecdsa-p256"
        );
        assert!("ed25519".parse::<KeyAlgorithm>().is_err());
    }

    #[test]
    fn action_display() {
        assert_eq!(Action::Created.to_string(), "created");
        assert_eq!(Action::Kept.to_string(), "kept");
        assert_eq!(
            Action::Reissued("expires in 3 days".into()).to_string(),
            "re-issued: expires in 3 days"
        );
    }
}
