//! [`AmqpConfig`]: the transport's settings.

use super::*;

/// Settings of [`AmqpTransport`].
#[derive(Clone)]
pub struct AmqpConfig {
    /// `amqp://user:password@host:port/vhost` (the password is never logged); `amqps://` for
    /// TLS, the broker's certificate verified against the system's roots and [`Self::tls_ca_pem`].
    pub uri: String,
    /// PEM text of CA certificates (besides the system's roots) that may vouch for the broker's
    /// certificate over `amqps://` (`bus.ca_file`): a broker with a certificate of a private CA.
    pub tls_ca_pem: Option<String>,
    /// Connection name shown in RabbitMQ.
    pub connection_name: String,
    /// How long a publish (or declare, or depth query) waits for a usable connection.
    pub publish_wait: Duration,
    /// How long to wait for one publisher confirm before publishing again.
    pub confirm_timeout: Duration,
    /// First delay between reconnect attempts of the supervisor (doubles up to the maximum).
    pub reconnect_min: Duration,
    /// Largest delay between reconnect attempts.
    pub reconnect_max: Duration,
    /// How often the supervisor checks the connection.
    pub health_interval: Duration,
    /// Whether lapin's own connection recovery is enabled (the supervisor still watches). Off by
    /// default: lapin's recovery also recovers the channels of consumers that have already
    /// re-subscribed on a new channel, and their prefetched messages then stay on a channel
    /// nobody reads (seen as 100 of 5,000 messages stuck in `rabbitmq_fault` under load). With
    /// it off, a lost connection is rebuilt by the supervisor and the broker requeues
    /// everything the old channels held.
    pub lapin_recovery: bool,
    /// How many reconnect attempts lapin makes itself (backoff from `reconnect_min` to
    /// `reconnect_max`) before it gives up and the supervisor takes over. Kept small: lapin
    /// retries in a thread of its own, also for a first connect the supervisor abandoned.
    pub lapin_retries: usize,
    /// How long lapin's recovery may take before the supervisor rebuilds the connection.
    pub recovery_grace: Duration,
    /// Upper bound of one broker operation (open a channel, declare, subscribe, ack): a call
    /// that hangs in a half-dead connection fails instead of blocking forever.
    pub op_timeout: Duration,
}

impl AmqpConfig {
    /// Defaults for `uri`: wait 30 s for a connection and for confirms, reconnect after
    /// 100 ms … 5 s, check every 250 ms, lapin recovery on with 30 s grace.
    pub fn new(uri: impl Into<String>) -> Self {
        Self {
            uri: uri.into(),
            tls_ca_pem: None,
            connection_name: "knooppunt".into(),
            publish_wait: Duration::from_secs(30),
            confirm_timeout: Duration::from_secs(30),
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(5),
            health_interval: Duration::from_millis(250),
            lapin_recovery: false,
            lapin_retries: 3,
            recovery_grace: Duration::from_secs(30),
            op_timeout: Duration::from_secs(10),
        }
    }
}

/// The URI without its userinfo (for logs and Debug).
pub(super) fn redacted_uri(uri: &str) -> String {
    match (uri.find("://"), uri.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!(
            "{}://***@{}",
            uri.get(..s).unwrap_or_default(),
            uri.get(at + 1..).unwrap_or_default()
        ),
        _ => uri.to_owned(),
    }
}

impl fmt::Debug for AmqpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AmqpConfig")
            .field("uri", &redacted_uri(&self.uri))
            .field("connection_name", &self.connection_name)
            .field("publish_wait", &self.publish_wait)
            .field("confirm_timeout", &self.confirm_timeout)
            .field("reconnect_min", &self.reconnect_min)
            .field("reconnect_max", &self.reconnect_max)
            .field("health_interval", &self.health_interval)
            .field("tls_ca_pem", &self.tls_ca_pem.is_some())
            .field("lapin_recovery", &self.lapin_recovery)
            .field("lapin_retries", &self.lapin_retries)
            .field("recovery_grace", &self.recovery_grace)
            .field("op_timeout", &self.op_timeout)
            .finish()
    }
}
