//! ui: everything xtask shows a person. Libraries never print; they return values and events
//! that these functions render: plain lines in CI, progress bars on a terminal, and GitHub
//! Actions workflow commands (`::group::`, `::warning::`, `::error::`) when running there.
#![allow(clippy::print_stderr, clippy::print_stdout)] // this module is where output happens

use std::io::IsTerminal;

pub fn github_actions() -> bool {
    std::env::var_os("GITHUB_ACTIONS").is_some_and(|value| value == "true")
}

/// Whether a person watches both output streams on a terminal (not CI, not a pipe): then
/// progress lines already showed what a log would repeat at the end.
pub fn interactive() -> bool {
    std::io::stdout().is_terminal() && std::io::stderr().is_terminal() && !github_actions()
}

/// A line of normal output, on stdout (tables, summaries, plans).
pub fn out(line: &str) {
    println!("{line}");
}

/// Progress and information, on stderr.
pub fn info(line: &str) {
    eprintln!("{line}");
}

/// Something the user must notice: overrides in use, forced host tools.
pub fn warn(message: &str) {
    if github_actions() {
        eprintln!("::warning::{}", escape_workflow_data(message));
    } else {
        eprintln!("WARNING: {message}");
    }
}

pub fn error(message: &str) {
    if github_actions() {
        eprintln!("::error::{}", escape_workflow_data(message));
    } else {
        eprintln!("error: {message}");
    }
}

/// What the settings loader wants said before any work.
pub fn notice(notice: &settings::Notice) {
    match notice {
        settings::Notice::Override(used) => warn(&used.to_string()),
        settings::Notice::ToolsMirror(mirror) => warn(&format!(
            "XTASK_TOOLS_MIRROR={mirror}: pinned tools and the CRD bundles are downloaded from this mirror (checksums from {} still apply)",
            pins::PIN_FILE
        )),
    }
}

/// Runs `body` inside a foldable group in GitHub Actions, or under a heading elsewhere.
pub fn group<T>(title: &str, body: impl FnOnce() -> T) -> T {
    let _group = Group::open(title);
    body()
}

/// A group of log lines that opens with [`Group::open`] and closes when dropped: for a group
/// that starts in the middle of a callback.
pub struct Group {
    github: bool,
}

impl Group {
    pub fn open(title: &str) -> Group {
        let github = github_actions();
        if github {
            eprintln!("::group::{title}");
        } else {
            eprintln!("== {title}");
        }
        Group { github }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        if self.github {
            eprintln!("::endgroup::");
        }
    }
}

/// Workflow commands end at a newline and treat `%` specially: escape as the runner expects.
pub fn escape_workflow_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A byte-progress display: a bar redrawn in place on a terminal (at most ten times a second),
/// one line at start and end otherwise. Hand-written: one bar is all we draw, and a progress
/// library costs the cold build more than these lines do.
pub struct Progress {
    terminal: bool,
    label: String,
    total: Option<u64>,
    started: std::time::Instant,
    last_draw: std::cell::Cell<Option<std::time::Instant>>,
    position: std::cell::Cell<u64>,
}

impl Progress {
    pub fn bytes(label: &str, total: Option<u64>) -> Progress {
        let terminal = std::io::stderr().is_terminal() && !github_actions();
        if !terminal {
            match total {
                Some(total) => info(&format!("{label}: {total} bytes")),
                None => info(&format!("{label}: starting")),
            }
        }
        Progress {
            terminal,
            label: label.to_owned(),
            total,
            started: std::time::Instant::now(),
            last_draw: std::cell::Cell::new(None),
            position: std::cell::Cell::new(0),
        }
    }

    pub fn set_position(&self, bytes: u64) {
        self.position.set(bytes);
        let now = std::time::Instant::now();
        let due = self
            .last_draw
            .get()
            .is_none_or(|last| now.duration_since(last).as_millis() >= 100);
        if self.terminal && due {
            self.last_draw.set(Some(now));
            self.draw("");
        }
    }

    pub fn finish(self, outcome: &str) {
        if self.terminal {
            self.draw(outcome);
            eprintln!();
        } else {
            info(&format!("{}: {outcome}", self.label));
        }
    }

    fn draw(&self, outcome: &str) {
        let seconds = self.started.elapsed().as_secs_f64();
        let line = render_bar(
            &self.label,
            self.position.get(),
            self.total,
            seconds,
            outcome,
        );
        // Carriage return and erase-line redraw the bar in place.
        eprint!("\r\x1b[2K{line}");
    }
}

/// One progress line: `label [=====>    ] 12.0 MiB/40.0 MiB 6.0 MiB/s outcome`.
pub fn render_bar(
    label: &str,
    done: u64,
    total: Option<u64>,
    seconds: f64,
    outcome: &str,
) -> String {
    const WIDTH: usize = 30;
    let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
    let rate = if seconds > 0.0 {
        mib(done) / seconds
    } else {
        0.0
    };
    let mut line = format!("{label:<30.30} ");
    match total {
        Some(total) if total > 0 => {
            let filled = ((done.min(total) as f64 / total as f64) * WIDTH as f64) as usize;
            let mut bar = "=".repeat(filled);
            if filled < WIDTH {
                bar.push('>');
                bar.push_str(&" ".repeat(WIDTH - filled - 1));
            }
            line.push_str(&format!("[{bar}] {:.1}/{:.1} MiB", mib(done), mib(total)));
        }
        _ => line.push_str(&format!("{:.1} MiB", mib(done))),
    }
    line.push_str(&format!(" {rate:.1} MiB/s"));
    if !outcome.is_empty() {
        line.push(' ');
        line.push_str(outcome);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bar_fills_with_progress_and_names_the_rate() {
        let mib = 1024 * 1024;
        let half = render_bar("kind", 20 * mib, Some(40 * mib), 2.0, "");
        assert_eq!(
            half,
            format!(
                "{:<30} [{}>{}] 20.0/40.0 MiB 10.0 MiB/s",
                "kind",
                "=".repeat(15),
                " ".repeat(14)
            )
        );
        let done = render_bar("kind", 40 * mib, Some(40 * mib), 4.0, "verified");
        assert!(done.contains(&format!("[{}]", "=".repeat(30))), "{done}");
        assert!(done.ends_with("10.0 MiB/s verified"), "{done}");
        let unknown = render_bar("assets", 3 * mib, None, 0.0, "");
        assert_eq!(unknown, format!("{:<30} 3.0 MiB 0.0 MiB/s", "assets"));
        // More bytes than announced never overflows the bar.
        let over = render_bar("x", 50, Some(40), 1.0, "");
        assert!(over.contains(&format!("[{}]", "=".repeat(30))), "{over}");
    }
}
