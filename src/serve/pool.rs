//! Connections: accepting them into a bounded queue (503 beyond it), a fixed pool of handler
//! threads taking them one at a time, one request per connection and a careful close, and the
//! limits on live-reload long polls, which hold a handler while they wait.

use super::Shared;
use super::http::{BUFFER, POLL, parse, read_head};
use super::respond::{plain, respond, send};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Threads answering requests, however many connections are open.
const HANDLERS: usize = 64;
/// Accepted connections waiting for a handler; beyond, a connection is answered 503.
const QUEUED: usize = 1024;
/// The pause after a failed accept (out of file descriptors, say), rather than a busy loop.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(20);
/// After answering, what the client still sends is read and dropped, for this long or this
/// many bytes: closing a socket with unread bytes resets the connection, which can destroy
/// the answer before the client reads it.
const LINGER: Duration = Duration::from_millis(500);
const LINGER_BYTES: usize = 256 * 1024;
/// Long polls of `/_mlreg/wait` held at once: the other handlers stay free for pages.
const WAITERS: usize = 16;
/// How long a long poll is held before it is answered with the current generation.
const WAIT: Duration = Duration::from_secs(25);

/// Start the handlers: the queue that feeds them. `Err` only when not even one could start.
pub(super) fn start(shared: &Arc<Shared>, quiet: bool) -> Result<SyncSender<TcpStream>, String> {
    let (queue, waiting) = std::sync::mpsc::sync_channel(QUEUED);
    let waiting = Arc::new(Mutex::new(waiting));
    for n in 0..HANDLERS {
        let (waiting, shared) = (waiting.clone(), shared.clone());
        let spawned = std::thread::Builder::new()
            .name(format!("mlreg-http-{n}"))
            .spawn(move || handle_queue(&waiting, &shared));
        match spawned {
            Ok(_) => {}
            Err(e) if n == 0 => return Err(format!("cannot start a connection handler: {e}")),
            // Fewer handlers serve as well, only fewer connections at once.
            Err(e) => {
                super::log(
                    quiet,
                    format_args!("serving with {n} connection handlers: {e}"),
                );
                break;
            }
        }
    }
    Ok(queue)
}

/// Accept connections into `queue`, turning away those it has no room for; this returns only
/// when every handler has stopped.
pub(super) fn accept(
    listener: &TcpListener,
    queue: &SyncSender<TcpStream>,
    shared: &Shared,
) -> Result<(), String> {
    for stream in listener.incoming() {
        let Ok(stream) = stream else {
            std::thread::sleep(ACCEPT_BACKOFF);
            continue;
        };
        shared.queued.fetch_add(1, Ordering::SeqCst);
        match queue.try_send(stream) {
            Ok(()) => {}
            Err(TrySendError::Full(stream)) => {
                shared.queued.fetch_sub(1, Ordering::SeqCst);
                turn_away(&stream);
            }
            Err(TrySendError::Disconnected(_)) => {
                return Err("every connection handler has stopped".into());
            }
        }
    }
    Ok(())
}

/// A handler: take connections from the queue, one at a time, until the queue is gone.
fn handle_queue(waiting: &Mutex<Receiver<TcpStream>>, shared: &Shared) {
    // The handler's memory for heads, then for files on their way from disk: the same for
    // every request, and on its stack rather than in the allocator's per-thread caches.
    let mut buffer = [0u8; BUFFER];
    loop {
        let next = waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .recv();
        let Ok(stream) = next else { return };
        shared.queued.fetch_sub(1, Ordering::SeqCst);
        // A bug met while answering one request must not cost the pool a handler (the panic
        // is still printed).
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            handle(stream, shared, &mut buffer)
        }));
    }
}

/// Answer the one request of a connection, then close it. `buffer` (of [`BUFFER`] bytes) is
/// where its head is read, then the file it asks for.
fn handle(mut stream: TcpStream, shared: &Shared, buffer: &mut [u8]) {
    // Heads and bodies are separate writes: without this, a body could wait for the client's
    // delayed acknowledgement of the head.
    let _ = stream.set_nodelay(true);
    let request = read_head(&mut stream, &shared.queued, buffer)
        .and_then(|at| parse(&buffer[at], shared.port).map_err(Some));
    let site;
    let response = match request {
        Ok(request) => {
            site = shared.site.lock().expect("no panics while held").clone();
            respond(&request, shared, &site, buffer)
        }
        Err(Some(refusal)) => plain(refusal.status, refusal.why),
        // Closed, or silent until given up on: there is no one to answer.
        Err(None) => return,
    };
    if send(&mut stream, response, buffer).is_ok() {
        linger(stream, buffer);
    }
}

/// Close after answering: end the response, then read what the client still sends (the rest
/// of a refused request), see [`LINGER`]. A client that is quiet for [`POLL`] has nothing in
/// flight: closing then cannot reset the connection.
fn linger(mut stream: TcpStream, buffer: &mut [u8]) {
    if stream.shutdown(Shutdown::Write).is_err() {
        return;
    }
    let deadline = Instant::now() + LINGER;
    let mut read = 0;
    while read < LINGER_BYTES {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left.min(POLL))).is_err() {
            return;
        }
        match stream.read(buffer) {
            Ok(0) | Err(_) => return,
            Ok(n) => read += n,
        }
    }
}

/// Answer a connection no handler can take: one write that cannot block, since this runs on
/// the thread that accepts connections.
fn turn_away(mut stream: &TcpStream) {
    const BUSY: &str = "the server is busy; try again\n";
    let mut bytes = plain(503, BUSY).head().into_bytes();
    bytes.extend_from_slice(BUSY.as_bytes());
    if stream.set_nonblocking(true).is_ok() {
        let _ = stream.write(&bytes);
    }
}

/// The live-reload long poll: the generation of the page `page=` in `query` names (of the
/// whole site without one) once it is other than `since=`, or after [`WAIT`]. Beyond [`WAITERS`] polls at once, `None` at once (answered 503: the page asks
/// again later).
pub(super) fn wait(shared: &Shared, query: &str) -> Option<u64> {
    /// A long poll being held, counted in `Shared::waiters` until dropped.
    struct Held<'a>(&'a AtomicUsize);
    impl Drop for Held<'_> {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
    }
    let held = Held(&shared.waiters);
    if held.0.fetch_add(1, Ordering::SeqCst) >= WAITERS {
        return None;
    }
    let param = |name: &str| {
        query
            .split('&')
            .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
    };
    let since: u64 = param("since").and_then(|s| s.parse().ok()).unwrap_or(0);
    let page = param("page")
        .and_then(|p| super::http::percent_decode(p.as_bytes()))
        .map(|p| super::respond::key_of(p.trim_start_matches('/')));
    let guard = shared.site.lock().expect("no panics while held");
    let (guard, _) = shared
        .changed
        // Any other generation is news: a restarted server counts from 1 again.
        .wait_timeout_while(guard, WAIT, |s| s.generation_of(page.as_deref()) == since)
        .expect("no panics while held");
    let generation = guard.generation_of(page.as_deref());
    drop((guard, held));
    Some(generation)
}
