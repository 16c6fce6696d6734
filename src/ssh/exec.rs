//! Running commands on nodes: plan mode records them, otherwise each node's
//! pooled session runs the line (at most `ssh_concurrency` nodes at once).

use serde_json::json;

use super::{Command, Fleet, NodeOutcome, Output, ssh_error};
use crate::error::Result;

impl Fleet<'_> {
    /// Runs `cmd` on every node in `names` (at most `ssh_concurrency` at
    /// once); one outcome per node, in order. Plan mode records each
    /// command and connects nowhere.
    pub async fn run(&self, names: &[String], cmd: &Command) -> Result<Vec<NodeOutcome<Output>>> {
        let targets = self.targets(names)?;
        if let Some(plan) = self.plan {
            for (node, _) in &targets {
                plan.record(
                    "SshExec",
                    "",
                    json!({"Node": node.name, "Command": cmd.line, "Sudo": cmd.sudo,
                           "Stdin": cmd.stdin.as_ref().map(|s| format!("{} bytes", s.len()))}),
                );
            }
            return Ok(targets
                .into_iter()
                .map(|(n, _)| NodeOutcome {
                    node: n.name,
                    result: Ok(Output::default()),
                })
                .collect());
        }
        let line = cmd.wire();
        Ok(self
            .each(targets, |node, addr| {
                let line = line.clone();
                async move {
                    let s = self.session(&node, &addr).await?;
                    s.exec(&line, cmd.stdin.as_deref().map(Vec::as_slice))
                        .await
                        .map_err(|e| ssh_error(format!("{}: {e}", node.name)))
                }
            })
            .await)
    }
}
