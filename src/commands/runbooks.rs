//! `groundup runbooks`: what runbooks and stdlib modules a project sees,
//! and where each comes from.

use super::project_dir;
use crate::catalog::{self, FileKind};

/// `groundup runbooks`: what is available and where from.
pub fn cmd_runbooks(g: &crate::cli::Global) -> crate::error::Result<()> {
    let all = catalog::entries(&project_dir());
    if g.json {
        println!("{}", serde_json::to_string_pretty(&all).unwrap_or_default());
        return Ok(());
    }
    let paint = crate::style::Paint::stdout();
    for kind in [FileKind::Runbook, FileKind::Stdlib] {
        let title = match kind {
            FileKind::Runbook => "Runbooks (groundup run <name>):",
            FileKind::Stdlib => "Stdlib modules (import \"<name>\"):",
        };
        println!("{}", paint.bold(title));
        for e in all.iter().filter(|e| e.kind == kind) {
            let from = match e.origin {
                catalog::Origin::Builtin => paint.dim(e.origin.describe()),
                catalog::Origin::Copy => paint.green(e.origin.describe()),
                catalog::Origin::EditedCopy | catalog::Origin::ProjectOnly => {
                    paint.yellow(e.origin.describe())
                }
            };
            let path = if e.path.is_some() {
                format!("  {}", e.display)
            } else {
                String::new()
            };
            println!("  {:<12} {from}{path}", e.name);
        }
        println!();
    }
    println!(
        "Project copies are looked for in {}; `groundup init` writes them.",
        project_dir().display()
    );
    Ok(())
}
