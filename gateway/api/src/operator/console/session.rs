//! Console sessions: a login with an operator token makes a random session id, kept in memory
//! (by its SHA-256) with the operator, a CSRF token and an expiry. The browser gets only the
//! session id, in a cookie that scripts cannot read (`HttpOnly`), that no other site's request
//! carries (`SameSite=Strict`), limited to `/console` and, when the listener has TLS, `Secure`.
//! The raw operator token is never stored or sent back.
//!
//! Every state-changing form carries the session's CSRF token; a POST whose token does not match,
//! or that a browser says came from another site, is refused (403) before anything is read or
//! changed.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Uri, header};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::PageError;
use crate::operator::{Operator, OperatorState};
use crate::problem::{ErrorCode, Problem};

/// The session cookie's name.
pub const COOKIE: &str = "knooppunt_console";

/// At most this many live sessions; a login beyond it ends the one closest to expiry.
const MAX_SESSIONS: usize = 1000;

/// How the console keeps sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleSettings {
    /// How long a session lasts after login (default 8 hours); then the operator logs in again.
    pub session_ttl: Duration,
    /// Whether the session cookie is `Secure` (set when the operator listener has TLS).
    pub secure_cookies: bool,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        Self {
            session_ttl: Duration::from_secs(8 * 3600),
            secure_cookies: false,
        }
    }
}

#[derive(Debug, Clone)]
struct Entry {
    operator: Operator,
    csrf: String,
    expires: Instant,
}

/// The console's sessions (in memory: a restart logs everyone out).
#[derive(Debug)]
pub struct Console {
    settings: ConsoleSettings,
    sessions: Mutex<HashMap<[u8; 32], Entry>>,
}

impl Default for Console {
    fn default() -> Self {
        Self::new(ConsoleSettings::default())
    }
}

/// A logged-in operator, from the session cookie.
#[derive(Debug, Clone)]
pub struct Session {
    /// Who.
    pub operator: Operator,
    /// The token every form of this session carries.
    pub csrf: String,
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn key(session_id: &str) -> [u8; 32] {
    Sha256::digest(session_id.as_bytes()).into()
}

/// Compares in constant time (for equal lengths).
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

impl Console {
    /// Sessions with these settings.
    pub fn new(settings: ConsoleSettings) -> Self {
        Self {
            settings,
            sessions: Mutex::new(HashMap::new()),
        }
    }

    /// The settings.
    pub fn settings(&self) -> &ConsoleSettings {
        &self.settings
    }

    /// Starts a session for `operator`; returns the session id (the cookie's value).
    pub fn login(&self, operator: Operator) -> String {
        let id = random_token();
        let now = Instant::now();
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        sessions.retain(|_, e| e.expires > now);
        if sessions.len() >= MAX_SESSIONS
            && let Some(k) = sessions
                .iter()
                .min_by_key(|(_, e)| e.expires)
                .map(|(k, _)| *k)
        {
            sessions.remove(&k);
        }
        sessions.insert(
            key(&id),
            Entry {
                operator,
                csrf: random_token(),
                expires: now + self.settings.session_ttl,
            },
        );
        id
    }

    /// The live session of this id.
    pub fn session(&self, session_id: &str) -> Option<Session> {
        let k = key(session_id);
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        match sessions.get(&k) {
            Some(e) if e.expires > Instant::now() => Some(Session {
                operator: e.operator.clone(),
                csrf: e.csrf.clone(),
            }),
            Some(_) => {
                sessions.remove(&k);
                None
            }
            None => None,
        }
    }

    /// Ends the session of this id.
    pub fn logout(&self, session_id: &str) {
        self.sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&key(session_id));
    }

    /// How many sessions are live.
    pub fn len(&self) -> usize {
        let now = Instant::now();
        self.sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .filter(|e| e.expires > now)
            .count()
    }

    /// Whether no session is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `Set-Cookie` value that stores `session_id`.
    pub fn set_cookie(&self, session_id: &str) -> HeaderValue {
        let secure = if self.settings.secure_cookies {
            "; Secure"
        } else {
            ""
        };
        HeaderValue::from_str(&format!(
            "{COOKIE}={session_id}; Path=/console; HttpOnly; SameSite=Strict{secure}"
        ))
        .unwrap_or_else(|_| HeaderValue::from_static("knooppunt_console=; Path=/console"))
    }

    /// The `Set-Cookie` value that removes the session cookie.
    pub fn clear_cookie(&self) -> HeaderValue {
        let secure = if self.settings.secure_cookies {
            "; Secure"
        } else {
            ""
        };
        HeaderValue::from_str(&format!(
            "{COOKIE}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0{secure}"
        ))
        .unwrap_or_else(|_| HeaderValue::from_static("knooppunt_console=; Max-Age=0"))
    }
}

/// The session id in the request's cookies, if any.
pub fn session_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim().to_owned())
        .filter(|v| !v.is_empty())
}

impl Session {
    /// `Ok` when `given` is this session's CSRF token, else 403.
    pub fn check_csrf(&self, given: &str) -> Result<(), Problem> {
        if same(given, &self.csrf) {
            Ok(())
        } else {
            Err(Problem::new(ErrorCode::NotPermitted).detail(
                "the form's CSRF token does not match this session: reload the page and try again",
            ))
        }
    }
}

/// Refuses a form posted from another site. A current browser says where a request comes from
/// in `Sec-Fetch-Site` (set by the browser, so a proxy that rewrites `Host` does not matter):
/// only `same-origin` passes. Without it, an `Origin` must name this request's host (`Host`,
/// or the authority of an HTTP/2 request). A request with neither is no browser's cross-site
/// form; the CSRF token still guards it.
pub fn same_origin(headers: &HeaderMap, uri: &Uri) -> Result<(), Problem> {
    let refused = || {
        Problem::new(ErrorCode::NotPermitted)
            .detail("a console form must be posted from the console itself")
    };
    if let Some(site) = headers.get("sec-fetch-site") {
        return if site.as_bytes() == b"same-origin" {
            Ok(())
        } else {
            Err(refused())
        };
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| uri.authority().map(|a| a.as_str()));
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, rest)| rest.trim_end_matches('/'));
    match (origin_host, host) {
        (Some(o), Some(h)) if o.eq_ignore_ascii_case(h) => Ok(()),
        _ => Err(refused()),
    }
}

impl FromRequestParts<OperatorState> for Session {
    type Rejection = PageError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &OperatorState,
    ) -> Result<Self, PageError> {
        session_id(&parts.headers)
            .and_then(|id| state.console.session(&id))
            .ok_or(PageError::Login)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operator::Role;

    fn op(role: Role) -> Operator {
        Operator {
            name: "otto".into(),
            role,
        }
    }

    #[test]
    fn a_session_maps_a_random_id_to_the_operator_until_it_expires() {
        let console = Console::new(ConsoleSettings {
            session_ttl: Duration::from_secs(60),
            secure_cookies: false,
        });
        let id = console.login(op(Role::Operator));
        let s = console.session(&id).unwrap();
        assert_eq!(s.operator, op(Role::Operator));
        assert!(s.check_csrf(&s.csrf).is_ok());
        assert!(s.check_csrf("other").is_err());
        assert!(console.session("not-an-id").is_none());
        console.logout(&id);
        assert!(console.session(&id).is_none());
        let short = Console::new(ConsoleSettings {
            session_ttl: Duration::ZERO,
            secure_cookies: true,
        });
        let id = short.login(op(Role::Reader));
        assert!(short.session(&id).is_none(), "expired at once");
        let c = short.set_cookie(&id);
        let c = c.to_str().unwrap();
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.ends_with("Secure"));
    }

    #[test]
    fn the_session_id_is_read_from_the_cookie_header() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=b; knooppunt_console=xyz; c=d"),
        );
        assert_eq!(session_id(&h).as_deref(), Some("xyz"));
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("knooppunt_console="),
        );
        assert_eq!(session_id(&h), None);
    }

    #[test]
    fn a_form_from_another_site_is_refused() {
        let path = Uri::from_static("/console/replay");
        let mut h = HeaderMap::new();
        assert!(
            same_origin(&h, &path).is_ok(),
            "no Origin: not a browser's cross-site post"
        );
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:9444"));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:9444"),
        );
        assert!(same_origin(&h, &path).is_ok());
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.example"),
        );
        assert!(same_origin(&h, &path).is_err());
        h.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert!(same_origin(&h, &path).is_err());
        // HTTP/2: no Host header, the authority is in the URI.
        h.remove(header::HOST);
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://ops.example:9444"),
        );
        let h2 = Uri::from_static("https://ops.example:9444/console/replay");
        assert!(same_origin(&h, &h2).is_ok());
        assert!(same_origin(&h, &path).is_err());
        // The browser's own word wins, whatever a proxy did to Host.
        h.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:9444"));
        assert!(same_origin(&h, &path).is_ok());
        for other in ["cross-site", "same-site", "none"] {
            h.insert("sec-fetch-site", HeaderValue::from_static(other));
            assert!(same_origin(&h, &path).is_err(), "{other}");
        }
    }
}
