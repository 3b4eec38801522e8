//! Group commit, once: a background task turns concurrent requests into batches and answers each
//! request on its own. The workspace's batchers are thin users of it:
//! [`BatchingStore`](super::BatchingStore) (commands into [`Store::execute_batch`](super::Store)),
//! and in `knooppunt-ops` `BatchingAudit` (appends into one `append_many`) and
//! `BatchingDeliveryState` (inbox and blocker look-ups, inbox marks, finishes).
//!
//! *How a batch forms.* Requests wait in one queue, in arrival order. When one of the
//! [`GroupCommitConfig::in_flight`] slots is free, the task waits for a request, then takes
//! whatever else is queued at that moment, until the batch reaches
//! [`GroupCommitConfig::max_batch`] (counted in requests, or in a caller-given weight) or the
//! queue is momentarily empty. No timer: under light load a batch is one request, under heavy load
//! batches grow by themselves while the slots are busy. The batch function runs on a task of its
//! own, so up to `in_flight` batches run side by side.
//!
//! *Answers.* The batch function gets the requests in queue order and returns one answer per
//! request, in the same order; each caller gets its own. When it fails, every request of that
//! call gets the same error ([`GroupCommitError::Failed`]); when it returns the wrong number of
//! answers, every request of that call gets [`GroupCommitError::WrongCount`]. Order per caller is
//! the caller's: a caller that awaits one request before it sends the next never has two in one
//! batch or in two batches at once.
//!
//! *Shutdown.* The task stops when the last [`GroupCommit`] handle is dropped, and not before it
//! has put every request queued until then into a batch; batches in flight run to their end, and
//! the batch function is dropped after the last one. Nothing already queued is lost. Requests
//! are only lost with the runtime (it drops the tasks) or with a batch function that panics;
//! their callers get [`GroupCommitError::Stopped`], and a panic costs only the requests of that
//! batch (its slot is freed and the task goes on).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::sync::{Semaphore, mpsc, oneshot};

/// Sizes of a [`GroupCommit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupCommitConfig {
    /// A batch stops growing once it holds this many requests (or this much weight, see
    /// [`GroupCommitBuilder::weight`]). At least 1.
    pub max_batch: usize,
    /// Batches in flight at once; each takes whatever is queued when it starts. At least 1.
    pub in_flight: usize,
    /// `Some(n)`: at most `n` requests wait in the queue, further callers wait for room
    /// (back-pressure). `None`: the queue is unbounded and queueing never waits.
    pub queue: Option<usize>,
}

impl Default for GroupCommitConfig {
    /// 256 requests per batch, 2 in flight, unbounded queue.
    fn default() -> Self {
        Self {
            max_batch: 256,
            in_flight: 2,
            queue: None,
        }
    }
}

/// Why a request got no answer of its own.
#[derive(Debug)]
pub enum GroupCommitError<E> {
    /// The batch function failed for the call this request was part of; every request of that
    /// call gets the same error.
    Failed(Arc<E>),
    /// The batch function returned `answers` answers for `requests` requests (a bug in it);
    /// every request of that call gets this.
    WrongCount {
        /// Requests in the call.
        requests: usize,
        /// Answers it returned.
        answers: usize,
    },
    /// The task has stopped: the runtime is shutting down, or the batch function panicked on
    /// this request's batch (which may then have been partly or wholly carried out).
    Stopped,
}

impl<E: fmt::Display> fmt::Display for GroupCommitError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Failed(e) => write!(f, "batch failed: {e}"),
            Self::WrongCount { requests, answers } => {
                write!(f, "a batch of {requests} returned {answers} answers")
            }
            Self::Stopped => f.write_str("the group commit task has stopped"),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for GroupCommitError<E> {}

type Answer<Resp, E> = Result<Resp, GroupCommitError<E>>;

/// One queued request and where its answer goes.
struct Job<Req, Resp, E> {
    request: Req,
    reply: oneshot::Sender<Answer<Resp, E>>,
}

enum Queue<T> {
    Bounded(mpsc::Sender<T>),
    Unbounded(mpsc::UnboundedSender<T>),
}

impl<T> Clone for Queue<T> {
    fn clone(&self) -> Self {
        match self {
            Self::Bounded(tx) => Self::Bounded(tx.clone()),
            Self::Unbounded(tx) => Self::Unbounded(tx.clone()),
        }
    }
}

enum Receiver<T> {
    Bounded(mpsc::Receiver<T>),
    Unbounded(mpsc::UnboundedReceiver<T>),
}

impl<T> Receiver<T> {
    async fn recv(&mut self) -> Option<T> {
        match self {
            Self::Bounded(rx) => rx.recv().await,
            Self::Unbounded(rx) => rx.recv().await,
        }
    }

    fn try_recv(&mut self) -> Option<T> {
        match self {
            Self::Bounded(rx) => rx.try_recv().ok(),
            Self::Unbounded(rx) => rx.try_recv().ok(),
        }
    }
}

type Weight<Req> = Arc<dyn Fn(&Req) -> usize + Send + Sync>;
/// Whether a request may join the call that another request opened.
type SameCallFn<Req> = dyn Fn(&Req, &Req) -> bool + Send + Sync;
type SameCall<Req> = Arc<SameCallFn<Req>>;

/// A [`GroupCommit`] with the optional shape of its batches: how much a request weighs and
/// which requests may share a call of the batch function.
pub struct GroupCommitBuilder<Req> {
    config: GroupCommitConfig,
    weight: Option<Weight<Req>>,
    same_call: Option<SameCall<Req>>,
}

impl<Req> fmt::Debug for GroupCommitBuilder<Req> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupCommitBuilder")
            .field("config", &self.config)
            .field("weighted", &self.weight.is_some())
            .field("split_calls", &self.same_call.is_some())
            .finish()
    }
}

impl<Req: Send + 'static> GroupCommitBuilder<Req> {
    /// Requests of weight 1, all in one call per batch.
    pub fn new(config: GroupCommitConfig) -> Self {
        Self {
            config,
            weight: None,
            same_call: None,
        }
    }

    /// Counts [`GroupCommitConfig::max_batch`] in `weight` per request instead of 1 (the audit
    /// trail counts entries, since one request may carry many). A request is never split: the
    /// first one of a batch is taken whatever its weight, and the one that reaches the limit
    /// is taken too, so a batch may weigh up to one request more than `max_batch`.
    pub fn weight(mut self, weight: impl Fn(&Req) -> usize + Send + Sync + 'static) -> Self {
        self.weight = Some(Arc::new(weight));
        self
    }

    /// Splits a batch into several calls of the batch function: a call takes consecutive
    /// requests while `same_call(first request of the call, next)` holds. The calls of one
    /// batch run one after another, in queue order, in the batch's slot; a failure answers only
    /// the requests of its own call. (The store needs this: commands decided on different
    /// reference data cannot share one `execute_batch`.)
    pub fn same_call(
        mut self,
        same_call: impl Fn(&Req, &Req) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.same_call = Some(Arc::new(same_call));
        self
    }

    /// Starts the task on the current Tokio runtime (panics outside one) with `run` as the
    /// batch function: it gets the requests of one call (never none), in queue order, and
    /// returns one answer per request in the same order, or an error for all of them.
    pub fn spawn<Resp, E, F, Fut>(self, run: F) -> GroupCommit<Req, Resp, E>
    where
        Resp: Send + 'static,
        E: Send + Sync + 'static,
        F: Fn(Vec<Req>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<Resp>, E>> + Send + 'static,
    {
        let config = self.config;
        let (queue, rx) = match config.queue {
            Some(n) => {
                let (tx, rx) = mpsc::channel(n.max(1));
                (Queue::Bounded(tx), Receiver::Bounded(rx))
            }
            None => {
                let (tx, rx) = mpsc::unbounded_channel();
                (Queue::Unbounded(tx), Receiver::Unbounded(rx))
            }
        };
        let task = Task {
            max_batch: config.max_batch.max(1),
            in_flight: config.in_flight.max(1),
            weight: self.weight,
            same_call: self.same_call,
            run: Arc::new(run),
        };
        tokio::spawn(task.collect(rx));
        GroupCommit { queue, config }
    }
}

/// The handle of a group commit task: [`call`](Self::call) queues a request and waits for its
/// answer. Cheap to clone; the task stops when the last clone is dropped, after answering
/// everything queued (see the [module](self) documentation).
pub struct GroupCommit<Req, Resp, E> {
    queue: Queue<Job<Req, Resp, E>>,
    config: GroupCommitConfig,
}

impl<Req, Resp, E> Clone for GroupCommit<Req, Resp, E> {
    fn clone(&self) -> Self {
        Self {
            queue: self.queue.clone(),
            config: self.config,
        }
    }
}

impl<Req, Resp, E> fmt::Debug for GroupCommit<Req, Resp, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupCommit")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<Req: Send + 'static, Resp: Send + 'static, E: Send + Sync + 'static>
    GroupCommit<Req, Resp, E>
{
    /// [`GroupCommitBuilder::spawn`] with requests of weight 1, one call per batch.
    pub fn spawn<F, Fut>(config: GroupCommitConfig, run: F) -> Self
    where
        F: Fn(Vec<Req>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<Resp>, E>> + Send + 'static,
    {
        GroupCommitBuilder::new(config).spawn(run)
    }

    /// The sizes it was started with.
    pub fn config(&self) -> GroupCommitConfig {
        self.config
    }

    /// Queues `request` and waits for its answer.
    pub async fn call(&self, request: Req) -> Result<Resp, GroupCommitError<E>> {
        self.submit(request).await?.await
    }

    /// Queues `request` (waiting for room when the queue is bounded and full) and returns its
    /// answer to come. Once this returns, the request is the task's: it is answered even when
    /// every handle is dropped before the answer is awaited.
    pub async fn submit(&self, request: Req) -> Result<Pending<Resp, E>, GroupCommitError<E>> {
        let (reply, answer) = oneshot::channel();
        let job = Job { request, reply };
        let sent = match &self.queue {
            Queue::Bounded(tx) => tx.send(job).await.is_ok(),
            Queue::Unbounded(tx) => tx.send(job).is_ok(),
        };
        if sent {
            Ok(Pending { answer })
        } else {
            Err(GroupCommitError::Stopped)
        }
    }
}

/// The answer to a request queued with [`GroupCommit::submit`].
pub struct Pending<Resp, E> {
    answer: oneshot::Receiver<Answer<Resp, E>>,
}

impl<Resp, E> fmt::Debug for Pending<Resp, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pending").finish_non_exhaustive()
    }
}

impl<Resp, E> Future for Pending<Resp, E> {
    type Output = Result<Resp, GroupCommitError<E>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.answer)
            .poll(cx)
            .map(|answer| answer.unwrap_or(Err(GroupCommitError::Stopped)))
    }
}

/// What the task needs to form and run batches.
struct Task<Req, F> {
    max_batch: usize,
    in_flight: usize,
    weight: Option<Weight<Req>>,
    same_call: Option<SameCall<Req>>,
    run: Arc<F>,
}

impl<Req, F> Task<Req, F> {
    fn weigh(&self, request: &Req) -> usize {
        self.weight.as_ref().map_or(1, |w| w(request))
    }

    /// Forms batches while a slot is free and runs each on a task of its own; ends once the
    /// queue is closed and empty.
    async fn collect<Resp, E, Fut>(self, mut rx: Receiver<Job<Req, Resp, E>>)
    where
        Req: Send + 'static,
        Resp: Send + 'static,
        E: Send + Sync + 'static,
        F: Fn(Vec<Req>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<Resp>, E>> + Send + 'static,
    {
        let slots = Arc::new(Semaphore::new(self.in_flight));
        loop {
            let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
                return;
            };
            let Some(first) = rx.recv().await else {
                // Closed and drained; the batches in flight run to their end on their own.
                return;
            };
            let mut weight = self.weigh(&first.request);
            let mut jobs = vec![first];
            while weight < self.max_batch {
                match rx.try_recv() {
                    Some(job) => {
                        weight += self.weigh(&job.request);
                        jobs.push(job);
                    }
                    None => break,
                }
            }
            let run = Arc::clone(&self.run);
            let same_call = self.same_call.clone();
            tokio::spawn(async move {
                run_batch(&*run, same_call.as_deref(), jobs).await;
                // A panic above frees the slot as well.
                drop(slot);
            });
        }
    }
}

/// Runs one batch: one call of `run`, or (with `same_call`) one call per run of requests that
/// may share a call, one after another.
async fn run_batch<Req, Resp, E, F, Fut>(
    run: &F,
    same_call: Option<&SameCallFn<Req>>,
    jobs: Vec<Job<Req, Resp, E>>,
) where
    F: Fn(Vec<Req>) -> Fut,
    Fut: Future<Output = Result<Vec<Resp>, E>>,
{
    let Some(same_call) = same_call else {
        return run_call(run, jobs).await;
    };
    let mut jobs = jobs.into_iter().peekable();
    while let Some(first) = jobs.next() {
        let mut call = vec![first];
        while let Some(next) = jobs.peek() {
            if same_call(&call[0].request, &next.request) {
                call.extend(jobs.next());
            } else {
                break;
            }
        }
        run_call(run, call).await;
    }
}

/// One call of the batch function, and its answers to each request.
async fn run_call<Req, Resp, E, F, Fut>(run: &F, jobs: Vec<Job<Req, Resp, E>>)
where
    F: Fn(Vec<Req>) -> Fut,
    Fut: Future<Output = Result<Vec<Resp>, E>>,
{
    let (requests, replies): (Vec<Req>, Vec<_>) =
        jobs.into_iter().map(|j| (j.request, j.reply)).unzip();
    let n = requests.len();
    match run(requests).await {
        Ok(answers) if answers.len() == n => {
            for (reply, answer) in replies.into_iter().zip(answers) {
                // A caller that went away no longer needs its answer.
                let _ = reply.send(Ok(answer));
            }
        }
        Ok(answers) => {
            let answers = answers.len();
            for reply in replies {
                let _ = reply.send(Err(GroupCommitError::WrongCount {
                    requests: n,
                    answers,
                }));
            }
        }
        Err(e) => {
            let e = Arc::new(e);
            for reply in replies {
                let _ = reply.send(Err(GroupCommitError::Failed(Arc::clone(&e))));
            }
        }
    }
}
