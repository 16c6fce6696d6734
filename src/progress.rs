//! Live progress for long waits (instances starting, terminations, the load
//! balancer going away, pip installing the emulator).
//!
//! A wait calls [`Progress::update`] each time it looks again, with what it
//! is waiting for ("4 of 6 nodes running"). On a terminal that becomes one
//! live line (a spinner, the message and the elapsed time) that is cleared
//! when the wait ends, so the step's own `✓` line follows as before. When
//! stderr is not a terminal, a "still waiting" line is printed every
//! [`DEFAULT_INTERVAL`] instead. With `--json` nothing is printed. A wait
//! that ends at its first look (moto answers at once) prints nothing at all.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How often a "still waiting" line is printed when stderr is not a terminal.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);

/// Overrides [`DEFAULT_INTERVAL`] (milliseconds). For tests, which set it to
/// 0 to get one line per look and so count looks instead of timing them.
pub const INTERVAL_ENV: &str = "GROUNDUP_PROGRESS_INTERVAL_MS";

enum Mode {
    Quiet,
    Live(Option<ProgressBar>),
    Lines { interval: Duration, last: Instant },
}

/// The progress of one wait; the live line is cleared when it is dropped.
pub struct Progress {
    label: String,
    start: Instant,
    mode: Mode,
}

impl Progress {
    /// A wait labelled `label` ("waiting for the nodes"); quiet when `json`.
    pub fn new(json: bool, label: &str) -> Progress {
        let mode = if json {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() {
            Mode::Live(None)
        } else {
            let interval = std::env::var(INTERVAL_ENV)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_millis)
                .unwrap_or(DEFAULT_INTERVAL);
            Mode::Lines {
                interval,
                last: Instant::now(),
            }
        };
        Progress {
            label: label.to_string(),
            start: Instant::now(),
            mode,
        }
    }

    /// Reports what the wait is still waiting for (e.g. "4 of 6 nodes
    /// running"): redraws the live line, or prints a "still waiting" line
    /// when the interval has passed since the last one.
    pub fn update(&mut self, status: &str) {
        let elapsed = self.start.elapsed();
        match &mut self.mode {
            Mode::Quiet => {}
            Mode::Live(bar) => {
                let bar = bar.get_or_insert_with(|| {
                    let b = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
                    b.set_style(
                        ProgressStyle::with_template("{spinner} {prefix}: {msg} ({elapsed})")
                            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                    );
                    b.set_prefix(self.label.clone());
                    b.enable_steady_tick(Duration::from_millis(120));
                    b
                });
                bar.set_message(status.to_string());
            }
            Mode::Lines { interval, last } => {
                if last.elapsed() >= *interval {
                    *last = Instant::now();
                    eprintln!(
                        "  still waiting: {}: {status} ({})",
                        self.label,
                        format_elapsed(elapsed)
                    );
                }
            }
        }
    }

    /// Ends the wait: clears the live line.
    pub fn finish(self) {}
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Mode::Live(Some(bar)) = &self.mode {
            bar.finish_and_clear();
        }
    }
}

/// `12 s`, `2 min 5 s`.
pub fn format_elapsed(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 {
        format!("{} min {} s", s / 60, s % 60)
    } else {
        format!("{s} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elapsed_reads_in_seconds_then_minutes() {
        assert_eq!(format_elapsed(Duration::from_millis(12_400)), "12 s");
        assert_eq!(format_elapsed(Duration::from_secs(125)), "2 min 5 s");
    }

    #[test]
    fn json_mode_draws_nothing() {
        let mut p = Progress::new(true, "waiting");
        p.update("1 of 2");
        assert!(matches!(p.mode, Mode::Quiet));
    }
}
