//! A newcomer's own copies: `groundup init` writes them, `groundup runbooks`
//! says where each file comes from, and runs use the edited copies.

use crate::support::{Moto, Project, Sdk};

#[test]
fn init_writes_copies_and_never_overwrites_without_force() {
    let p = Project::new();
    let run = p.run(&["init", "mine"]).ok();
    for f in [
        "runbooks/network.rhai",
        "runbooks/compute.rhai",
        "stdlib/cluster.rhai",
        "stdlib/nodes.rhai",
        "README.md",
    ] {
        let path = p.path().join("mine").join(f);
        assert!(path.is_file(), "{f} missing");
        assert!(
            run.stdout.contains(&format!("created     mine/{f}")),
            "{}",
            run.stdout
        );
    }
    let readme = std::fs::read_to_string(p.path().join("mine/README.md")).unwrap();
    for word in ["region", "instance_type", "masters", "workers", "--force"] {
        assert!(readme.contains(word), "the README does not mention {word}");
    }

    // An edited file is kept; an untouched one is reported unchanged.
    let cluster = p.path().join("mine/stdlib/cluster.rhai");
    std::fs::write(&cluster, "// my settings\n").unwrap();
    let run = p.run(&["init", "mine"]).ok();
    assert!(
        run.stdout.contains("kept        mine/stdlib/cluster.rhai  (exists with other content; --force overwrites it)"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("unchanged   mine/runbooks/network.rhai"),
        "{}",
        run.stdout
    );
    assert_eq!(
        std::fs::read_to_string(&cluster).unwrap(),
        "// my settings\n"
    );

    // --force resets it; --json says what was done.
    let run = p.run(&["--json", "init", "--force", "mine"]).ok();
    let files = run.json()["files"].as_array().unwrap().clone();
    let action = |suffix: &str| {
        files
            .iter()
            .find(|f| f["path"].as_str().unwrap().ends_with(suffix))
            .map(|f| f["action"].as_str().unwrap().to_string())
            .unwrap()
    };
    assert_eq!(action("stdlib/cluster.rhai"), "overwritten");
    assert_eq!(action("runbooks/network.rhai"), "unchanged");
    assert!(
        std::fs::read_to_string(&cluster)
            .unwrap()
            .contains("export const region")
    );
}

#[test]
fn runbooks_lists_what_is_available_and_where_from() {
    let p = Project::new();
    let run = p.run(&["runbooks"]).ok();
    assert!(
        run.stdout.contains(
            "Runbooks (groundup run <name>):\n  compute      built-in\n  distribute   built-in\n  etcd         built-in\n  network      built-in\n"
        ),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("  cluster      built-in"),
        "{}",
        run.stdout
    );

    p.run(&["init"]).ok();
    let net = p.path().join("runbooks/network.rhai");
    let text = std::fs::read_to_string(&net).unwrap();
    std::fs::write(&net, format!("{text}\nprint(\"edited\");\n")).unwrap();
    std::fs::write(p.path().join("runbooks/extra.rhai"), "print(1);\n").unwrap();
    let run = p.run(&["runbooks"]).ok();
    for line in [
        "  compute      project copy (same as built-in)  runbooks/compute.rhai",
        "  network      project copy (edited)  runbooks/network.rhai",
        "  extra        project only  runbooks/extra.rhai",
        "  cluster      project copy (same as built-in)  stdlib/cluster.rhai",
    ] {
        assert!(run.stdout.contains(line), "no `{line}` in:\n{}", run.stdout);
    }
    let run = p.run(&["--json", "runbooks"]).ok();
    let all = run.json();
    let network = all
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "network")
        .unwrap()
        .clone();
    assert_eq!(network["kind"], "runbook");
    assert_eq!(network["origin"], "edited-copy");
    assert_eq!(network["display"], "runbooks/network.rhai");
}

/// The scenario: init, edit the region and instance type in the
/// copy, run, and the cluster is built with the edits.
#[test]
fn edited_copies_drive_the_run() {
    let moto = Moto::start();
    let p = Project::new();
    p.run(&["init"]).ok();
    let cluster = p.path().join("stdlib/cluster.rhai");
    let text = std::fs::read_to_string(&cluster).unwrap();
    let edited = text
        .replace(
            "export const region = \"us-east-2\";",
            "export const region = \"eu-west-1\";",
        )
        .replace(
            "export const instance_type = \"t2.micro\";",
            "export const instance_type = \"t3.small\";",
        )
        .replace("export const masters = 3;", "export const masters = 1;")
        .replace("export const workers = 3;", "export const workers = 2;");
    assert_ne!(edited, text);
    std::fs::write(&cluster, &edited).unwrap();
    // A runbook edit is used too.
    let net = p.path().join("runbooks/network.rhai");
    let mut book = std::fs::read_to_string(&net).unwrap();
    book.push_str("\nprint(\"network from my copy\");\n");
    std::fs::write(&net, book).unwrap();

    let run = p.run(&["settings"]).ok();
    assert!(
        run.stdout
            .contains("region                     = \"eu-west-1\""),
        "{}",
        run.stdout
    );
    let run = p.run_on(&moto, &["run", "network", "compute"]).ok();
    assert!(
        run.stdout.contains("network from my copy"),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    assert!(
        run.stderr
            .contains("Launch 1 masters and 2 workers (t3.small)"),
        "{}",
        run.stderr
    );

    let sdk = Sdk::in_region(&moto, "eu-west-1");
    let types: Vec<String> = sdk.block(async {
        let out = sdk
            .ec2
            .describe_instances()
            .filters(Sdk::cluster("k8s-cluster"))
            .send()
            .await
            .unwrap();
        out.reservations()
            .iter()
            .flat_map(|r| r.instances())
            .map(|i| i.instance_type().unwrap().as_str().to_string())
            .collect()
    });
    assert_eq!(types, vec!["t3.small"; 3]);
    let vpcs_elsewhere = {
        let sdk = Sdk::new(&moto);
        sdk.block(async {
            sdk.ec2
                .describe_vpcs()
                .filters(Sdk::cluster("k8s-cluster"))
                .send()
                .await
                .unwrap()
                .vpcs()
                .len()
        })
    };
    assert_eq!(vpcs_elsewhere, 0, "something was built in us-east-2");
}
