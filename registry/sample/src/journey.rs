//! One student's journey through memo steps a–f, as commands; `knooppunt demo` runs [`run`] on the
//! in-memory store.

use std::collections::BTreeSet;
use std::io::Write;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use knooppunt_registry::domain::{
    AanmeldStatus, AanmeldingId, BekostigingsStatus, BpvDetails, BpvId, BpvOnderdeel,
    BpvOndertekenaar, Cijfer, Command, ContentHash, Dossier, DuoUitkomst, ExamenOnderdeel,
    Geboortedatum, GeneriekVak, Geslacht, Intensiteit, KeuzedeelUitslag, Ondertekenwijze,
    OokDetails, OokId, OokOndertekenaar, OverstapSamenvatting, Person, Personalia, Signaal,
    SignaalParameter, SigningStatus, SigningSubject, Vooropleiding,
};
use knooppunt_registry::envelope::{Actor, CommandMeta, DossierKey};
use knooppunt_registry::ids::PersonId;
use knooppunt_registry::partner::Partner;
use knooppunt_registry::policy::Part;
use knooppunt_registry::reference::{Leertraject, Niveau};
use knooppunt_registry::store::{Store, StoreError};

use crate::reference::{SOFTWARE_DEVELOPER, at, date, p, reference_data};

/// One scripted step of the demo.
#[derive(Debug, Clone)]
pub struct DemoStep {
    /// What happens, in words (with the memo step letter).
    pub title: String,
    /// Who and when.
    pub meta: CommandMeta,
    /// The command.
    pub command: Command,
}

/// The demo student's person number (the textbook BSN).
pub fn demo_person() -> PersonId {
    PersonId::Bsn(p("111222333"))
}

/// The demo's OOK id.
pub const OOK: OokId = OokId(Uuid::from_u128(0x0000_0000_0000_4000_8000_0000_0000_0a01));
/// The demo's BPV id.
pub const BPV: BpvId = BpvId(Uuid::from_u128(0x0000_0000_0000_4000_8000_0000_0000_0b01));
/// The demo's aanmelding id.
pub const AANMELDING: AanmeldingId =
    AanmeldingId(Uuid::from_u128(0x0000_0000_0000_4000_8000_0000_0000_0c01));

/// One student through memo steps a–f: identify and open the dossier, aanmelden with status
/// changes, consent and overstapdossier, the OOK offered and signed (the student is 16, so a
/// parent signs), a keuzedeel taken at a guest institution which records the result, a BPV with
/// SBB check and three signatures, exam results and the diploma.
pub fn journey(key: DossierKey) -> Vec<DemoStep> {
    let student = Actor::Student { dossier: key };
    let parent = Actor::Parent { dossier: key };
    let roc = Actor::Institution { brin: p("25LX") };
    let guest = Actor::Institution { brin: p("30GT") };
    let duo = Actor::Partner {
        partner: Partner::Duo,
    };
    let signing = Actor::Partner {
        partner: Partner::Signing,
    };
    let sbb = Actor::Partner {
        partner: Partner::Sbb,
    };
    let oso = Actor::Partner {
        partner: Partner::Oso,
    };
    let crebo = p("25998");
    let ook_details = OokDetails {
        aanmelding: Some(AANMELDING),
        opleiding: Some(SOFTWARE_DEVELOPER),
        crebo: p("25998"),
        niveau: Niveau::Mbo4,
        leertraject: Leertraject::Bol,
        intensiteit: Intensiteit::VT,
        begin: date(2027, 8, 30),
        gepland_einde: date(2030, 7, 31),
    };
    let digitaal = |t: &str| Ondertekenwijze::Digitaal {
        transactie: t.to_owned(),
    };
    let one = |w: OokOndertekenaar| BTreeSet::from([w]);
    let bpv_one = |w: BpvOndertekenaar| BTreeSet::from([w]);
    let grade = |t: u8| Some(Cijfer::clamped(t));

    let steps: Vec<(&str, Actor, DateTime<Utc>, Command)> = vec![
        (
            "a. The student logs in with DigiD: the dossier is opened",
            student.clone(),
            at(2027, 1, 15, 15),
            Command::OpenDossier {
                person: Person { id: demo_person() },
            },
        ),
        (
            "a. DUO delivers the personal data",
            duo.clone(),
            at(2027, 1, 15, 15),
            Command::RecordPersonalia {
                personalia: Personalia {
                    voornamen: "Fatima Noor".to_owned(),
                    voorvoegsels: Some("van der".to_owned()),
                    achternaam: "Berg".to_owned(),
                    geboortedatum: Geboortedatum::from_date(date(2011, 5, 15)),
                    geslacht: Geslacht::V,
                    woongemeente: Some(p("0599")),
                    startkwalificatie: false,
                },
            },
        ),
        (
            "a. DUO delivers the vooropleiding (vmbo-tl, in progress)",
            duo.clone(),
            at(2027, 1, 15, 15),
            Command::RecordVooropleiding {
                vooropleiding: Vooropleiding {
                    instelling: Some(p("19XY")),
                    opleiding: "VMBO-TL".to_owned(),
                    omschrijving: "vmbo theoretische leerweg".to_owned(),
                    vanaf: Some(date(2023, 8, 21)),
                    tot_en_met: None,
                    diploma_behaald: false,
                    datum_uitslag: None,
                },
            },
        ),
        (
            "b. She applies for Software Developer at ROC Zuidwaard before 1 April",
            student.clone(),
            at(2027, 2, 10, 19),
            Command::SubmitAanmelding {
                aanmelding: AANMELDING,
                instelling: p("25LX"),
                opleiding: SOFTWARE_DEVELOPER,
                cohort: "2027-2028".to_owned(),
                toeleverende_school: Some(p("19XY")),
                externe_referentie: None,
            },
        ),
        (
            "b. She gives ROC Zuidwaard consent to read her personalia, vooropleidingen and overstapdossier",
            student.clone(),
            at(2027, 2, 10, 19),
            Command::GrantConsent {
                instelling: p("25LX"),
                scopes: BTreeSet::from([
                    Part::Personalia,
                    Part::Vooropleidingen,
                    Part::Overstapdossier,
                ]),
            },
        ),
        (
            "b. The sending school's overstapdossier arrives through OSO",
            oso,
            at(2027, 2, 11, 8),
            Command::AttachOverstapdossier {
                school: p("19XY"),
                samenvatting: OverstapSamenvatting {
                    soort_overstap: "VOMBO".to_owned(),
                    gegevensset: "2019.1".to_owned(),
                    blokken: BTreeSet::from(["overigvombo".to_owned(), "resultaten".to_owned()]),
                },
                content_hash: ContentHash::of(b"demo overstapdossier"),
            },
        ),
        (
            "b. ROC Zuidwaard confirms: aangemeld",
            roc.clone(),
            at(2027, 2, 12, 9),
            Command::ChangeAanmeldingStatus {
                aanmelding: AANMELDING,
                status: AanmeldStatus::Aangemeld,
            },
        ),
        (
            "c. ROC Zuidwaard offers the onderwijsovereenkomst (status: OOK aangeboden)",
            roc.clone(),
            at(2027, 6, 1, 9),
            Command::OfferOnderwijsovereenkomst {
                ook: OOK,
                instelling: p("25LX"),
                details: ook_details,
            },
        ),
        (
            "c. She signs digitally",
            student.clone(),
            at(2027, 6, 3, 18),
            Command::SignOnderwijsovereenkomst {
                ook: OOK,
                ondertekenaars: one(OokOndertekenaar::Student),
                wijze: digitaal("sh-ook-0001"),
                datum: date(2027, 6, 3),
            },
        ),
        (
            "c. The signing provider reports the transaction in progress",
            signing.clone(),
            at(2027, 6, 3, 18),
            Command::RecordSigningStatus {
                transactie: "sh-ook-0001".to_owned(),
                subject: SigningSubject::Ook(OOK),
                status: SigningStatus::InProgress,
            },
        ),
        (
            "c. She is 16, so a parent signs too",
            parent,
            at(2027, 6, 4, 20),
            Command::SignOnderwijsovereenkomst {
                ook: OOK,
                ondertekenaars: one(OokOndertekenaar::Ouder),
                wijze: digitaal("sh-ook-0001"),
                datum: date(2027, 6, 4),
            },
        ),
        (
            "c. ROC Zuidwaard signs: the OOK is signed and the aanmelding becomes ingeschreven",
            roc.clone(),
            at(2027, 6, 5, 10),
            Command::SignOnderwijsovereenkomst {
                ook: OOK,
                ondertekenaars: one(OokOndertekenaar::Instelling),
                wijze: digitaal("sh-ook-0001"),
                datum: date(2027, 6, 5),
            },
        ),
        (
            "c. The signing provider reports the transaction signed",
            signing.clone(),
            at(2027, 6, 5, 10),
            Command::RecordSigningStatus {
                transactie: "sh-ook-0001".to_owned(),
                subject: SigningSubject::Ook(OOK),
                status: SigningStatus::Signed,
            },
        ),
        (
            "c. DUO reports the voorlopige bekostigingsstatus for teldatum 1 October",
            duo.clone(),
            at(2027, 10, 20, 6),
            Command::RecordBekostigingsstatus {
                ook: OOK,
                teldatum: date(2027, 10, 1),
                status: BekostigingsStatus::Voorlopig,
                bekostigbaar: true,
            },
        ),
        (
            "d. ROC Zuidwaard registers keuzedeel K0067, taken at AOC Groenland",
            roc.clone(),
            at(2027, 9, 15, 9),
            Command::RegisterKeuzedeel {
                ook: OOK,
                code: p("K0067"),
                gastinstelling: Some(p("30GT")),
            },
        ),
        (
            "d. AOC Groenland (guest) records the result",
            guest,
            at(2028, 6, 20, 14),
            Command::RecordKeuzedeelResultaat {
                ook: OOK,
                code: p("K0067"),
                uitslag: KeuzedeelUitslag::Behaald,
                datum: date(2028, 6, 20),
            },
        ),
        (
            "e. ROC Zuidwaard registers the BPV at leerbedrijf 100018965",
            roc.clone(),
            at(2028, 8, 20, 9),
            Command::RegisterPraktijkovereenkomst {
                bpv: BPV,
                details: BpvDetails {
                    ook: OOK,
                    leerbedrijf: p("100018965"),
                    onderdeel: BpvOnderdeel::Crebo(p("25998")),
                    begin: date(2028, 9, 1),
                    gepland_einde: date(2029, 1, 31),
                    omvang_uren: 640,
                    afsluitdatum: date(2028, 8, 20),
                },
            },
        ),
        (
            "e. SBB: the leerbedrijf is recognised for crebo 25998 on the start date",
            sbb,
            at(2028, 8, 20, 9),
            Command::RecordSbbCheck {
                bpv: BPV,
                erkend: true,
                reden: None,
                datum: date(2028, 8, 20),
            },
        ),
        (
            "e. She signs the BPV agreement",
            student,
            at(2028, 8, 21, 19),
            Command::SignPraktijkovereenkomst {
                bpv: BPV,
                ondertekenaars: bpv_one(BpvOndertekenaar::Student),
                wijze: digitaal("sh-bpv-0001"),
                datum: date(2028, 8, 21),
            },
        ),
        (
            "e. The leerbedrijf signs through the signing provider",
            signing.clone(),
            at(2028, 8, 22, 11),
            Command::SignPraktijkovereenkomst {
                bpv: BPV,
                ondertekenaars: bpv_one(BpvOndertekenaar::Leerbedrijf),
                wijze: digitaal("sh-bpv-0001"),
                datum: date(2028, 8, 22),
            },
        ),
        (
            "e. The school signs: the BPV agreement is complete and goes to DUO",
            roc.clone(),
            at(2028, 8, 23, 9),
            Command::SignPraktijkovereenkomst {
                bpv: BPV,
                ondertekenaars: bpv_one(BpvOndertekenaar::School),
                wijze: digitaal("sh-bpv-0001"),
                datum: date(2028, 8, 23),
            },
        ),
        (
            "e. DUO accepts the BPV with a signal",
            duo.clone(),
            at(2028, 8, 24, 6),
            Command::RecordDuoFeedback {
                mutatie: Uuid::from_u128(0x0000_0000_0000_4000_8000_0000_0000_0d01),
                instelling: p("25LX"),
                uitkomst: DuoUitkomst::GeaccepteerdMetSignalen {
                    signalen: vec![Signaal {
                        code: "S0417".to_owned(),
                        omschrijving: "Afsluitdatum ligt voor de datum begin BPV".to_owned(),
                        parameters: vec![SignaalParameter {
                            naam: "BPV-volgnummer".to_owned(),
                            waarde: "1".to_owned(),
                        }],
                    }],
                },
            },
        ),
        (
            "e. The BPV ends as planned",
            roc.clone(),
            at(2029, 2, 1, 9),
            Command::EndPraktijkovereenkomst {
                bpv: BPV,
                datum: date(2029, 1, 31),
            },
        ),
        (
            "f. Generic exam Nederlands (IE 7.2, CE 6.8)",
            roc.clone(),
            at(2030, 3, 20, 9),
            Command::RecordExamenresultaat {
                ook: OOK,
                onderdeel: ExamenOnderdeel::Generiek {
                    vak: GeneriekVak::Nederlands,
                    cijfer_ie: grade(72),
                    cijfer_ce: grade(68),
                },
                datum: date(2030, 3, 15),
            },
        ),
        (
            "f. Generic exam rekenen (CE 6.1)",
            roc.clone(),
            at(2030, 3, 20, 9),
            Command::RecordExamenresultaat {
                ook: OOK,
                onderdeel: ExamenOnderdeel::Generiek {
                    vak: GeneriekVak::Rekenen,
                    cijfer_ie: None,
                    cijfer_ce: grade(61),
                },
                datum: date(2030, 3, 16),
            },
        ),
        (
            "f. Generic exam Engels (niveau 4: IE 7.9)",
            roc.clone(),
            at(2030, 3, 20, 9),
            Command::RecordExamenresultaat {
                ook: OOK,
                onderdeel: ExamenOnderdeel::Generiek {
                    vak: GeneriekVak::Engels,
                    cijfer_ie: grade(79),
                    cijfer_ce: None,
                },
                datum: date(2030, 3, 17),
            },
        ),
        (
            "f. Institutional exam: proeve van bekwaamheid",
            roc.clone(),
            at(2030, 6, 10, 9),
            Command::RecordExamenresultaat {
                ook: OOK,
                onderdeel: ExamenOnderdeel::Instelling {
                    onderdeel: "PVB-SD-K1".to_owned(),
                    cijfer: Cijfer::clamped(80),
                },
                datum: date(2030, 6, 8),
            },
        ),
        (
            "f. ROC Zuidwaard awards the diploma: the OOK ends (reden 01) and it goes to DUO",
            roc,
            at(2030, 7, 2, 9),
            Command::AwardDiploma {
                crebo,
                datum: date(2030, 7, 1),
            },
        ),
    ];
    steps
        .into_iter()
        .map(|(title, actor, time, command)| DemoStep {
            title: title.to_owned(),
            meta: CommandMeta::new(key, actor, time),
            command,
        })
        .collect()
}

/// What one demo step came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepReport {
    /// The step's title.
    pub title: String,
    /// The event types it yielded, or the rejection code.
    pub result: Result<Vec<&'static str>, String>,
}

/// What the demo came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoReport {
    /// The dossier key.
    pub dossier: DossierKey,
    /// Per step.
    pub steps: Vec<StepReport>,
    /// The dossier at the end.
    pub final_dossier: Option<Dossier>,
}

impl DemoReport {
    /// Whether every step was accepted.
    pub fn all_succeeded(&self) -> bool {
        self.steps.iter().all(|s| s.result.is_ok())
    }
}

/// A demo failure (a rejected step is not a failure: it is in the report).
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// Writing the output failed.
    #[error("output: {0}")]
    Io(#[from] std::io::Error),
    /// The dossier could not be shown.
    #[error("rendering the dossier: {0}")]
    Render(#[from] serde_json::Error),
}

/// A short readable summary of a dossier's state (no history).
pub fn summary(d: &Dossier) -> String {
    let mut lines = Vec::new();
    lines.push(format!("    sequence {}", d.sequence));
    if let Some(p) = &d.personalia {
        lines.push(format!(
            "    personalia: {} {}{} ({})",
            p.voornamen,
            p.voorvoegsels
                .as_ref()
                .map(|v| format!("{v} "))
                .unwrap_or_default(),
            p.achternaam,
            p.geboortedatum.duo_format()
        ));
    }
    for a in d.aanmeldingen.values() {
        lines.push(format!(
            "    aanmelding {} at {} crebo {}: {} (toelatingsrecht: {})",
            a.cohort,
            a.instelling,
            a.crebo,
            enum_name(&a.status),
            if a.toelatingsrecht { "ja" } else { "nee" }
        ));
    }
    for t in d.toestemmingen.values() {
        let scopes: Vec<&str> = t.scopes.iter().map(|s| s.as_str()).collect();
        lines.push(format!(
            "    toestemming {}: {}{}",
            t.instelling,
            scopes.join(", "),
            if t.ingetrokken_op.is_some() {
                " (ingetrokken)"
            } else {
                ""
            }
        ));
    }
    for o in &d.overstapdossiers {
        lines.push(format!(
            "    overstapdossier from {} ({}), sha256 {}…",
            o.school,
            o.samenvatting.soort_overstap,
            o.content_hash.as_str().get(..12).unwrap_or_default()
        ));
    }
    for o in d.onderwijsovereenkomsten.values() {
        lines.push(format!(
            "    OOK at {} crebo {} {}: {}{}",
            o.instelling,
            o.details.crebo,
            enum_name(&o.details.leertraject),
            enum_name(&o.status),
            o.werkelijk_einde
                .map(|e| format!(", uitgeschreven {e}"))
                .unwrap_or_default()
        ));
    }
    for b in d.praktijkovereenkomsten.values() {
        lines.push(format!(
            "    BPV at leerbedrijf {} {}–{}: {}, SBB {}",
            b.details.leerbedrijf,
            b.details.begin,
            b.einde(),
            enum_name(&b.status),
            match &b.sbb {
                knooppunt_registry::domain::SbbCheck::Pending => "pending".to_owned(),
                knooppunt_registry::domain::SbbCheck::Erkend { .. } => "erkend".to_owned(),
                knooppunt_registry::domain::SbbCheck::NietErkend { reason } =>
                    format!("niet erkend ({reason})"),
                knooppunt_registry::domain::SbbCheck::Ingetrokken { .. } =>
                    "ingetrokken".to_owned(),
            }
        ));
    }
    for k in &d.keuzedelen {
        lines.push(format!(
            "    keuzedeel {}{}: {}",
            k.code,
            k.gastinstelling
                .as_ref()
                .map(|g| format!(" at guest {g}"))
                .unwrap_or_default(),
            k.resultaat
                .as_ref()
                .map(|r| format!(
                    "{} (recorded by {})",
                    enum_name(&r.uitslag),
                    r.vastgelegd_door
                ))
                .unwrap_or_else(|| "no result yet".to_owned())
        ));
    }
    if !d.examenresultaten.is_empty() {
        lines.push(format!(
            "    examenresultaten: {}",
            d.examenresultaten.len()
        ));
    }
    for dip in &d.diplomas {
        lines.push(format!("    diploma crebo {} on {}", dip.crebo, dip.datum));
    }
    for t in d.ondertekening.values() {
        lines.push(format!(
            "    signing {}: status {}",
            t.transactie,
            t.status.code()
        ));
    }
    if !d.duo_terugkoppeling.is_empty() || !d.bekostiging.is_empty() {
        lines.push(format!(
            "    DUO: {} answers, {} bekostigingsstatussen",
            d.duo_terugkoppeling.len(),
            d.bekostiging.len()
        ));
    }
    lines.join("\n")
}

fn enum_name<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => "?".to_owned(),
    }
}

/// Runs the journey on `store`, printing each command, its events and the resulting dossier.
/// Stores the reference data first. A rejected step is printed and reported, and the demo goes
/// on.
pub async fn run(store: &dyn Store, out: &mut dyn Write) -> Result<DemoReport, DemoError> {
    let reference = reference_data();
    store.save_reference(&reference).await?;
    let key = DossierKey::new();
    writeln!(out, "Knooppunt demo: one student through memo steps a–f")?;
    writeln!(out, "dossier {key}\n")?;
    let mut steps = Vec::new();
    for (n, step) in journey(key).into_iter().enumerate() {
        writeln!(out, "{:>2}. {}", n + 1, step.title)?;
        writeln!(
            out,
            "    command {} by {} at {}",
            step.command.name(),
            actor_label(&step.meta.actor),
            step.meta.time.format("%Y-%m-%d %H:%M UTC")
        )?;
        let outcome = store
            .execute(step.meta.clone(), step.command.clone(), &reference)
            .await?;
        let result = match outcome.result {
            Ok(events) => {
                for e in &events {
                    writeln!(
                        out,
                        "    → {} #{}{}",
                        e.meta.kind,
                        e.meta.sequence,
                        e.meta
                            .institution
                            .as_ref()
                            .map(|b| format!(" ({b})"))
                            .unwrap_or_default()
                    )?;
                }
                Ok(events.iter().map(|e| e.data.type_name()).collect())
            }
            Err(rejection) => {
                writeln!(out, "    ✗ rejected: {rejection}")?;
                Err(rejection.code().to_owned())
            }
        };
        if let Some(d) = store.dossier(key).await? {
            writeln!(out, "{}", summary(&d))?;
        }
        writeln!(out)?;
        steps.push(StepReport {
            title: step.title,
            result,
        });
    }
    let final_dossier = store.dossier(key).await?;
    if let Some(d) = &final_dossier {
        writeln!(out, "The dossier at the end:")?;
        writeln!(out, "{}", serde_json::to_string_pretty(d)?)?;
    }
    let history = store.history(key).await?;
    writeln!(out, "\nHistory: {} events", history.len())?;
    Ok(DemoReport {
        dossier: key,
        steps,
        final_dossier,
    })
}

fn actor_label(actor: &Actor) -> String {
    match actor {
        Actor::Student { .. } => "the student".to_owned(),
        Actor::Parent { .. } => "a parent".to_owned(),
        Actor::Institution { brin } => format!("institution {brin}"),
        Actor::BevoegdGezag { bestuur } => format!("bevoegd gezag {bestuur}"),
        Actor::Partner { partner } => format!("partner {partner}"),
        Actor::Operator { name } => format!("operator {name}"),
        Actor::System => "Knooppunt".to_owned(),
    }
}
