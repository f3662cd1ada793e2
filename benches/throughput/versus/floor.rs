//! The floor under the CPU goals: what the kernel alone charges a process that does
//! nothing but move the bytes. A thread of the bench reads `cat FILE` from a PTY and
//! writes what it read, as it is, to a terminal (a second PTY, read by another thread as
//! a terminal emulator would) or to `n` loopback TCP connections (read by `n` threads; no
//! WebSocket framing, no seal). It reads in one of two ways: blocking reads, each written
//! at once; or non-blocking reads gathered up to 64 KiB, waiting in `poll` only when
//! nothing is there. Blocking is cheaper for a terminal (the read waits inside the
//! kernel), gathering for sockets (a tenth of the sends). The cheaper of the two, its own
//! CPU time (user + system, `RUSAGE_THREAD`) per 100 MB, is about the least any server
//! pays for one terminal or `n` phones on this machine: ours also keeps the ring, the
//! terminal state and the log, and one task serves every client.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::Instant;

use crate::peers::{cat_into_pty, drain, file_len, mbs, pty};

/// The most the forwarder gathers before it writes (our server's phone messages too).
const GATHER: usize = 64 << 10;

/// Where a bare forwarder writes what it reads.
pub(super) enum Sink {
    /// A terminal in raw mode.
    Terminal,
    /// This many loopback TCP connections.
    Sockets(usize),
}

/// CPU seconds per 100 MB of the forwarding thread alone, the cheaper way (see above),
/// and the MB/s it passed on, the faster way.
pub(super) fn bare_forwarder(file: &Path, sink: Sink) -> (f64, f64) {
    let (cpu, mbs) = forward(file, &sink, false);
    let (gathered_cpu, gathered_mbs) = forward(file, &sink, true);
    (cpu.min(gathered_cpu), mbs.max(gathered_mbs))
}

/// CPU seconds per 100 MB of the forwarding thread and MB/s, reading blocking or
/// `gathering`.
fn forward(file: &Path, sink: &Sink, gathering: bool) -> (f64, f64) {
    let mut outs: Vec<Box<dyn Write + Send>> = Vec::new();
    let mut drains = Vec::new();
    match sink {
        Sink::Terminal => {
            let (mut master, slave) = pty();
            let screen = std::fs::File::from(slave);
            raw(&screen);
            outs.push(Box::new(screen));
            drains.push(std::thread::spawn(move || drain(&mut master)));
        }
        &Sink::Sockets(n) => {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            for _ in 0..n {
                let mut theirs = TcpStream::connect(addr).unwrap();
                let (ours, _) = listener.accept().unwrap();
                ours.set_nodelay(true).unwrap();
                outs.push(Box::new(ours));
                drains.push(std::thread::spawn(move || drain(&mut theirs)));
            }
        }
    }
    let start = Instant::now();
    let (mut master, mut cat) = cat_into_pty(file);
    if gathering {
        let flags = rustix::fs::fcntl_getfl(&master).unwrap();
        rustix::fs::fcntl_setfl(&master, flags | rustix::fs::OFlags::NONBLOCK).unwrap();
    }
    let forwarder = std::thread::spawn(move || {
        let before = thread_cpu();
        let mut buf = vec![0u8; GATHER];
        let mut len = 0;
        loop {
            let read = master.read(&mut buf[len..]);
            if matches!(&read, Err(e) if e.kind() == std::io::ErrorKind::Interrupted) {
                continue;
            }
            if let Ok(n) = read {
                len += n;
            }
            let waits = matches!(&read, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock);
            if len > 0 && (!gathering || len == GATHER || waits || read.is_err()) {
                for out in &mut outs {
                    out.write_all(&buf[..len]).unwrap();
                }
                len = 0;
            }
            match read {
                Ok(0) => break,
                Ok(_) => {}
                Err(_) if waits => {
                    let mut fd = libc::pollfd {
                        fd: master.as_raw_fd(),
                        events: libc::POLLIN,
                        revents: 0,
                    };
                    // SAFETY: poll reads and writes one pollfd it is given.
                    unsafe { libc::poll(&mut fd, 1, -1) };
                }
                Err(_) => break, // EIO: cat is done
            }
        }
        let cpu = thread_cpu() - before;
        drop(outs); // the drains see their end
        cpu
    });
    let cpu = forwarder.join().unwrap();
    cat.wait().unwrap();
    for d in drains {
        d.join().unwrap();
    }
    let passed = mbs(file_len(file), start.elapsed());
    (cpu * 100e6 / file_len(file) as f64, passed)
}

/// Puts a terminal in raw mode, as an attached client does.
fn raw(tty: &std::fs::File) {
    let mut t = rustix::termios::tcgetattr(tty).unwrap();
    t.make_raw();
    rustix::termios::tcsetattr(tty, rustix::termios::OptionalActions::Now, &t).unwrap();
}

/// The calling thread's CPU seconds (user + system).
fn thread_cpu() -> f64 {
    // SAFETY: rusage is plain data (all zeroes is a valid value), and getrusage only
    // fills the struct it is given.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_THREAD, &mut usage);
        usage
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}
