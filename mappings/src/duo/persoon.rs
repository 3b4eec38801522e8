//! DUO "persoon en vooropleidingen" for a BSN, and DUO's mutation notifications (`design.md` §3a).
//!
//! **Assumption** (no public DUO format was found, `domain.md` §9): the answer is XML in our own
//! namespace [`NAMESPACE`], shaped after DUO's PER record (BSN/ONR, geboortedatum with `00` parts,
//! geslacht M/V/O) and the vooropleiding fields of CAMBO's `vca.Aanmelding` (`domain.md` §2.3:
//! vanaf, totEnMet, instelling, opleiding, datumUitslag, diplomaBehaald, eindresultaat, vakken),
//! with CAMBO's length limits. The format is described in `docs/partners/duo.md`.
//!
//! ```xml
//! <PersoonEnVooropleidingen xmlns="urn:knooppunt:duo:persoon:v1">
//!   <Persoon>
//!     <Burgerservicenummer>111222333</Burgerservicenummer>
//!     <Geboortedatum>2008-07-00</Geboortedatum><Geslacht>V</Geslacht>
//!     <Voornamen>Ayşe Nur</Voornamen><Voorvoegsels>van 't</Voorvoegsels>
//!     <Geslachtsnaam>Hof</Geslachtsnaam>
//!   </Persoon>
//!   <Vooropleiding>
//!     <Instelling>12AB</Instelling><Opleiding>VMBO-KB</Opleiding>
//!     <Omschrijving>vmbo kaderberoepsgerichte leerweg</Omschrijving>
//!     <DiplomaBehaald>true</DiplomaBehaald>
//!   </Vooropleiding>
//! </PersoonEnVooropleidingen>
//! ```
//!
//! A `Mutatiemelding` (DUO pushes it to a subscriber) carries a `MeldingId`, a `Soort`
//! (`DiplomaBehaald`, `VooropleidingGewijzigd`, `PersoonsgegevensGewijzigd`), the person number
//! and the changed `Persoon` or `Vooropleiding`.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use knooppunt_registry::ids::{Brin, PersonId, Postcode};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::codes::{Geboortedatum, Geslacht, Landcode, check_text, parse_bool, parse_date};
use crate::duo::convert::{PersonField, person_id};
use crate::error::MappingError;
use crate::xml::{self, Element, Node};

/// The namespace of the assumed DUO person format.
pub const NAMESPACE: &str = "urn:knooppunt:duo:persoon:v1";

/// Largest document accepted.
pub const MAX_BYTES: usize = 1024 * 1024;

/// Maximum number of vooropleidingen in one answer.
pub const MAX_VOOROPLEIDINGEN: usize = 100;

/// A person as DUO knows them.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DuoPersoon {
    /// BSN or onderwijsnummer.
    pub id: PersonId,
    /// Geboortedatum (day or day and month may be unknown).
    pub geboortedatum: Geboortedatum,
    /// Geslacht.
    pub geslacht: Geslacht,
    /// Voornamen (≤ 200).
    pub voornamen: Option<String>,
    /// Roepnaam (≤ 75).
    pub roepnaam: Option<String>,
    /// Voorvoegsels (≤ 20).
    pub voorvoegsels: Option<String>,
    /// Geslachtsnaam (≤ 200).
    pub geslachtsnaam: String,
    /// Postcode (NL).
    pub postcode: Option<Postcode>,
    /// Woongemeente (CBS gemeentecode, 4 digits).
    pub woongemeente: Option<String>,
    /// Land of residence (GBA code).
    pub land: Option<Landcode>,
    /// Whether DUO registers a startkwalificatie.
    pub startkwalificatie: Option<bool>,
}

impl std::fmt::Debug for DuoPersoon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DuoPersoon(***)")
    }
}

/// A vooropleiding (prior education).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DuoVooropleiding {
    /// BRIN of the school, when known.
    pub instelling: Option<Brin>,
    /// Name of the school (≤ 100).
    pub instelling_naam: Option<String>,
    /// Opleiding code (≤ 36).
    pub opleiding: String,
    /// Description (≤ 200).
    pub omschrijving: String,
    /// From.
    pub vanaf: Option<NaiveDate>,
    /// Until (inclusive).
    pub tot_en_met: Option<NaiveDate>,
    /// Date of the result.
    pub datum_uitslag: Option<NaiveDate>,
    /// Diploma obtained.
    pub diploma_behaald: bool,
    /// Eindresultaat (≤ 100).
    pub eindresultaat: Option<String>,
    /// Subjects with their result.
    pub vakken: Vec<DuoVak>,
}

/// A subject of a vooropleiding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DuoVak {
    /// Name (≤ 100).
    pub naam: String,
    /// Result (≤ 20).
    pub resultaat: Option<String>,
}

/// The answer to a lookup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersoonEnVooropleidingen {
    /// The person.
    pub persoon: DuoPersoon,
    /// Their vooropleidingen.
    pub vooropleidingen: Vec<DuoVooropleiding>,
}

/// What a notification is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MutatieSoort {
    /// A diploma was obtained (carries the vooropleiding).
    DiplomaBehaald,
    /// A vooropleiding changed (carries it).
    VooropleidingGewijzigd,
    /// Personal data changed (carries the person).
    PersoonsgegevensGewijzigd,
}

/// A mutation notification from DUO.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mutatiemelding {
    /// DUO's id of the notification (idempotency key).
    pub melding_id: Uuid,
    /// When it happened.
    pub datum_tijd: DateTime<Utc>,
    /// What it is about.
    pub soort: MutatieSoort,
    /// Whose.
    pub id: PersonId,
    /// The changed person (PersoonsgegevensGewijzigd).
    pub persoon: Option<DuoPersoon>,
    /// The new or changed vooropleiding (DiplomaBehaald, VooropleidingGewijzigd).
    pub vooropleiding: Option<DuoVooropleiding>,
}

/// Field readers of the persoon format on top of [`Node`].
trait PersoonNode {
    fn text(&self, name: &str, max: usize) -> Result<String, MappingError>;
    fn opt_text(&self, name: &str, max: usize) -> Result<Option<String>, MappingError>;
    fn opt_date(&self, name: &str) -> Result<Option<NaiveDate>, MappingError>;
    fn person_id(&self) -> Result<PersonId, MappingError>;
}

impl PersoonNode for Node<'_> {
    fn text(&self, name: &str, max: usize) -> Result<String, MappingError> {
        let v = self.req(name)?;
        check_text(&self.path(name), v, max)?;
        Ok(v.to_owned())
    }

    fn opt_text(&self, name: &str, max: usize) -> Result<Option<String>, MappingError> {
        self.opt(name)
            .map(|v| check_text(&self.path(name), v, max).map(|()| v.to_owned()))
            .transpose()
    }

    fn opt_date(&self, name: &str) -> Result<Option<NaiveDate>, MappingError> {
        self.opt(name)
            .map(|v| parse_date(&self.path(name), v))
            .transpose()
    }

    fn person_id(&self) -> Result<PersonId, MappingError> {
        let field = |n: &str| self.path(n);
        person_id(
            self.opt("Burgerservicenummer"),
            self.opt("Onderwijsnummer"),
            |f| match f {
                PersonField::Bsn => field("Burgerservicenummer"),
                PersonField::Onderwijsnummer => field("Onderwijsnummer"),
            },
        )
    }
}

/// A node of this format: every child in [`NAMESPACE`].
fn node(el: &Element, path: String) -> Result<Node<'_>, MappingError> {
    Node::in_ns(el, path, NAMESPACE)
}

fn root(input: &[u8], name: &str) -> Result<Element, MappingError> {
    let root = xml::parse(input, MAX_BYTES)?;
    root.expect_ns(NAMESPACE)?;
    if root.name != name {
        return Err(MappingError::invalid(
            root.name.clone(),
            format!("expected the root element {name}"),
        ));
    }
    Ok(root)
}

/// Parses the answer to a "persoon en vooropleidingen" lookup.
pub fn parse_persoon_en_vooropleidingen(
    input: &[u8],
) -> Result<PersoonEnVooropleidingen, MappingError> {
    let root = root(input, "PersoonEnVooropleidingen")?;
    let r = node(&root, "PersoonEnVooropleidingen".to_owned())?;
    r.only(&["Persoon", "Vooropleiding"])?;
    let p = root
        .child("Persoon")
        .ok_or_else(|| MappingError::missing(r.path("Persoon")))?;
    if root.all("Persoon").count() > 1 {
        return Err(MappingError::invalid(r.path("Persoon"), "more than one"));
    }
    let persoon = persoon(&node(p, r.path("Persoon"))?)?;
    let vooropleidingen = vooropleidingen(&r)?;
    Ok(PersoonEnVooropleidingen {
        persoon,
        vooropleidingen,
    })
}

fn vooropleidingen(r: &Node<'_>) -> Result<Vec<DuoVooropleiding>, MappingError> {
    let all: Vec<&Element> = r.el.all("Vooropleiding").collect();
    if all.len() > MAX_VOOROPLEIDINGEN {
        return Err(MappingError::invalid(
            r.path("Vooropleiding"),
            format!("more than {MAX_VOOROPLEIDINGEN}"),
        ));
    }
    all.into_iter()
        .enumerate()
        .map(|(i, e)| vooropleiding(&node(e, r.path(&format!("Vooropleiding[{}]", i + 1)))?))
        .collect()
}

/// Parses a mutation notification.
pub fn parse_mutatiemelding(input: &[u8]) -> Result<Mutatiemelding, MappingError> {
    let root = root(input, "Mutatiemelding")?;
    let r = node(&root, "Mutatiemelding".to_owned())?;
    r.only(&[
        "MeldingId",
        "DatumTijd",
        "Soort",
        "Burgerservicenummer",
        "Onderwijsnummer",
        "Persoon",
        "Vooropleiding",
    ])?;
    let melding_id = Uuid::parse_str(r.req("MeldingId")?)
        .map_err(|_| MappingError::invalid(r.path("MeldingId"), "expected a UUID"))?;
    let datum_tijd = NaiveDateTime::parse_from_str(r.req("DatumTijd")?, "%Y-%m-%dT%H:%M:%SZ")
        .map(|t| DateTime::<Utc>::from_naive_utc_and_offset(t, Utc))
        .map_err(|_| MappingError::invalid(r.path("DatumTijd"), "expected ccyy-mm-ddThh:mm:ssZ"))?;
    let soort = match r.req("Soort")? {
        "DiplomaBehaald" => MutatieSoort::DiplomaBehaald,
        "VooropleidingGewijzigd" => MutatieSoort::VooropleidingGewijzigd,
        "PersoonsgegevensGewijzigd" => MutatieSoort::PersoonsgegevensGewijzigd,
        _ => {
            return Err(MappingError::invalid(
                r.path("Soort"),
                "expected DiplomaBehaald, VooropleidingGewijzigd or PersoonsgegevensGewijzigd",
            ));
        }
    };
    let id = r.person_id()?;
    let persoon = root
        .child("Persoon")
        .map(|p| persoon(&node(p, r.path("Persoon"))?))
        .transpose()?;
    let vooropleiding = root
        .child("Vooropleiding")
        .map(|v| vooropleiding(&node(v, r.path("Vooropleiding"))?))
        .transpose()?;
    if let Some(p) = &persoon
        && p.id != id
    {
        return Err(MappingError::invalid(
            r.path("Persoon/Burgerservicenummer"),
            "differs from the notification's person number",
        ));
    }
    match soort {
        MutatieSoort::PersoonsgegevensGewijzigd if persoon.is_none() => {
            return Err(MappingError::missing(r.path("Persoon")));
        }
        MutatieSoort::DiplomaBehaald | MutatieSoort::VooropleidingGewijzigd
            if vooropleiding.is_none() =>
        {
            return Err(MappingError::missing(r.path("Vooropleiding")));
        }
        _ => {}
    }
    if soort == MutatieSoort::DiplomaBehaald
        && let Some(v) = &vooropleiding
        && !v.diploma_behaald
    {
        return Err(MappingError::invalid(
            r.path("Vooropleiding/DiplomaBehaald"),
            "must be true for a DiplomaBehaald notification",
        ));
    }
    Ok(Mutatiemelding {
        melding_id,
        datum_tijd,
        soort,
        id,
        persoon,
        vooropleiding,
    })
}

fn persoon(n: &Node<'_>) -> Result<DuoPersoon, MappingError> {
    n.only(&[
        "Burgerservicenummer",
        "Onderwijsnummer",
        "Geboortedatum",
        "Geslacht",
        "Voornamen",
        "Roepnaam",
        "Voorvoegsels",
        "Geslachtsnaam",
        "Postcode",
        "Woongemeente",
        "Land",
        "Startkwalificatie",
    ])?;
    let woongemeente = n
        .opt("Woongemeente")
        .map(|v| {
            if v.len() == 4 && v.bytes().all(|b| b.is_ascii_digit()) {
                Ok(v.to_owned())
            } else {
                Err(MappingError::invalid(
                    n.path("Woongemeente"),
                    "expected 4 digits",
                ))
            }
        })
        .transpose()?;
    Ok(DuoPersoon {
        id: n.person_id()?,
        geboortedatum: Geboortedatum::parse(&n.path("Geboortedatum"), n.req("Geboortedatum")?)?,
        geslacht: Geslacht::parse(&n.path("Geslacht"), n.req("Geslacht")?)?,
        voornamen: n.opt_text("Voornamen", 200)?,
        roepnaam: n.opt_text("Roepnaam", 75)?,
        voorvoegsels: n.opt_text("Voorvoegsels", 20)?,
        geslachtsnaam: n.text("Geslachtsnaam", 200)?,
        postcode: n
            .opt("Postcode")
            .map(|v| {
                v.parse()
                    .map_err(|e| MappingError::id(n.path("Postcode"), e))
            })
            .transpose()?,
        woongemeente,
        land: n
            .opt("Land")
            .map(|v| Landcode::parse(&n.path("Land"), v))
            .transpose()?,
        startkwalificatie: n
            .opt("Startkwalificatie")
            .map(|v| parse_bool(&n.path("Startkwalificatie"), v))
            .transpose()?,
    })
}

fn vooropleiding(n: &Node<'_>) -> Result<DuoVooropleiding, MappingError> {
    n.only(&[
        "Instelling",
        "InstellingNaam",
        "Opleiding",
        "Omschrijving",
        "Vanaf",
        "TotEnMet",
        "DatumUitslag",
        "DiplomaBehaald",
        "Eindresultaat",
        "Vak",
    ])?;
    let vakken =
        n.el.all("Vak")
            .enumerate()
            .map(|(i, v)| {
                let v = node(v, n.path(&format!("Vak[{}]", i + 1)))?;
                v.only(&["Naam", "Resultaat"])?;
                Ok(DuoVak {
                    naam: v.text("Naam", 100)?,
                    resultaat: v.opt_text("Resultaat", 20)?,
                })
            })
            .collect::<Result<Vec<_>, MappingError>>()?;
    let vanaf = n.opt_date("Vanaf")?;
    let tot_en_met = n.opt_date("TotEnMet")?;
    if let (Some(a), Some(b)) = (vanaf, tot_en_met)
        && b < a
    {
        return Err(MappingError::invalid(n.path("TotEnMet"), "before Vanaf"));
    }
    Ok(DuoVooropleiding {
        instelling: n
            .opt("Instelling")
            .map(|v| {
                v.parse()
                    .map_err(|e| MappingError::id(n.path("Instelling"), e))
            })
            .transpose()?,
        instelling_naam: n.opt_text("InstellingNaam", 100)?,
        opleiding: n.text("Opleiding", 36)?,
        omschrijving: n.text("Omschrijving", 200)?,
        vanaf,
        tot_en_met,
        datum_uitslag: n.opt_date("DatumUitslag")?,
        diploma_behaald: parse_bool(&n.path("DiplomaBehaald"), n.req("DiplomaBehaald")?)?,
        eindresultaat: n.opt_text("Eindresultaat", 100)?,
        vakken,
    })
}

// ---------------------------------------------------------------------------------------------
// To registry commands
// ---------------------------------------------------------------------------------------------

use knooppunt_registry::domain::{Command, Personalia, Vooropleiding};

use super::convert::{geboortedatum_from_duo, geslacht_from_duo};

/// `RecordPersonalia` for a DUO person. The registry requires voornamen (DUO may lack them for
/// someone registered with one name only: then the error names the field).
pub fn personalia(p: &DuoPersoon, path: &str) -> Result<Personalia, MappingError> {
    let voornamen = p
        .voornamen
        .clone()
        .ok_or_else(|| MappingError::missing(format!("{path}/Voornamen")))?;
    let woongemeente = p
        .woongemeente
        .as_deref()
        .map(|g| {
            g.parse()
                .map_err(|e| MappingError::id(format!("{path}/Woongemeente"), e))
        })
        .transpose()?;
    let out = Personalia {
        voornamen,
        voorvoegsels: p.voorvoegsels.clone(),
        achternaam: p.geslachtsnaam.clone(),
        geboortedatum: geboortedatum_from_duo(&format!("{path}/Geboortedatum"), p.geboortedatum)?,
        geslacht: geslacht_from_duo(p.geslacht),
        woongemeente,
        startkwalificatie: p.startkwalificatie.unwrap_or(false),
    };
    out.validate()
        .map_err(|e| MappingError::invalid(format!("{path}/{}", e.field), e.reason))?;
    Ok(out)
}

/// `RecordVooropleiding` value for a DUO vooropleiding.
pub fn vooropleiding_value(
    v: &DuoVooropleiding,
    path: &str,
) -> Result<Vooropleiding, MappingError> {
    let out = Vooropleiding {
        instelling: v.instelling.clone(),
        opleiding: v.opleiding.clone(),
        omschrijving: v.omschrijving.clone(),
        vanaf: v.vanaf,
        tot_en_met: v.tot_en_met,
        diploma_behaald: v.diploma_behaald,
        datum_uitslag: v.datum_uitslag,
    };
    out.validate()
        .map_err(|e| MappingError::invalid(format!("{path}/{}", e.field), e.reason))?;
    Ok(out)
}

/// The commands for a lookup answer: `RecordPersonalia`, then one `RecordVooropleiding` each.
/// (The caller opens the dossier for `answer.persoon.id` first if needed.)
pub fn lookup_to_commands(answer: &PersoonEnVooropleidingen) -> Result<Vec<Command>, MappingError> {
    let base = "PersoonEnVooropleidingen";
    let mut out = vec![Command::RecordPersonalia {
        personalia: personalia(&answer.persoon, &format!("{base}/Persoon"))?,
    }];
    for (i, v) in answer.vooropleidingen.iter().enumerate() {
        out.push(Command::RecordVooropleiding {
            vooropleiding: vooropleiding_value(v, &format!("{base}/Vooropleiding[{}]", i + 1))?,
        });
    }
    Ok(out)
}

/// The command for a mutation notification: `RecordPersonalia` or `RecordVooropleiding`.
pub fn melding_to_command(m: &Mutatiemelding) -> Result<Command, MappingError> {
    let base = "Mutatiemelding";
    match (m.soort, &m.persoon, &m.vooropleiding) {
        (MutatieSoort::PersoonsgegevensGewijzigd, Some(p), _) => Ok(Command::RecordPersonalia {
            personalia: personalia(p, &format!("{base}/Persoon"))?,
        }),
        (MutatieSoort::DiplomaBehaald | MutatieSoort::VooropleidingGewijzigd, _, Some(v)) => {
            Ok(Command::RecordVooropleiding {
                vooropleiding: vooropleiding_value(v, &format!("{base}/Vooropleiding"))?,
            })
        }
        (MutatieSoort::PersoonsgegevensGewijzigd, None, _) => {
            Err(MappingError::missing(format!("{base}/Persoon")))
        }
        _ => Err(MappingError::missing(format!("{base}/Vooropleiding"))),
    }
}

/// The one command for a lookup answer: `RecordPersoonEnVooropleidingen` (the registry records
/// the personalia and every vooropleiding that is new or changed, as one effect).
pub fn lookup_to_command(answer: &PersoonEnVooropleidingen) -> Result<Command, MappingError> {
    let base = "PersoonEnVooropleidingen";
    let personalia = personalia(&answer.persoon, &format!("{base}/Persoon"))?;
    let vooropleidingen = answer
        .vooropleidingen
        .iter()
        .enumerate()
        .map(|(i, v)| vooropleiding_value(v, &format!("{base}/Vooropleiding[{}]", i + 1)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Command::RecordPersoonEnVooropleidingen {
        personalia,
        vooropleidingen,
    })
}

// ---------------------------------------------------------------------------------------------
// The lookup request, and the writers (the DUO simulator answers in this format)
// ---------------------------------------------------------------------------------------------

/// Largest length of a subscriber's delivery address.
pub const MAX_ADDRESS: usize = 2000;

/// A lookup ("opvraging") of one person, optionally subscribing Knooppunt to the person's
/// mutation notifications. **Assumption** (`docs/partners/duo.md` §5): one request does both, so
/// a person whose data Knooppunt holds is always subscribed; subscribing twice is one
/// subscription.
///
/// ```xml
/// <Opvraging xmlns="urn:knooppunt:duo:persoon:v1">
///   <Burgerservicenummer>111222333</Burgerservicenummer>
///   <Abonneren><AfleverAdres>https://knooppunt.example/duo/persoon/v1/mutatiemeldingen</AfleverAdres></Abonneren>
/// </Opvraging>
/// ```
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Opvraging {
    /// BSN or onderwijsnummer.
    pub id: PersonId,
    /// Where DUO pushes the person's mutation notifications (absent: no subscription).
    pub aflever_adres: Option<String>,
}

impl std::fmt::Debug for Opvraging {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opvraging")
            .field("id", &self.id)
            .field("aflever_adres", &self.aflever_adres)
            .finish()
    }
}

/// Parses a lookup request.
pub fn parse_opvraging(input: &[u8]) -> Result<Opvraging, MappingError> {
    let root = root(input, "Opvraging")?;
    let r = node(&root, "Opvraging".to_owned())?;
    r.only(&["Burgerservicenummer", "Onderwijsnummer", "Abonneren"])?;
    let id = r.person_id()?;
    let aflever_adres = match root.child("Abonneren") {
        None => None,
        Some(a) => {
            let a = node(a, r.path("Abonneren"))?;
            a.only(&["AfleverAdres"])?;
            let url = a.text("AfleverAdres", MAX_ADDRESS)?;
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(MappingError::invalid(
                    a.path("AfleverAdres"),
                    "expected an http(s) URL",
                ));
            }
            Some(url)
        }
    };
    Ok(Opvraging { id, aflever_adres })
}

fn open_root(out: &mut String, name: &str) {
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<");
    out.push_str(name);
    out.push_str(" xmlns=\"");
    out.push_str(NAMESPACE);
    out.push_str("\">");
}

fn leaf(out: &mut String, name: &str, value: &str) {
    out.push('<');
    out.push_str(name);
    out.push('>');
    super::bron::writer::escape_into(out, value);
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

fn opt_leaf(out: &mut String, name: &str, value: Option<&str>) {
    if let Some(v) = value {
        leaf(out, name, v);
    }
}

fn opt_date_leaf(out: &mut String, name: &str, value: Option<NaiveDate>) {
    if let Some(d) = value {
        leaf(out, name, &d.format("%Y-%m-%d").to_string());
    }
}

fn id_leaf(out: &mut String, id: &PersonId) {
    match id {
        PersonId::Bsn(_) => leaf(out, "Burgerservicenummer", id.digits()),
        PersonId::Onderwijsnummer(_) => leaf(out, "Onderwijsnummer", id.digits()),
    }
}

/// Writes a lookup request.
pub fn write_opvraging(o: &Opvraging) -> String {
    let mut out = String::with_capacity(256);
    open_root(&mut out, "Opvraging");
    id_leaf(&mut out, &o.id);
    if let Some(url) = &o.aflever_adres {
        out.push_str("<Abonneren>");
        leaf(&mut out, "AfleverAdres", url);
        out.push_str("</Abonneren>");
    }
    out.push_str("</Opvraging>\n");
    out
}

fn write_persoon(out: &mut String, p: &DuoPersoon) {
    out.push_str("<Persoon>");
    id_leaf(out, &p.id);
    leaf(out, "Geboortedatum", &p.geboortedatum.to_string());
    leaf(out, "Geslacht", p.geslacht.code());
    opt_leaf(out, "Voornamen", p.voornamen.as_deref());
    opt_leaf(out, "Roepnaam", p.roepnaam.as_deref());
    opt_leaf(out, "Voorvoegsels", p.voorvoegsels.as_deref());
    leaf(out, "Geslachtsnaam", &p.geslachtsnaam);
    opt_leaf(out, "Postcode", p.postcode.as_ref().map(Postcode::as_str));
    opt_leaf(out, "Woongemeente", p.woongemeente.as_deref());
    opt_leaf(out, "Land", p.land.as_ref().map(Landcode::as_str));
    opt_leaf(
        out,
        "Startkwalificatie",
        p.startkwalificatie
            .map(|b| if b { "true" } else { "false" }),
    );
    out.push_str("</Persoon>");
}

fn write_vooropleiding(out: &mut String, v: &DuoVooropleiding) {
    out.push_str("<Vooropleiding>");
    opt_leaf(out, "Instelling", v.instelling.as_ref().map(Brin::as_str));
    opt_leaf(out, "InstellingNaam", v.instelling_naam.as_deref());
    leaf(out, "Opleiding", &v.opleiding);
    leaf(out, "Omschrijving", &v.omschrijving);
    opt_date_leaf(out, "Vanaf", v.vanaf);
    opt_date_leaf(out, "TotEnMet", v.tot_en_met);
    opt_date_leaf(out, "DatumUitslag", v.datum_uitslag);
    leaf(
        out,
        "DiplomaBehaald",
        if v.diploma_behaald { "true" } else { "false" },
    );
    opt_leaf(out, "Eindresultaat", v.eindresultaat.as_deref());
    for vak in &v.vakken {
        out.push_str("<Vak>");
        leaf(out, "Naam", &vak.naam);
        opt_leaf(out, "Resultaat", vak.resultaat.as_deref());
        out.push_str("</Vak>");
    }
    out.push_str("</Vooropleiding>");
}

/// Writes a lookup answer (what the DUO simulator serves). [`parse_persoon_en_vooropleidingen`]
/// reads it back to the same value.
pub fn write_persoon_en_vooropleidingen(a: &PersoonEnVooropleidingen) -> String {
    let mut out = String::with_capacity(1024);
    open_root(&mut out, "PersoonEnVooropleidingen");
    write_persoon(&mut out, &a.persoon);
    for v in &a.vooropleidingen {
        write_vooropleiding(&mut out, v);
    }
    out.push_str("</PersoonEnVooropleidingen>\n");
    out
}

/// Writes a mutation notification (what the DUO simulator pushes). [`parse_mutatiemelding`]
/// reads it back to the same value.
pub fn write_mutatiemelding(m: &Mutatiemelding) -> String {
    let mut out = String::with_capacity(1024);
    open_root(&mut out, "Mutatiemelding");
    leaf(&mut out, "MeldingId", &m.melding_id.to_string());
    leaf(
        &mut out,
        "DatumTijd",
        &m.datum_tijd.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    );
    let soort = match m.soort {
        MutatieSoort::DiplomaBehaald => "DiplomaBehaald",
        MutatieSoort::VooropleidingGewijzigd => "VooropleidingGewijzigd",
        MutatieSoort::PersoonsgegevensGewijzigd => "PersoonsgegevensGewijzigd",
    };
    leaf(&mut out, "Soort", soort);
    id_leaf(&mut out, &m.id);
    if let Some(p) = &m.persoon {
        write_persoon(&mut out, p);
    }
    if let Some(v) = &m.vooropleiding {
        write_vooropleiding(&mut out, v);
    }
    out.push_str("</Mutatiemelding>\n");
    out
}
