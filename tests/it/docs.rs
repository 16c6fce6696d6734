//! Generated documentation is up to date, and the README documents every
//! command: docs/api.md, the README's settings reference, completions and
//! the man page.

use clap::CommandFactory;

use crate::support::{Project, repo};

const REFRESH: &str = "refresh it with `scripts/gen-docs` (or `cargo run -- fns --markdown > docs/api.md`) and commit the result";

/// Panics with the first differing line when `have` is not `want`.
fn same(what: &str, have: &str, want: &str) {
    if have.trim_end() == want.trim_end() {
        return;
    }
    let (mut h, mut w) = (have.lines(), want.lines());
    let mut n = 1;
    loop {
        match (h.next(), w.next()) {
            (Some(a), Some(b)) if a == b => n += 1,
            (a, b) => panic!(
                "{what} is stale: {REFRESH}.\nfirst difference at line {n}:\n  committed: {}\n  generated: {}",
                a.unwrap_or("<end>"),
                b.unwrap_or("<end>")
            ),
        }
    }
}

/// The text between two marker lines of a file.
pub fn between(text: &str, start: &str, end: &str) -> String {
    let a = text
        .find(start)
        .unwrap_or_else(|| panic!("marker {start} not found"));
    let rest = &text[a + start.len()..];
    let b = rest
        .find(end)
        .unwrap_or_else(|| panic!("marker {end} not found"));
    rest[..b].trim().to_string()
}

#[test]
fn api_md_is_generated_from_the_registered_functions() {
    let p = Project::new();
    let run = p.run(&["fns", "--markdown"]).ok();
    let committed = std::fs::read_to_string(repo().join("docs/api.md")).unwrap();
    same("docs/api.md", &committed, &run.stdout);
    // Every host function is in it.
    let run = p.run(&["--json", "fns"]).ok();
    for f in run.json().as_array().unwrap() {
        let name = f["name"].as_str().unwrap();
        let ns = f["namespace"].as_str().unwrap();
        let q = if ns.is_empty() {
            name.to_string()
        } else {
            format!("{ns}::{name}")
        };
        assert!(
            committed.contains(&format!("### `{q}`")),
            "{q} is not in docs/api.md"
        );
    }
}

#[test]
fn readme_settings_reference_matches_stdlib_cluster_rhai() {
    let p = Project::new();
    let run = p.run(&["settings", "--markdown"]).ok();
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let section = between(&readme, "<!-- settings:start -->", "<!-- settings:end -->");
    same("README.md's settings reference", &section, &run.stdout);
    // And every setting is in it.
    let run = p.run(&["--json", "settings"]).ok();
    for key in run.json().as_object().unwrap().keys() {
        assert!(
            section.contains(&format!("| `{key}` |")),
            "setting {key} is missing from the README"
        );
    }
}

#[test]
fn readme_documents_every_command_and_exit_code() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    for sub in groundup::cli::Cli::command().get_subcommands() {
        let name = sub.get_name();
        assert!(
            readme.contains(&format!("| `groundup {name}")),
            "README's command table lacks `groundup {name}`"
        );
    }
    for code in ["| 0 |", "| 1 |", "| 2 |", "| 130 |"] {
        assert!(readme.contains(code), "README lacks exit code {code}");
    }
    for section in [
        "## Quick start",
        "## Architecture",
        "## The lesson, step by step",
        "## Settings reference",
        "## Exit codes",
        "## Failure behaviour",
        "## Using real AWS",
    ] {
        assert!(readme.contains(section), "README lacks {section}");
    }
    assert!(repo().join("CHANGELOG.md").is_file());
}

#[test]
fn completions_and_man_page() {
    let p = Project::new();
    let bash = p.run(&["completions", "bash"]).ok().stdout;
    assert!(bash.contains("_groundup()"), "{bash}");
    assert!(bash.contains("doctor"), "{bash}");
    let zsh = p.run(&["completions", "zsh"]).ok().stdout;
    assert!(zsh.starts_with("#compdef groundup"), "{zsh}");
    let fish = p.run(&["completions", "fish"]).ok().stdout;
    assert!(fish.contains("complete -c groundup"), "{fish}");
    assert!(fish.contains("-a \"init\""), "{fish}");
    // Every shell completes every subcommand (the list from `--help`).
    let help = p.run(&["--help"]).ok().stdout;
    let commands: Vec<String> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        // (continuation lines of a wrapped description are indented more)
        .filter(|l| !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .filter(|c| c != "help")
        .collect();
    assert!(commands.len() >= 12, "{commands:?}\n{help}");
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let script = p.run(&["completions", shell]).ok().stdout;
        for c in &commands {
            let quoted = [
                format!("'{c}'"),
                format!("\"{c}\""),
                format!(" {c} "),
                format!("{c})"),
                format!("{c}:"),
            ];
            assert!(
                quoted.iter().any(|q| script.contains(q.as_str())),
                "{shell} does not complete `{c}`"
            );
        }
    }
    let run = p.run(&["completions", "tcsh"]).expect_code(1);
    assert!(
        run.stderr.contains("invalid value 'tcsh'"),
        "{}",
        run.stderr
    );
    let man = p.run(&["man"]).ok().stdout;
    assert!(man.contains(".TH groundup 1"), "{man}");
    assert!(man.contains("doctor"), "{man}");
}
