//! The connection's read half, read with `recvmsg` so that descriptors a client passes in
//! `SCM_RIGHTS` (its terminal, with `ClientMsg::Terminal`) are kept instead of dropped.
//! Descriptors arrive with the first byte of the frame they came with, so they are here
//! by the time that frame is decoded. At most [`KEPT`] are kept; more are closed.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
use tokio::io::{AsyncRead, Interest, ReadBuf};
use tokio::net::unix::OwnedReadHalf;

/// The most descriptors a connection holds before a request takes them.
const KEPT: usize = 2;

/// The read half of a Unix connection, keeping passed descriptors.
pub struct FdReader {
    half: OwnedReadHalf,
    fds: Vec<OwnedFd>,
}

impl FdReader {
    pub fn new(half: OwnedReadHalf) -> Self {
        Self {
            half,
            fds: Vec::new(),
        }
    }

    /// The descriptors received so far (oldest first), taken.
    pub fn take_fds(&mut self) -> Vec<OwnedFd> {
        std::mem::take(&mut self.fds)
    }
}

impl AsyncRead for FdReader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            ready!(this.half.as_ref().poll_read_ready(cx))?;
            let unfilled = buf.initialize_unfilled();
            let stream = this.half.as_ref();
            // `try_io` clears the readiness on WouldBlock, so the next poll waits.
            let result = stream.try_io(Interest::READABLE, || {
                // Close-on-exec: no program the server starts and no binary it hands
                // over to inherits a passed descriptor.
                let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(4))];
                let mut control = RecvAncillaryBuffer::new(&mut space);
                let mut iov = [io::IoSliceMut::new(unfilled)];
                let got =
                    rustix::net::recvmsg(stream, &mut iov, &mut control, RecvFlags::CMSG_CLOEXEC)?;
                let mut fds = Vec::new();
                for message in control.drain() {
                    if let RecvAncillaryMessage::ScmRights(passed) = message {
                        fds.extend(passed);
                    }
                }
                Ok((got.bytes, fds))
            });
            match result {
                Ok((n, fds)) => {
                    let room = KEPT.saturating_sub(this.fds.len());
                    this.fds.extend(fds.into_iter().take(room));
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}
