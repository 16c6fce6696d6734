//! Requests shared by the PKI's unit tests.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::{CertRequest, KeyAlgorithm, Subject, Usages};

pub(crate) fn req(cn: &str, hosts: &[&str]) -> CertRequest {
    CertRequest {
        subject: Subject::cn(cn),
        hosts: hosts.iter().map(|h| h.to_string()).collect(),
        validity_days: 365,
        algorithm: KeyAlgorithm::EcdsaP256,
        usages: Usages::KUBERNETES,
    }
}

pub(crate) fn ca_req() -> CertRequest {
    CertRequest {
        subject: Subject {
            cn: "Kubernetes".into(),
            o: Some("Kubernetes".into()),
            ou: Some("CA".into()),
            c: Some("US".into()),
            st: Some("Oregon".into()),
            l: Some("Portland".into()),
        },
        hosts: vec![],
        validity_days: 3650,
        algorithm: KeyAlgorithm::EcdsaP256,
        usages: Usages::KUBERNETES,
    }
}

pub(crate) fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}
