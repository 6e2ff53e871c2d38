//! The progress line an export shows on a terminal, and the summary line it ends with.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::Duration;

use rowpipe::progress::Progress;
use tokio::task::JoinHandle;

/// How often the progress line is redrawn.
const REDRAW_EVERY: Duration = Duration::from_millis(250);

/// A progress line redrawn on stderr while it lives; nothing at all when stderr is not a
/// terminal (logs and pipes stay clean).
pub struct ProgressLine {
    task: Option<JoinHandle<()>>,
}

impl ProgressLine {
    pub fn start(progress: Arc<Progress>, enabled: bool) -> Self {
        if !enabled || !std::io::stderr().is_terminal() {
            return Self { task: None };
        }
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(REDRAW_EVERY);
            loop {
                ticks.tick().await;
                let mut stderr = std::io::stderr().lock();
                let _ = write!(stderr, "\r\x1b[2K{}", describe(&progress));
                let _ = stderr.flush();
            }
        });
        Self { task: Some(task) }
    }

    /// Stops redrawing and clears the line.
    pub fn finish(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            eprint!("\r\x1b[2K");
        }
    }
}

impl Drop for ProgressLine {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// `1234567 rows, 791.2 MB in 3.9 s (202.8 MB/s)`
pub fn describe(progress: &Progress) -> String {
    format!(
        "{} rows, {} in {:.1} s ({}/s)",
        progress.rows(),
        human_bytes(progress.bytes() as f64),
        progress.elapsed().as_secs_f64(),
        human_bytes(progress.bytes_per_second()),
    )
}

/// Decimal units, as disks and network rates are usually given.
fn human_bytes(bytes: f64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_read_as_people_expect() {
        assert_eq!(human_bytes(0.0), "0 B");
        assert_eq!(human_bytes(999.0), "999 B");
        assert_eq!(human_bytes(791_234_567.0), "791.2 MB");
        assert_eq!(human_bytes(2.5e12), "2.5 TB");
    }
}
