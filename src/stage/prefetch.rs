//! Prefetch: runs the stages upstream of it in their own task, a bounded number of items
//! ahead of the consumer.
//!
//! Without it the database read and the network write take turns; with it the next chunks
//! are being produced while the current one is being sent. The bound (`depth`) keeps memory
//! flat and lets a slow consumer slow the producer. Dropping the [`Prefetch`] aborts the
//! task, which drops the upstream (and so cancels a database query) promptly. A panic in
//! the task is re-raised in the consumer, so it can never look like a clean end of stream.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures_util::{FutureExt, Stream, StreamExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// A stream that is fed by a task running its upstream ahead; see [`prefetch`].
pub struct Prefetch<S: Stream> {
    inner: Inner<S>,
}

enum Inner<S: Stream> {
    /// Depth zero: the upstream is polled in place (and let go of after its first error).
    Inline(Option<S>),
    Ahead {
        items: mpsc::Receiver<S::Item>,
        task: Option<JoinHandle<()>>,
    },
}

/// Runs `upstream` in a spawned task, at most `depth` items ahead of the consumer.
///
/// With `depth == 0` nothing is spawned and the upstream is polled in place. The task stops
/// after forwarding the first error. Must be called inside a Tokio runtime when `depth > 0`.
pub fn prefetch<S, T, E>(upstream: S, depth: usize) -> Prefetch<S>
where
    S: Stream<Item = Result<T, E>> + Send + Unpin + 'static,
    T: Send + 'static,
    E: Send + 'static,
{
    if depth == 0 {
        return Prefetch {
            inner: Inner::Inline(Some(upstream)),
        };
    }
    let (sender, items) = mpsc::channel(depth);
    let task = tokio::spawn(async move {
        let mut upstream = upstream;
        while let Some(item) = upstream.next().await {
            let failed = item.is_err();
            if sender.send(item).await.is_err() || failed {
                break;
            }
        }
    });
    Prefetch {
        inner: Inner::Ahead {
            items,
            task: Some(task),
        },
    }
}

impl<S, T, E> Stream for Prefetch<S>
where
    S: Stream<Item = Result<T, E>> + Unpin,
{
    type Item = Result<T, E>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match &mut self.inner {
            Inner::Inline(slot) => {
                let Some(upstream) = slot.as_mut() else {
                    return Poll::Ready(None);
                };
                let item = ready!(upstream.poll_next_unpin(cx));
                if !matches!(item, Some(Ok(_))) {
                    *slot = None;
                }
                Poll::Ready(item)
            }
            Inner::Ahead { items, task } => {
                if let Some(item) = ready!(items.poll_recv(cx)) {
                    return Poll::Ready(Some(item));
                }
                // The channel closed: the task either finished or panicked. Only the join
                // handle can tell, and a panic must not pass for the end of the data.
                let Some(handle) = task.as_mut() else {
                    return Poll::Ready(None);
                };
                let outcome = ready!(handle.poll_unpin(cx));
                *task = None;
                if let Err(error) = outcome {
                    if error.is_panic() {
                        std::panic::resume_unwind(error.into_panic());
                    }
                }
                Poll::Ready(None)
            }
        }
    }
}

impl<S: Stream> Drop for Prefetch<S> {
    fn drop(&mut self) {
        if let Inner::Ahead {
            task: Some(task), ..
        } = &self.inner
        {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use futures_util::stream;

    #[tokio::test]
    async fn passes_items_through_in_order_at_every_depth() {
        for depth in [0, 1, 4] {
            let upstream = stream::iter((0..100).map(Ok::<_, String>));
            let items: Vec<_> = prefetch(upstream, depth).collect().await;
            assert_eq!(items, (0..100).map(Ok).collect::<Vec<_>>(), "depth {depth}");
        }
    }

    #[tokio::test]
    async fn first_error_passes_through_and_nothing_follows() {
        for depth in [0, 1, 4] {
            let upstream = stream::iter(vec![Ok(1), Err("broken"), Ok(2)]);
            let items: Vec<_> = prefetch(upstream, depth).collect().await;
            assert_eq!(items, vec![Ok(1), Err("broken")], "depth {depth}");
        }
    }

    /// Counts how many items the upstream has produced, to observe how far ahead it ran.
    fn counting_upstream(
        produced: Arc<AtomicUsize>,
    ) -> impl Stream<Item = Result<usize, ()>> + Send + Unpin + 'static {
        stream::iter(0..1_000_000).map(move |n| {
            produced.fetch_add(1, Ordering::SeqCst);
            Ok(n)
        })
    }

    #[tokio::test]
    async fn runs_at_most_depth_items_ahead() {
        let produced = Arc::new(AtomicUsize::new(0));
        let mut stream = prefetch(counting_upstream(produced.clone()), 3);
        assert_eq!(stream.next().await, Some(Ok(0)));
        tokio::time::sleep(Duration::from_millis(50)).await;
        // One taken, three queued, one in the task's hand waiting for room. The lower
        // bound matters as much as the upper: a prefetch that never reads ahead would
        // pass an upper bound alone.
        let (taken, depth) = (1, 3);
        let ahead = produced.load(Ordering::SeqCst);
        assert!(
            ahead >= taken + depth,
            "read only {ahead} items: no read-ahead"
        );
        assert!(
            ahead <= taken + depth + 1,
            "read {ahead} items: ran too far ahead"
        );
    }

    #[tokio::test]
    async fn dropping_the_stream_stops_the_task() {
        let produced = Arc::new(AtomicUsize::new(0));
        let dropped = Arc::new(AtomicUsize::new(0));
        struct Sentinel(Arc<AtomicUsize>);
        impl Drop for Sentinel {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let sentinel = Sentinel(dropped.clone());
        let upstream = counting_upstream(produced.clone()).map(move |item| {
            let _keep = &sentinel;
            item
        });
        let mut stream = prefetch(Box::pin(upstream), 2);
        assert_eq!(stream.next().await, Some(Ok(0)));
        drop(stream);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(
            dropped.load(Ordering::SeqCst),
            1,
            "the upstream was not dropped"
        );
        let after_drop = produced.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(produced.load(Ordering::SeqCst), after_drop);
    }

    #[tokio::test]
    #[should_panic(expected = "upstream blew up")]
    async fn a_panic_upstream_is_not_a_clean_end() {
        let upstream = stream::iter(0..3).map(|n| {
            if n == 2 {
                panic!("upstream blew up");
            }
            Ok::<_, ()>(n)
        });
        let _: Vec<_> = prefetch(upstream, 1).collect().await;
    }
}
