//! `itwillsync bridge`: joins stdin/stdout to this machine's server socket, starting the
//! server first if none runs ("ensure"), and does nothing else. Another machine runs it as
//! `ssh -T DEST itwillsync bridge`, so the local protocol, preamble included, runs end to
//! end over SSH: SSH authenticates and encrypts, and no port or secret of ours crosses.

use std::path::Path;

use tokio::io::AsyncWriteExt;
use tokio::net::UnixStream;

use crate::connection::connect_or_start;

/// Relays bytes between stdin/stdout and the server until the server closes the
/// connection (or, after stdin ends, until it has answered everything sent).
pub async fn bridge(socket: &Path, exe: &Path) -> anyhow::Result<()> {
    // Start the server if needed; this probe's own connection ends at once.
    drop(connect_or_start(socket, exe).await?);
    let stream = UnixStream::connect(socket).await?;
    let (mut from_server, mut to_server) = stream.into_split();
    let mut stdin = tokio::io::stdin();
    let mut stdout = tokio::io::stdout();
    let up = async {
        let copied = tokio::io::copy(&mut stdin, &mut to_server).await;
        // The far end is done sending: let the server see the end of the stream.
        let _ = to_server.shutdown().await;
        copied
    };
    let down = async {
        let copied = tokio::io::copy(&mut from_server, &mut stdout).await;
        let _ = stdout.flush().await;
        copied
    };
    tokio::pin!(up, down);
    tokio::select! {
        _ = &mut down => {}
        _ = &mut up => {
            let _ = down.await;
        }
    }
    Ok(())
}
