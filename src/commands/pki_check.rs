//! `groundup pki check`: audits the cluster's PKI against its settings,
//! state and node layout (the model is [`crate::pki_cluster`]).

use serde_json::json;

use crate::cli::Global;
use crate::engine::Sources;
use crate::error::{Error, Kind, Result};
use crate::pki_cluster::{dir, run_check};
use crate::state::State;

/// `groundup pki check`: prints the table (or `--json`) and fails when any
/// check fails.
pub fn cmd_check(g: &Global) -> Result<()> {
    let sources = Sources::default();
    let settings = super::load_settings(g, &sources)?;
    let planned = super::layout::planned(&settings)?;
    let state = State::open(&g.state_dir, &settings.text("name")?, true)?;
    let report = run_check(&settings, &planned, &state)?;
    let d = dir(state.dir());
    if g.json {
        let out = json!({
            "cluster": settings.text("name")?,
            "dir": d.display().to_string(),
            "ok": report.ok(),
            "rows": report.rows,
            "problems": report.all_problems().collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    } else {
        println!(
            "PKI of cluster {} in {}",
            settings.text("name")?,
            d.display()
        );
        print!("{report}");
    }
    if report.ok() {
        Ok(())
    } else {
        let n = report.all_problems().count();
        Err(Error::new(
            Kind::Pki,
            format!("pki check failed: {n} problem(s) in {}", d.display()),
        )
        .with_help(
            "re-run `groundup run pki` to re-issue what no longer matches \
             (the CA and the encryption key are never replaced implicitly)",
        ))
    }
}
