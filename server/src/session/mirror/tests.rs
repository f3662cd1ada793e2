//! A mirror's ring and terminal state as remote frames arrive, without a connection.

use super::*;
use crate::config::ResizePolicy;
use crate::events::Events;
use crate::program::Program;
use crate::ring::Behind;
use crate::size::Clients;

const SIZE: Size = Size { cols: 40, rows: 5 };

/// A session begun as a mirror's is, at remote seq `seq` with `screen` drawn.
fn begun(seq: u64, screen: &[u8]) -> Arc<Session> {
    let parts = Parts {
        id: "0123456789abcdef".into(),
        name: "devbox:m".into(),
        command: vec!["sh".into()],
        cwd: "/".into(),
        program: Program::adopt(0, true),
        size: SIZE,
        ring_capacity: 64 << 10,
        clients: Clients::new(
            ResizePolicy::Active,
            Size {
                cols: 500,
                rows: 500,
            },
        ),
        web: None,
        network_warning: None,
        events: Arc::new(Events::default()),
    };
    let start = Start {
        seq,
        repaint: screen,
        started_at_ms: 1,
    };
    Session::begun(parts, start)
}

fn held(session: &Session, from: u64) -> Result<Vec<u8>, Behind> {
    let mut out = Vec::new();
    session.read_for(from, usize::MAX, &mut out).map(|_| out)
}

#[test]
fn remote_output_lands_at_its_seq_once() {
    let session = begun(100, b"before");
    assert_eq!(session.output_range(), (100, 100));
    assert_eq!(session.redraw().seq(), 100);
    assert!(session.preview(5, 40).iter().any(|l| l.contains("before")));
    session.push_remote(110, b"0123456789");
    // Already held, wholly and in part (a chunk straddling a resume).
    session.push_remote(105, b"56789");
    session.push_remote(114, b"6789abcd");
    assert_eq!(held(&session, 100).unwrap(), b"0123456789abcd");
    assert_eq!(*session.watch().head.borrow(), 114);
}

#[test]
fn a_gap_restarts_the_ring_where_the_remote_continues() {
    let session = begun(0, b"");
    session.push_remote(4, b"abcd");
    session.push_remote(200, b"xyz");
    assert_eq!(session.output_range(), (197, 200));
    assert_eq!(held(&session, 4), Err(Behind), "a client at 4 is repainted");
    assert_eq!(held(&session, 197).unwrap(), b"xyz");
}

#[test]
fn a_remote_repaint_replaces_the_state_and_restarts_the_ring() {
    let session = begun(0, b"old screen");
    assert!(session.preview(5, 40).iter().any(|l| l.contains("old")));
    session.push_remote(6, b"more\r\n");
    session.restart_remote(300, b"new screen");
    assert_eq!(session.output_range(), (300, 300));
    let redraw = session.redraw();
    assert_eq!(redraw.seq(), 300);
    assert!(session
        .preview(5, 40)
        .iter()
        .any(|l| l.contains("new screen")));
    assert!(!session.preview(5, 40).iter().any(|l| l.contains("old")));
    assert_eq!(held(&session, 6), Err(Behind));
    // A repaint this ring is already past changes nothing.
    session.restart_remote(250, b"stale");
    assert_eq!(session.output_range(), (300, 300));
    session.push_remote(303, b"!!!");
    assert_eq!(held(&session, 300).unwrap(), b"!!!");
}

#[test]
fn the_remote_size_is_the_one_clients_are_told() {
    let session = begun(0, b"");
    let size = Size {
        cols: 101,
        rows: 31,
    };
    session.resized_remotely(size);
    assert_eq!(*session.watch().size.borrow(), size);
    assert_eq!(lock(&session.term).rows(), 31);
}
