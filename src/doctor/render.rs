//! Doctor's report as text: one line per check, its fixes, a total.

use super::{Check, Status};
use crate::style::Paint;

pub(super) fn symbol(status: Status, paint: Paint) -> String {
    match status {
        Status::Ok => paint.green("✓"),
        Status::Warn => paint.yellow("!"),
        Status::Fail => paint.red("✗"),
        Status::Skip => paint.dim("-"),
    }
}

/// The report as text lines.
pub fn render(checks: &[Check], paint: Paint) -> Vec<String> {
    let mut out = Vec::new();
    for c in checks {
        let detail = if c.status == Status::Skip {
            paint.dim(&format!("skipped: {}", c.detail))
        } else {
            c.detail.clone()
        };
        out.push(format!(
            "{} {:<13}{detail}",
            symbol(c.status, paint),
            c.name
        ));
        for f in &c.fix {
            out.push(format!("  {:<13}{} {f}", "", paint.bold("fix:")));
        }
    }
    let failed = checks.iter().filter(|c| c.status == Status::Fail).count();
    let warned = checks.iter().filter(|c| c.status == Status::Warn).count();
    let skipped = checks.iter().filter(|c| c.status == Status::Skip).count();
    out.push(String::new());
    if failed == 0 {
        out.push(paint.green(&format!(
            "All {} checks passed ({warned} warning(s)).",
            checks.len()
        )));
    } else {
        out.push(paint.red(&format!(
            "{failed} check(s) failed, {skipped} skipped, {warned} warning(s)."
        )));
    }
    out
}
