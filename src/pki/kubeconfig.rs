//! Kubeconfig files with embedded certificates, like
//! `kubectl config set-cluster --embed-certs=true` + `set-credentials` +
//! `set-context default` + `use-context default`.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::files::write_secret;
use super::{Action, PkiError};

/// What goes into one kubeconfig: one cluster, one user, one context named
/// `default`.
#[derive(Clone, PartialEq, Eq)]
pub struct KubeconfigSpec {
    /// The cluster's name, e.g. `kubernetes-the-hard-way`.
    pub cluster_name: String,
    /// The API server URL, e.g. `https://10.240.0.10:6443`.
    pub server: String,
    /// The CA certificate, PEM; embedded as `certificate-authority-data`.
    pub ca_pem: String,
    /// The user's name, e.g. `admin` or `system:node:worker-0`.
    pub user: String,
    /// The user's client certificate, PEM.
    pub client_cert_pem: String,
    /// The user's private key, PEM. Never shown by `Debug`.
    pub client_key_pem: String,
}

impl std::fmt::Debug for KubeconfigSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeconfigSpec")
            .field("cluster_name", &self.cluster_name)
            .field("server", &self.server)
            .field("user", &self.user)
            .field("client_key_pem", &"[redacted]")
            .finish_non_exhaustive()
    }
}

/// A YAML double-quoted scalar: a JSON string is one.
fn q(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

fn b64(s: &str) -> String {
    STANDARD.encode(s.as_bytes())
}

/// The kubeconfig text for `spec`: `apiVersion: v1`, `kind: Config`, one
/// cluster with `certificate-authority-data` and `server`, one user with
/// `client-certificate-data` and `client-key-data` (each the base64 of the
/// PEM, on one line), a context named `default` joining them, and
/// `current-context: default`. Every string is a quoted scalar, so names
/// like `system:node:worker-0` are safe.
pub fn kubeconfig_yaml(spec: &KubeconfigSpec) -> String {
    format!(
        "apiVersion: v1\n\
         kind: Config\n\
         clusters:\n\
         - name: {cluster}\n\
         \x20 cluster:\n\
         \x20   certificate-authority-data: {ca}\n\
         \x20   server: {server}\n\
         contexts:\n\
         - name: default\n\
         \x20 context:\n\
         \x20   cluster: {cluster}\n\
         \x20   user: {user}\n\
         current-context: default\n\
         preferences: {{}}\n\
         users:\n\
         - name: {user}\n\
         \x20 user:\n\
         \x20   client-certificate-data: {cert}\n\
         \x20   client-key-data: {key}\n",
        cluster = q(&spec.cluster_name),
        ca = q(&b64(&spec.ca_pem)),
        server = q(&spec.server),
        user = q(&spec.user),
        cert = q(&b64(&spec.client_cert_pem)),
        key = q(&b64(&spec.client_key_pem)),
    )
}

/// Makes sure `path` holds [`kubeconfig_yaml`]`(spec)`.
///
/// An identical file is left alone ([`Action::Kept`]); otherwise the file is
/// written with mode 0600 (it embeds a private key) and [`Action::Created`]
/// or [`Action::Reissued`] is returned, the latter naming the fields that
/// changed (`server changed`, `client-key-data changed`, ...).
pub fn ensure_kubeconfig(path: &Path, spec: &KubeconfigSpec) -> Result<Action, PkiError> {
    let action = plan_kubeconfig(path, spec)?;
    if action != Action::Kept {
        write_secret(path, kubeconfig_yaml(spec).as_bytes())?;
    }
    Ok(action)
}

/// What [`ensure_kubeconfig`] would do, without writing anything (plan
/// mode).
pub fn plan_kubeconfig(path: &Path, spec: &KubeconfigSpec) -> Result<Action, PkiError> {
    let want = kubeconfig_yaml(spec);
    match std::fs::read(path) {
        Ok(have) if have == want.as_bytes() => Ok(Action::Kept),
        Ok(have) => Ok(Action::Reissued(describe_change(
            &String::from_utf8_lossy(&have),
            &want,
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Action::Created),
        Err(source) => Err(PkiError::Io {
            action: "read",
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// The fields of a kubeconfig in [`kubeconfig_yaml`]'s layout, read back
/// for an audit (the base64 data still encoded).
#[derive(Default)]
pub(crate) struct KubeconfigFields {
    /// `clusters[0].cluster.certificate-authority-data`.
    pub ca_data: String,
    /// `clusters[0].cluster.server`.
    pub server: String,
    /// `contexts[0].context.user`.
    pub context_user: String,
    /// `users[0].name`.
    pub user_name: String,
    /// `users[0].user.client-certificate-data`.
    pub client_cert_data: String,
    /// `users[0].user.client-key-data`.
    pub client_key_data: String,
}

impl std::fmt::Debug for KubeconfigFields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeconfigFields")
            .field("server", &self.server)
            .field("user_name", &self.user_name)
            .finish_non_exhaustive()
    }
}

/// Reads the fields of a kubeconfig written in [`kubeconfig_yaml`]'s
/// layout (one cluster, one context, one user). Errors never contain
/// values.
pub(crate) fn parse_fields(text: &str) -> Result<KubeconfigFields, String> {
    let mut f = KubeconfigFields::default();
    let mut section = "";
    for line in text.lines() {
        if !line.starts_with([' ', '-']) {
            section = line.split(':').next().unwrap_or("");
            continue;
        }
        let item = line.trim_start_matches([' ', '-']);
        let Some((key, value)) = item.split_once(": ") else {
            continue;
        };
        let value = if value.starts_with('"') {
            serde_json::from_str::<String>(value)
                .map_err(|_| format!("the value of `{key}` is not a quoted string"))?
        } else {
            value.to_string()
        };
        match (section, key) {
            ("clusters", "certificate-authority-data") => f.ca_data = value,
            ("clusters", "server") => f.server = value,
            ("contexts", "user") => f.context_user = value,
            ("users", "name") => f.user_name = value,
            ("users", "client-certificate-data") => f.client_cert_data = value,
            ("users", "client-key-data") => f.client_key_data = value,
            _ => {}
        }
    }
    for (field, v) in [
        ("certificate-authority-data", &f.ca_data),
        ("server", &f.server),
        ("users[0].name", &f.user_name),
        ("client-certificate-data", &f.client_cert_data),
        ("client-key-data", &f.client_key_data),
    ] {
        if v.is_empty() {
            return Err(format!("no `{field}`"));
        }
    }
    Ok(f)
}

/// The base64 `*-data` of a kubeconfig decoded to text.
pub(crate) fn decode_data(field: &str, data: &str) -> Result<String, String> {
    STANDARD
        .decode(data.as_bytes())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| format!("`{field}` is not base64 of PEM text"))
}

/// Names the keys whose lines differ, never their values (they may be keys).
fn describe_change(have: &str, want: &str) -> String {
    let key_of = |line: &str| {
        line.trim_start_matches([' ', '-'])
            .split(':')
            .next()
            .unwrap_or("")
            .to_string()
    };
    let have_lines: Vec<&str> = have.lines().collect();
    let mut changed: Vec<String> = Vec::new();
    for (i, line) in want.lines().enumerate() {
        if have_lines.get(i) != Some(&line) {
            let key = key_of(line);
            if !changed.contains(&key) {
                changed.push(key);
            }
        }
    }
    if changed.is_empty() {
        "contents changed".to_string()
    } else {
        changed
            .iter()
            .map(|k| format!("{k} changed"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn spec() -> KubeconfigSpec {
        KubeconfigSpec {
            cluster_name: "kubernetes-the-hard-way".into(),
            server: "https://127.0.0.1:6443".into(),
            ca_pem: "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n".into(),
            user: "system:node:worker-0".into(),
            client_cert_pem: "-----BEGIN CERTIFICATE-----\nC\n-----END CERTIFICATE-----\n".into(),
            client_key_pem: "-----BEGIN PRIVATE KEY-----\nK\n-----END PRIVATE KEY-----\n".into(),
        }
    }

    #[test]
    fn fields_read_back() {
        let s = spec();
        let f = parse_fields(&kubeconfig_yaml(&s)).unwrap();
        assert_eq!(f.server, s.server);
        assert_eq!(f.user_name, s.user);
        assert_eq!(f.context_user, s.user);
        assert_eq!(decode_data("ca", &f.ca_data).unwrap(), s.ca_pem);
        assert_eq!(
            decode_data("c", &f.client_cert_data).unwrap(),
            s.client_cert_pem
        );
        assert_eq!(
            decode_data("k", &f.client_key_data).unwrap(),
            s.client_key_pem
        );
        assert!(parse_fields("apiVersion: v1\n").is_err());
        let broken = kubeconfig_yaml(&s).replace("server: \"", "server: \"\\x");
        let e = parse_fields(&broken).unwrap_err();
        assert!(e.contains("server"), "{e}");
    }

    #[test]
    fn yaml_text() {
        let s = spec();
        let y = kubeconfig_yaml(&s);
        let expected = format!(
            "apiVersion: v1
kind: Config
clusters:
- name: \"kubernetes-the-hard-way\"
  cluster:
    certificate-authority-data: \"{ca}\"
    server: \"https://127.0.0.1:6443\"
contexts:
- name: default
  context:
    cluster: \"kubernetes-the-hard-way\"
    user: \"system:node:worker-0\"
current-context: default
preferences: {{}}
users:
- name: \"system:node:worker-0\"
  user:
    client-certificate-data: \"{cert}\"
    client-key-data: \"{key}\"
",
            ca = STANDARD.encode(&s.ca_pem),
            cert = STANDARD.encode(&s.client_cert_pem),
            key = STANDARD.encode(&s.client_key_pem),
        );
        assert_eq!(y, expected);
        assert!(!format!("{s:?}").contains("PRIVATE KEY"));
    }

    #[test]
    fn odd_names_are_quoted() {
        let mut s = spec();
        s.user = "we\"ird: name\n#".into();
        let y = kubeconfig_yaml(&s);
        assert!(y.contains("user: \"we\\\"ird: name\\n#\"\n"), "{y}");
    }

    #[test]
    fn ensure_keeps_identical_and_rewrites_changed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("admin.kubeconfig");
        let mut s = spec();
        assert_eq!(ensure_kubeconfig(&path, &s).unwrap(), Action::Created);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(ensure_kubeconfig(&path, &s).unwrap(), Action::Kept);
        s.server = "https://10.240.0.10:6443".into();
        s.client_key_pem = "-----BEGIN PRIVATE KEY-----\nK2\n-----END PRIVATE KEY-----\n".into();
        assert_eq!(
            ensure_kubeconfig(&path, &s).unwrap(),
            Action::Reissued("server changed, client-key-data changed".into())
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), kubeconfig_yaml(&s));
    }
}
