//! Uploads: one probe per node, then one script writes what differs
//! (the decisions and the scripts are in [`super::upload`]).

use std::collections::HashMap;

use serde_json::json;

use super::upload::{self, Action, FileSpec, FileStatus};
use super::{Fleet, Node, NodeOutcome, Output, ssh_error};
use crate::error::Result;

/// The files one node gets.
#[derive(Debug, Clone)]
pub struct NodeFiles {
    /// The node's name.
    pub node: String,
    /// Its files.
    pub files: Vec<FileSpec>,
}

/// What happened to one uploaded file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileResult {
    /// Its path on the node.
    pub dest: String,
    /// created, updated, unchanged or planned.
    pub status: FileStatus,
    /// SHA-256 of what the node now has.
    pub sha256: String,
}

impl Fleet<'_> {
    /// Puts files on nodes: one probe per node, then only what differs is
    /// written (atomically) or fixed (owner, mode). Plan mode records each
    /// upload (path, mode, owner, source, size; never the content).
    pub async fn upload(&self, work: &[NodeFiles]) -> Result<Vec<NodeOutcome<Vec<FileResult>>>> {
        for w in work {
            for f in &w.files {
                upload::check_dest(&f.dest).map_err(ssh_error)?;
                upload::check_account("owner", &f.owner).map_err(ssh_error)?;
                upload::check_account("group", &f.group).map_err(ssh_error)?;
            }
        }
        let names: Vec<String> = work.iter().map(|w| w.node.clone()).collect();
        let targets = self.targets(&names)?;
        if let Some(plan) = self.plan {
            let mut out = Vec::new();
            for w in work {
                let mut files = Vec::new();
                for f in &w.files {
                    plan.record(
                        "SshUpload",
                        "",
                        json!({"Node": w.node, "Path": f.dest, "Mode": format!("{:04o}", f.mode),
                               "Owner": format!("{}:{}", f.owner, f.group), "From": f.source,
                               "Bytes": f.content.len()}),
                    );
                    files.push(FileResult {
                        dest: f.dest.clone(),
                        status: FileStatus::Planned,
                        sha256: f.sha256(),
                    });
                }
                out.push(NodeOutcome {
                    node: w.node.clone(),
                    result: Ok(files),
                });
            }
            return Ok(out);
        }
        let files: HashMap<&str, &Vec<FileSpec>> =
            work.iter().map(|w| (w.node.as_str(), &w.files)).collect();
        let out = self
            .each(targets, |node, addr| {
                let specs = files.get(node.name.as_str()).copied();
                async move {
                    let specs = specs.map(Vec::as_slice).unwrap_or_default();
                    self.upload_one(&node, &addr, specs).await
                }
            })
            .await;
        for o in &out {
            if let Ok(files) = &o.result {
                for f in files {
                    (self.journal)("file", &format!("{}:{}", o.node, f.dest), f.status);
                }
            }
        }
        Ok(out)
    }

    async fn upload_one(
        &self,
        node: &Node,
        addr: &str,
        specs: &[FileSpec],
    ) -> Result<Vec<FileResult>> {
        if specs.is_empty() {
            return Ok(vec![]);
        }
        let s = self.session(node, addr).await?;
        let fail = |what: &str, o: &Output| {
            ssh_error(format!(
                "{}: {what} failed (exit {}): {}",
                node.name,
                o.code,
                o.stderr.trim()
            ))
            .with_help(format!(
                "{} must be able to run sudo without a password",
                self.user
            ))
        };
        let dests: Vec<&str> = specs.iter().map(|f| f.dest.as_str()).collect();
        let probe = s
            .exec(&upload::probe_command(&dests), None)
            .await
            .map_err(|e| ssh_error(format!("{}: {e}", node.name)))?;
        if probe.code != 0 {
            return Err(fail("reading the files already there", &probe));
        }
        let remote = upload::parse_probe(&probe.stdout, specs.len())
            .map_err(|e| ssh_error(format!("{}: {e}", node.name)))?;
        let work: Vec<(&FileSpec, Action)> = specs
            .iter()
            .zip(&remote)
            .map(|(f, r)| (f, upload::decide(f, r.as_ref())))
            .collect();
        if let Some(script) = upload::apply_script(&work) {
            let o = s
                .exec("sudo -n sh -s", Some(script.as_bytes()))
                .await
                .map_err(|e| ssh_error(format!("{}: {e}", node.name)))?;
            if o.code != 0 {
                return Err(fail("writing the files", &o));
            }
        }
        Ok(work
            .iter()
            .map(|(f, a)| FileResult {
                dest: f.dest.clone(),
                status: match a {
                    Action::Write(st) => *st,
                    Action::Fix => FileStatus::Updated,
                    Action::Keep => FileStatus::Unchanged,
                },
                sha256: f.sha256(),
            })
            .collect())
    }
}
