//! Output polish: the summary after `up`, colour only on a terminal without
//! NO_COLOR, and JSON from the commands that print data.

use std::time::Duration;

use crate::support::{Moto, Project};

#[test]
fn up_ends_with_a_summary_and_the_next_commands() {
    let moto = Moto::start();
    let p = Project::new();
    let args = [
        "--set",
        "steps=network,compute",
        "--set",
        "masters=1",
        "--set",
        "workers=1",
        "up",
    ];
    let mut all = vec!["--endpoint", moto.endpoint.as_str()];
    all.extend(args);
    // stderr is a pipe here: no colour even without NO_COLOR.
    let mut cmd = p.cmd(&all);
    cmd.env_remove("NO_COLOR");
    let run = crate::support::collect(cmd.output().unwrap()).ok();
    let st = p.state("k8s-cluster");
    let address = st["kubernetes_public_address"].as_str().unwrap();
    let ip = st["nodes"]["master-0"]["public_ip"].as_str().unwrap();
    assert!(!ip.is_empty(), "{st}");
    let tail: Vec<&str> = run.stderr.lines().rev().take(7).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    assert!(
        tail[0].starts_with("done in ")
            && tail[0].ends_with(" reused (state: .groundup/k8s-cluster/state.json)"),
        "{}",
        run.stderr
    );
    // `done in 1.23 s: N created, 0 reused (…)`
    let created: usize = tail[0]
        .split(" s: ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{}", tail[0]));
    assert!(tail[0].contains(" created, 0 reused"), "{}", tail[0]);
    assert!(created >= 12, "{}", tail[0]);
    assert_eq!(tail[1], format!("Kubernetes API: {address}:6443"));
    assert_eq!(
        tail[2],
        format!("Nodes: 2 (1 masters, 1 workers); master-0 at {ip}")
    );
    assert_eq!(tail[3], "Next:");
    assert!(
        tail[4].starts_with("  groundup status ") && tail[4].ends_with("# what exists, from state"),
        "{}",
        tail[4]
    );
    assert!(
        tail[5].starts_with(&format!(
            "  ssh -i .groundup/k8s-cluster/ssh/k8s-cluster.id_rsa ubuntu@{ip}"
        )),
        "{}",
        tail[5]
    );
    assert!(tail[6].starts_with("  groundup down "), "{}", tail[6]);
    assert!(
        !run.stderr.contains('\x1b'),
        "colour on a pipe: {}",
        run.stderr
    );

    // Again: everything reused.
    let run = p.run_on(&moto, &args).ok();
    assert!(
        run.stderr
            .contains(&format!(" s: 0 created, {created} reused")),
        "{}",
        run.stderr
    );
    // --json: the same facts as data, no summary text.
    let mut all = vec!["--json"];
    all.extend(args);
    let run = p.run_on(&moto, &all).ok();
    let v = run.json();
    assert_eq!(v["created"], 0);
    assert_eq!(v["reused"], created);
    assert!(!run.stderr.contains("Next:"), "{}", run.stderr);
}

fn in_a_terminal(p: &Project, no_color: bool) -> String {
    let mut cmd = p.cmd(&["runbooks"]);
    if !no_color {
        cmd.env_remove("NO_COLOR");
    }
    let mut s = expectrl::Session::spawn(cmd).expect("spawn in a pty");
    s.set_expect_timeout(Some(Duration::from_secs(30)));
    let out = s.expect(expectrl::Eof).expect("output");
    String::from_utf8_lossy(out.as_bytes()).into_owned()
}

#[test]
fn colour_only_on_a_terminal_and_never_with_no_color() {
    let p = Project::new();
    let tty = in_a_terminal(&p, false);
    assert!(
        tty.contains("\x1b[1mRunbooks (groundup run <name>):\x1b[0m"),
        "{tty:?}"
    );
    let tty = in_a_terminal(&p, true);
    assert!(tty.contains("Runbooks (groundup run <name>):"), "{tty:?}");
    assert!(!tty.contains('\x1b'), "{tty:?}");
    let mut cmd = p.cmd(&["runbooks"]);
    cmd.env_remove("NO_COLOR");
    let piped = crate::support::collect(cmd.output().unwrap()).ok();
    assert!(!piped.stdout.contains('\x1b'), "{}", piped.stdout);
}
