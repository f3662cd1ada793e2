//! Raw mode for the attached terminal, always undone: on drop, on panic (a hook restores
//! the saved settings), and on the signals the attach loop turns into a normal return.
//! The file status flags of stdin and stdout are restored too: a server that could not
//! open a passed terminal on its own made the shared descriptors non-blocking
//! (`server/src/tty.rs`), which the shell after us must not inherit.

use std::os::fd::BorrowedFd;
use std::sync::Mutex;

use rustix::fs::OFlags;
use rustix::termios::{tcgetattr, tcsetattr, OptionalActions, Termios};

/// What to restore, shared with the panic hook.
struct Saved {
    termios: Termios,
    /// stdin's and stdout's file status flags.
    flags: [Option<OFlags>; 2],
}

static SAVED: Mutex<Option<Saved>> = Mutex::new(None);

fn stdio() -> [BorrowedFd<'static>; 2] {
    [rustix::stdio::stdin(), rustix::stdio::stdout()]
}

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
        let flags = stdio().map(|fd| rustix::fs::fcntl_getfl(fd).ok());
        *SAVED.lock().unwrap_or_else(|e| e.into_inner()) = Some(Saved {
            termios: saved,
            flags,
        });
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
        for (fd, flags) in stdio().into_iter().zip(saved.flags) {
            if let Some(flags) = flags {
                let _ = rustix::fs::fcntl_setfl(fd, flags);
            }
        }
        let _ = tcsetattr(stdin(), OptionalActions::Now, &saved.termios);
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
