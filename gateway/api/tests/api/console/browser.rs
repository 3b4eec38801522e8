//! The console in headless Chromium, driven over WebDriver (chromedriver, started by the test
//! on a free port and killed at the end) with `fantoccini`: an operator logs in, sees the
//! status, opens the failures, a message and its trace, runs a staged replay and follows the
//! job, discards a message with a reason, is refused a reason holding a BSN, and logs out; a
//! reader sees the same pages without an action form. On every page axe-core (installed in
//! `tests/browser/` by `scripts/services.sh`) must find 0 violations of WCAG 2.1 A and AA, and
//! the page must hold none of the fixture's BSNs or names.
//!
//! With `KP_CONSOLE_SCREENSHOTS=<folder>` set, each checked page is also saved there as a PNG.
//!
//! Chromium and chromedriver come from Debian (`scripts/services.sh` installs them); a missing
//! one fails the test with the command that installs it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use knooppunt_api::operator::console::ConsoleSettings;
use serde_json::{Value, json};

use super::{Fixture, OPERATOR, READER, assert_no_personal_data};

/// The WCAG 2.1 A and AA rules of axe-core.
const AXE_TAGS: [&str; 4] = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"];

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn axe_source() -> String {
    let path = repo_root().join("tests/browser/node_modules/axe-core/axe.min.js");
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run `bash scripts/services.sh` (npm ci in tests/browser)",
            path.display()
        )
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A chromedriver process, killed when dropped.
struct Driver {
    child: Child,
    url: String,
    profile: PathBuf,
}

impl Drop for Driver {
    /// Ends chromedriver and, should the test have panicked before closing its session, the
    /// Chromium processes it started: those whose command line names this test's own profile
    /// folder (by process id, nothing else).
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let marker = format!("--user-data-dir={}", self.profile.display());
        let browsers: Vec<String> = std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let pid = e.file_name().to_str()?.parse::<u32>().ok()?;
                let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
                String::from_utf8_lossy(&cmdline)
                    .split('\0')
                    .any(|arg| arg == marker)
                    .then(|| pid.to_string())
            })
            .collect();
        if !browsers.is_empty() {
            let _ = Command::new("kill").args(&browsers).status();
        }
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

impl Driver {
    async fn start() -> Self {
        let port = free_port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "chromedriver: {e}; run `bash scripts/services.sh` (apt-get install \
                     chromium chromium-driver)"
                )
            });
        let profile =
            std::env::temp_dir().join(format!("kp-console-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&profile).expect("a profile folder");
        let driver = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            profile,
        };
        for _ in 0..600 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return driver;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("chromedriver did not listen on port {port}");
    }

    async fn browser(&self) -> Client {
        let args = [
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--window-size=1280,900".to_owned(),
            format!("--user-data-dir={}", self.profile.display()),
        ];
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({ "binary": "/usr/bin/chromium", "args": args }),
        );
        ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("a Chromium session through chromedriver")
    }
}

/// Serves the fixture's operator app on 127.0.0.1:0.
async fn serve(f: &Fixture) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = f.app.clone();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, task)
}

/// Drives one browser against one node, checking every page it lands on.
struct Session {
    client: Client,
    base: String,
    axe: String,
    checked: Vec<String>,
}

impl Session {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn path(&self) -> String {
        let u = self.client.current_url().await.expect("the current URL");
        match u.query() {
            Some(q) => format!("{}?{q}", u.path()),
            None => u.path().to_owned(),
        }
    }

    /// Waits until the page's `h1` contains `heading`, then checks the page: axe-core finds no
    /// WCAG 2.1 A/AA violation, and no personal data is in its HTML. Returns the HTML.
    async fn page(&mut self, heading: &str) -> String {
        let mut h1 = String::new();
        for _ in 0..600 {
            if let Ok(e) = self.client.find(Locator::Css("h1")).await {
                h1 = e.text().await.unwrap_or_default();
                if h1.contains(heading) {
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let path = self.path().await;
        assert!(
            h1.contains(heading),
            "{path}: h1 {h1:?}, wanted {heading:?}"
        );
        let html = self.client.source().await.expect("the page source");
        assert!(html.contains("<html lang=\"en\""), "{path}: lang");
        assert_no_personal_data(&html, &path);
        if let Some(dir) = std::env::var_os("KP_CONSOLE_SCREENSHOTS") {
            let png = self.client.screenshot().await.expect("a screenshot");
            let name = format!(
                "{:02}{}.png",
                self.checked.len(),
                path.replace(['/', '?'], "_")
            );
            std::fs::write(PathBuf::from(dir).join(name), png).expect("the screenshot written");
        }
        self.axe(&path).await;
        self.checked.push(path);
        html
    }

    async fn axe(&self, path: &str) {
        let violations = self.axe_violations(path).await;
        assert!(
            violations.is_empty(),
            "{path}: {} WCAG 2.1 AA violation(s): {}",
            violations.len(),
            Value::Array(violations)
        );
    }

    /// Runs axe-core's WCAG 2.1 A/AA rules on the current page; the violations.
    async fn axe_violations(&self, path: &str) -> Vec<Value> {
        self.client
            .execute(&self.axe, vec![])
            .await
            .expect("axe-core injected");
        let script = r#"
            const done = arguments[arguments.length - 1];
            axe.run(document, { runOnly: { type: "tag", values: arguments[0] } })
              .then(r => done({ ok: true, passes: r.passes.length, violations: r.violations.map(v => ({
                  id: v.id, impact: v.impact, help: v.help,
                  nodes: v.nodes.map(n => n.target.join(" ")) })) }))
              .catch(e => done({ ok: false, error: String(e) }));
        "#;
        let result = self
            .client
            .execute_async(script, vec![json!(AXE_TAGS)])
            .await
            .expect("axe.run");
        assert_eq!(result["ok"], json!(true), "{path}: axe failed: {result}");
        assert!(
            result["passes"].as_u64().unwrap_or(0) > 0,
            "{path}: axe checked no rule: {result}"
        );
        result["violations"].as_array().cloned().unwrap_or_default()
    }

    /// Waits until the page's HTML contains `text`.
    async fn wait_for(&self, text: &str) {
        let mut html = String::new();
        for _ in 0..600 {
            html = self.client.source().await.unwrap_or_default();
            if html.contains(text) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{text:?} did not appear: {html}");
    }

    async fn goto(&mut self, path: &str, heading: &str) -> String {
        self.client.goto(&self.url(path)).await.expect("navigate");
        self.page(heading).await
    }

    async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    async fn fill(&self, css: &str, text: &str) {
        let e = self
            .client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"));
        e.clear().await.expect("clear");
        e.send_keys(text).await.expect("type");
    }

    async fn count(&self, css: &str) -> usize {
        self.client
            .find_all(Locator::Css(css))
            .await
            .map(|v| v.len())
            .unwrap_or(0)
    }

    async fn login(&mut self, token: &str) {
        self.goto("/console/status", "Log in").await;
        self.fill("#token", token).await;
        self.click("form[action='/console/login'] button").await;
        self.page("Status").await;
    }

    async fn logout(&mut self) {
        self.click("form.logout button").await;
        self.page("Log in").await;
        assert_eq!(self.path().await, "/console/login");
    }
}

/// Every wait of the journey polls every 50 ms for at most 30 s (600 polls): generous for a
/// loaded 2-core machine, and no timing is asserted.
async fn journey(f: Fixture) {
    let axe = axe_source();
    let driver = Driver::start().await;
    let (addr, server) = serve(&f).await;
    let mut s = Session {
        client: driver.browser().await,
        base: format!("http://{addr}"),
        axe,
        checked: Vec::new(),
    };

    // A wrong token: the login page again, with a message.
    s.goto("/console/login", "Log in").await;
    s.fill("#token", "not-a-token").await;
    s.click("form[action='/console/login'] button").await;
    s.wait_for("not an operator token").await;
    s.page("Log in").await;

    // The operator: status, failures, a group, a message, its trace.
    s.login(OPERATOR).await;
    let status = s.page("Status").await;
    assert!(status.contains(">intergrip</th>") && status.contains(">feed</th>"));
    assert!(status.contains("4<span class=\"visually-hidden\"> parked at intergrip"));
    // The status refreshes itself (the script runs under the page's CSP): a fifth parked
    // message appears without a reload.
    assert_eq!(
        s.count(".live-toggle:not([hidden])").await,
        1,
        "the script ran"
    );
    let extra = f.park("retries_exhausted", None).await;
    s.wait_for("5<span class=\"visually-hidden\"> parked at intergrip")
        .await;
    s.page("Status").await;
    f.state
        .take_parked("intergrip", extra)
        .await
        .expect("the extra message taken back");
    s.click("nav a[href='/console/failures']").await;
    let failures = s.page("Failures").await;
    assert!(failures.contains("4 parked messages"), "{failures}");
    s.click("a[href='/console/failures/intergrip?reason=retries_exhausted']")
        .await;
    let group = s.page("Failures at intergrip: retries_exhausted").await;
    assert!(group.contains("3 parked messages"), "{group}");
    let first = f.exhausted[0];
    s.click(&format!("a[href='/console/failures/intergrip/{first}']"))
        .await;
    let message = s.page("Parked message").await;
    assert!(message.contains("dk-1") && message.contains("http_503"));
    assert_eq!(s.count("form[action='/console/discard'] button").await, 1);
    s.click(&format!("a[href='/console/trace/{first}']")).await;
    let trace = s.page("Trace of").await;
    assert!(trace.contains("Every chain verified"), "{trace}");

    // A staged replay of the group: the job page follows it to the end.
    s.goto(
        "/console/failures/intergrip?reason=retries_exhausted",
        "Failures at intergrip",
    )
    .await;
    s.fill("#replay-reason", "intergrip is back after INC-1234")
        .await;
    s.click("form[action='/console/replay'] button").await;
    // The page refreshes itself until the job is finished.
    s.wait_for("<strong>Finished</strong>").await;
    let job = s.page("Replay job").await;
    let job_path = s.path().await;
    assert!(job_path.starts_with("/console/replays/"), "{job_path}");
    assert!(
        job.contains("<td class=\"outcome\">delivered</td>"),
        "{job}"
    );
    assert!(!job.contains("stopped:"), "{job}");
    assert_eq!(*f.runtimes.republished.lock().unwrap(), f.exhausted);
    // The replayed message's trace now shows the operator and the reason.
    s.goto(&format!("/console/trace/{first}"), "Trace of").await;
    let trace = s.client.source().await.unwrap();
    assert!(
        trace.contains("otto") && trace.contains("INC-1234"),
        "{trace}"
    );

    // Discard: a reason holding a BSN is refused (a readable page), then a good one.
    let other = f.undecodable;
    s.goto(
        &format!("/console/failures/intergrip/{other}"),
        "Parked message",
    )
    .await;
    s.fill("#discard-reason", "student 111222333 left").await;
    s.click("form[action='/console/discard'] button").await;
    let refused = s.page("Invalid field").await;
    assert!(refused.contains("<code>reason</code>"), "{refused}");
    assert!(
        !refused.contains("111222333"),
        "the refused reason is not echoed"
    );
    assert_eq!(f.parked().await, vec![other], "nothing discarded");
    s.goto(
        &format!("/console/failures/intergrip/{other}"),
        "Parked message",
    )
    .await;
    s.fill("#discard-reason", "superseded by a later status")
        .await;
    s.click("form[action='/console/discard'] button").await;
    let done = s.page("Message discarded").await;
    assert!(done.contains(&other.to_string()));
    assert!(f.parked().await.is_empty());
    let failures = s.goto("/console/failures", "Failures").await;
    assert!(failures.contains("0 parked messages"), "{failures}");
    // The checker itself finds a violation when there is one (an image without a text).
    s.client
        .execute(
            "document.querySelector('main').appendChild(document.createElement('img'));",
            vec![],
        )
        .await
        .expect("an image added");
    let found = s.axe_violations("/console/failures with an image").await;
    assert!(
        found.iter().any(|v| v["id"] == json!("image-alt")),
        "axe-core did not see the image without alt: {found:?}"
    );
    s.logout().await;
    s.goto("/console/status", "Log in").await;

    // A reader: the same pages, no action form.
    f.state
        .park(knooppunt_ops::ParkedMessage {
            consumer: "intergrip".into(),
            message_id: first,
            subject: None,
            partner: "intergrip".into(),
            reason: "retries_exhausted".into(),
            attempts: 1,
            first_failure: chrono::Utc::now(),
            last_failure: chrono::Utc::now(),
            last_error: "timeout".into(),
            headers: Default::default(),
            body: super::BODY_NAME.as_bytes().to_vec(),
        })
        .await
        .unwrap();
    s.login(READER).await;
    s.goto("/console/failures/intergrip", "Failures at intergrip")
        .await;
    assert_eq!(s.count("form[action='/console/replay']").await, 0);
    s.goto(
        &format!("/console/failures/intergrip/{first}"),
        "Parked message",
    )
    .await;
    assert_eq!(s.count("form[action='/console/replay']").await, 0);
    assert_eq!(s.count("form[action='/console/discard']").await, 0);
    assert_eq!(s.count("button").await, 1, "only Log out");
    s.logout().await;

    for page in [
        "/console/login",
        "/console/status",
        "/console/failures",
        "/console/failures/intergrip",
        "/console/trace/",
        "/console/replays/",
    ] {
        assert!(
            s.checked.iter().any(|c| c.starts_with(page)),
            "{page} was not checked: {:?}",
            s.checked
        );
    }
    s.client.close().await.expect("close the browser");
    drop(driver);
    server.abort();
    f.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_in_chromium_on_memory_has_no_wcag_violations() {
    journey(Fixture::memory(ConsoleSettings::default()).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_in_chromium_on_postgres_has_no_wcag_violations() {
    journey(Fixture::postgres(ConsoleSettings::default()).await).await;
}
