//! `groundup ssh NODE [-- COMMAND…]`: log in to a node, or run one command
//! on it, by its name, with the cluster's key, user, address choice and
//! known_hosts (and the emulator guard) — no copy-pasting IPs.

use std::os::unix::process::CommandExt;

use crate::cli::Global;
use crate::commands;
use crate::engine::Sources;
use crate::error::{Error, Kind, Result};
use crate::ssh::{self, Command};

/// Runs `groundup ssh`; returns the exit code to end with (the remote
/// command's).
pub fn cmd_ssh(g: &Global, node: &str, command: &[String], forget: bool) -> Result<u8> {
    let sources = Sources::default();
    let settings = commands::load_settings(g, &sources)?;
    let host = commands::make_host(g, settings, false)?;
    let fleet = host.fleet()?;
    let n = fleet.node(node)?.clone();
    if forget {
        let path = ssh::known_hosts_path(host.state().dir());
        let mut kh = ssh::known_hosts::KnownHosts::load(&path)
            .map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?;
        let gone = kh
            .forget(node)
            .map_err(|e| Error::io(format!("cannot write {}", path.display()), e))?;
        eprintln!(
            "forgot {gone} host key(s) of {node} in {}: the next connection records the key it presents",
            path.display()
        );
        return Ok(0);
    }
    let names = vec![n.name.clone()];
    if !command.is_empty() {
        // One command: over russh, output passed through, its exit code ours.
        let line = command.join(" ");
        let out = host.block_on(fleet.run(&names, &Command::new(line)))?;
        ssh::failures(&out).map_err(|e| e.prefixed("groundup ssh"))?;
        let o = out
            .into_iter()
            .next()
            .and_then(|o| o.result.ok())
            .unwrap_or_default();
        if host.planning() {
            commands::finish(g, &host)?;
            return Ok(0);
        }
        use std::io::Write;
        let _ = std::io::stdout().write_all(o.stdout.as_bytes());
        let _ = std::io::stderr().write_all(o.stderr.as_bytes());
        return Ok(u8::try_from(o.code).unwrap_or(255));
    }
    if host.planning() {
        return Err(Error::usage(
            "--plan with `groundup ssh NODE` has nothing to show: give a command after --",
        ));
    }
    // A login: check (or record) the host key over russh first, then hand
    // the terminal to OpenSSH with the same key, user and known_hosts,
    // refusing any other host key.
    let address = fleet.address(&n)?;
    let out = host.block_on(fleet.run(&names, &Command::new("true")))?;
    ssh::failures(&out).map_err(|e| e.prefixed("groundup ssh"))?;
    let key = crate::aws::compute::key_path(&host, &host.cluster);
    let kh = ssh::known_hosts_path(host.state().dir());
    let user = host.settings.str("ssh_user");
    let err = std::process::Command::new("ssh")
        .arg("-i")
        .arg(&key)
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", kh.display()))
        .args([
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "IdentitiesOnly=yes",
        ])
        .args(["-o", "GlobalKnownHostsFile=/dev/null"])
        .arg(format!("{user}@{address}"))
        .exec();
    Err(Error::new(Kind::Ssh, format!("cannot start ssh for a login: {err}")).with_help(
        "a login needs OpenSSH's client (Debian/Ubuntu: apt-get install openssh-client); `groundup ssh NODE -- COMMAND` runs a command without it",
    ))
}
