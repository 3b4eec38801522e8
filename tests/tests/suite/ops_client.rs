//! The operator API as the end-to-end tests drive it: a token per role, and every answer body
//! kept, so a test can scan the whole run for personal data at the end.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use chrono::Utc;

use knooppunt_gateway::operator::Role;
use knooppunt_gateway::serve::Node;
use knooppunt_registry::domain::AanmeldStatus;
use knooppunt_registry::partner::Partner;
use knooppunt_sample::MEDIAVORMGEVER;
use serde_json::Value;

/// The test student's BSN (a sample student) and what must never appear in an operator answer:
/// the BSN and the names DUO knows for it.
pub const NOOR: &str = "999990019";
pub const PERSONAL: [&str; 3] = [NOOR, "Noor", "Jansen"];

/// A client of one node's operator API.
pub struct Ops {
    http: reqwest::Client,
    url: String,
    tokens: BTreeMap<Role, String>,
    seen: Mutex<Vec<String>>,
}

impl Ops {
    pub fn new(node: &Node) -> Self {
        Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
            url: node.operator_url.clone(),
            tokens: node
                .operator_credentials
                .iter()
                .map(|c| (c.role, c.token.clone()))
                .collect(),
            seen: Mutex::new(Vec::new()),
        }
    }

    /// The same client pointed at another node (a restarted one), keeping what it has seen.
    pub fn on(self, node: &Node) -> Self {
        Self {
            seen: Mutex::new(self.seen.into_inner().unwrap()),
            ..Self::new(node)
        }
    }

    /// One call as `role`; a POST without a body sends JSON `null`.
    pub async fn call(
        &self,
        role: Role,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let url = format!("{}{path}", self.url);
        let req = match method {
            "POST" => self.http.post(url),
            "PUT" => self.http.put(url),
            "DELETE" => self.http.delete(url),
            _ => self.http.get(url),
        };
        let req = match (body, method) {
            (Some(b), _) => req.json(&b),
            (None, "POST") => req.json(&Value::Null),
            (None, _) => req,
        };
        let res = req.bearer_auth(&self.tokens[&role]).send().await.unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        self.seen.lock().unwrap().push(text.clone());
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// No answer so far held personal data; there were at least `min` answers.
    pub fn assert_no_personal_data(&self, min: usize) {
        let seen = self.seen.lock().unwrap();
        assert!(seen.len() >= min, "the scan covers the run's answers");
        for body in seen.iter() {
            for needle in PERSONAL {
                assert!(
                    !body.contains(needle),
                    "{needle} in an operator answer: {body}"
                );
            }
        }
    }
}

/// The open cohort of the sample opleiding Mediavormgever today.
pub fn cohort(node: &Node) -> String {
    let today = knooppunt_registry::domain::time::local_date(Utc::now());
    node.reference
        .opleiding(&MEDIAVORMGEVER)
        .unwrap()
        .open_cohort(today)
        .unwrap()
        .code
        .clone()
}

/// Intergrip's statuses of Noor, in the order they arrived.
pub fn received(node: &Node) -> Vec<AanmeldStatus> {
    node.simulators[&Partner::Intergrip]
        .messages()
        .into_iter()
        .filter(|m| m.subject == NOOR)
        .map(|m| knooppunt_mappings::va::status_from_code("status", &m.code).unwrap())
        .collect()
}

pub async fn until_received(node: &Node, want: &[AanmeldStatus]) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while received(node).len() < want.len() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A little longer, so that an extra or repeated message would show.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        received(node),
        want,
        "Intergrip's statuses of the student, in order"
    );
}
