//! Rate-limited warnings: a condition that repeats (accept failing for want of file
//! descriptors, connections refused in a flood) logs one line per second with a count of
//! the repeats it stands for, never a line per occurrence.
//!
//! Lock: a `std::sync::Mutex` around two numbers, held for the check only.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The most one kind of warning is logged.
const EVERY: Duration = Duration::from_secs(1);

/// One kind of repeated warning.
pub struct Throttle {
    /// When it was last logged, and how many occurrences have not been since.
    state: Mutex<(Option<Instant>, u64)>,
}

impl Throttle {
    /// A throttle that has logged nothing yet (for a `static`).
    pub const fn new() -> Self {
        Self {
            state: Mutex::new((None, 0)),
        }
    }

    /// Counts an occurrence and calls `log` with the number of earlier ones it did not log,
    /// at most once per second.
    pub fn hit(&self, log: impl FnOnce(u64)) {
        let suppressed = {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            if state.0.is_some_and(|at| now - at < EVERY) {
                state.1 += 1;
                return;
            }
            state.0 = Some(now);
            std::mem::take(&mut state.1)
        };
        log(suppressed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_once_per_second_with_a_count() {
        let throttle = Throttle::new();
        let mut lines = Vec::new();
        for _ in 0..1000 {
            throttle.hit(|n| lines.push(n));
        }
        assert_eq!(lines, [0]);
        throttle.state.lock().unwrap().0 = Some(Instant::now() - EVERY);
        throttle.hit(|n| lines.push(n));
        assert_eq!(lines, [0, 999]);
    }
}
