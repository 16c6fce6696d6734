//! Every shipped runbook and stdlib module compiles (so none ships broken).

use crate::support::{Project, repo};

#[test]
fn every_runbook_and_stdlib_module_compiles() {
    let p = Project::new();
    let mut files: Vec<String> = Vec::new();
    for dir in ["runbooks", "stdlib"] {
        for e in std::fs::read_dir(repo().join(dir)).unwrap() {
            let path = e.unwrap().path();
            if path.extension().is_some_and(|x| x == "rhai") {
                files.push(path.display().to_string());
            }
        }
    }
    assert!(files.len() >= 2, "{files:?}");
    let mut args = vec!["check"];
    args.extend(files.iter().map(|s| s.as_str()));
    let run = p.run(&args).ok();
    for f in &files {
        assert!(
            run.stdout.contains(&format!("ok  {f}")),
            "{f} not compiled: {}",
            run.stdout
        );
    }
    // And the built-in copies (what `groundup check` sees with no local files).
    let run = p.run(&["check"]).ok();
    assert!(
        run.stdout.contains("ok  <builtin>/runbooks/network.rhai"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("ok  <builtin>/stdlib/cluster.rhai"),
        "{}",
        run.stdout
    );
}
