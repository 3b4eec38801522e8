//! Between [`Message`] and AMQP properties, headers and body.

use super::*;

/// Header carrying [`Message::time`] at full precision (AMQP `timestamp` has whole seconds).
pub(super) const TIME_HEADER: &str = "ce-time";

pub(super) fn encode(msg: &Message) -> Result<BasicProperties, BusError> {
    let mut headers = FieldTable::default();
    for (k, v) in &msg.headers {
        let value = match v {
            HeaderValue::Str(s) => AMQPValue::LongString(s.as_str().into()),
            HeaderValue::Int(i) => AMQPValue::LongLongInt(*i),
        };
        headers.insert(short("header name", k)?, value);
    }
    headers.insert(
        TIME_HEADER.into(),
        AMQPValue::LongString(
            msg.time
                .to_rfc3339_opts(SecondsFormat::AutoSi, true)
                .as_str()
                .into(),
        ),
    );
    let mut props = BasicProperties::default()
        .with_message_id(msg.id.to_string().into())
        .with_type(short("kind", &msg.kind)?)
        .with_timestamp(u64::try_from(msg.time.timestamp()).unwrap_or(0))
        .with_delivery_mode(2)
        .with_content_type("application/json".into())
        .with_headers(headers);
    if let Some(c) = msg.correlation_id {
        props = props.with_correlation_id(c.to_string().into());
    }
    Ok(props)
}

/// Headers RabbitMQ adds itself; not part of [`Message::headers`].
pub(super) fn broker_owned(name: &str) -> bool {
    name == "x-death"
        || name == "x-delivery-count"
        || name.starts_with("x-first-death-")
        || name.starts_with("x-last-death-")
        || name == TIME_HEADER
}

pub(super) fn decode(props: &BasicProperties, body: Vec<u8>) -> Result<Message, BusError> {
    let bad = |field: &'static str, reason: &str| BusError::Invalid {
        field,
        reason: reason.to_owned(),
    };
    let id = props
        .message_id()
        .as_ref()
        .ok_or_else(|| bad("message_id", "missing"))?;
    let id = Uuid::parse_str(id.as_str()).map_err(|_| bad("message_id", "not a UUID"))?;
    let kind = props
        .kind()
        .as_ref()
        .ok_or_else(|| bad("type", "missing"))?
        .to_string();
    let correlation_id = match props.correlation_id() {
        Some(c) => {
            Some(Uuid::parse_str(c.as_str()).map_err(|_| bad("correlation_id", "not a UUID"))?)
        }
        None => None,
    };
    let mut headers = BTreeMap::new();
    let mut time: Option<DateTime<Utc>> = None;
    if let Some(table) = props.headers() {
        for (k, v) in table {
            let name = k.as_str();
            if name == TIME_HEADER {
                let text = match v {
                    AMQPValue::LongString(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
                    AMQPValue::ShortString(s) => s.to_string(),
                    _ => return Err(bad("ce-time", "not a string")),
                };
                time = Some(
                    DateTime::parse_from_rfc3339(&text)
                        .map_err(|_| bad("ce-time", "not RFC 3339"))?
                        .with_timezone(&Utc),
                );
                continue;
            }
            if broker_owned(name) {
                continue;
            }
            let value = match v {
                AMQPValue::LongString(s) => match std::str::from_utf8(s.as_bytes()) {
                    Ok(s) => HeaderValue::Str(s.to_owned()),
                    Err(_) => continue,
                },
                AMQPValue::ShortString(s) => HeaderValue::Str(s.to_string()),
                AMQPValue::ShortShortInt(i) => HeaderValue::Int(i64::from(*i)),
                AMQPValue::ShortShortUInt(i) => HeaderValue::Int(i64::from(*i)),
                AMQPValue::ShortInt(i) => HeaderValue::Int(i64::from(*i)),
                AMQPValue::ShortUInt(i) => HeaderValue::Int(i64::from(*i)),
                AMQPValue::LongInt(i) => HeaderValue::Int(i64::from(*i)),
                AMQPValue::LongUInt(i) => HeaderValue::Int(i64::from(*i)),
                AMQPValue::LongLongInt(i) => HeaderValue::Int(*i),
                _ => continue,
            };
            headers.insert(name.to_owned(), value);
        }
    }
    let time = match time {
        Some(t) => t,
        None => {
            let secs = props
                .timestamp()
                .ok_or_else(|| bad("timestamp", "missing"))?;
            i64::try_from(secs)
                .ok()
                .and_then(|s| Utc.timestamp_opt(s, 0).single())
                .ok_or_else(|| bad("timestamp", "out of range"))?
        }
    };
    Ok(Message {
        id,
        kind,
        time,
        correlation_id,
        headers,
        body: body.into(),
    })
}
