//! A service's state as `systemctl show -p ActiveState,SubState,MainPID,UnitFileState,Result`
//! prints it.

use serde::Serialize;

/// The properties groundup reads.
pub const PROPERTIES: &str = "ActiveState,SubState,MainPID,UnitFileState,Result";

/// One service on one node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Status {
    /// active, activating, inactive, failed, deactivating, reloading.
    pub active_state: String,
    /// running, dead, start, exited, ...
    pub sub_state: String,
    /// The main process; 0 when none.
    pub main_pid: u32,
    /// enabled, disabled, ... ; empty when the unit file is gone.
    pub unit_file_state: String,
    /// success, exit-code, timeout, ... (why it last stopped).
    pub result: String,
}

impl Status {
    /// Running or on its way (a notify service waiting for its peers).
    pub fn running(&self) -> bool {
        matches!(
            self.active_state.as_str(),
            "active" | "activating" | "reloading"
        )
    }
    /// Fully started.
    pub fn active(&self) -> bool {
        self.active_state == "active"
    }
}

/// Parses `systemctl show -p ...` output (`Key=value` lines).
pub fn parse_show(out: &str) -> Status {
    let mut s = Status::default();
    for line in out.lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.trim().to_string();
        match k {
            "ActiveState" => s.active_state = v,
            "SubState" => s.sub_state = v,
            "MainPID" => s.main_pid = v.parse().unwrap_or(0),
            "UnitFileState" => s.unit_file_state = v,
            "Result" => s.result = v,
            _ => {}
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_systemctl_show() {
        let s = parse_show(
            "ActiveState=active\nSubState=running\nMainPID=4242\nUnitFileState=enabled\nResult=success\n",
        );
        assert!(s.active() && s.running());
        assert_eq!(s.main_pid, 4242);
        assert_eq!(s.unit_file_state, "enabled");
        let gone = parse_show(
            "ActiveState=inactive\nSubState=dead\nMainPID=0\nUnitFileState=\nResult=success\n",
        );
        assert!(!gone.running());
        assert_eq!(gone.main_pid, 0);
        let waiting = parse_show("ActiveState=activating\nSubState=start\nMainPID=17\n");
        assert!(waiting.running() && !waiting.active());
    }
}
