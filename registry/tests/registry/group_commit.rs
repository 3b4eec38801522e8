//! The group commit primitive on its own (`store::group_commit`): how batches form, what a
//! failed batch answers, the in-flight limit, back-pressure and shutdown.
//!
//! No sleeps: a batch function blocks on a gate the test opens, and reports each batch it
//! starts on a channel, so every assertion is about a state the test waited for. Timeouts only
//! turn a hang into a failure.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use knooppunt_registry::store::group_commit::{
    GroupCommit, GroupCommitBuilder, GroupCommitConfig, GroupCommitError, Pending,
};
use tokio::sync::{Notify, Semaphore, mpsc};

/// Fails the test instead of hanging.
async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), f)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

/// Lets the batch function run only as far as the test allows, and tells it what runs.
#[derive(Clone)]
struct Probe<Req> {
    started: mpsc::UnboundedSender<Vec<Req>>,
    gate: Arc<Semaphore>,
    running: Arc<AtomicUsize>,
    max_running: Arc<AtomicUsize>,
}

struct Observer<Req> {
    started: mpsc::UnboundedReceiver<Vec<Req>>,
    gate: Arc<Semaphore>,
    running: Arc<AtomicUsize>,
    max_running: Arc<AtomicUsize>,
}

fn probe<Req>() -> (Probe<Req>, Observer<Req>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let gate = Arc::new(Semaphore::new(0));
    let running = Arc::new(AtomicUsize::new(0));
    let max_running = Arc::new(AtomicUsize::new(0));
    (
        Probe {
            started: tx,
            gate: gate.clone(),
            running: running.clone(),
            max_running: max_running.clone(),
        },
        Observer {
            started: rx,
            gate,
            running,
            max_running,
        },
    )
}

impl<Req: Clone> Probe<Req> {
    /// Reports the call, then waits for one pass of the gate.
    async fn enter(&self, reqs: &[Req]) {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_running.fetch_max(now, Ordering::SeqCst);
        let _ = self.started.send(reqs.to_vec());
        self.gate.acquire().await.expect("gate open").forget();
        self.running.fetch_sub(1, Ordering::SeqCst);
    }
}

impl<Req> Observer<Req> {
    async fn next_call(&mut self) -> Vec<Req> {
        within("a batch to start", self.started.recv())
            .await
            .expect("batch function alive")
    }

    fn open(&self, calls: usize) {
        self.gate.add_permits(calls);
    }
}

/// Answers `n * 10` for each request `n`, through the probe.
fn times_ten(config: GroupCommitConfig) -> (GroupCommit<u32, u32, String>, Observer<u32>) {
    let (probe, observer) = probe();
    let gc = GroupCommit::spawn(config, move |reqs: Vec<u32>| {
        let probe = probe.clone();
        async move {
            probe.enter(&reqs).await;
            Ok::<_, String>(reqs.iter().map(|n| n * 10).collect())
        }
    });
    (gc, observer)
}

async fn submit_all<Req, Resp, E>(
    gc: &GroupCommit<Req, Resp, E>,
    reqs: impl IntoIterator<Item = Req>,
) -> Vec<Pending<Resp, E>>
where
    Req: Send + 'static,
    Resp: Send + 'static,
    E: Send + Sync + std::fmt::Debug + 'static,
{
    let mut pending = Vec::new();
    for r in reqs {
        pending.push(gc.submit(r).await.expect("queued"));
    }
    pending
}

/// Lets every other ready task of a current-thread runtime run.
async fn settle() {
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn requests_queued_while_the_slot_is_busy_form_batches_of_at_most_max_batch() {
    let (gc, mut obs) = times_ten(GroupCommitConfig {
        max_batch: 4,
        in_flight: 1,
        queue: None,
    });
    let first = gc.submit(0).await.unwrap();
    assert_eq!(obs.next_call().await, [0]);
    // The only slot is busy: these wait in the queue.
    let rest = submit_all(&gc, 1..=10).await;
    obs.open(100);
    assert_eq!(obs.next_call().await, [1, 2, 3, 4]);
    assert_eq!(obs.next_call().await, [5, 6, 7, 8]);
    assert_eq!(obs.next_call().await, [9, 10]);
    assert_eq!(within("answer", first).await.unwrap(), 0);
    for (n, answer) in (1..=10).zip(rest) {
        assert_eq!(within("answer", answer).await.unwrap(), n * 10);
    }
}

#[tokio::test]
async fn a_light_load_makes_batches_of_one() {
    let (gc, mut obs) = times_ten(GroupCommitConfig::default());
    obs.open(100);
    for n in 0..3 {
        assert_eq!(within("answer", gc.call(n)).await.unwrap(), n * 10);
        assert_eq!(obs.next_call().await, [n]);
    }
}

#[tokio::test]
async fn a_weighted_batch_stops_at_the_request_that_reaches_max_batch() {
    let (probe, mut obs) = probe::<Vec<u32>>();
    let gc = GroupCommitBuilder::new(GroupCommitConfig {
        max_batch: 4,
        in_flight: 1,
        queue: None,
    })
    .weight(|r: &Vec<u32>| r.len())
    .spawn(move |reqs: Vec<Vec<u32>>| {
        let probe = probe.clone();
        async move {
            probe.enter(&reqs).await;
            Ok::<_, String>(reqs.iter().map(Vec::len).collect::<Vec<usize>>())
        }
    });
    let first = gc.submit(vec![0; 9]).await.unwrap();
    // Heavier than max_batch alone: still taken, whole.
    assert_eq!(obs.next_call().await, [vec![0; 9]]);
    let rest = submit_all(&gc, [vec![1; 3], vec![2; 3], vec![3]]).await;
    obs.open(100);
    // 3 < 4, so the next request is taken too (6), and the batch is full.
    assert_eq!(obs.next_call().await, [vec![1; 3], vec![2; 3]]);
    assert_eq!(obs.next_call().await, [vec![3]]);
    assert_eq!(within("answer", first).await.unwrap(), 9);
    let mut answers = Vec::new();
    for p in rest {
        answers.push(within("answer", p).await.unwrap());
    }
    assert_eq!(answers, [3, 3, 1]);
}

#[tokio::test]
async fn a_failed_batch_answers_every_caller_with_the_same_error() {
    let (probe, mut obs) = probe::<u32>();
    let gc = GroupCommit::spawn(
        GroupCommitConfig {
            max_batch: 16,
            in_flight: 1,
            queue: None,
        },
        move |reqs: Vec<u32>| {
            let probe = probe.clone();
            async move {
                probe.enter(&reqs).await;
                if reqs.contains(&13) {
                    Err(format!("batch of {} refused", reqs.len()))
                } else if reqs.contains(&99) {
                    Ok(vec![0; reqs.len() - 1])
                } else {
                    Ok(reqs)
                }
            }
        },
    );
    let first = gc.submit(0).await.unwrap();
    assert_eq!(obs.next_call().await, [0]);
    let failing = submit_all(&gc, [11, 12, 13, 14]).await;
    obs.open(1);
    assert_eq!(within("answer", first).await.unwrap(), 0);
    assert_eq!(obs.next_call().await, [11, 12, 13, 14]);
    let wrong = submit_all(&gc, [97, 98, 99]).await;
    obs.open(100);
    let mut errors = Vec::new();
    for p in failing {
        match within("answer", p).await {
            Err(GroupCommitError::Failed(e)) => errors.push(e),
            other => panic!("expected the batch's error, got {other:?}"),
        }
    }
    assert_eq!(*errors[0], "batch of 4 refused");
    assert!(errors.iter().all(|e| Arc::ptr_eq(e, &errors[0])));
    assert_eq!(obs.next_call().await, [97, 98, 99]);
    for p in wrong {
        assert!(matches!(
            within("answer", p).await,
            Err(GroupCommitError::WrongCount {
                requests: 3,
                answers: 2
            })
        ));
    }
    // The task goes on.
    assert_eq!(within("answer", gc.call(20)).await.unwrap(), 20);
}

#[tokio::test]
async fn no_more_than_in_flight_batches_run_at_once() {
    let (gc, mut obs) = times_ten(GroupCommitConfig {
        max_batch: 1,
        in_flight: 2,
        queue: None,
    });
    let pending = submit_all(&gc, 0..10).await;
    assert_eq!(obs.next_call().await, [0]);
    assert_eq!(obs.next_call().await, [1]);
    for next in 2..10 {
        // Everything else has run as far as it can: two batches, the rest waiting.
        settle().await;
        assert!(obs.started.try_recv().is_err(), "a third batch started");
        assert_eq!(obs.running.load(Ordering::SeqCst), 2);
        obs.open(1);
        assert_eq!(obs.next_call().await, [next]);
    }
    obs.open(2);
    for (n, p) in (0..10).zip(pending) {
        assert_eq!(within("answer", p).await.unwrap(), n * 10);
    }
    assert_eq!(obs.max_running.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_callers_each_get_their_own_answer_within_the_limit() {
    let (gc, mut obs) = times_ten(GroupCommitConfig {
        max_batch: 8,
        in_flight: 3,
        queue: Some(16),
    });
    obs.open(usize::MAX >> 4);
    let callers: Vec<_> = (0..400u32)
        .map(|n| {
            let gc = gc.clone();
            tokio::spawn(async move { (n, gc.call(n).await) })
        })
        .collect();
    for c in callers {
        let (n, answer) = within("caller", c).await.unwrap();
        assert_eq!(answer.unwrap(), n * 10);
    }
    drop(gc);
    let mut seen = Vec::new();
    while let Some(batch) = within("the probe to close", obs.started.recv()).await {
        assert!(
            !batch.is_empty() && batch.len() <= 8,
            "batch of {}",
            batch.len()
        );
        seen.extend(batch);
    }
    seen.sort_unstable();
    assert_eq!(seen, (0..400).collect::<Vec<_>>());
    assert!(obs.max_running.load(Ordering::SeqCst) <= 3);
}

#[tokio::test]
async fn a_bounded_queue_makes_callers_wait_for_room() {
    let (gc, mut obs) = times_ten(GroupCommitConfig {
        max_batch: 1,
        in_flight: 1,
        queue: Some(2),
    });
    let first = gc.submit(0).await.unwrap();
    assert_eq!(obs.next_call().await, [0]);
    let queued = submit_all(&gc, [1, 2]).await;
    let third = gc.submit(3);
    tokio::pin!(third);
    settle().await;
    assert!(futures::poll!(&mut third).is_pending(), "the queue is full");
    obs.open(1);
    let third = within("room in the queue", third).await.unwrap();
    obs.open(100);
    assert_eq!(within("answer", first).await.unwrap(), 0);
    for (n, p) in (1..=3).zip(queued.into_iter().chain([third])) {
        assert_eq!(within("answer", p).await.unwrap(), n * 10);
    }
}

/// Signals when dropped (with the batch function that holds it).
struct DropSignal(Arc<Notify>);

impl Drop for DropSignal {
    fn drop(&mut self) {
        self.0.notify_one();
    }
}

async fn nothing_queued_is_lost_when_the_last_handle_goes(queue: Option<usize>) {
    let (probe, mut obs) = probe::<u32>();
    let dropped = Arc::new(Notify::new());
    let signal = DropSignal(dropped.clone());
    let gc = GroupCommit::spawn(
        GroupCommitConfig {
            max_batch: 3,
            in_flight: 2,
            queue,
        },
        move |reqs: Vec<u32>| {
            let _held = &signal;
            let probe = probe.clone();
            async move {
                probe.enter(&reqs).await;
                Ok::<_, String>(reqs)
            }
        },
    );
    let clone = gc.clone();
    let mut pending = vec![gc.submit(0).await.unwrap()];
    assert_eq!(obs.next_call().await, [0]);
    pending.push(clone.submit(1).await.unwrap());
    assert_eq!(obs.next_call().await, [1]);
    // Both slots busy: these wait in the queue when the handles go (a bounded queue is full).
    let last = if queue.is_some() { 4 } else { 12 };
    pending.extend(submit_all(&clone, 2..last).await);
    drop(gc);
    drop(clone);
    obs.open(usize::MAX >> 4);
    for (n, p) in (0..).zip(pending) {
        assert_eq!(within("answer", p).await.unwrap(), n);
    }
    // Then the task ends, and with it the batch function.
    within("the batch function to be dropped", dropped.notified()).await;
    // Each request ran once, in queue order (0 and 1 were seen above).
    let mut ran = vec![0, 1];
    while let Some(batch) = within("the probe to close", obs.started.recv()).await {
        ran.extend(batch);
    }
    assert_eq!(ran, (0..last).collect::<Vec<_>>());
}

#[tokio::test]
async fn nothing_queued_is_lost_when_the_last_handle_goes_unbounded() {
    nothing_queued_is_lost_when_the_last_handle_goes(None).await;
}

#[tokio::test]
async fn nothing_queued_is_lost_when_the_last_handle_goes_bounded() {
    nothing_queued_is_lost_when_the_last_handle_goes(Some(2)).await;
}

#[tokio::test]
async fn same_call_splits_a_batch_into_calls_in_queue_order() {
    let (probe, mut obs) = probe::<(char, u32)>();
    let gc = GroupCommitBuilder::new(GroupCommitConfig {
        max_batch: 16,
        in_flight: 1,
        queue: None,
    })
    .same_call(|a: &(char, u32), b: &(char, u32)| a.0 == b.0)
    .spawn(move |reqs: Vec<(char, u32)>| {
        let probe = probe.clone();
        async move {
            probe.enter(&reqs).await;
            if reqs[0].0 == 'b' {
                Err("b refused".to_owned())
            } else {
                Ok(reqs.iter().map(|r| r.1).collect::<Vec<u32>>())
            }
        }
    });
    let first = gc.submit(('a', 0)).await.unwrap();
    assert_eq!(obs.next_call().await, [('a', 0)]);
    let reqs = [('a', 1), ('a', 2), ('b', 3), ('b', 4), ('a', 5)];
    let pending = submit_all(&gc, reqs).await;
    obs.open(1);
    assert_eq!(within("answer", first).await.unwrap(), 0);
    // One batch, three calls, one after another in its one slot.
    assert_eq!(obs.next_call().await, [('a', 1), ('a', 2)]);
    settle().await;
    assert!(obs.started.try_recv().is_err(), "calls of a batch overlap");
    obs.open(1);
    assert_eq!(obs.next_call().await, [('b', 3), ('b', 4)]);
    obs.open(1);
    assert_eq!(obs.next_call().await, [('a', 5)]);
    obs.open(1);
    let mut answers = Vec::new();
    for p in pending {
        answers.push(within("answer", p).await.map_err(|e| e.to_string()));
    }
    assert_eq!(
        answers,
        [
            Ok(1),
            Ok(2),
            Err("batch failed: b refused".to_owned()),
            Err("batch failed: b refused".to_owned()),
            Ok(5)
        ]
    );
}

#[tokio::test]
async fn a_panicking_batch_loses_only_its_own_requests() {
    let gc = GroupCommit::spawn(
        GroupCommitConfig {
            max_batch: 1,
            in_flight: 1,
            queue: None,
        },
        |reqs: Vec<u32>| async move {
            assert!(!reqs.contains(&13), "the batch function panics on 13");
            Ok::<_, String>(reqs)
        },
    );
    assert!(matches!(
        within("answer", gc.call(13)).await,
        Err(GroupCommitError::Stopped)
    ));
    // The slot came back: the only one there is.
    assert_eq!(within("answer", gc.call(14)).await.unwrap(), 14);
}
