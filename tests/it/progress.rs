//! Live progress on long waits, on a slow EC2: a proxy in front of moto
//! holds the instances in `pending` (and, on the way down, in
//! `shutting-down`) for a counted number of the waiters' calls. With the
//! "still waiting" interval at 0 every held look prints exactly one line, so
//! the tests count lines and looks, never time.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::proxy::{FaultProxy, Faults};
use crate::support::{Moto, Project};

fn slow(moto: &Moto, hold: u64) -> FaultProxy {
    FaultProxy::start(
        moto.port,
        Faults {
            hold,
            ..Faults::default()
        },
    )
}

fn still_waiting<'a>(stderr: &'a str, what: &str) -> Vec<&'a str> {
    stderr
        .lines()
        .filter(|l| l.starts_with(&format!("  still waiting: {what}: ")))
        .collect()
}

#[test]
fn waiting_for_nodes_and_terminations_prints_a_still_waiting_line_per_look_off_a_terminal() {
    let moto = Moto::start();
    let mut p = Project::new();
    p.env
        .push(("GROUNDUP_PROGRESS_INTERVAL_MS".into(), "0".into()));
    let proxy = slow(&moto, 3);
    let args = [
        "--endpoint",
        &proxy.endpoint,
        "--set",
        "steps=network,compute",
    ];
    let up = p.run(&[&args[..], &["up"]].concat()).ok();
    assert_eq!(proxy.stats.held.load(Ordering::SeqCst), 3);
    let lines = still_waiting(&up.stderr, "waiting for the nodes");
    assert_eq!(lines.len(), 3, "one line per held look:\n{}", up.stderr);
    for l in &lines {
        assert!(
            l.contains(": 0 of 6 nodes running ("),
            "not `0 of 6 nodes running (N s)`: {l}"
        );
    }
    // The live line is not the step's line: that still follows, once.
    assert_eq!(
        up.stderr
            .lines()
            .filter(|l| l.starts_with("✓ Wait until all nodes are running ("))
            .count(),
        1,
        "{}",
        up.stderr
    );

    let proxy = slow(&moto, 2);
    let down = p
        .run(&["--endpoint", &proxy.endpoint, "down", "--yes"])
        .ok();
    assert_eq!(proxy.stats.held.load(Ordering::SeqCst), 2);
    let lines = still_waiting(&down.stderr, "waiting for the instances to terminate");
    // moto itself may answer `shutting-down` once more: at least the held looks.
    assert!(lines.len() >= 2, "{}", down.stderr);
    assert!(
        lines
            .iter()
            .all(|l| l.contains(" of 6 instances terminated (")),
        "{}",
        down.stderr
    );
}

#[test]
fn json_output_stays_clean_while_waiting() {
    let moto = Moto::start();
    let mut p = Project::new();
    p.env
        .push(("GROUNDUP_PROGRESS_INTERVAL_MS".into(), "0".into()));
    let proxy = slow(&moto, 3);
    let up = p
        .run(&[
            "--endpoint",
            &proxy.endpoint,
            "--json",
            "--set",
            "steps=network,compute",
            "up",
        ])
        .ok();
    assert_eq!(proxy.stats.held.load(Ordering::SeqCst), 3);
    assert!(!up.stderr.contains("still waiting"), "{}", up.stderr);
    assert_eq!(up.json()["created"].as_u64().map(|n| n > 0), Some(true));
}

#[test]
fn on_a_terminal_the_wait_is_one_live_line_with_what_it_waits_for() {
    let moto = Moto::start();
    let mut p = Project::new();
    p.env.push(("TERM".into(), "xterm".into()));
    // Held for 4 looks: 0.25 + 0.5 + 1 + 2 s between them, time for the
    // live line to be drawn several times.
    let proxy = slow(&moto, 4);
    let mut s = expectrl::Session::spawn(p.pty_cmd(&[
        "--endpoint",
        &proxy.endpoint,
        "--set",
        "steps=network,compute",
        "up",
    ]))
    .expect("spawn groundup up");
    s.set_expect_timeout(Some(Duration::from_secs(120)));
    let seen = s
        .expect(expectrl::Eof)
        .map(|c| String::from_utf8_lossy(c.as_bytes()).into_owned())
        .expect("groundup up to end");
    assert!(
        seen.contains("waiting for the nodes: 0 of 6 nodes running"),
        "no live line in:\n{seen}"
    );
    assert!(!seen.contains("still waiting"), "{seen}");
    assert!(seen.contains(" created, 0 reused"), "{seen}");
    assert_eq!(proxy.stats.held.load(Ordering::SeqCst), 4);
}
