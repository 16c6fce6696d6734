//! The lesson's etcd command line for one member (lesson step 7): name
//! `master-<i>`, client and peer TLS with the API server's certificate and
//! the CA, client-certificate authentication on both, listening and
//! advertising on the member's private IP, and the initial cluster of every
//! master on the peer port.

use std::net::Ipv4Addr;

use crate::error::{Error, Result};

/// One member of the cluster: its name and private IP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// `master-0`.
    pub name: String,
    /// `172.31.0.10`.
    pub ip: String,
}

/// Everything the command line needs besides the members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The CA that signs every member's and client's certificate.
    pub ca_file: String,
    /// The member's certificate (server and client auth: it is also the
    /// peer client certificate).
    pub cert_file: String,
    /// Its key.
    pub key_file: String,
    /// The data directory (the lesson's /var/lib/etcd).
    pub data_dir: String,
    /// The initial cluster token: peers with another token never join.
    pub token: String,
    /// Client port (2379).
    pub client_port: u16,
    /// Peer port (2380).
    pub peer_port: u16,
}

impl Options {
    /// The client URL of a member.
    pub fn client_url(&self, m: &Member) -> String {
        format!("https://{}:{}", m.ip, self.client_port)
    }
    /// The peer URL of a member.
    pub fn peer_url(&self, m: &Member) -> String {
        format!("https://{}:{}", m.ip, self.peer_port)
    }
}

/// Checks the member list: unique names, IPv4 addresses, at least one.
pub fn check_members(members: &[Member]) -> Result<()> {
    if members.is_empty() {
        return Err(Error::script(
            "etcd: no members (the layout has no masters)",
        ));
    }
    for (i, m) in members.iter().enumerate() {
        if m.name.is_empty()
            || !m
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(Error::script(format!(
                "etcd: member name `{}` must be letters, digits, - and _",
                m.name
            )));
        }
        if m.ip.parse::<Ipv4Addr>().is_err() {
            return Err(Error::script(format!(
                "etcd: member {} has no IPv4 address (`{}`)",
                m.name, m.ip
            )));
        }
        if members[..i]
            .iter()
            .any(|o| o.name == m.name || o.ip == m.ip)
        {
            return Err(Error::script(format!(
                "etcd: member {} ({}) is listed twice",
                m.name, m.ip
            )));
        }
    }
    Ok(())
}

/// The `initial-cluster` value: `master-0=https://172.31.0.10:2380,...`.
pub fn initial_cluster(members: &[Member], o: &Options) -> String {
    members
        .iter()
        .map(|m| format!("{}={}", m.name, o.peer_url(m)))
        .collect::<Vec<_>>()
        .join(",")
}

/// etcd's arguments (without the program) for member `me` of `members`.
pub fn flags(me: &Member, members: &[Member], o: &Options) -> Result<Vec<String>> {
    check_members(members)?;
    if !members.contains(me) {
        return Err(Error::script(format!(
            "etcd: {} ({}) is not one of the members",
            me.name, me.ip
        )));
    }
    for (what, f) in [
        ("ca", &o.ca_file),
        ("cert", &o.cert_file),
        ("key", &o.key_file),
        ("data_dir", &o.data_dir),
    ] {
        if !f.starts_with('/') {
            return Err(Error::script(format!(
                "etcd: {what} must be an absolute path on the node, got `{f}`"
            )));
        }
    }
    let client = o.client_url(me);
    let peer = o.peer_url(me);
    let a = |k: &str, v: &str| format!("--{k}={v}");
    Ok(vec![
        a("name", &me.name),
        // Clients (the API servers, etcdctl) must show a certificate the
        // CA signed; so must peers.
        a("cert-file", &o.cert_file),
        a("key-file", &o.key_file),
        a("trusted-ca-file", &o.ca_file),
        "--client-cert-auth".into(),
        a("peer-cert-file", &o.cert_file),
        a("peer-key-file", &o.key_file),
        a("peer-trusted-ca-file", &o.ca_file),
        "--peer-client-cert-auth".into(),
        // The member's private IP for peers and clients, and loopback for
        // the API server on the same master.
        a("listen-peer-urls", &peer),
        a("initial-advertise-peer-urls", &peer),
        a(
            "listen-client-urls",
            &format!("{client},https://127.0.0.1:{}", o.client_port),
        ),
        a("advertise-client-urls", &client),
        a("initial-cluster-token", &o.token),
        a("initial-cluster", &initial_cluster(members, o)),
        a("initial-cluster-state", "new"),
        a("data-dir", &o.data_dir),
    ])
}

/// The lesson's three masters and flag options: the one test fixture of
/// `flags` and `health`.
#[cfg(test)]
pub(crate) fn lesson() -> (Vec<Member>, Options) {
    let members = (0..3)
        .map(|i| Member {
            name: format!("master-{i}"),
            ip: format!("172.31.0.1{i}"),
        })
        .collect();
    let o = Options {
        ca_file: "/etc/etcd/ca.pem".into(),
        cert_file: "/etc/etcd/master-kubernetes.pem".into(),
        key_file: "/etc/etcd/master-kubernetes-key.pem".into(),
        data_dir: "/var/lib/etcd".into(),
        token: "k8s-cluster".into(),
        client_port: 2379,
        peer_port: 2380,
    };
    (members, o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lesson_flags_for_master_1() {
        let (m, o) = lesson();
        let f = flags(&m[1], &m, &o).unwrap();
        let has = |s: &str| f.iter().any(|x| x == s);
        assert_eq!(f[0], "--name=master-1");
        assert!(has("--client-cert-auth") && has("--peer-client-cert-auth"));
        assert!(has("--cert-file=/etc/etcd/master-kubernetes.pem"));
        assert!(has("--peer-cert-file=/etc/etcd/master-kubernetes.pem"));
        assert!(has("--trusted-ca-file=/etc/etcd/ca.pem"));
        assert!(has("--peer-trusted-ca-file=/etc/etcd/ca.pem"));
        assert!(has("--listen-peer-urls=https://172.31.0.11:2380"));
        assert!(has(
            "--initial-advertise-peer-urls=https://172.31.0.11:2380"
        ));
        assert!(has(
            "--listen-client-urls=https://172.31.0.11:2379,https://127.0.0.1:2379"
        ));
        assert!(has("--advertise-client-urls=https://172.31.0.11:2379"));
        assert!(has(
            "--initial-cluster=master-0=https://172.31.0.10:2380,master-1=https://172.31.0.11:2380,master-2=https://172.31.0.12:2380"
        ));
        assert!(has("--data-dir=/var/lib/etcd"));
        assert!(has("--initial-cluster-token=k8s-cluster"));
    }

    #[test]
    fn every_member_has_the_same_initial_cluster() {
        let (m, o) = lesson();
        let ic = |i: usize| {
            flags(&m[i], &m, &o)
                .unwrap()
                .into_iter()
                .find(|f| f.starts_with("--initial-cluster="))
        };
        assert_eq!(ic(0), ic(2));
    }

    #[test]
    fn bad_members_are_refused() {
        let (mut m, o) = lesson();
        let stranger = Member {
            name: "master-9".into(),
            ip: "172.31.0.19".into(),
        };
        assert!(
            flags(&stranger, &m, &o)
                .unwrap_err()
                .message
                .contains("not one of")
        );
        m[2].ip = "172.31.0.10".into();
        assert!(check_members(&m).unwrap_err().message.contains("twice"));
        m[2].ip = "".into();
        assert!(check_members(&m).unwrap_err().message.contains("IPv4"));
        assert!(check_members(&[]).is_err());
        let (m, mut o) = lesson();
        o.ca_file = "ca.pem".into();
        assert!(
            flags(&m[0], &m, &o)
                .unwrap_err()
                .message
                .contains("absolute")
        );
    }
}
