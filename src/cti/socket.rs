//! A connection's websocket while one is attached, driven from the connection's own task:
//! frames queue in memory and go out with one flush per wake-up (an event batch of a bus
//! change is one write), and the next inbound frame is read in the same poll.
//!
//! There is no writer task: a frame costs no second task's wake-up and no channel hop,
//! which is most of what a fan-out to thousands of desktops used to spend per frame. The
//! queue is bounded by the connection's rules (`Connection::deliver` stops queueing events
//! past its limit and owes a resync; replies are always queued, and reading stops while
//! the queue is over its limit, so a client that sends but never reads cannot grow it).

use std::collections::VecDeque;
use std::future::poll_fn;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::{Sink, SinkExt, Stream};

/// How long a closing socket may take to send its close frame before it is dropped.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// What the socket did when polled.
#[derive(Debug)]
pub(super) enum Io {
    /// A frame from the desktop, or the end of its stream (`None`) or an error.
    Read(Option<Result<Message, axum::Error>>),
    /// Writing failed: the socket is gone.
    WriteFailed,
    /// The queue drained down to the room asked for (`poll` with `room_at`).
    Room,
}

pub(super) struct Socket {
    socket: WebSocket,
    queued: VecDeque<Message>,
    /// Frames handed to the websocket since its last flush.
    unflushed: bool,
}

impl Socket {
    pub(super) fn new(socket: WebSocket) -> Socket {
        Socket {
            socket,
            queued: VecDeque::new(),
            unflushed: false,
        }
    }

    /// Frames waiting to be written.
    pub(super) fn queued(&self) -> usize {
        self.queued.len()
    }

    pub(super) fn queue(&mut self, message: Message) {
        self.queued.push_back(message);
    }

    /// Writes what is queued (one flush for all of it), then reads. `read_below`: reading
    /// pauses while more frames than this are queued. `room_at`: resolve with `Io::Room`
    /// once no more than this many are queued.
    pub(super) fn poll_io(
        &mut self,
        cx: &mut Context<'_>,
        read_below: usize,
        room_at: Option<usize>,
    ) -> Poll<Io> {
        if self.poll_write(cx).is_err() {
            return Poll::Ready(Io::WriteFailed);
        }
        if room_at.is_some_and(|room| self.queued.len() <= room) {
            return Poll::Ready(Io::Room);
        }
        if self.queued.len() < read_below
            && let Poll::Ready(frame) = Pin::new(&mut self.socket).poll_next(cx)
        {
            return Poll::Ready(Io::Read(frame));
        }
        Poll::Pending
    }

    /// Hands queued frames to the websocket while it takes them and flushes once; a full
    /// socket leaves the rest queued with the waker registered.
    fn poll_write(&mut self, cx: &mut Context<'_>) -> Result<(), axum::Error> {
        while !self.queued.is_empty() {
            match Pin::new(&mut self.socket).poll_ready(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Err(e),
                Poll::Pending => break,
            }
            if let Some(message) = self.queued.pop_front() {
                Pin::new(&mut self.socket).start_send(message)?;
                self.unflushed = true;
            }
        }
        if self.unflushed {
            match Pin::new(&mut self.socket).poll_flush(cx) {
                Poll::Ready(Ok(())) => self.unflushed = false,
                Poll::Ready(Err(e)) => return Err(e),
                Poll::Pending => {}
            }
        }
        Ok(())
    }

    /// Sends what is queued and a close frame, in a task of its own (bounded in time), so
    /// the connection can end at once.
    pub(super) fn close(mut self, code: u16, reason: &'static str) {
        self.queue(Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        })));
        tokio::spawn(async move {
            let drained = poll_fn(|cx| {
                if self.poll_write(cx).is_err() || (self.queued.is_empty() && !self.unflushed) {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            });
            let _ = tokio::time::timeout(CLOSE_WAIT, drained).await;
            let _ = tokio::time::timeout(CLOSE_WAIT, self.socket.close()).await;
        });
    }
}
