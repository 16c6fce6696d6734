//! Settings validation: what each setting groundup knows may hold, checked
//! before any AWS call. Where the nodes go is checked on the evaluated
//! node layout instead (`crate::layout::check`).

use std::collections::BTreeSet;

use super::{Settings, rules};
use crate::error::Result;
use crate::net::cidr;

impl Settings {
    /// Checks every setting whose meaning groundup knows. Runs before any
    /// AWS call; the first problem is returned naming the setting and value.
    pub fn validate(&self) -> Result<()> {
        let keys: BTreeSet<&str> = self.items.iter().map(|s| s.key.as_str()).collect();
        let has = |k: &str| keys.contains(k);

        // Names AWS will accept: a load balancer / target group name is at
        // most 32 characters of letters, digits and hyphens.
        if has("name") {
            let n = self.str("name");
            let ok = !n.is_empty()
                && n.len() <= 32
                && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !n.starts_with('-')
                && !n.ends_with('-');
            if !ok {
                return Err(self.bad(
                    "name",
                    "a cluster name is 1-32 letters, digits and hyphens, not starting or ending with a hyphen (it names the load balancer)",
                ));
            }
        }
        if has("region") {
            let r = self.str("region");
            if !valid_region(&r) {
                return Err(self
                    .bad("region", "not an AWS region name")
                    .with_help("regions look like us-east-2, eu-west-1, ap-southeast-2"));
            }
        }
        // Every *_cidr setting must be a valid IPv4 block.
        for s in &self.items {
            if s.key.ends_with("_cidr")
                && s.value.is_string()
                && let Err(e) = cidr::parse(&s.value.to_string())
            {
                return Err(self.bad(&s.key, e));
            }
        }
        if has("vpc_cidr") {
            let vpc = cidr::parse(&self.str("vpc_cidr")).map_err(|e| self.bad("vpc_cidr", e))?;
            if !(16..=28).contains(&vpc.prefix_len()) {
                return Err(self.bad("vpc_cidr", "AWS VPCs are between /16 and /28"));
            }
            if has("subnet_cidr") {
                let sub = self.str("subnet_cidr");
                if !cidr::contains(&self.str("vpc_cidr"), &sub).unwrap_or(false) {
                    return Err(self.bad(
                        "subnet_cidr",
                        format!("the subnet is not inside vpc_cidr {vpc}"),
                    ));
                }
                if cidr::aws_usable_hosts(&sub).is_err() {
                    return Err(self.bad("subnet_cidr", "AWS subnets are between /16 and /28"));
                }
            }
            for k in ["pod_cidr", "service_cidr"] {
                if has(k) && cidr::overlaps(&self.str("vpc_cidr"), &self.str(k)).unwrap_or(false) {
                    return Err(self.bad(k, format!("overlaps vpc_cidr {vpc}")));
                }
            }
        }
        if has("pod_cidr")
            && has("service_cidr")
            && cidr::overlaps(&self.str("pod_cidr"), &self.str("service_cidr")).unwrap_or(false)
        {
            return Err(self.bad(
                "service_cidr",
                format!("overlaps pod_cidr {}", self.str("pod_cidr")),
            ));
        }
        if has("cluster_dns") && has("service_cidr") {
            let dns = self.str("cluster_dns");
            cidr::parse_ip(&dns).map_err(|e| self.bad("cluster_dns", e))?;
            if !cidr::contains(&self.str("service_cidr"), &dns).unwrap_or(false) {
                return Err(self.bad(
                    "cluster_dns",
                    format!(
                        "the cluster DNS address must be inside service_cidr {} (the lesson's 10.32.0.10 is not)",
                        self.str("service_cidr")
                    ),
                ));
            }
        }
        // Counts. Where the nodes go (inside the subnet, one address each,
        // at least one master) is checked on the evaluated layout of
        // stdlib/nodes.rhai: crate::layout::check.
        for k in ["masters", "workers"] {
            if has(k) && self.int(k) < 0 {
                return Err(self.bad(k, "a count cannot be negative"));
            }
        }
        if has("pod_cidr") && has("pod_cidr_prefix") {
            let base = cidr::parse(&self.str("pod_cidr")).map_err(|e| self.bad("pod_cidr", e))?;
            let p = self.int("pod_cidr_prefix");
            if p < base.prefix_len() as i64 || p > 28 {
                return Err(self.bad(
                    "pod_cidr_prefix",
                    format!(
                        "must be between /{} (pod_cidr's own) and /28",
                        base.prefix_len()
                    ),
                ));
            }
        }
        for k in [
            "api_port",
            "etcd_client_port",
            "etcd_peer_port",
            "nodeport_from",
            "nodeport_to",
        ] {
            if has(k) && !(1..=65535).contains(&self.int(k)) {
                return Err(self.bad(k, "a port is 1-65535"));
            }
        }
        if has("nodeport_from")
            && has("nodeport_to")
            && self.int("nodeport_from") > self.int("nodeport_to")
        {
            return Err(self.bad("nodeport_to", "must not be below nodeport_from"));
        }
        if has("instance_type") {
            let t = self.str("instance_type");
            let ok = t.split_once('.').is_some_and(|(a, b)| {
                !a.is_empty()
                    && !b.is_empty()
                    && a.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                    && b.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            });
            if !ok {
                return Err(self.bad(
                    "instance_type",
                    "instance types look like t2.micro or m5.large",
                ));
            }
        }
        if has("image_id") {
            let id = self.str("image_id");
            let is_ami = id
                .strip_prefix("ami-")
                .is_some_and(|hex| !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit()));
            if !id.is_empty() && !is_ami {
                return Err(self.bad(
                    "image_id",
                    "an AMI id looks like ami-0abc1234 (or leave it empty to look one up)",
                ));
            }
        }
        for (k, lo, hi) in [
            ("launch_concurrency", 1, 64),
            ("wait_timeout_secs", 1, 3600),
            ("aws_max_attempts", 1, 20),
            ("ssh_boot_timeout_secs", 0, 3600),
            ("ssh_concurrency", 1, 64),
            ("ca_validity_days", 1, 36500),
            ("cert_validity_days", 1, 36500),
            ("etcd_timeout_secs", 1, 3600),
        ] {
            if has(k) && !(lo..=hi).contains(&self.int(k)) {
                return Err(self.bad(k, format!("must be between {lo} and {hi}")));
            }
        }
        if has("key_algorithm") {
            let a = self.str("key_algorithm");
            if !["rsa-2048", "rsa-3072", "rsa-4096", "ecdsa-p256"].contains(&a.as_str()) {
                return Err(self.bad(
                    "key_algorithm",
                    "expected one of rsa-2048, rsa-3072, rsa-4096, ecdsa-p256",
                ));
            }
        }
        if has("ssh_address") {
            let a = self.str("ssh_address");
            if rules::AddressChoice::parse(&a).is_none() {
                return Err(self.bad("ssh_address", "expected public or private"));
            }
        }
        if has("ssh_user")
            && let Err(why) = rules::check_account("user", &self.str("ssh_user"))
        {
            return Err(self.bad("ssh_user", why));
        }
        if has("etcd_version")
            && let Err(why) = rules::check_version(&self.str("etcd_version"))
        {
            return Err(self.bad("etcd_version", why));
        }
        if has("etcd_release_url")
            && let Err(why) = rules::check_url(&self.str("etcd_release_url"))
        {
            return Err(self.bad("etcd_release_url", why));
        }
        if has("aws_retry_mode") {
            let m = self.str("aws_retry_mode");
            if m != "standard" && m != "adaptive" {
                return Err(self.bad("aws_retry_mode", "expected standard or adaptive"));
            }
        }
        Ok(())
    }

    /// How many pod ranges (`/pod_cidr_prefix` blocks of `pod_cidr`) there
    /// are, one per worker; `None` when the settings do not say (after
    /// [`Settings::validate`] they do).
    pub fn pod_ranges(&self) -> Option<i64> {
        let base = cidr::parse(&self.get("pod_cidr")?.to_string()).ok()?;
        let p = self.get("pod_cidr_prefix")?.as_int().ok()?;
        Some(1i64 << (p - base.prefix_len() as i64).clamp(0, 40))
    }

    /// Checks that every worker gets a pod range. Runs after the node
    /// layout's own check (`crate::layout::check`), whose message says how
    /// many workers the subnet has room for.
    pub fn check_pod_ranges(&self) -> Result<()> {
        if let (Some(room), Some(w)) = (self.pod_ranges(), self.get("workers")) {
            let w = w.as_int().unwrap_or(0);
            if w > room {
                return Err(self.bad(
                    "workers",
                    format!(
                        "pod_cidr {} holds only {room} /{} pod ranges",
                        self.str("pod_cidr"),
                        self.int("pod_cidr_prefix")
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Warnings worth printing before a run (e.g. world-open admin access).
    pub fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        if self.str("admin_cidr") == "0.0.0.0/0" {
            w.push(
                "admin_cidr is 0.0.0.0/0 (the lesson's default): SSH and the Kubernetes API (6443) are open to the whole internet; narrow it with --set admin_cidr=<your-ip>/32".into(),
            );
        }
        w
    }
}

/// Whether `r` looks like an AWS region (`us-east-2`, `us-gov-west-1`).
pub fn valid_region(r: &str) -> bool {
    let parts: Vec<&str> = r.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts[0].chars().all(|c| c.is_ascii_lowercase())
        && parts[1..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
        && parts[parts.len() - 1].chars().all(|c| c.is_ascii_digit())
        && !parts[parts.len() - 1].is_empty()
}
