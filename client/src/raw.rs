//! Raw mode for the attached terminal, always undone: on drop, on panic (a hook restores
//! the saved settings), and on the signals the attach loop turns into a normal return.

use std::os::fd::BorrowedFd;
use std::sync::Mutex;

use rustix::termios::{tcgetattr, tcsetattr, OptionalActions, Termios};

/// Settings to restore, shared with the panic hook.
static SAVED: Mutex<Option<Termios>> = Mutex::new(None);

fn stdin() -> BorrowedFd<'static> {
    rustix::stdio::stdin()
}

/// Raw mode on stdin while alive.
pub struct RawMode(());

impl RawMode {
    /// Enters raw mode; `Ok(None)` when stdin is not a terminal (scripts, benchmarks).
    pub fn enter() -> anyhow::Result<Option<Self>> {
        let Ok(saved) = tcgetattr(stdin()) else {
            return Ok(None);
        };
        let mut raw = saved.clone();
        raw.make_raw();
        *SAVED.lock().unwrap_or_else(|e| e.into_inner()) = Some(saved);
        install_panic_hook();
        tcsetattr(stdin(), OptionalActions::Now, &raw)?;
        Ok(Some(Self(())))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        restore();
    }
}

fn restore() {
    if let Some(saved) = SAVED.lock().unwrap_or_else(|e| e.into_inner()).take() {
        let _ = tcsetattr(stdin(), OptionalActions::Now, &saved);
    }
}

fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
    });
}
