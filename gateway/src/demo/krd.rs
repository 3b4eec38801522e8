//! `knooppunt demo krd`: the krd journey (memo steps b–f) for a minor and an adult at ROC
//! Zuidwaard (25LX, level `krd`), over the sandbox's own HTTPS API with mutual TLS, as the
//! institution's SIS would drive it: aanmelding → DUO's personalia → an OOK from a template,
//! offered → signed digitally through the signing simulator (a parent too for the minor) →
//! `ingeschreven` reaches the VO school's regional system and the koppelpunt → BRON tells DUO.
//! For the minor then a keuzedeel at a guest institution with its result, exam results and the
//! diploma; for the adult a BPVO that SBB recognises, signed by three parties. Two deliberate
//! refusals show what the institution is told: a leerbedrijf SBB does not recognise, and a BPV
//! the DUO simulator is told to reject.
//!
//! The output is meant to be pasted: students appear as "student A/B", never with a BSN or a
//! name; the rest is ids, codes and statuses. The partners' side is read from the in-process
//! simulators (what they received) and, for DUO's BRON answers, from the dossier the answers
//! are recorded in.

use std::io::Write;
use std::time::Duration;

use anyhow::{Context, bail};
use knooppunt_adapters::sim::Simulator;
use knooppunt_registry::domain::AanmeldStatus;
use knooppunt_registry::partner::Partner;
use knooppunt_registry::reference::Participation;
use knooppunt_sample::SOFTWARE_DEVELOPER;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{Checks, DemoReport, on_node, open_cohort, sandbox_config};
use crate::client::ApiClient;
use crate::serve::Node;

mod observe;
mod steps;

use observe::{str_of, until};

/// ROC Zuidwaard, level `krd` in the sample data.
const ROC: &str = "25LX";
/// Vakcollege Houtwerk: the guest institution of the keuzedeel.
const GUEST: &str = "27DV";
/// A leerbedrijf SBB's simulator recognises for Software Developer (25998).
const LEERBEDRIJF: &str = "100018965";
/// A leerbedrijf SBB's simulator does not know.
const UNRECOGNISED: &str = "100099990";
/// The keuzedeel taken at the guest institution.
const KEUZEDEEL: &str = "K0067";
/// How long a step may wait for the partners (retries included).
const WAIT: Duration = Duration::from_secs(60);

/// One student of the script. The BSN is a test number the DUO simulator knows; it is sent
/// and compared, never printed.
struct Student {
    /// How the output names the student.
    label: &'static str,
    bsn: &'static str,
    /// The VO school the aanmelding comes from (its regional system hears of it).
    school: &'static str,
    /// The signers of the OOK's transaction.
    signers: &'static [&'static str],
    /// Whether the municipality is told of the statuses (under 23, lives in the Netherlands,
    /// no startkwalificatie: `domain.md` §2.2).
    municipality: bool,
}

const MINOR: Student = Student {
    label: "student A (16, a minor)",
    bsn: "999990019",
    school: "19XY",
    signers: &["student", "ouder", "instelling"],
    municipality: true,
};

const ADULT: Student = Student {
    label: "student B (24, an adult)",
    bsn: "999990032",
    school: "20AB",
    signers: &["student", "instelling"],
    municipality: false,
};

/// Runs the krd demo on a fresh sandbox and prints each step to `out`. The sample students'
/// dossiers are not seeded: each opens with its aanmelding, and DUO is asked then, as in
/// production.
pub async fn run(out: &mut (dyn Write + Send)) -> anyhow::Result<DemoReport> {
    let mut config = sandbox_config()?;
    config.seed_students = Some(false);
    on_node(config, async |node| journey(node, out).await).await
}

/// Drives `node` (a sandbox: simulated partners and sandbox credentials, on any store and bus)
/// through the krd journey; the report when every check held, else an error naming the
/// failed checks. A step the rest depends on stops the journey when it fails.
pub async fn journey(node: &Node, out: &mut (dyn Write + Send)) -> anyhow::Result<DemoReport> {
    writeln!(
        out,
        "Knooppunt demo: the krd journey (memo steps b–f) over the open API\n\
         sandbox at {} (mutual TLS: {})",
        node.api_url, node.mutual_tls
    )?;
    let mut demo = Demo {
        roc: ApiClient::for_sandbox(node, ROC)?,
        sim_http: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .context("HTTP client for the simulators")?,
        node,
        out,
        checks: Checks::new(),
        step: 0,
    };
    if let Err(e) = demo.script().await {
        let why = format!("stopped: {e:#}");
        writeln!(demo.out, "   ✗ {why}")?;
        demo.checks.report.failed.push(why);
    }
    demo.checks.finish(demo.out)
}

/// The state of one run.
struct Demo<'a> {
    node: &'a Node,
    out: &'a mut (dyn Write + Send),
    checks: Checks,
    /// ROC Zuidwaard's API client.
    roc: ApiClient,
    /// For the simulators' own endpoints (`/_sim/…`), as a person in the sandbox uses them.
    sim_http: reqwest::Client,
    step: usize,
}

/// One student's enrolment.
struct Enrolment {
    /// The OOK's id.
    ook: Uuid,
}

impl<'a> Demo<'a> {
    async fn script(&mut self) -> anyhow::Result<()> {
        self.step(&format!(
            "ROC Zuidwaard ({ROC}) gets an access token (client certificate + client credentials)"
        ))?;
        let level = self
            .node
            .reference
            .institution(&ROC.parse()?)
            .map(|i| i.participatie);
        self.need(
            level == Some(Participation::Krd),
            format!("{ROC} takes part at level krd"),
        )?;
        let token = self.roc.token().await;
        self.need(token.is_ok(), "token issued")?;

        let sjabloon = self.template().await?;
        for student in [&MINOR, &ADULT] {
            let enrolment = self.enrol(student, sjabloon).await?;
            if student.signers.contains(&"ouder") {
                self.results_and_diploma(student, &enrolment).await?;
            } else {
                self.praktijkovereenkomsten(student, &enrolment).await?;
            }
        }
        self.partners_received().await
    }

    /// Memo step b–c for one student: aanmelding, DUO, the OOK from the template, signed,
    /// `ingeschreven` at the VO school's regional system, BRON's inschrijving.
    async fn enrol(&mut self, s: &Student, sjabloon: Uuid) -> anyhow::Result<Enrolment> {
        let aanmelding = Uuid::new_v4();
        let cohort = open_cohort(&self.node.reference, &SOFTWARE_DEVELOPER)?;
        self.step(&format!(
            "{}: aanmelding from VO school {} (POST /api/v1/aanmeldingen)",
            s.label, s.school
        ))?;
        self.say(&format!(
            "sent: aanmelding {aanmelding}, opleiding Software Developer (crebo 25998), cohort \
             {cohort}, toeleverende_school {}, the student's BSN",
            s.school
        ))?;
        let r = self
            .roc
            .post(
                "/api/v1/aanmeldingen",
                &format!("demo-krd-submit-{aanmelding}"),
                &json!({
                    "aanmelding_id": aanmelding,
                    "student": { "bsn": s.bsn },
                    "opleiding": SOFTWARE_DEVELOPER,
                    "cohort": cohort,
                    "toeleverende_school": s.school,
                }),
            )
            .await?;
        self.need(
            r.status == 201,
            format!("{} → {} {}", s.label, r.status, str_of(&r.body["status"])),
        )?;

        self.step("The dossier opens: DUO is asked for the person and the vooropleidingen")?;
        let duo = self.sim(Partner::Duo)?;
        let asked = until(|| {
            duo.messages()
                .iter()
                .any(|m| m.subject == s.bsn && m.code == "gevonden")
        })
        .await;
        self.check(
            asked,
            "the DUO simulator received the lookup and knew the person",
        )?;
        let recorded = self.personalia_recorded(s.bsn).await?;
        self.need(recorded, "personalia recorded from DUO")?;

        self.step("The intake confirms it (POST /api/v1/aanmeldingen/{id}/status AM)")?;
        let r = self
            .roc
            .post(
                &format!("/api/v1/aanmeldingen/{aanmelding}/status"),
                &format!("demo-krd-am-{aanmelding}"),
                &json!({ "status": "AM" }),
            )
            .await?;
        self.need(
            r.status == 200,
            format!("aangemeld → {} {}", r.status, str_of(&r.body["status"])),
        )?;

        let ook = Uuid::new_v4();
        self.step("An OOK from the template, offered (POST /api/v1/onderwijsovereenkomsten)")?;
        let body = ook_body(s, ook, aanmelding, sjabloon);
        self.say(&format!(
            "sent: ook {ook}, aanmelding {aanmelding}, sjabloon {sjabloon}, aanbieden: true{}",
            body.get("begin")
                .map(|b| format!(", begin {}", str_of(b)))
                .unwrap_or_default()
        ))?;
        let r = self
            .roc
            .post(
                "/api/v1/onderwijsovereenkomsten",
                &format!("demo-krd-ook-{ook}"),
                &body,
            )
            .await?;
        let b = &r.body;
        self.need(
            r.status == 201
                && b["status"] == "aangeboden"
                && b["sjabloon"] == json!({ "id": sjabloon, "versie": 1 }),
            format!(
                "{} {}: crebo {} {} {}, {} – {}, from template version {}",
                r.status,
                str_of(&b["status"]),
                str_of(&b["crebo"]),
                str_of(&b["niveau"]),
                str_of(&b["leertraject"]),
                str_of(&b["begin"]),
                str_of(&b["gepland_einde"]),
                b["sjabloon"]["versie"]
            ),
        )?;

        self.step("Signed digitally through the signing simulator")?;
        let path = format!("/api/v1/onderwijsovereenkomsten/{ook}");
        self.sign_digitally(&format!("ook:{ook}"), s.signers, &path)
            .await?;
        let (ok, view) = self
            .until_api(&path, |b| b["status"] == "ondertekend")
            .await?;
        let digital = s
            .signers
            .iter()
            .all(|w| view["handtekeningen"][*w]["wijze"] == "digitaal");
        self.need(
            ok && digital,
            format!(
                "OOK {}, signed digitally by {} (transaction {})",
                str_of(&view["status"]),
                s.signers.join(", "),
                str_of(&view["ondertekening"][0]["status"])
            ),
        )?;

        self.step(&format!(
            "`ingeschreven` reaches VO school {}'s regional system and the koppelpunt",
            s.school
        ))?;
        let (ok, a) = self
            .until_api(&format!("/api/v1/aanmeldingen/{aanmelding}"), |b| {
                b["status"] == "ingeschreven"
            })
            .await?;
        self.check(ok, format!("aanmelding {}", str_of(&a["status"])))?;
        self.statuses_received(s).await?;

        self.step("BRON: the inschrijving is delivered to DUO")?;
        self.bron(
            s,
            &["T:Inschrijving"],
            ("onderwijsovereenkomst.ondertekend", 1),
            "accepted",
        )
        .await?;
        self.feed_tells(
            &format!("the feed tells OOK {ook}"),
            |i| i["ook_id"] == ook.to_string(),
            &[
                ("onderwijsovereenkomst.aangeboden", Some("aangeboden")),
                ("ondertekening.status_vastgelegd", Some("signed")),
                ("onderwijsovereenkomst.getekend", None),
                ("onderwijsovereenkomst.ondertekend", Some("ondertekend")),
            ],
        )
        .await?;
        Ok(Enrolment { ook })
    }

    /// Checks that the student's regional system and the koppelpunt received the aanmelding
    /// and each status, and the municipality the status changes when it is to be told.
    async fn statuses_received(&mut self, s: &Student) -> anyhow::Result<()> {
        use AanmeldStatus::*;
        let regional = self
            .node
            .reference
            .vo_school(&s.school.parse()?)
            .map(|v| v.systeem.partner())
            .context("the VO school is not in the reference data")?;
        let all = vec![Ontvangen, Aangemeld, OokAangeboden, Ingeschreven];
        let changes = vec![Aangemeld, OokAangeboden, Ingeschreven];
        let mut expected = vec![(regional, all.clone()), (Partner::Koppelpunt, all)];
        expected.push((
            Partner::Gemeenten,
            if s.municipality { changes } else { vec![] },
        ));
        for (partner, want) in expected {
            let sim = self.sim(partner)?;
            let codes = || -> Vec<String> {
                sim.messages()
                    .into_iter()
                    .filter(|m| m.subject == s.bsn)
                    .map(|m| m.code)
                    .collect()
            };
            let wanted = want.len();
            until(|| codes().len() >= wanted).await;
            let got = codes();
            let statuses: Vec<AanmeldStatus> = got
                .iter()
                .filter_map(|c| knooppunt_mappings::va::status_from_code("status", c).ok())
                .collect();
            let names: Vec<String> = statuses.iter().map(|st| super::status_name(*st)).collect();
            self.check(
                statuses == want && statuses.len() == got.len(),
                if got.is_empty() {
                    format!("{:<10} received nothing, as it should", partner.as_str())
                } else {
                    format!(
                        "{:<10} received {} ({})",
                        partner.as_str(),
                        got.join(" "),
                        names.join(", ")
                    )
                },
            )?;
        }
        Ok(())
    }

    /// Prints the step title.
    fn step(&mut self, title: &str) -> anyhow::Result<()> {
        self.step += 1;
        writeln!(self.out, "\n{}. {title}", self.step)?;
        Ok(())
    }

    /// Prints a line of the step.
    fn say(&mut self, text: &str) -> anyhow::Result<()> {
        writeln!(self.out, "   {text}")?;
        Ok(())
    }

    /// Prints and counts a check.
    fn check(&mut self, ok: bool, what: impl Into<String>) -> anyhow::Result<bool> {
        self.checks.check(self.out, ok, what)
    }

    /// A check the rest of the journey depends on: when it fails, the journey stops.
    fn need(&mut self, ok: bool, what: impl Into<String>) -> anyhow::Result<()> {
        let what = what.into();
        if self.check(ok, what.clone())? {
            Ok(())
        } else {
            bail!("{what}")
        }
    }

    /// The simulator of `partner`.
    fn sim(&self, partner: Partner) -> anyhow::Result<&'a dyn Simulator> {
        let node: &'a Node = self.node;
        node.simulators
            .get(&partner)
            .map(|s| &**s)
            .with_context(|| format!("the node has no {partner} simulator (not a sandbox?)"))
    }
}

/// The OOK's body. The minor's enrolment began 300 days ago, so that her results and diploma
/// are dated within it (up to today); the adult's begins with the cohort.
fn ook_body(s: &Student, ook: Uuid, aanmelding: Uuid, sjabloon: Uuid) -> Value {
    let mut body = json!({
        "ook_id": ook,
        "aanmelding_id": aanmelding,
        "sjabloon": { "id": sjabloon },
        "aanbieden": true,
    });
    if s.signers.contains(&"ouder") {
        let begin = today() - chrono::Days::new(300);
        body["begin"] = json!(begin);
        body["gepland_einde"] = json!(begin + chrono::Days::new(1000));
    }
    body
}

/// The registry's today (Dutch local date).
fn today() -> chrono::NaiveDate {
    knooppunt_registry::domain::time::local_date(chrono::Utc::now())
}
