//! What to issue: the subject, the hosts (SANs), the usages, the validity
//! and the key type of a certificate, like a cfssl CSR JSON plus its
//! signing profile; and the rules that turn the fields a script gives
//! ([`RequestFields`]) and the settings' defaults ([`RequestDefaults`]) into
//! a [`CertRequest`].

use std::fmt;
use std::net::IpAddr;

use super::{KeyAlgorithm, PkiError};

/// A certificate subject, like the `CN` and `names` of a cfssl CSR JSON.
///
/// The distinguished name is written in cfssl's order: C, ST, L, O, OU, CN.
/// Kubernetes reads the user from `cn` and the groups from `o`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Subject {
    /// Common name (`CN`), e.g. `admin` or `system:node:worker-0`.
    pub cn: String,
    /// Organization (`O`), e.g. `system:masters`.
    pub o: Option<String>,
    /// Organizational unit (`OU`).
    pub ou: Option<String>,
    /// Country (`C`).
    pub c: Option<String>,
    /// State or province (`ST`).
    pub st: Option<String>,
    /// Locality (`L`).
    pub l: Option<String>,
}

impl Subject {
    /// A subject with only a common name.
    pub fn cn(cn: impl Into<String>) -> Self {
        Subject {
            cn: cn.into(),
            ..Subject::default()
        }
    }
}

/// What to issue: like a cfssl CSR JSON plus the signing profile's expiry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertRequest {
    /// The subject.
    pub subject: Subject,
    /// Like cfssl's `hosts`: entries that parse as an IP address become IP
    /// subject alternative names, all others DNS names. Duplicates are
    /// ignored.
    pub hosts: Vec<String>,
    /// Validity in days from now (the lesson's 8760h is 365).
    pub validity_days: u32,
    /// The key algorithm of the new key pair.
    pub algorithm: KeyAlgorithm,
    /// The extended key usages of a leaf (ignored for a CA).
    pub usages: Usages,
}

/// The extended key usages of a leaf certificate, like the `usages` of a
/// cfssl signing profile. Every leaf also gets the key usages digital
/// signature and key encipherment (cfssl's `signing` and `key encipherment`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Usages {
    /// TLS server authentication (`server auth`).
    pub server_auth: bool,
    /// TLS client authentication (`client auth`).
    pub client_auth: bool,
}

impl Usages {
    /// The lesson's `kubernetes` profile: server auth and client auth.
    pub const KUBERNETES: Usages = Usages {
        server_auth: true,
        client_auth: true,
    };

    /// The cfssl names a profile accepts: `signing`, `digital signature`,
    /// `key encipherment` (always on), `server auth`, `client auth`.
    pub const NAMES: [&'static str; 5] = [
        "signing",
        "digital signature",
        "key encipherment",
        "server auth",
        "client auth",
    ];

    /// Parses cfssl usage names (case-insensitive). At least one of
    /// `server auth` and `client auth` is required: a leaf for neither is of
    /// no use to Kubernetes.
    pub fn parse<S: AsRef<str>>(names: &[S]) -> Result<Usages, String> {
        let mut u = Usages {
            server_auth: false,
            client_auth: false,
        };
        for n in names {
            match n.as_ref().trim().to_ascii_lowercase().as_str() {
                "server auth" => u.server_auth = true,
                "client auth" => u.client_auth = true,
                "signing" | "digital signature" | "key encipherment" => {}
                other => {
                    return Err(format!(
                        "unknown usage `{other}`: expected some of {}",
                        Self::NAMES.join(", ")
                    ));
                }
            }
        }
        if !(u.server_auth || u.client_auth) {
            return Err("a leaf needs `server auth`, `client auth` or both".to_string());
        }
        Ok(u)
    }
}

impl fmt::Display for Usages {
    /// `server auth, client auth`, `server auth` or `client auth`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if self.server_auth {
            parts.push("server auth");
        }
        if self.client_auth {
            parts.push("client auth");
        }
        if parts.is_empty() {
            parts.push("none");
        }
        f.write_str(&parts.join(", "))
    }
}

/// The fields a script may give a request (`#{ cn: "admin", o:
/// "system:masters", hosts: [..] }`), each `None` when not given. Their
/// types are already checked; [`RequestFields::resolve`] applies the rules.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestFields {
    /// `cn`: the common name (required).
    pub cn: Option<String>,
    /// `o`: the organization (`""` or unset: none).
    pub o: Option<String>,
    /// `ou` (`""`: none; unset: the default).
    pub ou: Option<String>,
    /// `c` (`""`: none; unset: the default).
    pub c: Option<String>,
    /// `st` (`""`: none; unset: the default).
    pub st: Option<String>,
    /// `l` (`""`: none; unset: the default).
    pub l: Option<String>,
    /// `hosts`: the SANs.
    pub hosts: Option<Vec<String>>,
    /// `usages`: cfssl usage names (a leaf only).
    pub usages: Option<Vec<String>>,
    /// `validity_days`.
    pub validity_days: Option<i64>,
    /// `algorithm`: a [`KeyAlgorithm`] name.
    pub algorithm: Option<String>,
}

impl RequestFields {
    /// The names of the fields, as a script writes them.
    pub const NAMES: [&'static str; 11] = [
        "stem",
        "cn",
        "o",
        "ou",
        "c",
        "st",
        "l",
        "hosts",
        "usages",
        "validity_days",
        "algorithm",
    ];

    /// The request these fields make, with `defaults` for the unset ones:
    /// `cn` is required; a subject field given as `""` is left out; the
    /// validity is 1 to 36500 days; a CA (`is_ca`) takes no `usages` and no
    /// `hosts`; a leaf's usages default to the lesson's profile
    /// ([`Usages::KUBERNETES`]). The error says which field is wrong.
    pub fn resolve(self, defaults: &RequestDefaults, is_ca: bool) -> Result<CertRequest, String> {
        let cn = self
            .cn
            .filter(|s| !s.trim().is_empty())
            .ok_or("`cn` (the common name) is required")?;
        // A subject field given as "" is left out; an unset one is the default.
        let field = |given: Option<String>, default: &str| match given {
            Some(v) if v.is_empty() => None,
            Some(v) => Some(v),
            None => Some(default.to_string()).filter(|s| !s.is_empty()),
        };
        let subject = Subject {
            cn,
            o: self.o.filter(|s| !s.is_empty()),
            ou: field(self.ou, &defaults.ou),
            c: field(self.c, &defaults.c),
            st: field(self.st, &defaults.st),
            l: field(self.l, &defaults.l),
        };
        let validity_days = self.validity_days.unwrap_or(if is_ca {
            defaults.ca_validity_days
        } else {
            defaults.cert_validity_days
        });
        if !(1..=36500).contains(&validity_days) {
            return Err(format!(
                "`validity_days` is {validity_days}; it must be between 1 and 36500"
            ));
        }
        let algorithm: KeyAlgorithm = self
            .algorithm
            .as_deref()
            .unwrap_or(&defaults.algorithm)
            .parse()
            .map_err(|e: PkiError| e.to_string())?;
        let usages = match self.usages {
            Some(_) if is_ca => {
                return Err("a CA takes no `usages` (it signs certificates)".to_string());
            }
            Some(names) => Usages::parse(&names)?,
            None => Usages::KUBERNETES,
        };
        let hosts = self.hosts.unwrap_or_default();
        if is_ca && !hosts.is_empty() {
            return Err("a CA takes no `hosts`".to_string());
        }
        Ok(CertRequest {
            subject,
            hosts,
            validity_days: validity_days as u32,
            algorithm,
            usages,
        })
    }
}

/// What a request's unset fields default to (the `cert_*`,
/// `*_validity_days` and `key_algorithm` settings); an empty subject field
/// is left out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestDefaults {
    /// `OU`.
    pub ou: String,
    /// `C`.
    pub c: String,
    /// `ST`.
    pub st: String,
    /// `L`.
    pub l: String,
    /// A CA's validity in days.
    pub ca_validity_days: i64,
    /// A leaf's validity in days.
    pub cert_validity_days: i64,
    /// The key algorithm's name.
    pub algorithm: String,
}

/// Splits cfssl-style `hosts` into DNS names and IP addresses, dropping
/// duplicates and keeping the first-seen order. Entries are trimmed; an
/// empty entry or one with blanks or non-ASCII characters is an error.
pub(crate) fn split_hosts(
    stem: &str,
    hosts: &[String],
) -> Result<(Vec<String>, Vec<IpAddr>), PkiError> {
    let mut dns: Vec<String> = Vec::new();
    let mut ips: Vec<IpAddr> = Vec::new();
    for raw in hosts {
        let host = raw.trim();
        if let Ok(ip) = host.parse::<IpAddr>() {
            if !ips.contains(&ip) {
                ips.push(ip);
            }
        } else if host.is_empty()
            || !host.is_ascii()
            || host
                .chars()
                .any(|c| c.is_ascii_whitespace() || c.is_ascii_control())
        {
            return Err(PkiError::InvalidHost {
                stem: stem.to_string(),
                host: raw.clone(),
            });
        } else if !dns.iter().any(|d| d == host) {
            dns.push(host.to_string());
        }
    }
    Ok((dns, ips))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usages_parse() {
        assert_eq!(
            Usages::parse(&["signing", "key encipherment", "server auth", "client auth"]),
            Ok(Usages::KUBERNETES)
        );
        let client = Usages::parse(&["Client Auth"]).unwrap();
        assert!(client.client_auth && !client.server_auth);
        assert_eq!(client.to_string(), "client auth");
        assert_eq!(Usages::KUBERNETES.to_string(), "server auth, client auth");
        assert!(Usages::parse(&["signing"]).unwrap_err().contains("needs"));
        assert!(
            Usages::parse(&["code signing"])
                .unwrap_err()
                .contains("unknown usage `code signing`")
        );
    }

    #[test]
    fn split_hosts_separates_ips_from_names() {
        let hosts: Vec<String> = [
            "10.32.0.1",
            "kubernetes.default",
            " 127.0.0.1 ",
            "::1",
            "kubernetes.default",
            "10.32.0.1",
            "*.example.com",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let (dns, ips) = split_hosts("x", &hosts).unwrap();
        assert_eq!(dns, vec!["kubernetes.default", "*.example.com"]);
        let ips: Vec<String> = ips.iter().map(|i| i.to_string()).collect();
        assert_eq!(ips, vec!["10.32.0.1", "127.0.0.1", "::1"]);

        for bad in ["", "two words", "näme"] {
            let err = split_hosts("apiserver", &[bad.to_string()]).unwrap_err();
            assert!(err.to_string().contains("certificate `apiserver`"), "{err}");
        }
    }

    fn defaults() -> RequestDefaults {
        RequestDefaults {
            ou: "DAREY.IO DEVOPS".into(),
            c: "UK".into(),
            st: String::new(),
            l: "England".into(),
            ca_validity_days: 3650,
            cert_validity_days: 365,
            algorithm: "rsa-2048".into(),
        }
    }

    fn fields(cn: &str) -> RequestFields {
        RequestFields {
            cn: Some(cn.into()),
            ..RequestFields::default()
        }
    }

    #[test]
    fn unset_fields_take_the_defaults_and_empty_ones_are_left_out() {
        let r = fields("admin").resolve(&defaults(), false).unwrap();
        assert_eq!(r.subject.cn, "admin");
        assert_eq!(r.subject.o, None);
        assert_eq!(r.subject.ou.as_deref(), Some("DAREY.IO DEVOPS"));
        assert_eq!(r.subject.c.as_deref(), Some("UK"));
        assert_eq!(r.subject.st, None, "an empty default is left out");
        assert_eq!(r.subject.l.as_deref(), Some("England"));
        assert_eq!(r.validity_days, 365);
        assert_eq!(r.algorithm, KeyAlgorithm::Rsa2048);
        assert_eq!(r.usages, Usages::KUBERNETES);
        assert!(r.hosts.is_empty());

        let mut f = fields("Kubernetes");
        f.o = Some(String::new());
        f.ou = Some(String::new());
        f.st = Some("Oregon".into());
        f.validity_days = Some(10);
        f.algorithm = Some("ECDSA-P256".into());
        let ca = f.resolve(&defaults(), true).unwrap();
        assert_eq!((ca.subject.o, ca.subject.ou), (None, None));
        assert_eq!(ca.subject.st.as_deref(), Some("Oregon"));
        assert_eq!(ca.validity_days, 10);
        assert_eq!(ca.algorithm, KeyAlgorithm::EcdsaP256);
        assert_eq!(
            fields("Kubernetes")
                .resolve(&defaults(), true)
                .unwrap()
                .validity_days,
            3650
        );
    }

    #[test]
    fn each_rule_names_its_field() {
        let d = defaults();
        let err = |f: RequestFields, is_ca: bool| f.resolve(&d, is_ca).unwrap_err();
        assert_eq!(
            err(RequestFields::default(), false),
            "`cn` (the common name) is required"
        );
        assert_eq!(
            err(fields("  "), false),
            "`cn` (the common name) is required"
        );
        let mut f = fields("x");
        f.validity_days = Some(0);
        assert_eq!(
            err(f, false),
            "`validity_days` is 0; it must be between 1 and 36500"
        );
        let mut f = fields("x");
        f.algorithm = Some("rsa".into());
        assert!(err(f, false).starts_with("unknown key algorithm `rsa`"));
        let mut f = fields("x");
        f.usages = Some(vec!["client auth".into()]);
        assert_eq!(
            err(f.clone(), true),
            "a CA takes no `usages` (it signs certificates)"
        );
        let leaf = f.resolve(&d, false).unwrap();
        assert!(leaf.usages.client_auth && !leaf.usages.server_auth);
        let mut f = fields("x");
        f.usages = Some(vec!["code signing".into()]);
        assert!(err(f, false).contains("unknown usage `code signing`"));
        let mut f = fields("x");
        f.hosts = Some(vec!["10.0.0.1".into()]);
        assert_eq!(err(f.clone(), true), "a CA takes no `hosts`");
        assert_eq!(f.resolve(&d, false).unwrap().hosts, vec!["10.0.0.1"]);
    }
}
