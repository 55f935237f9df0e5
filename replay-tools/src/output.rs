//! How results are shown: JSON lines when stdout is not a terminal (a pipe, a file), a
//! short human form when it is; a progress bar on stderr only when stderr is a terminal.

use std::io::{self, IsTerminal, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

/// How often the bar redraws: often enough to look alive, rarely enough to cost nothing.
const BAR_TICK: Duration = Duration::from_millis(200);

/// Where the output goes and in which form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Output {
    json: bool,
    progress: bool,
}

impl Output {
    /// JSON unless stdout is a terminal; a progress bar when stderr is one.
    pub fn detect() -> Output {
        Output {
            json: !io::stdout().is_terminal(),
            progress: io::stderr().is_terminal(),
        }
    }

    /// The same, with results as JSON lines (`true`) or a table (`--format`).
    pub fn with_json(self, json: bool) -> Output {
        Output { json, ..self }
    }

    /// A chosen form (tests, or callers that know better).
    pub fn new(json: bool, progress: bool) -> Output {
        Output { json, progress }
    }

    /// Whether results are written as JSON lines.
    pub fn json(&self) -> bool {
        self.json
    }

    /// A progress bar of `len` steps on stderr; hidden unless stderr is a terminal.
    pub fn bar(&self, len: u64, message: &'static str) -> ProgressBar {
        if !self.progress {
            return ProgressBar::hidden();
        }
        let style = ProgressStyle::with_template(
            "{msg:>10} [{bar:40}] {human_pos}/{human_len} {per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr())
            .with_style(style)
            .with_message(message);
        bar.enable_steady_tick(BAR_TICK);
        bar
    }
}

/// Writes `value` as one line of JSON.
pub fn json_line(out: &mut dyn Write, value: &impl Serialize) -> io::Result<()> {
    serde_json::to_writer(&mut *out, value).map_err(io::Error::from)?;
    out.write_all(b"\n")
}
