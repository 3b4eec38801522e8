//! What the krd journey reads back: the API's answers until they change, the simulators'
//! own endpoints (the signing simulator's transactions, the DUO simulator's BRON rules), DUO's
//! answers as recorded in the dossier, and the institution's feed.

use std::time::Duration;

use anyhow::{Context, bail};
use knooppunt_adapters::duo::bron::outcome_label;
use knooppunt_adapters::duo::simulator::{BPV_LEERBEDRIJF_ONBEKEND, UNKNOWN_LEERBEDRIJF};
use knooppunt_registry::domain::DuoUitkomst;
use knooppunt_registry::ids::PersonId;
use knooppunt_registry::partner::Partner;
use serde_json::{Value, json};

use super::{Demo, Student, WAIT};

impl Demo<'_> {
    /// `GET path` until `ok` holds (for [`WAIT`] at most): whether it did, and the last body.
    pub(super) async fn until_api(
        &self,
        path: &str,
        ok: impl Fn(&Value) -> bool,
    ) -> anyhow::Result<(bool, Value)> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let r = self.roc.get(path).await?;
            if r.status == 200 && ok(&r.body) {
                return Ok((true, r.body));
            }
            if tokio::time::Instant::now() > deadline {
                return Ok((false, r.body));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until DUO's personalia are in the student's dossier (as an intake waits for DUO:
    /// whether a parent signs is decided from the birth date when the OOK is offered).
    pub(super) async fn personalia_recorded(&self, bsn: &str) -> anyhow::Result<bool> {
        let person = PersonId::Bsn(bsn.parse()?);
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(key) = self.node.store.find_dossier(&person).await?
                && self
                    .node
                    .store
                    .dossier(key)
                    .await?
                    .is_some_and(|d| d.personalia.is_some())
            {
                return Ok(true);
            }
            if tokio::time::Instant::now() > deadline {
                return Ok(false);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// DUO's BRON answers recorded in the student's dossier, in the order received: the
    /// delivered event's type (without `nl.knooppunt.` and `.v1`) and DUO's outcome.
    pub(super) async fn duo_answers(
        &self,
        bsn: &str,
    ) -> anyhow::Result<Vec<(String, DuoUitkomst)>> {
        let person = PersonId::Bsn(bsn.parse()?);
        let Some(key) = self.node.store.find_dossier(&person).await? else {
            return Ok(Vec::new());
        };
        let Some(dossier) = self.node.store.dossier(key).await? else {
            return Ok(Vec::new());
        };
        let history = self.node.store.history(key).await?;
        let mut answers: Vec<_> = dossier
            .duo_terugkoppeling
            .values()
            .map(|t| {
                let kind = history
                    .iter()
                    .find(|e| e.meta.id == t.mutatie)
                    .map(|e| short_kind(&e.meta.kind))
                    .unwrap_or_else(|| "?".to_owned());
                (t.ontvangen_op, kind, t.uitkomst.clone())
            })
            .collect();
        answers.sort_by_key(|(at, _, _)| *at);
        Ok(answers.into_iter().map(|(_, k, u)| (k, u)).collect())
    }

    /// The BRON mutations the DUO simulator received for the student (`<soort>:<record>`).
    pub(super) fn bron_received(&self, bsn: &str) -> anyhow::Result<Vec<String>> {
        Ok(self
            .sim(Partner::Duo)?
            .messages()
            .into_iter()
            .filter(|m| m.subject == bsn && m.code.contains(':'))
            .map(|m| m.code)
            .collect())
    }

    /// Checks that the DUO simulator has received the student's BRON mutations `codes` (all
    /// so far, in order) and that DUO's answer to the `nth` event (1-based) of the type
    /// `event` is recorded in the dossier with the outcome `outcome` (`accepted`,
    /// `accepted_with_signals`, `rejected`).
    pub(super) async fn bron(
        &mut self,
        s: &Student,
        codes: &[&str],
        (event, nth): (&str, usize),
        outcome: &str,
    ) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + WAIT;
        while self.bron_received(s.bsn)?.len() < codes.len()
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let got = self.bron_received(s.bsn)?;
        self.check(
            got == codes,
            format!("the DUO simulator received {}", got.join(" ")),
        )?;
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut answer = None;
        while answer.is_none() {
            answer = self
                .duo_answers(s.bsn)
                .await?
                .into_iter()
                .filter(|(k, _)| k == event)
                .nth(nth - 1)
                .map(|(_, u)| u);
            if tokio::time::Instant::now() > deadline {
                break;
            }
            if answer.is_none() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        let (label, signals) = match &answer {
            None => ("no answer", String::new()),
            Some(u) => (outcome_label(u), signal_codes(u)),
        };
        self.check(
            label == outcome,
            format!("DUO's answer to {event}, recorded in the dossier: {label}{signals}"),
        )?;
        Ok(())
    }

    /// Replaces the DUO simulator's BRON answering rules (`POST /_sim/bron/regels`) with
    /// `rules` after its default one (a BPV at a leerbedrijf DUO does not know is rejected).
    pub(super) async fn bron_rules(&mut self, rules: &[Value], what: &str) -> anyhow::Result<()> {
        let mut all = rules.to_vec();
        all.push(json!({
            "record": "BPV",
            "leerbedrijf": UNKNOWN_LEERBEDRIJF,
            "uitkomst": "afgekeurd",
            "code": BPV_LEERBEDRIJF_ONBEKEND,
            "omschrijving": "Leerbedrijf onbekend bij DUO",
        }));
        let url = format!("{}/_sim/bron/regels", self.sim(Partner::Duo)?.url());
        let status = self
            .sim_http
            .post(url)
            .json(&all)
            .send()
            .await
            .context("POST /_sim/bron/regels")?
            .status();
        self.need(status.is_success(), format!("{what} → {}", status.as_u16()))
    }

    /// The signing simulator's transaction for `reference` (`ook:<id>`, `bpv:<id>`) is
    /// created with `signers`, and known to the agreement at `path`; each signer signs.
    pub(super) async fn sign_digitally(
        &mut self,
        reference: &str,
        signers: &[&str],
        path: &str,
    ) -> anyhow::Result<()> {
        let url = self.sim(Partner::Signing)?.url();
        let deadline = tokio::time::Instant::now() + WAIT;
        let (tx, got) = loop {
            if let Some(t) = self.transaction(&url, reference).await? {
                break t;
            }
            if tokio::time::Instant::now() > deadline {
                bail!("the signing simulator never received a transaction for {reference}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        self.need(
            got == signers,
            format!(
                "the signing simulator received transaction {tx} for {reference}: signers {}",
                got.join(", ")
            ),
        )?;
        let (known, _) = self
            .until_api(path, |b| b["ondertekening"][0]["transactie"] == tx.as_str())
            .await?;
        self.need(known, "the agreement knows its transaction")?;
        for signer in signers {
            let status = self
                .sim_http
                .post(format!("{url}/_sim/transactions/{tx}/sign"))
                .json(&json!({ "signer": signer }))
                .send()
                .await
                .context("POST /_sim/transactions/{id}/sign")?
                .status();
            self.need(
                status.as_u16() == 200,
                format!("{signer} signs in the simulator → {}", status.as_u16()),
            )?;
        }
        Ok(())
    }

    /// The signing simulator's transaction for `reference`, if any: its id and signers.
    pub(super) async fn transaction(
        &self,
        url: &str,
        reference: &str,
    ) -> anyhow::Result<Option<(String, Vec<String>)>> {
        let list: Value = self
            .sim_http
            .get(format!("{url}/_sim/transactions"))
            .send()
            .await
            .context("GET /_sim/transactions")?
            .json()
            .await
            .context("the signing simulator's transactions")?;
        let found = list["transactions"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|t| t["Reference"] == reference)
            .map(|t| {
                let signers = t["Signers"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|s| str_of(&s["Id"]))
                    .collect();
                (str_of(&t["Id"]), signers)
            });
        Ok(found)
    }

    /// Waits until the institution's feed holds, among the items `of` selects, an item for
    /// each `(type, status)` of `want` (a status of `None`: any), in any order; prints them.
    pub(super) async fn feed_tells(
        &mut self,
        what: &str,
        of: impl Fn(&Value) -> bool,
        want: &[(&str, Option<&str>)],
    ) -> anyhow::Result<Value> {
        let holds = |feed: &Value| {
            let items: Vec<&Value> = feed["items"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|i| of(i))
                .collect();
            let mut used = vec![false; items.len()];
            want.iter().all(|(kind, status)| {
                let found = items.iter().zip(used.iter_mut()).find(|(i, used)| {
                    !**used
                        && short_kind(&str_of(&i["type"])) == *kind
                        && status.is_none_or(|s| i["status"] == s)
                });
                found.map(|(_, used)| *used = true).is_some()
            })
        };
        let (ok, feed) = self
            .until_api("/api/v1/feed?vanaf=0&limit=500", holds)
            .await?;
        for item in feed["items"].as_array().into_iter().flatten() {
            if of(item) {
                self.say(&feed_line(item))?;
            }
        }
        self.check(ok, what)?;
        Ok(feed)
    }
}

/// Polls `ok` until it holds (for [`WAIT`] at most); whether it did.
pub(super) async fn until(ok: impl Fn() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if ok() {
            return true;
        }
        if tokio::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A JSON string's text, or the value as JSON.
pub(super) fn str_of(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_owned)
}

/// An event type without `nl.knooppunt.` and the version.
pub(super) fn short_kind(kind: &str) -> String {
    let k = kind.strip_prefix("nl.knooppunt.").unwrap_or(kind);
    k.strip_suffix(".v1").unwrap_or(k).to_owned()
}

/// ` (signals: CODE, …)` of an answer with signals, else nothing.
fn signal_codes(u: &DuoUitkomst) -> String {
    match u {
        DuoUitkomst::Geaccepteerd => String::new(),
        DuoUitkomst::GeaccepteerdMetSignalen { signalen } | DuoUitkomst::Afgekeurd { signalen } => {
            let codes: Vec<&str> = signalen.iter().map(|s| s.code.as_str()).collect();
            format!(" (signals: {})", codes.join(", "))
        }
    }
}

/// One feed item on a line: number, type and the fields the feed has (ids, statuses, codes).
fn feed_line(item: &Value) -> String {
    let mut line = format!(
        "feed #{} {}",
        item["wijzigingsvolgnummer"],
        short_kind(&str_of(&item["type"]))
    );
    for field in ["status", "ondertekenaar", "keuzedeel", "partner", "reden"] {
        if let Some(v) = item.get(field).filter(|v| !v.is_null()) {
            line.push_str(&format!(" {field}={}", str_of(v)));
        }
    }
    line
}
