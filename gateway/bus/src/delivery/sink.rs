//! Where partners' answers go: back to the registry, as commands caused by the event.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use knooppunt_registry::domain::{Command, Rejection};
use knooppunt_registry::envelope::CommandMeta;
use knooppunt_registry::reference::ReferenceData;
use knooppunt_registry::store::{Store, StoreError};

/// What the registry said to an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submitted {
    /// Executed (or, with `replayed`, executed before: the same command id has one effect).
    Accepted {
        /// True when this command id had been handled before.
        replayed: bool,
    },
    /// The registry refused the answer (a business outcome; recorded, not retried).
    Rejected(Rejection),
}

/// Executes partners' answers. The command id is the idempotency key: the runtime derives it
/// from (consumer, message id), so a redelivered message cannot have a second effect.
#[async_trait]
pub trait CommandSink: Send + Sync + 'static {
    /// Executes one command.
    async fn submit(&self, meta: CommandMeta, command: Command) -> Result<Submitted, StoreError>;
}

/// A [`CommandSink`] over the registry [`Store`].
pub struct StoreSink<S: ?Sized> {
    store: Arc<S>,
    reference: Arc<ReferenceData>,
}

impl<S: ?Sized> fmt::Debug for StoreSink<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreSink").finish_non_exhaustive()
    }
}

impl<S: Store + ?Sized> StoreSink<S> {
    /// Answers go to `store`, decided against `reference`.
    pub fn new(store: Arc<S>, reference: Arc<ReferenceData>) -> Self {
        Self { store, reference }
    }
}

#[async_trait]
impl<S: Store + ?Sized> CommandSink for StoreSink<S> {
    async fn submit(&self, meta: CommandMeta, command: Command) -> Result<Submitted, StoreError> {
        let outcome = self.store.execute(meta, command, &self.reference).await?;
        Ok(match outcome.result {
            Ok(_) => Submitted::Accepted {
                replayed: outcome.replayed,
            },
            Err(rejection) => Submitted::Rejected(rejection),
        })
    }
}

/// A sink that records answers in memory and, like the store, gives one effect per command id.
/// For tests and for adapters whose answers are not wired yet.
#[derive(Debug, Default)]
pub struct RecordingSink {
    commands: Mutex<BTreeMap<uuid::Uuid, (CommandMeta, Command)>>,
}

impl RecordingSink {
    /// An empty sink.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// The distinct commands received (one per command id).
    pub fn commands(&self) -> Vec<(CommandMeta, Command)> {
        self.commands
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }
}

#[async_trait]
impl CommandSink for RecordingSink {
    async fn submit(&self, meta: CommandMeta, command: Command) -> Result<Submitted, StoreError> {
        let mut map = self.commands.lock().unwrap_or_else(|e| e.into_inner());
        let replayed = map.contains_key(&meta.id);
        if !replayed {
            map.insert(meta.id, (meta, command));
        }
        Ok(Submitted::Accepted { replayed })
    }
}
