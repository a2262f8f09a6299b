//! The writer's answer for one recording (`RecordingReceipt`): waited for from a thread,
//! or awaited from a task. It comes once the file is final: synced, checksummed.

use std::future::{Future, IntoFuture};
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::sync::oneshot;

use super::{RecordingError, RecordingSummary};

/// The writer's answer for one recording: `.wait()` from a thread, `.await` from a task.
#[derive(Debug)]
pub struct RecordingReceipt {
    pub(super) rx: oneshot::Receiver<Result<RecordingSummary, RecordingError>>,
    pub(super) path: PathBuf,
}

impl RecordingReceipt {
    /// Whether the answer has come (tests).
    #[cfg(test)]
    pub(super) fn is_ready(&mut self) -> bool {
        !self.rx.is_empty()
    }

    /// Blocks until the file is final. Must not be called from an async context.
    pub fn wait(self) -> Result<RecordingSummary, RecordingError> {
        let path = self.path;
        self.rx
            .blocking_recv()
            .unwrap_or(Err(RecordingError::WriterGone { path }))
    }
}

/// Future of a [`RecordingReceipt`].
#[derive(Debug)]
pub struct RecordingFuture {
    rx: oneshot::Receiver<Result<RecordingSummary, RecordingError>>,
    path: Option<PathBuf>,
}

impl Future for RecordingFuture {
    type Output = Result<RecordingSummary, RecordingError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match Pin::new(&mut self.rx).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(result)) => Poll::Ready(result),
            Poll::Ready(Err(_)) => Poll::Ready(Err(RecordingError::WriterGone {
                path: self.path.take().unwrap_or_default(),
            })),
        }
    }
}

impl IntoFuture for RecordingReceipt {
    type Output = Result<RecordingSummary, RecordingError>;
    type IntoFuture = RecordingFuture;

    fn into_future(self) -> RecordingFuture {
        RecordingFuture {
            rx: self.rx,
            path: Some(self.path),
        }
    }
}
