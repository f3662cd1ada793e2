//! A session across a hand-over (`crate::handover`): what it writes into the state, and
//! how the next server rebuilds it. The ring and the terminal state go through their
//! public functions only: the ring's bytes as `read_for` copies them, the terminal state
//! as the repaint with history phones get, parsed back by `Term::restored`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use itwillsync_protocol::Size;
use tokio::sync::watch;

use super::{lock, Activity, Output, Parts, Session};
use crate::handover::state::{Decoded, MirrorState, OutputState, SessionState, WebState, Writer};
use crate::ring::Ring;
use crate::term::Term;

/// What the session's actor (or, before the final state, nobody) handed back.
pub(crate) struct Carried<'a> {
    /// The PTY master's descriptor number.
    pub master_fd: i32,
    /// Input taken by the actor and not written.
    pub input: &'a [u8],
    /// The exit status, when the program was reaped during a drain.
    pub reaped: Option<itwillsync_protocol::ExitStatus>,
    /// The phone listener's descriptor number.
    pub web_fd: Option<i32>,
}

impl Session {
    /// The session as a hand-over state records it, its bytes appended to `blobs`. With
    /// the actor stopped the ring no longer moves, so ring and repaint are exact; the
    /// input still queued is taken out (it goes with the state).
    pub(crate) fn export(&self, blobs: &mut Writer, carried: Carried<'_>) -> SessionState {
        let output = self.export_output(blobs);
        let mut input: VecDeque<u8> = carried.input.iter().copied().collect();
        self.input.take(usize::MAX, &mut input);
        let input: Vec<u8> = input.into();
        let clients = lock(&self.clients).counts();
        let activity = lock(&self.activity);
        SessionState {
            id: self.id.clone(),
            name: self.name(),
            command: self.command.clone(),
            cwd: self.cwd.clone(),
            pid: self.pid,
            started_at_ms: self.started_at_ms,
            last_seen_ms: activity.last_seen_ms,
            size: *self.size.borrow(),
            output,
            input: blobs.blob(&input),
            web: carried.web_fd.and_then(|fd| self.export_web(fd)),
            network_warning: self.network_warning.clone(),
            clients,
            attention: activity.attention,
            attention_message: activity.attention_message.clone(),
            alerts: activity.alerts,
            reaped: carried.reaped,
            hung_up: self.program.was_hung_up() && carried.reaped.is_none(),
            master_fd: carried.master_fd,
        }
    }

    /// A mirror as a hand-over state records it, its phone listener being descriptor
    /// `web_fd`; `None` for a session that is not a mirror. Its ring may still move (its
    /// task runs until the exec): what is recorded is consistent as of one moment, and
    /// the next server resumes from its head.
    pub(crate) fn export_mirror(&self, blobs: &mut Writer, web_fd: i32) -> Option<MirrorState> {
        let remote = self.remote()?;
        let web = self.export_web(web_fd)?;
        Some(MirrorState {
            machine: remote.machine().to_string(),
            id: self.id.clone(),
            name: self.name(),
            command: self.command.clone(),
            cwd: self.cwd.clone(),
            started_at_ms: self.started_at_ms,
            size: *self.size.borrow(),
            output: self.export_output(blobs),
            web,
            network_warning: self.network_warning.clone(),
        })
    }

    /// The ring and the terminal state, their bytes appended to `blobs`. The repaint is
    /// rendered from the terminal state wherever the follower got to; the new follower
    /// parses the rest from the ring.
    fn export_output(&self, blobs: &mut Writer) -> OutputState {
        let (start, head) = self.output_range();
        let mut ring = Vec::with_capacity((head - start) as usize);
        let ring_start = match self.read_for(start, usize::MAX, &mut ring) {
            Ok(_) => start,
            // The ring moved between the two reads (only when something still pushes: a
            // check's copy, a mirror); what is copied starts at the new start.
            Err(_) => {
                ring.clear();
                let (start, _) = self.output_range();
                let _ = self.read_for(start, usize::MAX, &mut ring);
                start
            }
        };
        let mut repaint = self.redraw_with_history();
        let term_seq = repaint.seq();
        let mut redraw = Vec::new();
        loop {
            let (piece, last) = repaint.next_piece(usize::MAX);
            redraw.extend_from_slice(&piece);
            if last {
                break;
            }
        }
        OutputState {
            ring_capacity: lock(&self.ring).capacity() as u64,
            ring_start,
            ring: blobs.blob(&ring),
            // Never ahead of the ring copied (the check's copy races the follower).
            term_seq: term_seq.min(ring_start + ring.len() as u64),
            redraw: blobs.blob(&redraw),
        }
    }

    /// The phone listener (descriptor `fd`) and its keys, when the session has one.
    fn export_web(&self, fd: i32) -> Option<WebState> {
        let (port, keys) = self.web.as_ref()?;
        let (base_url, full, read_only, generations) = keys.export();
        Some(WebState {
            port: *port,
            base_url,
            full: full.to_hex(),
            read_only: read_only.map(|k| k.to_hex()),
            generations,
            fd,
        })
    }

    /// Rebuilds a handed-over session around `parts` (its program adopted by pid, its
    /// keys): the ring continues at the same seq, the terminal state is the repaint parsed
    /// at its seq, the input not yet written is queued again.
    pub(crate) fn restore(
        parts: Parts,
        state: &SessionState,
        decoded: &Decoded,
    ) -> (Arc<Self>, watch::Receiver<Size>) {
        let (mut session, size_rx) = Self::new(parts);
        {
            let fresh = Arc::get_mut(&mut session).expect("nobody else holds a new session");
            fresh.restore_output(&state.output, decoded);
            fresh.started_at_ms = state.started_at_ms;
            fresh.activity = Mutex::new(Activity {
                last_seen_ms: state.last_seen_ms,
                attention: state.attention,
                attention_message: state.attention_message.clone(),
                alerts: state.alerts,
            });
        }
        session.input.offer(decoded.bytes(state.input));
        (session, size_rx)
    }

    /// Rebuilds a handed-over mirror of `remote` around `parts`: its ring and terminal
    /// state as they were, so its phones resume exactly from where they were.
    pub(crate) fn restore_mirror(
        parts: Parts,
        remote: super::mirror::Remote,
        state: &MirrorState,
        decoded: &Decoded,
    ) -> Arc<Self> {
        let (mut session, _size_rx) = Self::new(parts);
        let fresh = Arc::get_mut(&mut session).expect("nobody else holds a new session");
        fresh.restore_output(&state.output, decoded);
        fresh.started_at_ms = state.started_at_ms;
        fresh.remote = Some(remote);
        session
    }

    /// The ring continues at the same seq; the terminal state is the repaint parsed at
    /// its seq.
    fn restore_output(&mut self, output: &OutputState, decoded: &Decoded) {
        let size = *self.size.borrow();
        let ring_bytes = decoded.bytes(output.ring);
        let head = output.ring_start + ring_bytes.len() as u64;
        let mut ring = Ring::resumed(output.ring_capacity as usize, output.ring_start);
        ring.push(ring_bytes);
        self.ring = Mutex::new(Output { ring, ended: None });
        self.head = watch::channel(head).0;
        self.term = Mutex::new(Term::restored(
            size,
            decoded.bytes(output.redraw),
            output.term_seq.max(output.ring_start),
        ));
    }
}
