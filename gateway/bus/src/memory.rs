//! The in-process bus: exchanges, bindings and queues that behave like RabbitMQ's for what
//! Knooppunt uses — topic and direct routing, mandatory publishing (unroutable is an error),
//! ack, nack with or without requeue, redelivery of dropped deliveries, prefetch, per-queue
//! message TTL and dead-lettering. Timers use tokio time, so tests may `tokio::time::pause()`.
//!
//! Messages live in memory only: this is the sandbox and test bus, not a durable one.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use tokio::sync::Notify;

use super::topology::{ExchangeKind, QueueSpec, topic_matches};
use super::{BusError, Consumer, Delivery, Message, Publish, Settle, Topology, Transport};

/// The in-process transport. Clones share one broker.
#[derive(Clone, Default)]
pub struct MemoryTransport {
    broker: Arc<Broker>,
}

impl fmt::Debug for MemoryTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryTransport").finish_non_exhaustive()
    }
}

#[derive(Default)]
struct Broker {
    state: Mutex<State>,
    closed: AtomicBool,
    next_token: AtomicU64,
}

#[derive(Default)]
struct State {
    exchanges: HashMap<String, Exchange>,
    queues: HashMap<String, Queue>,
}

struct Exchange {
    kind: ExchangeKind,
    /// (routing key or pattern, queue)
    bindings: Vec<(String, String)>,
}

struct Queue {
    spec: QueueSpec,
    ready: VecDeque<Entry>,
    notify: Arc<Notify>,
}

#[derive(Clone)]
struct Entry {
    token: u64,
    message: Message,
    redelivered: bool,
}

impl Broker {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock only means another thread panicked mid-update of plain collections;
        // the data is still consistent enough for a test bus.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn token(&self) -> u64 {
        self.next_token.fetch_add(1, Ordering::Relaxed)
    }
}

/// Routes `message` through `exchange`; returns the number of queues it reached.
fn route(
    broker: &Arc<Broker>,
    state: &mut State,
    exchange: &str,
    routing_key: &str,
    message: &Message,
) -> Result<usize, BusError> {
    let ex = state
        .exchanges
        .get(exchange)
        .ok_or_else(|| BusError::NotFound {
            kind: "exchange",
            name: exchange.to_owned(),
        })?;
    let mut targets: Vec<String> = ex
        .bindings
        .iter()
        .filter(|(key, _)| match ex.kind {
            ExchangeKind::Topic => topic_matches(key, routing_key),
            ExchangeKind::Direct => key == routing_key,
        })
        .map(|(_, q)| q.clone())
        .collect();
    targets.sort();
    targets.dedup();
    let mut reached = 0;
    for q in targets {
        if let Some(queue) = state.queues.get_mut(&q) {
            let entry = Entry {
                token: broker.token(),
                message: message.clone(),
                redelivered: false,
            };
            if let Some(ttl) = queue.spec.message_ttl {
                schedule_expiry(broker, q.clone(), entry.token, ttl);
            }
            queue.ready.push_back(entry);
            queue.notify.notify_waiters();
            reached += 1;
        }
    }
    Ok(reached)
}

/// After `ttl`, dead-letters the entry if it is still waiting in the queue.
fn schedule_expiry(broker: &Arc<Broker>, queue: String, token: u64, ttl: std::time::Duration) {
    let Ok(handle) = tokio::runtime::Handle::try_current() else {
        tracing::warn!(queue = %queue, "no tokio runtime: message ttl not applied");
        return;
    };
    let broker = Arc::clone(broker);
    handle.spawn(async move {
        tokio::time::sleep(ttl).await;
        let mut state = broker.lock();
        let Some(q) = state.queues.get_mut(&queue) else {
            return;
        };
        let Some(pos) = q.ready.iter().position(|e| e.token == token) else {
            return; // consumed meanwhile
        };
        let Some(entry) = q.ready.remove(pos) else {
            return;
        };
        let dl = q.spec.dead_letter.clone();
        dead_letter(&broker, &mut state, dl, &entry.message, &queue);
    });
}

fn dead_letter(
    broker: &Arc<Broker>,
    state: &mut State,
    dl: Option<(String, String)>,
    message: &Message,
    from: &str,
) {
    let Some((exchange, key)) = dl else {
        tracing::debug!(queue = %from, message_id = %message.id, "dropped without dead-letter exchange");
        return;
    };
    match route(broker, state, &exchange, &key, message) {
        Ok(0) | Err(_) => {
            tracing::warn!(queue = %from, message_id = %message.id, "dead-lettered message unroutable, dropped");
        }
        Ok(_) => {}
    }
}

impl MemoryTransport {
    /// A new, empty broker.
    pub fn new() -> Self {
        Self::default()
    }

    /// Shuts the bus down: consumers return `None`, publishes fail with [`BusError::Closed`].
    pub fn close(&self) {
        self.broker.closed.store(true, Ordering::SeqCst);
        let state = self.broker.lock();
        for q in state.queues.values() {
            q.notify.notify_waiters();
        }
    }

    fn publish_one(
        &self,
        exchange: &str,
        routing_key: &str,
        msg: &Message,
        mandatory: bool,
    ) -> Result<(), BusError> {
        self.check_open()?;
        let mut state = self.broker.lock();
        let reached = route(&self.broker, &mut state, exchange, routing_key, msg)?;
        if reached == 0 && mandatory {
            return Err(BusError::Unroutable {
                message_id: msg.id,
                exchange: exchange.to_owned(),
                routing_key: routing_key.to_owned(),
            });
        }
        Ok(())
    }

    fn check_open(&self) -> Result<(), BusError> {
        if self.broker.closed.load(Ordering::SeqCst) {
            Err(BusError::Closed)
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl Transport for MemoryTransport {
    async fn declare(&self, topology: &Topology) -> Result<(), BusError> {
        self.check_open()?;
        let mut state = self.broker.lock();
        for ex in topology.exchanges() {
            match state.exchanges.get(&ex.name) {
                Some(existing) if existing.kind != ex.kind => {
                    return Err(BusError::Broker(format!(
                        "exchange {:?} exists with another type",
                        ex.name
                    )));
                }
                Some(_) => {}
                None => {
                    state.exchanges.insert(
                        ex.name.clone(),
                        Exchange {
                            kind: ex.kind,
                            bindings: Vec::new(),
                        },
                    );
                }
            }
        }
        for q in topology.queues() {
            match state.queues.get(&q.name) {
                Some(existing) if existing.spec != q => {
                    return Err(BusError::Broker(format!(
                        "queue {:?} exists with other arguments (PRECONDITION_FAILED)",
                        q.name
                    )));
                }
                Some(_) => {}
                None => {
                    state.queues.insert(
                        q.name.clone(),
                        Queue {
                            spec: q.clone(),
                            ready: VecDeque::new(),
                            notify: Arc::new(Notify::new()),
                        },
                    );
                }
            }
        }
        for b in topology.bindings() {
            let ex = state
                .exchanges
                .get_mut(&b.exchange)
                .ok_or_else(|| BusError::NotFound {
                    kind: "exchange",
                    name: b.exchange.clone(),
                })?;
            let pair = (b.routing_key.clone(), b.queue.clone());
            if !ex.bindings.contains(&pair) {
                ex.bindings.push(pair);
            }
        }
        Ok(())
    }

    async fn publish(
        &self,
        exchange: &str,
        routing_key: &str,
        msg: &Message,
    ) -> Result<(), BusError> {
        self.publish_one(exchange, routing_key, msg, true)
    }

    async fn publish_batch(&self, items: &[Publish]) -> Result<(), BusError> {
        for p in items {
            self.publish_one(&p.exchange, &p.routing_key, &p.message, p.mandatory)?;
        }
        Ok(())
    }

    async fn consume(&self, queue: &str, prefetch: u16) -> Result<Box<dyn Consumer>, BusError> {
        self.check_open()?;
        let notify = {
            let state = self.broker.lock();
            let q = state.queues.get(queue).ok_or_else(|| BusError::NotFound {
                kind: "queue",
                name: queue.to_owned(),
            })?;
            Arc::clone(&q.notify)
        };
        Ok(Box::new(MemoryConsumer {
            broker: Arc::clone(&self.broker),
            queue: queue.to_owned(),
            prefetch: usize::from(prefetch),
            unacked: Arc::new(AtomicUsize::new(0)),
            notify,
        }))
    }

    async fn queue_depth(&self, queue: &str) -> Result<u64, BusError> {
        let state = self.broker.lock();
        let q = state.queues.get(queue).ok_or_else(|| BusError::NotFound {
            kind: "queue",
            name: queue.to_owned(),
        })?;
        Ok(q.ready.len() as u64)
    }
}

struct MemoryConsumer {
    broker: Arc<Broker>,
    queue: String,
    prefetch: usize,
    unacked: Arc<AtomicUsize>,
    notify: Arc<Notify>,
}

impl fmt::Debug for MemoryConsumer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryConsumer")
            .field("queue", &self.queue)
            .field("prefetch", &self.prefetch)
            .field("unacked", &self.unacked.load(Ordering::Relaxed))
            .finish()
    }
}

#[async_trait]
impl Consumer for MemoryConsumer {
    async fn next(&mut self) -> Option<Delivery> {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.broker.closed.load(Ordering::SeqCst) {
                return None;
            }
            {
                let mut state = self.broker.lock();
                let q = state.queues.get_mut(&self.queue)?;
                let room =
                    self.prefetch == 0 || self.unacked.load(Ordering::SeqCst) < self.prefetch;
                if room && let Some(entry) = q.ready.pop_front() {
                    self.unacked.fetch_add(1, Ordering::SeqCst);
                    let settle = MemorySettle {
                        broker: Arc::clone(&self.broker),
                        queue: self.queue.clone(),
                        entry: Some(entry.clone()),
                        unacked: Arc::clone(&self.unacked),
                        notify: Arc::clone(&self.notify),
                    };
                    return Some(Delivery::new(
                        entry.message,
                        entry.redelivered,
                        self.queue.clone(),
                        Box::new(settle),
                    ));
                }
            }
            notified.await;
        }
    }
}

struct MemorySettle {
    broker: Arc<Broker>,
    queue: String,
    entry: Option<Entry>,
    unacked: Arc<AtomicUsize>,
    notify: Arc<Notify>,
}

impl fmt::Debug for MemorySettle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemorySettle")
            .field("queue", &self.queue)
            .finish_non_exhaustive()
    }
}

impl MemorySettle {
    fn settle(&mut self, outcome: Outcome) {
        let Some(mut entry) = self.entry.take() else {
            return;
        };
        {
            let mut state = self.broker.lock();
            match outcome {
                Outcome::Ack => {}
                Outcome::Requeue => {
                    if let Some(q) = state.queues.get_mut(&self.queue) {
                        entry.redelivered = true;
                        q.ready.push_front(entry);
                    }
                }
                Outcome::DeadLetter => {
                    let dl = state
                        .queues
                        .get(&self.queue)
                        .and_then(|q| q.spec.dead_letter.clone());
                    dead_letter(&self.broker, &mut state, dl, &entry.message, &self.queue);
                }
            }
        }
        self.unacked.fetch_sub(1, Ordering::SeqCst);
        self.notify.notify_waiters();
    }
}

enum Outcome {
    Ack,
    Requeue,
    DeadLetter,
}

#[async_trait]
impl Settle for MemorySettle {
    async fn ack(&mut self) -> Result<(), BusError> {
        self.settle(Outcome::Ack);
        Ok(())
    }

    async fn nack(&mut self, requeue: bool) -> Result<(), BusError> {
        self.settle(if requeue {
            Outcome::Requeue
        } else {
            Outcome::DeadLetter
        });
        Ok(())
    }

    fn abandon(&mut self) {
        self.settle(Outcome::Requeue);
    }
}
