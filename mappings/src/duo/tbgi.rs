//! TBG-i: DUO's "terugmelding bekostigingsgrondslagen individueel" (`domain.md` §1.5; demo
//! `shared/specs/duo-tbgi-demo_TBGI_25LX_2027_20251124.xml`). Per inschrijving and per teldatum
//! DUO says whether it funds it (voorlopig `V` or definitief `D`) and attaches signals with
//! parameters; per diploma the same.
//!
//! The file has no namespace (DUO's own); an element in any namespace is refused. `xsi:nil`
//! elements count as absent, and a `Signaal`/`Parameter` whose fields are all nil (as DUO writes
//! "no signal") is skipped. Unknown elements are ignored, so a DUO extension does not break us.

use chrono::{NaiveDate, NaiveDateTime};
use knooppunt_registry::ids::{Brin, Crebo, PersonId};
use serde::{Deserialize, Serialize};

use super::codes::{
    Leerroutefase, Leertraject, Niveau, StatusBepaling, Volgnummer, check_text, parse_bool,
    parse_date, parse_datetime, parse_decimal, parse_uint,
};
use crate::duo::convert::{PersonField, person_id};
use crate::error::MappingError;
use crate::xml::{self, Element, Node};

/// Largest TBG-i file accepted (a large institution's file is a few MB).
pub const MAX_TBGI_BYTES: usize = 64 * 1024 * 1024;

/// Maximum length of a signal code.
pub const MAX_SIGNAALCODE: usize = 20;
/// Maximum length of a signal description or parameter value.
pub const MAX_SIGNAALTEKST: usize = 1000;
/// Maximum length of a parameter name.
pub const MAX_PARAMETERNAAM: usize = 100;

/// A whole TBG-i file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tbgi {
    /// Per inschrijving.
    pub inschrijvingen: Vec<TbgiInschrijving>,
    /// Per diploma.
    pub diplomas: Vec<TbgiDiploma>,
}

/// DUO's funding view of one inschrijving.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TbgiInschrijving {
    /// The institution.
    pub brin: Brin,
    /// The student.
    pub persoon: PersonId,
    /// The institution's inschrijvingvolgnummer.
    pub inschrijvingvolgnummer: Volgnummer,
    /// Datum inschrijving.
    pub datum_inschrijving: NaiveDate,
    /// Datum uitschrijving gepland.
    pub datum_uitschrijving_gepland: Option<NaiveDate>,
    /// Datum uitschrijving werkelijk.
    pub datum_uitschrijving_werkelijk: Option<NaiveDate>,
    /// Niveau of the highest funded diploma the student already has, as DUO writes it.
    pub niveau_hoogst_bekostigde_diploma: Option<String>,
    /// One block per teldatum; none means the inschrijving is not fundable.
    pub teldata: Vec<TbgiTeldatum>,
}

/// DUO's decision for one inschrijving on one teldatum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TbgiTeldatum {
    /// The teldatum (1 October or 1 February).
    pub teldatum: NaiveDate,
    /// When DUO determined it.
    pub bepaald_op: NaiveDateTime,
    /// Voorlopig or definitief.
    pub status: StatusBepaling,
    /// Age on 1 August of the studiejaar.
    pub leeftijd_op_1_augustus: Option<u32>,
    /// Opleidingcode on the teldatum.
    pub opleidingcode: Option<Crebo>,
    /// Niveau on the teldatum.
    pub niveau: Option<Niveau>,
    /// Leertraject on the teldatum.
    pub leertraject: Option<Leertraject>,
    /// Leerroutefase on the teldatum.
    pub leerroutefase: Option<Leerroutefase>,
    /// The institution's indicatie bekostigbaar.
    pub indicatie_bekostigbaar: bool,
    /// DUO's decision: funded or not.
    pub bekostigingsstatus: bool,
    /// Counts for the correctiefactor.
    pub inschrijving_voor_correctiefactor: Option<bool>,
    /// BBL/BOL factor (decimal as written).
    pub bbl_bol_factor: Option<String>,
    /// Prijsfactor (decimal as written).
    pub prijsfactor_mbo: Option<String>,
    /// Number of funded years of stay.
    pub aantal_bekostigde_verblijfsjaren: Option<u32>,
    /// Verblijfsjaarfactor (decimal as written).
    pub verblijfsjaarfactor: Option<String>,
    /// Contribution to the deelnemerswaarde (decimal as written).
    pub bijdrage_aan_deelnemerswaarde: Option<String>,
    /// The BPV DUO counted, when there is one.
    pub bekostigingsrelevante_bpv: Option<TbgiBpv>,
    /// DUO's signals.
    pub signalen: Vec<Signaal>,
}

/// The BPV DUO considered relevant for funding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TbgiBpv {
    /// The inschrijving it belongs to.
    pub inschrijvingvolgnummer: Option<Volgnummer>,
    /// BPV volgnummer.
    pub volgnummer: Option<Volgnummer>,
    /// Afsluitdatum.
    pub afsluitdatum: Option<NaiveDate>,
    /// Datum begin.
    pub datum_begin: Option<NaiveDate>,
    /// Datum eind gepland.
    pub datum_eind_gepland: Option<NaiveDate>,
    /// Datum eind werkelijk.
    pub datum_eind_werkelijk: Option<NaiveDate>,
    /// Opleidingcode.
    pub opleidingcode: Option<Crebo>,
}

/// DUO's funding view of one diploma.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TbgiDiploma {
    /// The institution.
    pub brin: Brin,
    /// The student.
    pub persoon: PersonId,
    /// Resultaatvolgnummer.
    pub resultaatvolgnummer: Volgnummer,
    /// Opleidingcode.
    pub opleidingcode: Crebo,
    /// The inschrijving it belongs to.
    pub inschrijvingvolgnummer: Option<Volgnummer>,
    /// Datum behaald.
    pub datum_behaald: NaiveDate,
    /// Niveau.
    pub niveau: Option<Niveau>,
    /// Whether it is a specialistendiploma.
    pub indicatie_specialistendiploma: Option<bool>,
    /// Niveau of the highest funded diploma before this one, as DUO writes it.
    pub niveau_hoogst_bekostigde_diploma: Option<String>,
    /// Whether that highest diploma is a specialistendiploma.
    pub indicatie_hoogst_bekostigde_diploma_is_specialist: Option<bool>,
    /// When DUO determined it.
    pub bepaald_op: NaiveDateTime,
    /// Voorlopig or definitief.
    pub status: StatusBepaling,
    /// DUO's decision: funded or not.
    pub bekostigingsstatus: bool,
    /// Contribution to the diplomawaarde (decimal as written).
    pub bijdrage_diplomawaarde: Option<String>,
    /// DUO's signals.
    pub signalen: Vec<Signaal>,
}

/// A DUO signal: an opaque code with a description and parameters (`domain.md` §1.5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signaal {
    /// Signaalvolgnummer.
    pub volgnummer: Option<u32>,
    /// Signaalcode.
    pub code: String,
    /// Signaalomschrijving.
    pub omschrijving: Option<String>,
    /// Parameters in order.
    pub parameters: Vec<SignaalParameter>,
}

/// One parameter of a signal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignaalParameter {
    /// Parametervolgnummer.
    pub volgnummer: Option<u32>,
    /// Parameternaam.
    pub naam: String,
    /// Parameterwaarde.
    pub waarde: Option<String>,
}

/// Parses a TBG-i file.
pub fn parse(input: &[u8]) -> Result<Tbgi, MappingError> {
    let root = xml::parse(input, MAX_TBGI_BYTES)?;
    root.expect_ns("")?;
    if root.name != "Bekostigingsgrondslagen" {
        return Err(MappingError::invalid(
            root.name.clone(),
            "expected the root element Bekostigingsgrondslagen",
        ));
    }
    check_no_ns(&root, "Bekostigingsgrondslagen")?;
    let base = "Bekostigingsgrondslagen";
    let inschrijvingen = root
        .all("Inschrijving")
        .enumerate()
        .map(|(i, e)| inschrijving(&Node::new(e, format!("{base}/Inschrijving[{}]", i + 1))))
        .collect::<Result<Vec<_>, _>>()?;
    let diplomas = root
        .all("Diploma")
        .enumerate()
        .map(|(i, e)| diploma(&Node::new(e, format!("{base}/Diploma[{}]", i + 1))))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Tbgi {
        inschrijvingen,
        diplomas,
    })
}

/// Every element of the document must be in no namespace (DUO's TBG-i has none).
fn check_no_ns(el: &Element, path: &str) -> Result<(), MappingError> {
    for c in &el.children {
        let p = format!("{path}/{}", c.name);
        if !c.ns.is_empty() {
            return Err(MappingError::WrongNamespace {
                element: p,
                expected: String::new(),
                got: c.ns.clone(),
            });
        }
        check_no_ns(c, &p)?;
    }
    Ok(())
}

/// TBG-i field readers on top of [`Node`].
trait TbgiNode {
    fn opt_text(&self, name: &str, max: usize) -> Result<Option<String>, MappingError>;
    fn persoon(&self) -> Result<PersonId, MappingError>;
    fn signalen(&self) -> Result<Vec<Signaal>, MappingError>;
}

impl TbgiNode for Node<'_> {
    fn opt_text(&self, name: &str, max: usize) -> Result<Option<String>, MappingError> {
        self.opt_with(name, |f, v| check_text(f, v, max).map(|()| v.to_owned()))
    }

    fn persoon(&self) -> Result<PersonId, MappingError> {
        person_id(
            self.opt("Burgerservicenummer"),
            self.opt("Onderwijsnummer"),
            |f| match f {
                PersonField::Bsn => self.path("Burgerservicenummer"),
                PersonField::Onderwijsnummer => self.path("Onderwijsnummer"),
            },
        )
    }

    fn signalen(&self) -> Result<Vec<Signaal>, MappingError> {
        let mut out = Vec::new();
        for (i, s) in self.el.all("Signaal").enumerate() {
            let n = Node::new(s, self.path(&format!("Signaal[{}]", i + 1)));
            let mut parameters = Vec::new();
            for (j, p) in s.all("Parameter").enumerate() {
                let pn = Node::new(p, n.path(&format!("Parameter[{}]", j + 1)));
                if all_nil(p) {
                    continue;
                }
                parameters.push(SignaalParameter {
                    volgnummer: pn.opt_with("Parametervolgnummer", |f, v| parse_uint(f, v, 9))?,
                    naam: pn.with("Parameternaam", |f, v| {
                        check_text(f, v, MAX_PARAMETERNAAM).map(|()| v.to_owned())
                    })?,
                    waarde: pn.opt_text("Parameterwaarde", MAX_SIGNAALTEKST)?,
                });
            }
            let empty = ["Signaalvolgnummer", "Signaalcode", "Signaalomschrijving"]
                .iter()
                .all(|f| n.opt(f).is_none());
            if empty && parameters.is_empty() {
                continue;
            }
            out.push(Signaal {
                volgnummer: n.opt_with("Signaalvolgnummer", |f, v| parse_uint(f, v, 9))?,
                code: n.with("Signaalcode", |f, v| {
                    check_text(f, v, MAX_SIGNAALCODE).map(|()| v.to_owned())
                })?,
                omschrijving: n.opt_text("Signaalomschrijving", MAX_SIGNAALTEKST)?,
                parameters,
            });
        }
        Ok(out)
    }
}

/// Whether every leaf of `el` is nil or empty.
fn all_nil(el: &Element) -> bool {
    el.children
        .iter()
        .all(|c| (c.attr("nil") == Some("true") || c.text.is_empty()) && all_nil(c))
}

fn inschrijving(n: &Node<'_>) -> Result<TbgiInschrijving, MappingError> {
    let teldata =
        n.el.all("Teldatum")
            .enumerate()
            .map(|(i, e)| teldatum(&Node::new(e, n.path(&format!("Teldatum[{}]", i + 1)))))
            .collect::<Result<Vec<_>, _>>()?;
    Ok(TbgiInschrijving {
        brin: n.id("BRIN")?,
        persoon: n.persoon()?,
        inschrijvingvolgnummer: n.with("Inschrijvingvolgnummer", Volgnummer::parse)?,
        datum_inschrijving: n.with("DatumInschrijving", parse_date)?,
        datum_uitschrijving_gepland: n.opt_with("DatumUitschrijvingGepland", parse_date)?,
        datum_uitschrijving_werkelijk: n.opt_with("DatumUitschrijvingWerkelijk", parse_date)?,
        niveau_hoogst_bekostigde_diploma: n.opt_text("NiveauHoogstBekostigdeDiploma", 10)?,
        teldata,
    })
}

fn teldatum(n: &Node<'_>) -> Result<TbgiTeldatum, MappingError> {
    let bpv = match n.el.child("BekostigingsrelevanteBPV") {
        Some(b) if !all_nil(b) => {
            let b = Node::new(b, n.path("BekostigingsrelevanteBPV"));
            Some(TbgiBpv {
                inschrijvingvolgnummer: b.opt_with("Inschrijvingvolgnummer", Volgnummer::parse)?,
                volgnummer: b.opt_with("Volgnummer", Volgnummer::parse)?,
                afsluitdatum: b.opt_with("Afsluitdatum", parse_date)?,
                datum_begin: b.opt_with("DatumBegin", parse_date)?,
                datum_eind_gepland: b.opt_with("DatumEindGepland", parse_date)?,
                datum_eind_werkelijk: b.opt_with("DatumEindWerkelijk", parse_date)?,
                opleidingcode: b.opt_id("Opleidingcode")?,
            })
        }
        _ => None,
    };
    Ok(TbgiTeldatum {
        teldatum: n.with("Teldatum", parse_date)?,
        bepaald_op: n.with("DatumTijdBepalingBekostigingsgrondslagen", parse_datetime)?,
        status: n.with("StatusBepalingBekostigingsstatus", StatusBepaling::parse)?,
        leeftijd_op_1_augustus: n.opt_with("LeeftijdOpEenAugustusStudiejaar", |f, v| {
            parse_uint(f, v, 3)
        })?,
        opleidingcode: n.opt_id("Opleidingcode")?,
        niveau: n.opt_with("Niveau", Niveau::parse)?,
        leertraject: n.opt_with("Leertraject", Leertraject::parse)?,
        leerroutefase: n.opt_with("Leerroutefase", Leerroutefase::parse)?,
        indicatie_bekostigbaar: n.with("IndicatieBekostigbaar", parse_bool)?,
        bekostigingsstatus: n.with("Bekostigingsstatus", parse_bool)?,
        inschrijving_voor_correctiefactor: n
            .opt_with("InschrijvingVoorCorrectiefactor", parse_bool)?,
        bbl_bol_factor: n.opt_with("BBLBOLFactor", parse_decimal)?,
        prijsfactor_mbo: n.opt_with("PrijsfactorMBO", parse_decimal)?,
        aantal_bekostigde_verblijfsjaren: n
            .opt_with("AantalBekostigdeVerblijfsjarenMBO", |f, v| {
                parse_uint(f, v, 3)
            })?,
        verblijfsjaarfactor: n.opt_with("Verblijfsjaarfactor", parse_decimal)?,
        bijdrage_aan_deelnemerswaarde: n
            .opt_with("BijdrageInschrijvingAanDeelnemerswaarde", parse_decimal)?,
        bekostigingsrelevante_bpv: bpv,
        signalen: n.signalen()?,
    })
}

fn diploma(n: &Node<'_>) -> Result<TbgiDiploma, MappingError> {
    Ok(TbgiDiploma {
        brin: n.id("BRIN")?,
        persoon: n.persoon()?,
        resultaatvolgnummer: n.with("Resultaatvolgnummer", Volgnummer::parse)?,
        opleidingcode: n.id("Opleidingcode")?,
        inschrijvingvolgnummer: n.opt_with("Inschrijvingvolgnummer", Volgnummer::parse)?,
        datum_behaald: n.with("DatumBehaald", parse_date)?,
        niveau: n.opt_with("Niveau", Niveau::parse)?,
        indicatie_specialistendiploma: n.opt_with("IndicatieSpecialistendiploma", parse_bool)?,
        niveau_hoogst_bekostigde_diploma: n.opt_text("NiveauHoogstBekostigdeDiploma", 10)?,
        indicatie_hoogst_bekostigde_diploma_is_specialist: n
            .opt_with("IndicatieHoogstBekostigdeDiplomaIsSpecialist", parse_bool)?,
        bepaald_op: n.with("DatumTijdBepalingBekostigingsgrondslagen", parse_datetime)?,
        status: n.with("StatusBepalingBekostigingsstatus", StatusBepaling::parse)?,
        bekostigingsstatus: n.with("Bekostigingsstatus", parse_bool)?,
        bijdrage_diplomawaarde: n.opt_with("BijdrageDiplomawaarde", parse_decimal)?,
        signalen: n.signalen()?,
    })
}

// ---------------------------------------------------------------------------------------------
// To registry commands
// ---------------------------------------------------------------------------------------------

use knooppunt_registry::domain::{
    self as reg, BekostigingsStatus, Command as RegCommand, DuoUitkomst, OokId,
};
use knooppunt_registry::envelope::DossierKey;

/// Where an inschrijving DUO reports on lives in the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InschrijvingRef {
    /// The student's dossier.
    pub dossier: DossierKey,
    /// The OOK (enrolment).
    pub ook: OokId,
    /// Id of the last event delivered to DUO for this inschrijving, when known: signals are
    /// recorded as feedback on it.
    pub laatste_mutatie: Option<uuid::Uuid>,
}

/// Looks up the registry's enrolment for DUO's key (BRIN, person, inschrijvingvolgnummer).
/// Implemented by the adapter over the store; a closure works too.
pub trait InschrijvingLookup {
    /// The enrolment, if Knooppunt knows it.
    fn inschrijving(
        &self,
        brin: &Brin,
        persoon: &PersonId,
        inschrijvingvolgnummer: &Volgnummer,
    ) -> Option<InschrijvingRef>;
}

impl<F> InschrijvingLookup for F
where
    F: Fn(&Brin, &PersonId, &Volgnummer) -> Option<InschrijvingRef>,
{
    fn inschrijving(
        &self,
        brin: &Brin,
        persoon: &PersonId,
        inschrijvingvolgnummer: &Volgnummer,
    ) -> Option<InschrijvingRef> {
        self(brin, persoon, inschrijvingvolgnummer)
    }
}

/// The commands a TBG-i file yields, per dossier, and what could not be placed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TbgiCommands {
    /// Commands in file order, each for a dossier.
    pub commands: Vec<(DossierKey, RegCommand)>,
    /// Records that could not be placed, by their path in the file (no personal data), with
    /// the reason.
    pub niet_verwerkt: Vec<(String, &'static str)>,
}

fn to_reg_signalen(signalen: &[Signaal]) -> Vec<reg::Signaal> {
    signalen
        .iter()
        .map(|s| reg::Signaal {
            code: s.code.clone(),
            omschrijving: s.omschrijving.clone().unwrap_or_else(|| s.code.clone()),
            parameters: s
                .parameters
                .iter()
                .map(|p| reg::SignaalParameter {
                    naam: p.naam.clone(),
                    waarde: p.waarde.clone().unwrap_or_default(),
                })
                .collect(),
        })
        .collect()
}

/// Maps a TBG-i file to registry commands:
/// - per inschrijving and teldatum: `RecordBekostigingsstatus` (voorlopig/definitief, funded);
/// - signals of a teldatum or diploma: `RecordDuoFeedback` (accepted with signals) on the last
///   mutation delivered for that inschrijving, when the lookup knows it;
/// - an inschrijving without teldata is not fundable: nothing to record (DUO sends no status).
///
/// DUO's bekostigingsstatus of a *diploma* has no registry command yet; it is reported in
/// `niet_verwerkt` (its signals are recorded as feedback like above).
pub fn to_commands(tbgi: &Tbgi, lookup: &impl InschrijvingLookup) -> TbgiCommands {
    let mut out = TbgiCommands::default();
    for (i, ins) in tbgi.inschrijvingen.iter().enumerate() {
        let path = format!("Bekostigingsgrondslagen/Inschrijving[{}]", i + 1);
        let Some(r) = lookup.inschrijving(&ins.brin, &ins.persoon, &ins.inschrijvingvolgnummer)
        else {
            out.niet_verwerkt
                .push((path, "inschrijving unknown to Knooppunt"));
            continue;
        };
        for t in &ins.teldata {
            out.commands.push((
                r.dossier,
                RegCommand::RecordBekostigingsstatus {
                    ook: r.ook,
                    teldatum: t.teldatum,
                    status: match t.status {
                        StatusBepaling::Voorlopig => BekostigingsStatus::Voorlopig,
                        StatusBepaling::Definitief => BekostigingsStatus::Definitief,
                    },
                    bekostigbaar: t.bekostigingsstatus,
                },
            ));
        }
        let signalen: Vec<Signaal> = ins
            .teldata
            .iter()
            .flat_map(|t| t.signalen.clone())
            .collect();
        push_signalen(&mut out, &path, &ins.brin, &r, &signalen);
    }
    for (i, dip) in tbgi.diplomas.iter().enumerate() {
        let path = format!("Bekostigingsgrondslagen/Diploma[{}]", i + 1);
        let found = dip
            .inschrijvingvolgnummer
            .as_ref()
            .and_then(|v| lookup.inschrijving(&dip.brin, &dip.persoon, v));
        match found {
            Some(r) => {
                push_signalen(&mut out, &path, &dip.brin, &r, &dip.signalen);
                out.niet_verwerkt.push((
                    path,
                    "bekostigingsstatus of a diploma has no registry command",
                ));
            }
            None => out
                .niet_verwerkt
                .push((path, "diploma unknown to Knooppunt")),
        }
    }
    out
}

fn push_signalen(
    out: &mut TbgiCommands,
    path: &str,
    brin: &Brin,
    r: &InschrijvingRef,
    signalen: &[Signaal],
) {
    if signalen.is_empty() {
        return;
    }
    match r.laatste_mutatie {
        Some(mutatie) => out.commands.push((
            r.dossier,
            RegCommand::RecordDuoFeedback {
                mutatie,
                instelling: brin.instelling(),
                uitkomst: DuoUitkomst::GeaccepteerdMetSignalen {
                    signalen: to_reg_signalen(signalen),
                },
            },
        )),
        None => out.niet_verwerkt.push((
            path.to_owned(),
            "signals for an inschrijving without a delivered mutation",
        )),
    }
}
