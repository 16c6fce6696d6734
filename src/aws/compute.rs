//! The lesson's compute: the node image, the SSH key pair and the nodes,
//! launched concurrently with a bounded pool, waited for, and recorded in
//! state as each becomes known.  Find-or-create like the network: nodes are
//! found by their `groundup:cluster` and `groundup:node` tags, so a re-run
//! launches only what is missing.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use aws_sdk_ec2::primitives::Blob;
use aws_sdk_ec2::types::{
    AttributeBooleanValue, Filter, InstanceNetworkInterfaceSpecification, InstanceType,
    ResourceType, Tag, TagSpecification,
};
use base64::Engine as _;
use serde_json::json;
use tokio::sync::Semaphore;

use super::network::{cluster_filter, filter, tag_spec, tags_json};
use super::once::{Failure, create_once, ec2_no_retry, failed, max_attempts, one_or_none};
use super::types::*;
use super::{aws_error, code_of};
use crate::error::{Error, Kind, Result};
use crate::host::{CLUSTER_TAG, Host, ROLE_TAG};
use crate::net::cidr;

/// The tag naming a node (`master-0`): how nodes are found again.
pub const NODE_TAG: &str = "groundup:node";

/// Finds the newest image owned by `owner` whose name matches the first
/// pattern (in order) that matches anything; x86_64, EBS root. One call.
pub async fn find_image(host: &Host, owner: &str, patterns: &[String]) -> Result<Image> {
    if !host.can_read() {
        let id = host
            .plan
            .as_ref()
            .map(|p| {
                p.record(
                    "DescribeImages",
                    "ami",
                    json!({"Owners": [owner], "Names": patterns}),
                )
            })
            .unwrap_or_default();
        return Ok(Image {
            id,
            name: patterns.first().cloned().unwrap_or_default(),
            creation_date: String::new(),
            owner: owner.into(),
        });
    }
    let ec2 = &host.aws().await?.ec2;
    let out = ec2
        .describe_images()
        .owners(owner)
        .filters(
            Filter::builder()
                .name("name")
                .set_values(Some(patterns.to_vec()))
                .build(),
        )
        .filters(filter("architecture", "x86_64"))
        .filters(filter("root-device-type", "ebs"))
        .send()
        .await
        .map_err(|e| aws_error("DescribeImages", e))?;
    for p in patterns {
        let mut matching: Vec<_> = out
            .images()
            .iter()
            .filter(|i| glob_match(p, i.name().unwrap_or_default()))
            .collect();
        matching.sort_by_key(|i| i.creation_date().unwrap_or_default().to_string());
        if let Some(i) = matching.last() {
            return Ok(Image {
                id: i.image_id().unwrap_or_default().into(),
                name: i.name().unwrap_or_default().into(),
                creation_date: i.creation_date().unwrap_or_default().into(),
                owner: i.owner_id().unwrap_or(owner).into(),
            });
        }
    }
    Err(Error::new(
        Kind::Aws,
        format!(
            "no image owned by {owner} (x86_64, EBS) in {} matches any of: {}",
            host.region,
            patterns.join(", ")
        ),
    )
    .with_help("set `image_id` to pin an AMI, or change `image_names` (see `groundup settings`)"))
}

/// Looks up a pinned image by ID (fails clearly if it does not exist).
pub async fn get_image(host: &Host, id: &str) -> Result<Image> {
    if !host.can_read() {
        return Ok(Image {
            id: id.into(),
            name: "(pinned)".into(),
            creation_date: String::new(),
            owner: String::new(),
        });
    }
    let ec2 = &host.aws().await?.ec2;
    let out = ec2
        .describe_images()
        .image_ids(id)
        .send()
        .await
        .map_err(|e| aws_error("DescribeImages", e))?;
    let Some(i) = out.images().first() else {
        return Err(Error::aws(
            "DescribeImages",
            "InvalidAMIID.NotFound",
            &format!("image {id} does not exist in {}", host.region),
        )
        .with_help("fix `image_id`, or set it empty to look an image up"));
    };
    Ok(Image {
        id: id.into(),
        name: i.name().unwrap_or_default().into(),
        creation_date: i.creation_date().unwrap_or_default().into(),
        owner: i.owner_id().unwrap_or_default().into(),
    })
}

/// `*` matches any run of characters (the EC2 name filter's wildcard).
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let mut rest = text;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(pos) => rest = &rest[pos + part.len()..],
                None => return false,
            }
        }
    }
    true
}

/// The private key file of the cluster's key pair.
pub fn key_path(host: &Host, name: &str) -> PathBuf {
    host.state()
        .dir()
        .join("ssh")
        .join(format!("{name}.id_rsa"))
}

/// An RSA private key's public half, read from PEM (PKCS#1 as AWS returns
/// it, or PKCS#8).
fn rsa_public(private_pem: &str) -> std::result::Result<aws_lc_rs::rsa::PublicKey, String> {
    let p = pem::parse(private_pem).map_err(|_| "the file is not a PEM private key".to_string())?;
    let kp = match p.tag() {
        "RSA PRIVATE KEY" => aws_lc_rs::rsa::KeyPair::from_der(p.contents()),
        "PRIVATE KEY" => aws_lc_rs::rsa::KeyPair::from_pkcs8(p.contents()),
        other => return Err(format!("unsupported key type `{other}` (RSA expected)")),
    }
    .map_err(|e| format!("not a usable RSA key: {e}"))?;
    use aws_lc_rs::signature::KeyPair as _;
    Ok(kp.public_key().clone())
}

/// The OpenSSH public key (`ssh-rsa AAAA…`) of an RSA private key in PEM
/// (PKCS#1 as AWS returns it, or PKCS#8), encoded by the `ssh-key` crate.
pub fn openssh_public_key(private_pem: &str) -> std::result::Result<String, String> {
    let pk = rsa_public(private_pem)?;
    let mpint = |b: &[u8]| {
        ssh_key::Mpint::from_positive_bytes(b).map_err(|e| format!("cannot encode the key: {e}"))
    };
    let rsa = ssh_key::public::RsaPublicKey {
        e: mpint(pk.exponent().big_endian_without_leading_zero())?,
        n: mpint(pk.modulus().big_endian_without_leading_zero())?,
    };
    ssh_key::PublicKey::new(ssh_key::public::KeyData::Rsa(rsa), "")
        .to_openssh()
        .map(|s| s.trim_end().to_string())
        .map_err(|e| format!("cannot encode the key: {e}"))
}

/// The fingerprint EC2 shows for an *imported* RSA key pair: the MD5 of the
/// public key's DER (SubjectPublicKeyInfo), as colon-separated hex (what
/// `openssl pkey -pubout -outform DER | openssl md5 -c` prints).
pub fn imported_fingerprint(private_pem: &str) -> std::result::Result<String, String> {
    use aws_lc_rs::encoding::AsDer as _;
    use md5::Digest as _;
    let pk = rsa_public(private_pem)?;
    let der = pk
        .as_der()
        .map_err(|_| "cannot encode the public key".to_string())?;
    let sum = md5::Md5::digest(der.as_ref());
    Ok(sum
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":"))
}

/// What to do about the key pair, from what exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyStep {
    /// Both exist and are the same key: reuse.
    Reuse,
    /// Only the file exists: import its public half.
    Import,
    /// Neither exists: make a key, write the file, then import.
    Create,
    /// AWS has a key pair of that name, but not this file's key.
    Mismatch,
    /// AWS has it and the file is gone: AWS never hands a private key out
    /// again.
    Stranded,
}

/// The decision: `file_fp` is the file's fingerprint (None: no file),
/// `aws_fp` the key pair's in AWS (None: no key pair; Some("") when AWS
/// shows none).
pub fn key_step(file_fp: Option<&str>, aws_fp: Option<&str>) -> KeyStep {
    match (file_fp, aws_fp) {
        (None, None) => KeyStep::Create,
        (None, Some(_)) => KeyStep::Stranded,
        (Some(_), None) => KeyStep::Import,
        (Some(_), Some("")) => KeyStep::Reuse,
        (Some(f), Some(a)) if f.eq_ignore_ascii_case(a.trim()) => KeyStep::Reuse,
        (Some(_), Some(_)) => KeyStep::Mismatch,
    }
}

/// The key pair `name` in AWS: `Some(fingerprint)` (empty when AWS shows
/// none), `None` when there is no such key pair.
async fn aws_key_fingerprint(host: &Host, name: &str) -> Result<Option<String>> {
    let ec2 = &host.aws().await?.ec2;
    match ec2.describe_key_pairs().key_names(name).send().await {
        Ok(out) => Ok(out
            .key_pairs()
            .first()
            .map(|k| k.key_fingerprint().unwrap_or_default().to_string())),
        Err(e) if code_of(&e).as_deref() == Some("InvalidKeyPair.NotFound") => Ok(None),
        Err(e) => Err(aws_error("DescribeKeyPairs", e)),
    }
}

/// Finds or creates the key pair `name`, keeping its private key in
/// `<state-dir>/<cluster>/ssh/<name>.id_rsa` (mode 0400, never printed,
/// never overwritten, never deleted). The cases ([`key_step`]): both exist
/// with the same fingerprint → reuse; only AWS has it → error (AWS never
/// returns a private key twice); only the file exists → import its public
/// key; neither → make a key, write the file, import its public half. An
/// import whose answer was lost is confirmed by a look-up comparing the
/// fingerprint, then or on the next run.
pub async fn ensure_key_pair(host: &Host, name: &str) -> Result<KeyPair> {
    let path = key_path(host, name);
    let shown = path.display().to_string();
    let file_exists = path.exists();
    if host.planning() && !host.can_read() {
        let status = if file_exists { REUSED } else { PLANNED };
        if !file_exists && let Some(p) = &host.plan {
            p.record("ImportKeyPair", "", json!({"KeyName": name, "KeyType": "rsa", "Tags": tags_json(host, name), "PrivateKeyFile": shown}));
        }
        return Ok(KeyPair {
            name: name.into(),
            fingerprint: String::new(),
            path: shown,
            status: status.into(),
        });
    }
    let bad_file = |why: String| {
        Error::new(Kind::Io, format!("{shown}: {why}"))
            .with_help("move the file away to let groundup create a new key pair")
    };
    let local = if file_exists {
        let pem = std::fs::read_to_string(&path)
            .map_err(|e| Error::io(format!("cannot read the private key {shown}"), e))?;
        let fp = imported_fingerprint(&pem).map_err(bad_file)?;
        Some((pem, fp))
    } else {
        None
    };
    // Asked even when there is no file: a key pair AWS has without its
    // file must be found before a new key is written (a private key file,
    // once written, is never deleted).
    let aws_fp = aws_key_fingerprint(host, name).await?;
    let step = key_step(local.as_ref().map(|(_, f)| f.as_str()), aws_fp.as_deref());
    match step {
        KeyStep::Reuse => {
            let fp = aws_fp.unwrap_or_default();
            host.event("key-pair", name, REUSED);
            return Ok(KeyPair {
                name: name.into(),
                fingerprint: fp,
                path: shown,
                status: REUSED.into(),
            });
        }
        KeyStep::Stranded => return Err(key_without_file(name, &shown)),
        KeyStep::Mismatch => {
            return Err(key_mismatch(
                name,
                &shown,
                local.as_ref().map(|(_, f)| f.as_str()).unwrap_or_default(),
                aws_fp.as_deref().unwrap_or_default(),
            ));
        }
        KeyStep::Import | KeyStep::Create => {}
    }
    let (pem, status) = match local {
        Some((pem, _)) => (pem, crate::outcome::Outcome::Imported),
        None => {
            if let Some(p) = &host.plan {
                p.record("ImportKeyPair", "", json!({"KeyName": name, "KeyType": "rsa", "Tags": tags_json(host, name), "PrivateKeyFile": shown}));
                return Ok(KeyPair {
                    name: name.into(),
                    fingerprint: String::new(),
                    path: shown,
                    status: PLANNED.into(),
                });
            }
            // The key is made here and only its public half is imported:
            // the private key is on disk (0400) before AWS knows the key
            // pair, so a crash at any point loses nothing (AWS's
            // CreateKeyPair returns the private key once; a crash before it
            // is saved would strand the key pair). A key generated ahead on
            // a background thread (see `Host::prefetch_ssh_key`), else one
            // made now.
            let private_pem = match host.take_ssh_key() {
                Some(pem) => pem,
                None => rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256)
                    .map_err(|e| Error::new(Kind::Io, format!("cannot generate an RSA key: {e}")))?
                    .serialize_pem(),
            };
            write_private_key(&path, private_pem.as_bytes())?;
            (private_pem, CREATED)
        }
    };
    let public = openssh_public_key(&pem).map_err(bad_file)?;
    let want_fp = imported_fingerprint(&pem).map_err(bad_file)?;
    drop(pem);
    if let Some(p) = &host.plan {
        p.record(
            "ImportKeyPair",
            "",
            json!({"KeyName": name, "PublicKeyFrom": shown}),
        );
        return Ok(KeyPair {
            name: name.into(),
            fingerprint: String::new(),
            path: shown,
            status: PLANNED.into(),
        });
    }
    let ec2 = &host.aws().await?.ec2;
    // The private key file stays whatever happens from here on: an import
    // whose answer was lost (or a duplicate name) is settled by comparing
    // fingerprints, now or on the next run.
    let fp = create_once(
        max_attempts(host),
        || async {
            let out = ec2
                .import_key_pair()
                .key_name(name)
                .public_key_material(Blob::new(public.clone().into_bytes()))
                .tag_specifications(tag_spec(host, ResourceType::KeyPair, name))
                .customize()
                .config_override(ec2_no_retry())
                .send()
                .await
                .map_err(|e| failed("ImportKeyPair", e))?;
            Ok(out.key_fingerprint().unwrap_or_default().to_string())
        },
        || aws_key_fingerprint(host, name),
    )
    .await?
    .into_inner();
    if key_step(Some(&want_fp), Some(&fp)) == KeyStep::Mismatch {
        return Err(key_mismatch(name, &shown, &want_fp, &fp));
    }
    host.event("key-pair", name, status);
    Ok(KeyPair {
        name: name.into(),
        fingerprint: fp,
        path: shown,
        status: status.into(),
    })
}

fn key_mismatch(name: &str, shown: &str, file_fp: &str, aws_fp: &str) -> Error {
    Error::new(
        Kind::Aws,
        format!(
            "key pair `{name}` in AWS (fingerprint {aws_fp}) is not the key in {shown} (fingerprint {file_fp})"
        ),
    )
    .with_help(format!(
        "someone made another key pair of that name. Delete it (`aws ec2 delete-key-pair --key-name {name}`) so groundup imports this file's key, or move the file away if the key pair's private key is elsewhere"
    ))
}

fn key_without_file(name: &str, shown: &str) -> Error {
    Error::new(
        Kind::Aws,
        format!("key pair `{name}` exists in AWS but its private key file {shown} is missing"),
    )
    .with_help(format!(
        "AWS hands out a private key only once. Restore the file, or delete the key pair (`aws ec2 delete-key-pair --key-name {name}`, or `groundup down`) so groundup makes a new one"
    ))
}

/// Writes an SSH private key: mode 0400 from the first byte, never over an
/// existing file.
pub fn write_private_key(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        crate::state::create_private_dir(dir)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o400)
        .open(path)
        .map_err(|e| {
            Error::io(
                format!("cannot create the private key file {}", path.display()),
                e,
            )
        })?;
    f.write_all(bytes).and_then(|_| f.sync_all()).map_err(|e| {
        Error::io(
            format!("cannot write the private key file {}", path.display()),
            e,
        )
    })
}

/// One node to launch.
#[derive(Debug, Clone)]
pub struct NodeSpec {
    /// `master-0`.
    pub name: String,
    /// `master` or `worker`.
    pub role: String,
    /// Index within the role.
    pub index: i64,
    /// Its fixed private IP.
    pub private_ip: String,
    /// Its user data (plain text; base64-encoded for AWS).
    pub user_data: String,
    /// Its pod CIDR (workers).
    pub pod_cidr: String,
    /// Whether EC2 drops traffic not addressed to or from the node (AWS's
    /// default). Off for a node that forwards its pods' traffic (the route
    /// table sends a pod range to it); EC2 can only turn it off after launch.
    pub source_dest_check: bool,
}

impl NodeSpec {
    /// The source/destination check a node gets when its map does not say:
    /// on (AWS's default), off for a node with a pod range (it forwards its
    /// pods' traffic).
    pub fn default_source_dest_check(pod_cidr: &str) -> bool {
        pod_cidr.is_empty()
    }
}

/// Where and how nodes are launched.
#[derive(Debug, Clone)]
pub struct Placement {
    /// Subnet.
    pub subnet_id: String,
    /// Security group.
    pub security_group_id: String,
    /// Key pair name.
    pub key_name: String,
    /// AMI.
    pub image_id: String,
    /// Instance type.
    pub instance_type: String,
    /// How many launches at once.
    pub concurrency: usize,
}

fn instance_from(
    i: &aws_sdk_ec2::types::Instance,
    spec: Option<&NodeSpec>,
    status: &str,
) -> Instance {
    let tags = i.tags();
    let tag = |k: &str| {
        tags.iter()
            .find(|t| t.key() == Some(k))
            .and_then(|t| t.value())
            .unwrap_or_default()
            .to_string()
    };
    let private_ip = i.private_ip_address().unwrap_or_default().to_string();
    let dns = i.private_dns_name().unwrap_or_default();
    let hostname = dns
        .split('.')
        .next()
        .filter(|h| !h.is_empty())
        .map(str::to_string)
        .or_else(|| cidr::ec2_hostname(&private_ip).ok())
        .unwrap_or_default();
    let name = spec
        .map(|s| s.name.clone())
        .unwrap_or_else(|| tag(NODE_TAG));
    Instance {
        id: i.instance_id().unwrap_or_default().into(),
        role: spec
            .map(|s| s.role.clone())
            .unwrap_or_else(|| tag(ROLE_TAG)),
        index: spec.map(|s| s.index).unwrap_or_else(|| {
            name.rsplit('-')
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(0)
        }),
        name,
        private_ip,
        public_ip: i.public_ip_address().unwrap_or_default().into(),
        hostname,
        pod_cidr: spec.map(|s| s.pod_cidr.clone()).unwrap_or_default(),
        state: i
            .state()
            .and_then(|s| s.name())
            .map(|n| n.as_str().to_string())
            .unwrap_or_default(),
        instance_type: i
            .instance_type()
            .map(|t| t.as_str().to_string())
            .unwrap_or_default(),
        status: status.into(),
    }
}

/// Records a node in state (`nodes.<name>`).
pub fn remember_node(host: &Host, n: &Instance) -> Result<()> {
    host.state().set_in("nodes", &n.name, node_record(host, n))
}

/// A node's record in state (`nodes.<name>`).
fn node_record(host: &Host, n: &Instance) -> serde_json::Value {
    let private_dns = if n.hostname.is_empty() {
        String::new()
    } else {
        format!("{}.{}", n.hostname, super::internal_domain(&host.region))
    };
    json!({
        "instance_id": n.id,
        "role": n.role,
        "index": n.index,
        "private_ip": n.private_ip,
        "public_ip": n.public_ip,
        "hostname": n.hostname,
        "private_dns": private_dns,
        "pod_cidr": n.pod_cidr,
    })
}

/// Instance states that count as "still there" (not terminated).
pub const LIVE_STATES: &[&str] = &["pending", "running", "stopping", "stopped", "shutting-down"];

/// Every instance carrying the cluster's tag in one of `states`, following
/// every page of DescribeInstances.
pub async fn cluster_instances(
    host: &Host,
    states: &[&str],
) -> Result<Vec<aws_sdk_ec2::types::Instance>> {
    let ec2 = &host.aws().await?.ec2;
    let state_filter = states
        .iter()
        .fold(Filter::builder().name("instance-state-name"), |f, s| {
            f.values(*s)
        })
        .build();
    let mut out = Vec::new();
    let mut pages = ec2
        .describe_instances()
        .filters(cluster_filter(host))
        .filters(state_filter)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws_error("DescribeInstances", e))?;
        for r in page.reservations() {
            out.extend(r.instances().iter().cloned());
        }
    }
    Ok(out)
}

/// Live (not terminated, not shutting down) nodes of the cluster, by node
/// name. Two live instances for one node are an error naming both: `up`
/// never picks one of them silently.
pub async fn existing_nodes(host: &Host) -> Result<HashMap<String, aws_sdk_ec2::types::Instance>> {
    let running = &LIVE_STATES[..4];
    let mut by_node: HashMap<String, Vec<(String, aws_sdk_ec2::types::Instance)>> = HashMap::new();
    for i in cluster_instances(host, running).await? {
        let node = node_of(&i);
        if !node.is_empty() {
            let id = i.instance_id().unwrap_or_default().to_string();
            by_node.entry(node).or_default().push((id, i));
        }
    }
    let mut names: Vec<String> = by_node.keys().cloned().collect();
    names.sort();
    let mut found = HashMap::new();
    for name in names {
        let list = by_node.remove(&name).unwrap_or_default();
        if let Some((_, i)) =
            one_or_none(&format!("instance for node {name}"), &host.cluster, list)?
        {
            found.insert(name, i);
        }
    }
    Ok(found)
}

/// The value of an instance's `groundup:node` tag (empty if none).
pub fn node_of(i: &aws_sdk_ec2::types::Instance) -> String {
    i.tags()
        .iter()
        .find(|t| t.key() == Some(NODE_TAG))
        .and_then(|t| t.value())
        .unwrap_or_default()
        .to_string()
}

/// The live instance of one node, if any (two are an error).
async fn find_node(host: &Host, node: &str) -> Result<Option<aws_sdk_ec2::types::Instance>> {
    Ok(existing_nodes(host).await?.remove(node))
}

/// The `RunInstances` idempotency token of a node: the same for every
/// attempt to launch this node into this subnet (so AWS answers a retry
/// with the instance the first attempt made), another after the subnet is
/// made anew. At most 64 ASCII characters, as EC2 requires.
pub fn client_token(cluster: &str, node: &str, subnet_id: &str) -> String {
    let d = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        format!("{cluster}\n{node}\n{subnet_id}").as_bytes(),
    );
    let hex: String = d.as_ref()[..20]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("groundup-{hex}")
}

/// Launches every node that does not exist yet (bounded concurrency), turns
/// off the source/destination check of the nodes that forward pod traffic,
/// and records each node in state as soon as it is known. Existing nodes are
/// reused (and their source/dest check set as wanted, e.g. if a crash left
/// it on).
pub async fn launch_nodes(
    host: &Host,
    specs: &[NodeSpec],
    place: &Placement,
) -> Result<Vec<Instance>> {
    let mut existing = HashMap::new();
    if host.can_read() && !host.is_fresh(&place.subnet_id) {
        existing = existing_nodes(host).await?;
    }
    let mut result: Vec<Option<Instance>> = vec![None; specs.len()];
    let mut to_launch = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        if let Some(inst) = existing.remove(&spec.name) {
            let have_ip = inst.private_ip_address().unwrap_or_default();
            if have_ip != spec.private_ip {
                return Err(Error::new(
                    Kind::Aws,
                    format!("node {} exists ({}) with private IP {have_ip}, but the runbook wants {}",
                        spec.name,
                        inst.instance_id().unwrap_or_default(),
                        spec.private_ip
                    ),
                )
                .with_help("groundup will not replace a node silently: run `groundup down` first, or pick another --cluster"));
            }
            if inst.source_dest_check() != Some(spec.source_dest_check) && !host.planning() {
                set_source_dest_check(
                    host,
                    inst.instance_id().unwrap_or_default(),
                    spec.source_dest_check,
                )
                .await?;
            }
            let n = instance_from(&inst, Some(spec), REUSED.as_str());
            remember_node(host, &n)?;
            host.event("instance", &n.id, REUSED);
            result[i] = Some(n);
        } else {
            to_launch.push(i);
        }
    }
    for (name, inst) in &existing {
        if !host.output.json {
            eprintln!(
                "warning: node {name} ({}) exists but is not in this runbook's list; it is kept (`groundup down` removes everything)",
                inst.instance_id().unwrap_or_default()
            );
        }
    }
    if let Some(plan) = &host.plan {
        for i in to_launch {
            let s = &specs[i];
            let id = plan.record(
                "RunInstances",
                "i",
                json!({
                    "ImageId": place.image_id, "InstanceType": place.instance_type, "KeyName": place.key_name,
                    "SubnetId": place.subnet_id, "SecurityGroupIds": [place.security_group_id],
                    "PrivateIpAddress": s.private_ip, "AssociatePublicIpAddress": true,
                    "UserData": s.user_data,
                    "Tags": {"Name": format!("{}-{}", host.cluster, s.name), CLUSTER_TAG: host.cluster, ROLE_TAG: s.role, NODE_TAG: s.name},
                }),
            );
            if !s.source_dest_check {
                plan.record(
                    "ModifyInstanceAttribute",
                    "",
                    json!({"InstanceId": id, "SourceDestCheck": false}),
                );
            }
            let n = Instance {
                id,
                name: s.name.clone(),
                role: s.role.clone(),
                index: s.index,
                private_ip: s.private_ip.clone(),
                public_ip: String::new(),
                hostname: cidr::ec2_hostname(&s.private_ip).unwrap_or_default(),
                pod_cidr: s.pod_cidr.clone(),
                state: "planned".into(),
                instance_type: place.instance_type.clone(),
                status: PLANNED.into(),
            };
            let _ = remember_node(host, &n);
            host.event("instance", &n.id, PLANNED);
            result[i] = Some(n);
        }
        return Ok(result.into_iter().flatten().collect());
    }
    let sem = std::sync::Arc::new(Semaphore::new(place.concurrency.max(1)));
    let mut futs = Vec::new();
    for i in to_launch {
        let spec = specs[i].clone();
        let sem = sem.clone();
        futs.push(async move {
            let _permit = sem
                .acquire()
                .await
                .map_err(|e| Error::script(e.to_string()))?;
            let inst = launch_one(host, &spec, place).await?;
            Ok::<_, Error>((i, inst))
        });
    }
    let mut first_err = None;
    for r in futures::future::join_all(futs).await {
        match r {
            Ok((i, n)) => result[i] = Some(n),
            Err(e) => {
                if first_err.is_none() {
                    first_err = Some(e);
                }
            }
        }
    }
    if let Some(e) = first_err {
        return Err(e);
    }
    Ok(result.into_iter().flatten().collect())
}

async fn set_source_dest_check(host: &Host, id: &str, on: bool) -> Result<()> {
    let ec2 = &host.aws().await?.ec2;
    super::eventually("ModifyInstanceAttribute", || {
        ec2.modify_instance_attribute()
            .instance_id(id)
            .source_dest_check(AttributeBooleanValue::builder().value(on).build())
            .send()
    })
    .await?;
    Ok(())
}

async fn launch_one(host: &Host, spec: &NodeSpec, place: &Placement) -> Result<Instance> {
    let ec2 = &host.aws().await?.ec2;
    let mut tags = TagSpecification::builder().resource_type(ResourceType::Instance);
    for (k, v) in host.tags(&format!("{}-{}", host.cluster, spec.name)) {
        tags = tags.tags(Tag::builder().key(k).value(v).build());
    }
    tags = tags
        .tags(Tag::builder().key(ROLE_TAG).value(&spec.role).build())
        .tags(Tag::builder().key(NODE_TAG).value(&spec.name).build());
    let token = client_token(&host.cluster, &spec.name, &place.subnet_id);
    let made = create_once(
        max_attempts(host),
        || async {
            let out = ec2
                .run_instances()
                .client_token(&token)
                .image_id(&place.image_id)
                .instance_type(InstanceType::from(place.instance_type.as_str()))
                .min_count(1)
                .max_count(1)
                .key_name(&place.key_name)
                .user_data(base64::engine::general_purpose::STANDARD.encode(&spec.user_data))
                .network_interfaces(
                    InstanceNetworkInterfaceSpecification::builder()
                        .device_index(0)
                        .subnet_id(&place.subnet_id)
                        .groups(&place.security_group_id)
                        .associate_public_ip_address(true)
                        .private_ip_address(&spec.private_ip)
                        .build(),
                )
                .tag_specifications(tags.clone().build())
                .customize()
                .config_override(ec2_no_retry())
                .send()
                .await
                .map_err(|e| {
                    let (f, e) = failed("RunInstances", e);
                    (f, e.prefixed(&format!("node {}", spec.name)))
                })?;
            out.instances().first().cloned().ok_or_else(|| {
                (
                    Failure::Permanent,
                    Error::aws("RunInstances", "EmptyResponse", "no instance returned"),
                )
            })
        },
        // A launch whose answer was lost is found by its node tag (moto
        // ignores the client token; AWS would answer a retry with the
        // first instance anyway).
        || find_node(host, &spec.name),
    )
    .await?;
    let inst = &made.into_inner();
    let n = instance_from(inst, Some(spec), CREATED.as_str());
    // Record it at once: a crash from here on loses nothing.
    remember_node(host, &n)?;
    host.mark_fresh(&n.id);
    if !spec.source_dest_check {
        set_source_dest_check(host, &n.id, false).await?;
    }
    host.event("instance", &n.id, CREATED);
    Ok(n)
}

/// Waits until every instance is `running` (polling DescribeInstances for
/// all of them in one call, 0.25 s growing to 5 s), then records their
/// public IPs and host names. Fails after `timeout` naming the pending ones.
pub async fn wait_running(
    host: &Host,
    nodes: &[Instance],
    timeout: Duration,
) -> Result<Vec<Instance>> {
    if host.planning() || nodes.is_empty() {
        return Ok(nodes.to_vec());
    }
    let ec2 = &host.aws().await?.ec2;
    let start = Instant::now();
    let mut delay = Duration::from_millis(250);
    let by_id: HashMap<&str, &Instance> = nodes.iter().map(|n| (n.id.as_str(), n)).collect();
    let mut ids: Vec<String> = by_id.keys().map(|s| s.to_string()).collect();
    ids.sort();
    ids.dedup();
    let mut progress = host.progress("waiting for the nodes");
    loop {
        let mut current: HashMap<String, aws_sdk_ec2::types::Instance> = HashMap::new();
        for chunk in ids.chunks(500) {
            // Follow NextToken: an endpoint may page even an ID list (moto
            // returns 100 instances a page), and a node on a later page
            // would otherwise never be seen running.
            let mut pages = ec2
                .describe_instances()
                .set_instance_ids(Some(chunk.to_vec()))
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                match page {
                    Ok(out) => {
                        for r in out.reservations() {
                            for i in r.instances() {
                                current.insert(
                                    i.instance_id().unwrap_or_default().to_string(),
                                    i.clone(),
                                );
                            }
                        }
                    }
                    // Eventual consistency: a just-launched ID may not be visible yet.
                    Err(e) if code_of(&e).as_deref() == Some("InvalidInstanceID.NotFound") => {
                        break;
                    }
                    Err(e) => return Err(aws_error("DescribeInstances", e)),
                }
            }
        }
        let pending: Vec<String> = nodes
            .iter()
            .filter(|n| {
                current
                    .get(&n.id)
                    .and_then(|i| i.state())
                    .and_then(|s| s.name())
                    .map(|s| s.as_str() != "running")
                    .unwrap_or(true)
            })
            .map(|n| format!("{} ({})", n.name, n.id))
            .collect();
        if pending.is_empty() {
            let mut out = Vec::new();
            let mut records = Vec::new();
            for n in nodes {
                let Some(i) = current.get(&n.id) else {
                    continue;
                };
                let spec = NodeSpec {
                    name: n.name.clone(),
                    role: n.role.clone(),
                    index: n.index,
                    private_ip: n.private_ip.clone(),
                    user_data: String::new(),
                    pod_cidr: n.pod_cidr.clone(),
                    source_dest_check: NodeSpec::default_source_dest_check(&n.pod_cidr),
                };
                let mut m = instance_from(i, Some(&spec), &n.status);
                if m.private_ip.is_empty() {
                    m.private_ip = n.private_ip.clone();
                }
                records.push((m.name.clone(), node_record(host, &m)));
                out.push(m);
            }
            // Every node's public IP and host name in one state write (each
            // node was already recorded durably when it was launched).
            host.state().set_many_in("nodes", records)?;
            return Ok(out);
        }
        for n in nodes {
            if let Some(s) = current
                .get(&n.id)
                .and_then(|i| i.state())
                .and_then(|s| s.name())
                && matches!(
                    s.as_str(),
                    "terminated" | "shutting-down" | "stopped" | "stopping"
                )
            {
                return Err(Error::new(
                    Kind::Aws,
                    format!(
                        "node {} ({}) is {} instead of starting",
                        n.name,
                        n.id,
                        s.as_str()
                    ),
                )
                .with_help("look at the instance in the EC2 console (state reason), then re-run"));
            }
        }
        progress.update(&format!(
            "{} of {} nodes running",
            nodes.len() - pending.len(),
            nodes.len()
        ));
        if start.elapsed() >= timeout {
            return Err(Error::new(
                Kind::Aws,
                format!(
                    "after {} s these nodes are still not running: {}",
                    timeout.as_secs(),
                    pending.join(", ")
                ),
            )
            .with_help(
                "re-run to keep waiting (nothing is launched twice), or raise `wait_timeout_secs`",
            ));
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob() {
        assert!(glob_match(
            "ubuntu/images/hvm-ssd*/ubuntu-xenial-16.04-amd64-server-*",
            "ubuntu/images/hvm-ssd/ubuntu-xenial-16.04-amd64-server-20170721"
        ));
        assert!(!glob_match(
            "ubuntu/images/hvm-ssd*/ubuntu-jammy-22.04-amd64-server-*",
            "ubuntu/images/hvm-ssd/ubuntu-xenial-16.04-amd64-server-20170721"
        ));
        assert!(glob_match("abc", "abc"));
        assert!(!glob_match("abc", "abd"));
    }

    #[test]
    fn openssh_key_from_pkcs8() {
        let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
        let line = openssh_public_key(&kp.serialize_pem()).unwrap();
        assert!(line.starts_with("ssh-rsa AAAAB3NzaC1yc2E"), "{line}");
        assert!(openssh_public_key("nope").is_err());
    }

    #[test]
    fn key_steps() {
        assert_eq!(key_step(None, None), KeyStep::Create);
        assert_eq!(key_step(None, Some("aa:bb")), KeyStep::Stranded);
        assert_eq!(key_step(Some("aa:bb"), None), KeyStep::Import);
        assert_eq!(key_step(Some("aa:bb"), Some("AA:BB")), KeyStep::Reuse);
        assert_eq!(key_step(Some("aa:bb"), Some("")), KeyStep::Reuse);
        assert_eq!(key_step(Some("aa:bb"), Some("cc:dd")), KeyStep::Mismatch);
    }

    #[test]
    fn fingerprint_is_md5_of_the_public_key_der() {
        let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
        let fp = imported_fingerprint(&kp.serialize_pem()).unwrap();
        use md5::Digest as _;
        let spki = pem::parse(kp.public_key_pem()).unwrap();
        let want: Vec<String> = md5::Md5::digest(spki.contents())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(fp, want.join(":"));
        assert_eq!(fp.len(), 16 * 3 - 1);
    }

    #[test]
    fn client_tokens_are_stable_per_node_and_subnet() {
        let t = client_token("k8s", "master-0", "subnet-1");
        assert_eq!(t, client_token("k8s", "master-0", "subnet-1"));
        assert_ne!(t, client_token("k8s", "master-1", "subnet-1"));
        assert_ne!(t, client_token("k8s", "master-0", "subnet-2"));
        assert_ne!(t, client_token("other", "master-0", "subnet-1"));
        assert!(t.len() <= 64 && t.is_ascii(), "{t}");
    }

    #[test]
    fn private_key_is_0400_and_never_overwritten() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("ssh/k.id_rsa");
        write_private_key(&p, b"secret").unwrap();
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o400
        );
        assert!(write_private_key(&p, b"other").is_err());
        assert_eq!(std::fs::read(&p).unwrap(), b"secret");
    }
}
