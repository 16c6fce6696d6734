//! `groundup down` and `groundup status`.

use std::io::{BufRead, IsTerminal, Write};

use serde_json::{Value, json};

use crate::cli::Global;
use crate::commands;
use crate::engine::Sources;
use crate::error::{Error, Result};
use crate::host::Host;

/// `groundup down`: runs the teardown runbook after confirmation.
pub fn cmd_down(g: &Global, yes: bool, purge: bool) -> Result<()> {
    let sources = Sources::default();
    let settings = commands::load_settings(g, &sources)?;
    let cluster = settings.str("name");
    let region = settings.str("region");
    if !g.plan && !yes {
        if !std::io::stdin().is_terminal() {
            return Err(Error::usage(format!(
                "`groundup down` deletes every resource of cluster {cluster}: add --yes to confirm when not at a terminal"
            )));
        }
        eprint!(
            "Delete every resource of cluster {cluster} in {region}? Type the cluster name to confirm: "
        );
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        let _ = std::io::stdin().lock().read_line(&mut answer);
        if answer.trim() != cluster {
            return Err(Error::usage("not confirmed: nothing was deleted"));
        }
    }
    let host = commands::run_runbooks(g, &["teardown".to_string()])?;
    if purge && !g.plan {
        let dir = host.state().dir().to_path_buf();
        drop(host);
        std::fs::remove_dir_all(&dir)
            .or_else(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    Ok(())
                } else {
                    Err(e)
                }
            })
            .map_err(|e| Error::io(format!("cannot remove {}", dir.display()), e))?;
        if !g.json {
            eprintln!("removed local files in {}", dir.display());
        }
        return Ok(());
    }
    commands::finish(g, &host)
}

/// What state says, optionally compared with AWS.
pub fn cmd_status(g: &Global, refresh: bool) -> Result<()> {
    let sources = Sources::default();
    let settings = commands::load_settings(g, &sources)?;
    let host = commands::make_host(g, settings, false)?;
    let st: serde_json::Map<String, Value> = host.state().all().clone();
    let drift = if refresh {
        Some(host.block_on(drift(&host, &st))?)
    } else {
        None
    };
    if g.json {
        let mut out = json!({"cluster": host.cluster, "region": host.region, "state": st});
        if let Some(d) = &drift {
            out["drift"] = json!(d);
        }
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    } else {
        println!(
            "cluster {} ({}), state {}",
            host.cluster,
            host.region,
            host.state().path().display()
        );
        if st.is_empty() {
            println!(
                "  nothing recorded: run `groundup up` (or `groundup --plan up` to see what it would do)"
            );
        }
        for (k, v) in &st {
            if k == "nodes" {
                continue;
            }
            if let Some(s) = v.as_str() {
                println!("  {k:<26} {s}");
            }
        }
        if let Some(Value::Object(nodes)) = st.get("nodes") {
            println!("\n  NAME        ROLE     PRIVATE IP      PUBLIC IP        INSTANCE");
            let mut list: Vec<(&String, &Value)> = nodes.iter().collect();
            list.sort_by_key(|(k, _)| (*k).clone());
            for (name, n) in list {
                let s = |k: &str| n[k].as_str().unwrap_or("-").to_string();
                println!(
                    "  {name:<12}{:<9}{:<16}{:<17}{}",
                    s("role"),
                    s("private_ip"),
                    if s("public_ip").is_empty() {
                        "-".into()
                    } else {
                        s("public_ip")
                    },
                    s("instance_id")
                );
            }
        }
        if let Some(d) = &drift {
            if d.is_empty() {
                println!("\nno drift: AWS matches state");
            } else {
                println!("\ndrift:");
                for line in d {
                    println!("  {line}");
                }
            }
        }
    }
    if drift.as_ref().is_some_and(|d| !d.is_empty()) {
        return Err(Error::new(
            crate::error::Kind::Aws,
            "AWS differs from state (see drift above)",
        )
        .with_help("run `groundup up` to converge, or `groundup down` to remove everything"));
    }
    Ok(())
}

/// Compares state with AWS: `missing …` (in state, not in AWS), `extra …`
/// (tagged in AWS, not in state), `changed …`, `duplicate …` (two or more
/// where one is expected).
async fn drift(host: &Host, st: &serde_json::Map<String, Value>) -> Result<Vec<String>> {
    use crate::aws::tags::cluster_filter;
    let ec2 = &host.aws().await?.ec2;
    let mut out = Vec::new();
    let live: Vec<String> = crate::aws::teardown::leftovers(host, &host.cluster).await?;
    let ids_in_aws: std::collections::BTreeSet<String> = live
        .iter()
        .filter_map(|l| l.split_once(' ').map(|(_, id)| id.to_string()))
        .collect();
    let mut ids_in_state = std::collections::BTreeSet::new();
    for (k, v) in st {
        if (k.ends_with("_id") || k.ends_with("_arn"))
            && let Some(id) = v.as_str()
        {
            ids_in_state.insert(id.to_string());
            if !ids_in_aws.contains(id) && k != "listener_arn" {
                out.push(format!("missing {k} {id}"));
            }
        }
    }
    if let Some(Value::Object(nodes)) = st.get("nodes") {
        for (name, n) in nodes {
            let Some(id) = n["instance_id"].as_str() else {
                continue;
            };
            ids_in_state.insert(id.to_string());
            if !ids_in_aws.contains(id) {
                out.push(format!("missing node {name} {id}"));
                continue;
            }
            if let Ok(o) = ec2.describe_instances().instance_ids(id).send().await {
                for r in o.reservations() {
                    for i in r.instances() {
                        let public = i.public_ip_address().unwrap_or_default();
                        if n["public_ip"].as_str().unwrap_or_default() != public {
                            out.push(format!(
                                "changed node {name} public_ip {} -> {public}",
                                n["public_ip"].as_str().unwrap_or_default()
                            ));
                        }
                    }
                }
            }
        }
    }
    for l in &live {
        if let Some((kind, id)) = l.split_once(' ')
            && kind != "key-pair"
            && !ids_in_state.contains(id)
        {
            out.push(format!("extra {kind} {id}"));
        }
    }
    let _ = cluster_filter;
    // Two of a kind where one is expected: listed with every ID (`down`
    // deletes them all).
    out.extend(crate::aws::teardown::duplicates(host, &host.cluster).await?);
    Ok(out)
}
