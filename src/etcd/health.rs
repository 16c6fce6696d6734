//! The cluster's health as `etcdctl` reports it: `endpoint health -w json`
//! and `member list -w json` (etcd 3.4's shapes), checked against the
//! members the layout says there should be.

use serde::{Deserialize, Serialize};

use super::flags::{Member, Options};
use crate::error::{Error, Result};

/// One line of `etcdctl endpoint health -w json`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct EndpointHealth {
    /// `https://172.31.0.10:2379`.
    pub endpoint: String,
    /// Whether it answered a quorum read.
    pub health: bool,
    /// How long it took (`3.1ms`).
    #[serde(default)]
    pub took: String,
    /// Why not, when unhealthy.
    #[serde(default)]
    pub error: String,
}

/// One member of `etcdctl member list -w json`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct ListedMember {
    /// The member ID.
    #[serde(rename = "ID", default)]
    pub id: u64,
    /// Its name; empty for a member added but never started.
    #[serde(default)]
    pub name: String,
    /// Its peer URLs.
    #[serde(rename = "peerURLs", default)]
    pub peer_urls: Vec<String>,
    /// Its client URLs.
    #[serde(rename = "clientURLs", default)]
    pub client_urls: Vec<String>,
}

#[derive(Deserialize)]
struct MemberList {
    #[serde(default)]
    members: Vec<ListedMember>,
}

/// The health of one expected member.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MemberHealth {
    /// `master-0`.
    pub name: String,
    /// Its client URL.
    pub endpoint: String,
    /// Healthy and in the member list under its name and peer URL.
    pub healthy: bool,
    /// How long the health check took (`3.1ms`).
    pub took: String,
    /// What is wrong, empty when healthy.
    pub error: String,
}

/// The whole cluster's health.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Health {
    /// One entry per expected member, in the layout's order.
    pub members: Vec<MemberHealth>,
    /// Whether the member list names exactly the expected members.
    pub member_list_ok: bool,
    /// What the member list says instead, when it is not ok.
    pub member_list_problem: String,
}

impl Health {
    /// Every member healthy and the member list as expected.
    pub fn ok(&self) -> bool {
        self.member_list_ok && self.members.iter().all(|m| m.healthy)
    }
    /// The named member's health.
    pub fn member(&self, name: &str) -> Option<&MemberHealth> {
        self.members.iter().find(|m| m.name == name)
    }
    /// One line per problem, for errors.
    pub fn problems(&self) -> Vec<String> {
        let mut p: Vec<String> = self
            .members
            .iter()
            .filter(|m| !m.healthy)
            .map(|m| format!("{} ({}): {}", m.name, m.endpoint, m.error))
            .collect();
        if !self.member_list_ok {
            p.push(format!("member list: {}", self.member_list_problem));
        }
        p
    }
}

/// Parses `endpoint health -w json`.
pub fn parse_endpoint_health(json: &str) -> Result<Vec<EndpointHealth>> {
    serde_json::from_str(json.trim()).map_err(|e| {
        Error::script(format!(
            "etcdctl endpoint health: unexpected output ({e}): {}",
            json.trim().chars().take(200).collect::<String>()
        ))
    })
}

/// Parses `member list -w json`.
pub fn parse_member_list(json: &str) -> Result<Vec<ListedMember>> {
    serde_json::from_str::<MemberList>(json.trim())
        .map(|l| l.members)
        .map_err(|e| {
            Error::script(format!(
                "etcdctl member list: unexpected output ({e}): {}",
                json.trim().chars().take(200).collect::<String>()
            ))
        })
}

/// Checks what etcdctl said against the expected members. `endpoints`
/// may lack a member (its check could not run); `listed` is `None` when
/// the member list could not be read (`why` says why).
pub fn assess(
    expected: &[Member],
    o: &Options,
    endpoints: &[EndpointHealth],
    listed: std::result::Result<&[ListedMember], &str>,
) -> Health {
    let (member_list_ok, member_list_problem) = match listed {
        Err(why) => (false, why.to_string()),
        Ok(listed) => compare_members(expected, o, listed),
    };
    let members = expected
        .iter()
        .map(|m| {
            let endpoint = o.client_url(m);
            let in_list = listed.is_ok_and(|l| {
                l.iter()
                    .any(|x| x.name == m.name && x.peer_urls.contains(&o.peer_url(m)))
            });
            match endpoints.iter().find(|e| e.endpoint == endpoint) {
                Some(e) if e.health && in_list => MemberHealth {
                    name: m.name.clone(),
                    endpoint,
                    healthy: true,
                    took: e.took.clone(),
                    error: String::new(),
                },
                Some(e) => MemberHealth {
                    name: m.name.clone(),
                    endpoint,
                    healthy: false,
                    took: e.took.clone(),
                    error: if !e.health {
                        if e.error.is_empty() {
                            "unhealthy".into()
                        } else {
                            e.error.clone()
                        }
                    } else {
                        "healthy, but not in the member list under its name and peer URL".into()
                    },
                },
                None => MemberHealth {
                    name: m.name.clone(),
                    endpoint,
                    healthy: false,
                    took: String::new(),
                    error: "not checked (no answer)".into(),
                },
            }
        })
        .collect();
    Health {
        members,
        member_list_ok,
        member_list_problem,
    }
}

/// Whether the member list names exactly the expected members with their
/// peer URLs; if not, what differs.
fn compare_members(expected: &[Member], o: &Options, listed: &[ListedMember]) -> (bool, String) {
    let mut problems = Vec::new();
    for m in expected {
        let peer = o.peer_url(m);
        if !listed
            .iter()
            .any(|x| x.name == m.name && x.peer_urls.contains(&peer))
        {
            problems.push(format!("{} ({peer}) missing", m.name));
        }
    }
    for x in listed {
        let known = expected
            .iter()
            .any(|m| x.name == m.name && x.peer_urls.contains(&o.peer_url(m)));
        if !known {
            let name = if x.name.is_empty() {
                "(unstarted)"
            } else {
                &x.name
            };
            problems.push(format!(
                "unexpected member {name} {} (id {:x})",
                x.peer_urls.join(","),
                x.id
            ));
        }
    }
    (problems.is_empty(), problems.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::etcd::flags::lesson;

    // Real etcdctl 3.4.23 output (one member down).
    const HEALTH: &str = r#"[{"endpoint":"https://172.31.0.10:2379","health":true,"took":"3.127735ms"},{"endpoint":"https://172.31.0.11:2379","health":true,"took":"4.2ms"},{"endpoint":"https://172.31.0.12:2379","health":false,"took":"1.001489776s","error":"context deadline exceeded"}]"#;

    fn list(n: usize) -> String {
        let members: Vec<String> = (0..n)
            .map(|i| format!(r#"{{"ID":{},"name":"master-{i}","peerURLs":["https://172.31.0.1{i}:2380"],"clientURLs":["https://172.31.0.1{i}:2379"]}}"#, 13319814642761637952u64 - i as u64))
            .collect();
        format!(
            r#"{{"header":{{"cluster_id":324952591200643719,"member_id":3319814642761637952,"raft_term":2}},"members":[{}]}}"#,
            members.join(",")
        )
    }

    #[test]
    fn one_member_down() {
        let (m, o) = lesson();
        let eps = parse_endpoint_health(HEALTH).unwrap();
        let listed = parse_member_list(&list(3)).unwrap();
        assert_eq!(listed[0].id, 13319814642761637952);
        let h = assess(&m, &o, &eps, Ok(&listed));
        assert!(!h.ok());
        assert!(h.member_list_ok);
        assert!(h.member("master-0").unwrap().healthy);
        let down = h.member("master-2").unwrap();
        assert!(!down.healthy);
        assert_eq!(down.error, "context deadline exceeded");
        assert_eq!(h.problems().len(), 1);
    }

    #[test]
    fn all_healthy_needs_the_exact_member_list() {
        let (m, o) = lesson();
        let eps = parse_endpoint_health(&HEALTH.replace(r#""health":false"#, r#""health":true"#))
            .unwrap();
        let full = parse_member_list(&list(3)).unwrap();
        assert!(assess(&m, &o, &eps, Ok(&full)).ok());
        // A member that never started (added, no name) is extra.
        let mut extra = full.clone();
        extra.push(ListedMember {
            id: 0xabc,
            name: String::new(),
            peer_urls: vec!["https://172.31.0.13:2380".into()],
            client_urls: vec![],
        });
        let h = assess(&m, &o, &eps, Ok(&extra));
        assert!(!h.ok());
        assert!(
            h.member_list_problem
                .contains("unexpected member (unstarted) https://172.31.0.13:2380 (id abc)")
        );
        // Two members only: the third is missing, and so not healthy.
        let short = parse_member_list(&list(2)).unwrap();
        let h = assess(&m, &o, &eps, Ok(&short));
        assert!(
            h.member_list_problem
                .contains("master-2 (https://172.31.0.12:2380) missing")
        );
        assert!(!h.member("master-2").unwrap().healthy);
        // Unreadable list.
        let h = assess(&m, &o, &eps, Err("no member answered"));
        assert!(
            !h.ok()
                && h.problems()
                    .iter()
                    .any(|p| p.contains("no member answered"))
        );
    }

    #[test]
    fn missing_endpoints_and_bad_output() {
        let (m, o) = lesson();
        let h = assess(&m, &o, &[], Ok(&[]));
        assert_eq!(
            h.member("master-1").unwrap().error,
            "not checked (no answer)"
        );
        assert!(parse_endpoint_health("Error: unhealthy cluster").is_err());
        assert!(
            parse_member_list("")
                .unwrap_err()
                .message
                .contains("member list")
        );
    }
}
