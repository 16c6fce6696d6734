//! What to do with each member of a service after its unit was installed:
//! the decision only, no I/O (the callers run it, see `crate::etcd`).
//!
//! - A member that is not running is **started**. For a quorum service all
//!   such members start together (`systemctl start --no-block` on each,
//!   then poll): a lone etcd member's `start` blocks until it has peers.
//! - A running member whose unit changed (created, updated, or an input
//!   such as its certificate changed) is **restarted**, one at a time after
//!   the starts, each healthy before the next, so a quorum is never lost.
//! - A running member whose unit did not change is **kept**: same process.

use serde::Serialize;

/// One member as found after installing its unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Its name (`master-0`).
    pub name: String,
    /// Whether its service is active (or activating).
    pub active: bool,
    /// Whether its unit file was created or updated by this run.
    pub changed: bool,
}

/// What happens to one member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Running and unchanged: left alone.
    Keep,
    /// Not running: started (with the others that are not running).
    Start,
    /// Running with a changed unit: restarted in its turn.
    Restart,
}

impl Action {
    /// `kept`, `started`, `restarted`.
    pub fn done(self) -> &'static str {
        match self {
            Action::Keep => "kept",
            Action::Start => "started",
            Action::Restart => "restarted",
        }
    }
}

/// The decision for a set of members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rollout {
    /// One action per member, in the members' order.
    pub actions: Vec<Action>,
    /// Indexes of members to start, all at once.
    pub start: Vec<usize>,
    /// Indexes of members to restart, in this order, one at a time, after
    /// the started ones are healthy.
    pub restart: Vec<usize>,
}

/// Decides what to do with each member.
pub fn decide(members: &[Member]) -> Rollout {
    let actions: Vec<Action> = members
        .iter()
        .map(|m| match (m.active, m.changed) {
            (false, _) => Action::Start,
            (true, true) => Action::Restart,
            (true, false) => Action::Keep,
        })
        .collect();
    let pick = |a: Action| {
        actions
            .iter()
            .enumerate()
            .filter(|(_, x)| **x == a)
            .map(|(i, _)| i)
            .collect::<Vec<_>>()
    };
    Rollout {
        start: pick(Action::Start),
        restart: pick(Action::Restart),
        actions,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(name: &str, active: bool, changed: bool) -> Member {
        Member {
            name: name.into(),
            active,
            changed,
        }
    }

    #[test]
    fn nothing_running_starts_everyone_together() {
        let r = decide(&[
            m("a", false, true),
            m("b", false, true),
            m("c", false, true),
        ]);
        assert_eq!(r.start, vec![0, 1, 2]);
        assert!(r.restart.is_empty());
    }

    #[test]
    fn a_rerun_with_nothing_changed_keeps_everyone() {
        let r = decide(&[
            m("a", true, false),
            m("b", true, false),
            m("c", true, false),
        ]);
        assert_eq!(r.actions, vec![Action::Keep; 3]);
        assert!(r.start.is_empty() && r.restart.is_empty());
    }

    #[test]
    fn a_stopped_member_is_started_and_the_others_kept() {
        let r = decide(&[
            m("a", true, false),
            m("b", false, false),
            m("c", true, false),
        ]);
        assert_eq!(r.actions, vec![Action::Keep, Action::Start, Action::Keep]);
        assert_eq!(r.start, vec![1]);
    }

    #[test]
    fn a_changed_certificate_restarts_running_members_in_order() {
        let r = decide(&[m("a", true, true), m("b", true, true), m("c", true, true)]);
        assert_eq!(r.restart, vec![0, 1, 2]);
        assert!(r.start.is_empty());
    }

    #[test]
    fn a_stopped_member_with_a_changed_unit_is_started_not_restarted() {
        let r = decide(&[m("a", true, true), m("b", false, true), m("c", true, false)]);
        assert_eq!(r.start, vec![1]);
        assert_eq!(r.restart, vec![0]);
        assert_eq!(r.actions[2], Action::Keep);
    }
}
