//! The one error type of the mappings: names the field (a path like
//! `Bekostigingsgrondslagen/Inschrijving[3]/Burgerservicenummer`) and the reason.

use knooppunt_registry::ids::IdError;

/// Why a partner message could not be read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    /// The document is larger than the limit for its kind.
    #[error("document too large: {size} bytes, the limit is {limit}")]
    TooLarge {
        /// Size of the input in bytes.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Not valid UTF-8 (or the declared encoding is not UTF-8).
    #[error("invalid UTF-8 at byte {offset}")]
    InvalidUtf8 {
        /// Byte offset of the first invalid sequence.
        offset: usize,
    },
    /// Not well-formed (XML, JSON or CSV syntax).
    #[error("malformed {format} at {position}: {reason}")]
    Malformed {
        /// "XML", "JSON", "CSV".
        format: &'static str,
        /// Where (byte offset, line, or path).
        position: String,
        /// What the parser said.
        reason: String,
    },
    /// A DOCTYPE or entity declaration: refused, never expanded.
    #[error("DOCTYPE and entity declarations are not accepted")]
    DoctypeNotAllowed,
    /// The root element or an element is in the wrong namespace.
    #[error("wrong namespace for {element}: expected {expected}, got {got}")]
    WrongNamespace {
        /// Local name of the element.
        element: String,
        /// Expected namespace URI.
        expected: String,
        /// Namespace URI found (empty when none).
        got: String,
    },
    /// A required field is absent.
    #[error("missing required field {field}")]
    Missing {
        /// Path of the field.
        field: String,
    },
    /// A field is present but its value is wrong.
    #[error("invalid value for {field}: {reason}")]
    Invalid {
        /// Path of the field.
        field: String,
        /// What is wrong (never the value itself when it may be personal data).
        reason: String,
    },
    /// The message is fine but cannot be expressed in the target (e.g. an event no partner needs).
    #[error("cannot map: {0}")]
    Unsupported(String),
}

impl MappingError {
    /// A missing field.
    pub fn missing(field: impl Into<String>) -> Self {
        Self::Missing {
            field: field.into(),
        }
    }

    /// An invalid field with a reason.
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// An identifier that did not parse, at `field`.
    pub fn id(field: impl Into<String>, e: IdError) -> Self {
        Self::invalid(field, e.to_string())
    }

    /// The field path this error is about, when it names one.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Missing { field } | Self::Invalid { field, .. } => Some(field),
            Self::WrongNamespace { element, .. } => Some(element),
            _ => None,
        }
    }
}

/// One step of a streaming reader that stops for good after its end or its first error:
/// `Ok(None)` and `Err` set `done`, so the iterator yields nothing after them.
pub(crate) fn fuse<T>(
    done: &mut bool,
    next: Result<Option<T>, MappingError>,
) -> Option<Result<T, MappingError>> {
    match next {
        Ok(Some(item)) => Some(Ok(item)),
        Ok(None) => {
            *done = true;
            None
        }
        Err(e) => {
            *done = true;
            Some(Err(e))
        }
    }
}
