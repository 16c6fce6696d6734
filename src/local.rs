//! `--local` and `groundup emulator`: the command-line side of the local
//! AWS emulator (the emulator itself is [`crate::emulator`]).

use serde_json::json;

use crate::cli::{EmulatorCommand, Global};
use crate::emulator::{self, Emulator, Paths, Started};
use crate::error::Result;

/// Before a command runs: with `--local`, starts the emulator (or finds it
/// running) when the command talks to AWS (`needs_aws`), and points the
/// command at it; without, takes the endpoint from `AWS_ENDPOINT_URL` when
/// no `--endpoint` is given. Under `--local` no `AWS_*` variable is read.
pub fn prepare(g: &mut Global, needs_aws: bool) -> Result<()> {
    if !g.local {
        if g.endpoint.is_none() {
            g.endpoint = std::env::var("AWS_ENDPOINT_URL")
                .ok()
                .filter(|v| !v.trim().is_empty());
        }
        return Ok(());
    }
    if !needs_aws {
        return Ok(());
    }
    let (e, started) = emulator::ensure(&Paths::from_env()?, None, g.json)?;
    if started == Started::New && !g.json {
        eprintln!(
            "started the local AWS emulator (moto) on {} (pid {}); it keeps running for the next commands: `groundup emulator stop` ends it",
            e.address(),
            e.pid
        );
    }
    g.endpoint = Some(e.endpoint());
    Ok(())
}

fn describe(e: &Emulator) -> serde_json::Value {
    json!({
        "running": true,
        "address": e.address(),
        "endpoint": e.endpoint(),
        "pid": e.pid,
        "moto": e.moto,
        "log": e.log,
    })
}

/// `groundup emulator start|stop|status`.
pub fn cmd_emulator(g: &Global, cmd: &EmulatorCommand) -> Result<()> {
    let paths = Paths::from_env()?;
    match cmd {
        EmulatorCommand::Start { port } => {
            let (e, started) = emulator::ensure(&paths, *port, g.json)?;
            if g.json {
                let mut v = describe(&e);
                v["started"] = json!(started == Started::New);
                println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            } else {
                println!("{} (pid {})", e.address(), e.pid);
                eprintln!(
                    "{} the local AWS emulator (moto, log {}); use it with `groundup --local up`",
                    if started == Started::New {
                        "started"
                    } else {
                        "already running:"
                    },
                    e.log.display()
                );
            }
        }
        EmulatorCommand::Status => {
            let (running, stale) = emulator::status(&paths)?;
            if g.json {
                let v = running
                    .as_ref()
                    .map(describe)
                    .unwrap_or_else(|| json!({"running": false}));
                println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            } else {
                match &running {
                    Some(e) => println!("{} (pid {})", e.address(), e.pid),
                    None => println!("not running"),
                }
            }
            if let Some(s) = stale
                && !g.json
            {
                eprintln!(
                    "(forgot a stale record: pid {} on {} is not the emulator any more)",
                    s.pid,
                    s.address()
                );
            }
        }
        EmulatorCommand::Stop => match emulator::stop(&paths)? {
            Some(e) => {
                if g.json {
                    let mut v = describe(&e);
                    v["running"] = json!(false);
                    v["stopped"] = json!(true);
                    println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
                } else {
                    println!(
                        "stopped the local AWS emulator (pid {}, {})",
                        e.pid,
                        e.address()
                    );
                }
            }
            None => {
                if g.json {
                    println!("{}", json!({"running": false, "stopped": false}));
                } else {
                    println!("not running");
                }
            }
        },
    }
    Ok(())
}
