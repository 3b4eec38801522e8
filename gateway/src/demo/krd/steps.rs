//! The krd journey's later steps: the template, memo steps d and f for the minor (a keuzedeel
//! at a guest institution, exam results, the diploma), memo step e for the adult (BPVOs checked
//! by SBB and signed; the two refusals) and what each partner received.

use std::collections::BTreeMap;

use anyhow::Context;
use knooppunt_registry::partner::Partner;
use knooppunt_sample::SOFTWARE_DEVELOPER;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{
    Demo, Enrolment, GUEST, KEUZEDEEL, LEERBEDRIJF, ROC, Student, UNRECOGNISED, str_of, today,
};

/// The signers of a BPVO.
const BPV_SIGNERS: &[&str] = &["student", "school", "leerbedrijf"];

impl Demo<'_> {
    /// Memo step b's preparation: the institution's OOK template for the opleiding.
    pub(super) async fn template(&mut self) -> anyhow::Result<Uuid> {
        let sjabloon = Uuid::new_v4();
        self.step(
            "ROC Zuidwaard adds its OOK template for Software Developer (POST /api/v1/ook-sjablonen)",
        )?;
        self.say(&format!(
            "sent: sjabloon {sjabloon}, reikwijdte opleiding, intensiteit VT, 36 months, the \
             agreement's text"
        ))?;
        let r = self
            .roc
            .post(
                "/api/v1/ook-sjablonen",
                &format!("demo-krd-sjabloon-{sjabloon}"),
                &json!({
                    "sjabloon_id": sjabloon,
                    "naam": "OOK Software Developer voltijd",
                    "reikwijdte": "opleiding",
                    "opleiding": SOFTWARE_DEVELOPER,
                    "intensiteit": "VT",
                    "duur_maanden": 36,
                    "tekst": "Artikel 1. De instelling verzorgt de opleiding.",
                }),
            )
            .await?;
        self.need(
            r.status == 201 && r.body["versie"] == 1,
            format!("{}: template version {}", r.status, r.body["versie"]),
        )?;
        Ok(sjabloon)
    }

    /// Memo steps d and f on the minor's enrolment: a keuzedeel at a guest institution with
    /// its result, exam results and the diploma, which ends the OOK; BRON tells DUO of the
    /// diploma and the uitschrijving (the DUO simulator is told to answer the uitschrijving
    /// with a signal).
    pub(super) async fn results_and_diploma(
        &mut self,
        s: &Student,
        e: &Enrolment,
    ) -> anyhow::Result<()> {
        let base = format!("/api/v1/onderwijsovereenkomsten/{}", e.ook);
        let yesterday = today() - chrono::Days::new(1);
        self.step(&format!(
            "{}: keuzedeel {KEUZEDEEL} at a guest institution ({GUEST}, Vakcollege Houtwerk), \
             and its result",
            s.label
        ))?;
        let r = self
            .roc
            .post(
                &format!("{base}/keuzedelen"),
                &format!("demo-krd-kd-{}", e.ook),
                &json!({ "code": KEUZEDEEL, "gastinstelling": GUEST }),
            )
            .await?;
        self.need(
            r.status == 201,
            format!(
                "POST …/keuzedelen {{code {KEUZEDEEL}, gastinstelling {GUEST}}} → {}",
                r.status
            ),
        )?;
        let r = self
            .roc
            .post(
                &format!("{base}/keuzedelen/{KEUZEDEEL}/resultaat"),
                &format!("demo-krd-kd-resultaat-{}", e.ook),
                &json!({ "uitslag": "behaald", "datum": yesterday }),
            )
            .await?;
        let k = &r.body["keuzedelen"][0];
        self.need(
            r.status == 200
                && k["code"] == KEUZEDEEL
                && k["gastinstelling"] == GUEST
                && k["resultaat"]["uitslag"] == "behaald"
                && k["resultaat"]["vastgelegd_door"] == ROC,
            format!(
                "POST …/keuzedelen/{KEUZEDEEL}/resultaat → {}: {} at {}, {}, recorded by {}",
                r.status,
                str_of(&k["code"]),
                str_of(&k["gastinstelling"]),
                str_of(&k["resultaat"]["uitslag"]),
                str_of(&k["resultaat"]["vastgelegd_door"])
            ),
        )?;

        self.step("Exam results and the diploma")?;
        self.bron_rules(
            &[json!({
                "record": "Uitschrijving",
                "uitkomst": "geaccepteerd_met_signalen",
                "code": "DEMO001",
                "omschrijving": "Signaal van de demo",
            })],
            "the DUO simulator is told to accept an uitschrijving with signal DEMO001 \
             (POST /_sim/bron/regels)",
        )
        .await?;
        for (n, what, body) in [
            (
                1,
                "generiek, nederlands",
                json!({ "soort": "generiek", "vak": "nederlands", "cijfer_ie": 7.5, "datum": yesterday }),
            ),
            (
                2,
                "instelling, PVB-1",
                json!({ "soort": "instelling", "onderdeel": "PVB-1", "cijfer": 8, "datum": yesterday }),
            ),
        ] {
            let r = self
                .roc
                .post(
                    &format!("{base}/examenresultaten"),
                    &format!("demo-krd-ex{n}-{}", e.ook),
                    &body,
                )
                .await?;
            self.need(
                r.status == 200,
                format!(
                    "POST …/examenresultaten ({what}; the grade stays in the OOK) → {}{}",
                    r.status,
                    r.code().map(|c| format!(" {c}")).unwrap_or_default()
                ),
            )?;
        }
        let r = self
            .roc
            .post(
                &format!("{base}/diploma"),
                &format!("demo-krd-diploma-{}", e.ook),
                &json!({ "datum": yesterday }),
            )
            .await?;
        let b = &r.body;
        self.need(
            r.status == 200
                && b["status"] == "beeindigd"
                && b["reden_uitschrijving"] == "01"
                && b["diploma"]["crebo"] == "25998",
            format!(
                "POST …/diploma → {}: diploma crebo {}, OOK {} (reden uitschrijving {})",
                r.status,
                str_of(&b["diploma"]["crebo"]),
                str_of(&b["status"]),
                str_of(&b["reden_uitschrijving"])
            ),
        )?;

        self.step("BRON: the diploma and the uitschrijving are delivered to DUO")?;
        self.bron(
            s,
            &["T:Inschrijving", "T:Diploma", "T:Uitschrijving"],
            ("diploma.uitgereikt", 1),
            "accepted_with_signals",
        )
        .await?;
        self.bron_rules(&[], "the DUO simulator's default rules back")
            .await?;
        let ook = e.ook.to_string();
        let feed = self
            .feed_tells(
                "the feed tells each, with codes and no grades",
                |i| {
                    i["ook_id"] == ook.as_str()
                        && ["keuzedeel.", "examenresultaat.", "diploma."]
                            .iter()
                            .any(|k| str_of(&i["type"]).starts_with(&format!("nl.knooppunt.{k}")))
                },
                &[
                    ("keuzedeel.geregistreerd", Some("geregistreerd")),
                    ("keuzedeel.resultaat_vastgelegd", Some("behaald")),
                    ("examenresultaat.vastgelegd", None),
                    ("examenresultaat.vastgelegd", None),
                    ("diploma.uitgereikt", Some("beeindigd")),
                ],
            )
            .await?;
        // No grade field and no grade as a value (7.5 and 8.0 as numbers or text; the integer 8
        // would also be a wijzigingsvolgnummer).
        let grades = [json!(7.5), json!(8.0), json!("7.5"), json!("8.0")];
        let graded = feed["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_object)
            .flatten()
            .any(|(field, v)| field.contains("cijfer") || grades.contains(v));
        self.check(!graded, "no grade in any feed item")?;
        Ok(())
    }

    /// Memo step e on the adult's enrolment: a BPVO SBB recognises, signed by three parties
    /// and delivered to DUO; then the two refusals: a leerbedrijf SBB does not recognise (the
    /// BPVO cannot be signed, the feed says why) and a BPV the DUO simulator rejects.
    pub(super) async fn praktijkovereenkomsten(
        &mut self,
        s: &Student,
        e: &Enrolment,
    ) -> anyhow::Result<()> {
        let ook = self
            .roc
            .get(&format!("/api/v1/onderwijsovereenkomsten/{}", e.ook))
            .await?;
        let begin: chrono::NaiveDate = str_of(&ook.body["begin"])
            .parse()
            .context("the OOK's begin")?;
        let days = |n| (begin + chrono::Days::new(n)).to_string();

        self.step(&format!(
            "{}: a BPVO at leerbedrijf {LEERBEDRIJF} (POST /api/v1/praktijkovereenkomsten)",
            s.label
        ))?;
        let bpv = self
            .register_bpv(e.ook, LEERBEDRIJF, (days(150), days(300)))
            .await?;
        self.sbb_answers(bpv, "erkend").await?;
        self.step("Three signatures through the signing simulator")?;
        let path = format!("/api/v1/praktijkovereenkomsten/{bpv}");
        self.signed_bpv(bpv, &path).await?;
        self.step("BRON: the BPV is delivered to DUO")?;
        self.bron(
            s,
            &["T:Inschrijving", "T:BPV"],
            ("praktijkovereenkomst.ondertekend", 1),
            "accepted",
        )
        .await?;
        let id = bpv.to_string();
        self.feed_tells(
            &format!("the feed tells BPV {bpv}"),
            |i| i["bpv_id"] == id.as_str(),
            &[
                ("praktijkovereenkomst.geregistreerd", Some("geregistreerd")),
                ("praktijkovereenkomst.sbb_gecontroleerd", Some("erkend")),
                ("ondertekening.status_vastgelegd", Some("signed")),
                ("praktijkovereenkomst.getekend", None),
                ("praktijkovereenkomst.ondertekend", Some("ondertekend")),
            ],
        )
        .await?;

        self.step(&format!(
            "Refused: a BPVO at leerbedrijf {UNRECOGNISED}, which SBB does not recognise"
        ))?;
        let refused = self
            .register_bpv(e.ook, UNRECOGNISED, (days(150), days(300)))
            .await?;
        self.sbb_answers(refused, "niet_erkend").await?;
        let path = format!("/api/v1/praktijkovereenkomsten/{refused}");
        let r = self
            .roc
            .post(
                &format!("{path}/ondertekening"),
                &format!("demo-krd-bpv-papier-{refused}"),
                &json!({
                    "wijze": "papier",
                    "ondertekenaars": BPV_SIGNERS,
                    "datum": today() - chrono::Days::new(1),
                }),
            )
            .await?;
        self.check(
            r.status == 409 && r.code() == Some("leerbedrijf_not_erkend"),
            format!(
                "signing it (on paper) is refused: {} {}",
                r.status,
                r.code().unwrap_or("")
            ),
        )?;
        let after = self.roc.get(&path).await?;
        self.check(
            after.body["status"] == "geregistreerd",
            format!("the BPVO stays {}", str_of(&after.body["status"])),
        )?;
        let url = self.sim(Partner::Signing)?.url();
        let tx = self.transaction(&url, &format!("bpv:{refused}")).await?;
        self.check(
            tx.is_none(),
            "the signing simulator received no transaction for it",
        )?;
        let id = refused.to_string();
        let feed = self
            .feed_tells(
                "the feed tells the institution SBB's answer and why",
                |i| i["bpv_id"] == id.as_str(),
                &[
                    ("praktijkovereenkomst.geregistreerd", Some("geregistreerd")),
                    (
                        "praktijkovereenkomst.sbb_gecontroleerd",
                        Some("niet_erkend"),
                    ),
                ],
            )
            .await?;
        let reden = feed["items"].as_array().into_iter().flatten().any(|i| {
            i["bpv_id"] == id.as_str()
                && i["status"] == "niet_erkend"
                && i["reden"].as_str().is_some_and(|r| !r.is_empty())
        });
        self.check(reden, "SBB's reason is in the feed item")?;

        self.step(&format!(
            "Refused by DUO: the DUO simulator is told to reject a BPV at {LEERBEDRIJF}"
        ))?;
        self.bron_rules(
            &[json!({
                "record": "BPV",
                "leerbedrijf": LEERBEDRIJF,
                "uitkomst": "afgekeurd",
                "code": "DEMO002",
                "omschrijving": "Afgekeurd op verzoek van de demo",
            })],
            &format!(
                "rule: a BPV at {LEERBEDRIJF} → afgekeurd, signal DEMO002 (POST /_sim/bron/regels)"
            ),
        )
        .await?;
        let second = self
            .register_bpv(e.ook, LEERBEDRIJF, (days(310), days(400)))
            .await?;
        self.sbb_answers(second, "erkend").await?;
        let path = format!("/api/v1/praktijkovereenkomsten/{second}");
        self.signed_bpv(second, &path).await?;
        self.bron(
            s,
            &["T:Inschrijving", "T:BPV", "T:BPV"],
            ("praktijkovereenkomst.ondertekend", 2),
            "rejected",
        )
        .await?;
        self.bron_rules(&[], "the DUO simulator's default rules back")
            .await?;
        Ok(())
    }

    /// Registers a BPVO in `ook` at `leerbedrijf` for `(begin, gepland_einde)`; its id.
    async fn register_bpv(
        &mut self,
        ook: Uuid,
        leerbedrijf: &str,
        (begin, einde): (String, String),
    ) -> anyhow::Result<Uuid> {
        let bpv = Uuid::new_v4();
        self.say(&format!(
            "sent: bpv {bpv}, ook {ook}, leerbedrijf {leerbedrijf}, {begin} – {einde}, 640 uren"
        ))?;
        let r = self
            .roc
            .post(
                "/api/v1/praktijkovereenkomsten",
                &format!("demo-krd-bpv-{bpv}"),
                &json!({
                    "bpv_id": bpv,
                    "ook_id": ook,
                    "leerbedrijf": leerbedrijf,
                    "begin": begin,
                    "gepland_einde": einde,
                    "omvang_uren": 640,
                }),
            )
            .await?;
        self.need(
            r.status == 201 && r.body["status"] == "geregistreerd",
            format!(
                "{} {}, crebo {}, SBB: {}",
                r.status,
                str_of(&r.body["status"]),
                str_of(&r.body["crebo"]),
                str_of(&r.body["sbb"]["status"])
            ),
        )?;
        Ok(bpv)
    }

    /// Waits for SBB's answer on `bpv` and checks it is `want`, and what SBB's simulator
    /// received.
    async fn sbb_answers(&mut self, bpv: Uuid, want: &str) -> anyhow::Result<()> {
        let path = format!("/api/v1/praktijkovereenkomsten/{bpv}");
        let (_, view) = self
            .until_api(&path, |b| b["sbb"]["status"] != "pending")
            .await?;
        let sbb = self.sim(Partner::Sbb)?;
        let id = bpv.to_string();
        let codes: Vec<String> = sbb
            .messages()
            .into_iter()
            .filter(|m| m.subject == id)
            .map(|m| m.code)
            .collect();
        self.say(&format!(
            "the SBB simulator received the check and answered {}",
            codes.join(" ")
        ))?;
        let reden = view["sbb"]["reden"]
            .as_str()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default();
        self.need(
            view["sbb"]["status"] == want && codes.len() == 1,
            format!("SBB: {}{reden}", str_of(&view["sbb"]["status"])),
        )
    }

    /// The BPVO at `path` is signed by its three parties through the signing simulator.
    async fn signed_bpv(&mut self, bpv: Uuid, path: &str) -> anyhow::Result<()> {
        self.sign_digitally(&format!("bpv:{bpv}"), BPV_SIGNERS, path)
            .await?;
        let (ok, view) = self
            .until_api(path, |b| b["status"] == "ondertekend")
            .await?;
        let digital = BPV_SIGNERS
            .iter()
            .all(|w| view["handtekeningen"][*w]["wijze"] == "digitaal");
        self.need(
            ok && digital,
            format!(
                "BPVO {}, signed digitally by {}",
                str_of(&view["status"]),
                BPV_SIGNERS.join(", ")
            ),
        )
    }

    /// What each simulated partner received over the whole run (codes and institutions; the
    /// student numbers they legitimately received are not shown), and that the feed holds no
    /// BSN.
    pub(super) async fn partners_received(&mut self) -> anyhow::Result<()> {
        self.step("What each partner received (student numbers not shown)")?;
        // Per student: VA partners the aanmelding and three statuses each (the municipality
        // the three changes, for the minor only); DUO a lookup and the BRON mutations; SBB a
        // check per BPVO; the signing provider a transaction per agreement signed digitally.
        let expected: BTreeMap<Partner, usize> = [
            (Partner::Duo, 2 + 3 + 3),
            (Partner::Koppelpunt, 8),
            (Partner::Intergrip, 4),
            (Partner::Digidoor, 4),
            (Partner::Gemeenten, 3),
            (Partner::Sbb, 3),
            (Partner::Signing, 4),
        ]
        .into_iter()
        .collect();
        let node = self.node;
        for (partner, sim) in &node.simulators {
            let got = sim.messages();
            let want = expected.get(partner).copied().unwrap_or(0);
            let codes: Vec<String> = got
                .iter()
                .map(|m| match &m.institution {
                    Some(brin) => format!("{}@{brin}", m.code),
                    None => m.code.clone(),
                })
                .collect();
            self.say(&format!(
                "{:<11} {:>2} message(s): {}",
                partner.as_str(),
                got.len(),
                codes.join(" ")
            ))?;
            self.check(
                got.len() == want && sim.duplicates() == 0,
                format!(
                    "{partner}: expected {want}, got {} (duplicates: {})",
                    got.len(),
                    sim.duplicates()
                ),
            )?;
        }
        let feed = self.roc.get("/api/v1/feed?vanaf=0&limit=500").await?;
        let text = feed.body.to_string();
        let items = feed.body["items"].as_array().map_or(0, Vec::len);
        self.check(
            feed.status == 200
                && [super::MINOR.bsn, super::ADULT.bsn]
                    .iter()
                    .all(|b| !text.contains(b)),
            format!("ROC Zuidwaard's feed: {items} item(s), no BSN in any"),
        )?;
        Ok(())
    }
}
