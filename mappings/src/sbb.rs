//! SBB White Label: *natrekken erkenning* (is the leerbedrijf recognised for the crebo or
//! keuzedeel on the BPV start date?) and *actualiseren erkenning* (SBB withdraws a recognition).
//!
//! SBB publishes no schema, so the format is ours: `docs/partners/sbb-whitelabel.xsd`
//! (namespace [`NS`]), designed after the White Label function descriptions (domain.md §4).
//! Everything written here is valid against it (tests check with xmllint); everything read is
//! read by namespace URI. Answers become `RecordSbbCheck`, mutations `WithdrawErkenning`.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use knooppunt_registry::domain::{BpvId, BpvOnderdeel, Command, Event};
use knooppunt_registry::ids::{LeerbedrijfId, Oin};
use quick_xml::escape::escape;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::MappingError;
use crate::rio::{check_len, parse_date};
use crate::xml::{self, Element};

/// Namespace of Knooppunt's SBB format.
pub const NS: &str = "urn:nl:knooppunt:sbb:whitelabel:v1";
/// Largest SBB message accepted.
pub const MAX_BYTES: usize = 64 * 1024;

/// Why SBB did not (or no longer does) recognise: the uniform signaalcodes (our list).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Signaal {
    /// `SBB001` leerbedrijf onbekend.
    LeerbedrijfOnbekend,
    /// `SBB002` no recognition for this kwalificatie/keuzedeel.
    GeenErkenningVoorOnderdeel,
    /// `SBB003` recognition not valid on the start date.
    NietGeldigOpStartdatum,
    /// `SBB004` recognition withdrawn.
    Ingetrokken,
    /// `SBB005` leerbedrijf closed.
    Opgeheven,
}

impl Signaal {
    /// Every signal.
    pub const ALL: [Signaal; 5] = [
        Self::LeerbedrijfOnbekend,
        Self::GeenErkenningVoorOnderdeel,
        Self::NietGeldigOpStartdatum,
        Self::Ingetrokken,
        Self::Opgeheven,
    ];

    /// The code.
    pub fn code(self) -> &'static str {
        match self {
            Self::LeerbedrijfOnbekend => "SBB001",
            Self::GeenErkenningVoorOnderdeel => "SBB002",
            Self::NietGeldigOpStartdatum => "SBB003",
            Self::Ingetrokken => "SBB004",
            Self::Opgeheven => "SBB005",
        }
    }

    /// From a code.
    pub fn from_code(field: &str, code: &str) -> Result<Self, MappingError> {
        Self::ALL
            .into_iter()
            .find(|s| s.code() == code)
            .ok_or_else(|| MappingError::invalid(field, "unknown signaalcode (SBB001–SBB005)"))
    }
}

/// The header every message carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bericht {
    /// Message id (GUID).
    pub bericht_id: Uuid,
    /// Sender OIN.
    pub verzender: Oin,
    /// Receiver OIN.
    pub ontvanger: Oin,
    /// When sent.
    pub tijdstip: DateTime<Utc>,
}

/// Natrekken erkenning: the question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verzoek {
    /// Header.
    pub bericht: Bericht,
    /// Our reference: the BPV id (comes back in the answer).
    pub referentie: BpvId,
    /// The leerbedrijf.
    pub leerbedrijf: LeerbedrijfId,
    /// Crebo or keuzedeel.
    pub onderdeel: BpvOnderdeel,
    /// BPV start date.
    pub startdatum: NaiveDate,
}

/// SBB's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "uitkomst", rename_all = "snake_case")]
pub enum Uitkomst {
    /// Recognised.
    Erkend {
        /// From.
        vanaf: Option<NaiveDate>,
        /// Until.
        tot: Option<NaiveDate>,
    },
    /// Not recognised.
    NietErkend {
        /// Why.
        signaal: Signaal,
        /// SBB's text (≤ 200; about the company, not the student).
        omschrijving: Option<String>,
    },
}

/// Natrekken erkenning: the answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Antwoord {
    /// Header.
    pub bericht: Bericht,
    /// The question's `berichtId`.
    pub in_antwoord_op: Uuid,
    /// Our reference (the BPV).
    pub referentie: BpvId,
    /// The leerbedrijf.
    pub leerbedrijf: LeerbedrijfId,
    /// Crebo or keuzedeel.
    pub onderdeel: BpvOnderdeel,
    /// Start date asked about.
    pub startdatum: NaiveDate,
    /// The verdict.
    pub uitkomst: Uitkomst,
}

/// Actualiseren erkenning: a recognition was withdrawn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mutatie {
    /// Header.
    pub bericht: Bericht,
    /// The leerbedrijf.
    pub leerbedrijf: LeerbedrijfId,
    /// For one onderdeel only, when given.
    pub onderdeel: Option<BpvOnderdeel>,
    /// From when.
    pub datum_ingang: NaiveDate,
    /// Why, when given.
    pub signaal: Option<Signaal>,
}

/// A message from SBB.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "soort", rename_all = "snake_case")]
pub enum Inkomend {
    /// Answer to natrekken.
    Antwoord(Antwoord),
    /// Withdrawal notice.
    Mutatie(Mutatie),
}

fn el(out: &mut String, name: &str, value: &str) {
    out.push('<');
    out.push_str(name);
    out.push('>');
    out.push_str(&escape(value));
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

fn date(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

fn write_bericht(out: &mut String, b: &Bericht) {
    el(out, "berichtId", &b.bericht_id.to_string());
    el(out, "verzender", b.verzender.as_str());
    el(out, "ontvanger", b.ontvanger.as_str());
    el(
        out,
        "tijdstip",
        &b.tijdstip.to_rfc3339_opts(SecondsFormat::Secs, true),
    );
}

fn write_onderdeel(out: &mut String, o: &BpvOnderdeel) {
    out.push_str("<onderdeel>");
    match o {
        BpvOnderdeel::Crebo(c) => el(out, "crebo", c.as_str()),
        BpvOnderdeel::Keuzedeel(k) => el(out, "keuzedeel", k.as_str()),
    }
    out.push_str("</onderdeel>");
}

fn check_crebo(o: &BpvOnderdeel) -> Result<(), MappingError> {
    if let BpvOnderdeel::Crebo(c) = o
        && !c.as_str().bytes().all(|b| b.is_ascii_digit())
    {
        return Err(MappingError::invalid(
            "onderdeel/crebo",
            "SBB takes a numeric crebo",
        ));
    }
    Ok(())
}

/// Writes the natrekken question.
pub fn write_verzoek(v: &Verzoek) -> Result<String, MappingError> {
    check_crebo(&v.onderdeel)?;
    let mut out = format!("<natrekkenErkenningVerzoek xmlns=\"{NS}\">");
    write_bericht(&mut out, &v.bericht);
    el(&mut out, "referentie", &v.referentie.0.to_string());
    el(&mut out, "leerbedrijfId", v.leerbedrijf.as_str());
    write_onderdeel(&mut out, &v.onderdeel);
    el(&mut out, "startdatum", &date(v.startdatum));
    out.push_str("</natrekkenErkenningVerzoek>");
    Ok(out)
}

/// The question for a registered praktijkovereenkomst (the event that starts the check).
pub fn verzoek_for(event: &Event, bericht: Bericht) -> Result<Option<Verzoek>, MappingError> {
    match event {
        Event::PraktijkovereenkomstGeregistreerd { bpv, details, .. } => Ok(Some(Verzoek {
            bericht,
            referentie: *bpv,
            leerbedrijf: details.leerbedrijf.clone(),
            onderdeel: details.onderdeel.clone(),
            startdatum: details.begin,
        })),
        _ => Ok(None),
    }
}

/// Writes an answer (for the SBB simulator).
pub fn write_antwoord(a: &Antwoord) -> Result<String, MappingError> {
    check_crebo(&a.onderdeel)?;
    let mut out = format!("<natrekkenErkenningAntwoord xmlns=\"{NS}\">");
    write_bericht(&mut out, &a.bericht);
    el(&mut out, "inAntwoordOp", &a.in_antwoord_op.to_string());
    el(&mut out, "referentie", &a.referentie.0.to_string());
    el(&mut out, "leerbedrijfId", a.leerbedrijf.as_str());
    write_onderdeel(&mut out, &a.onderdeel);
    el(&mut out, "startdatum", &date(a.startdatum));
    match &a.uitkomst {
        Uitkomst::Erkend { vanaf, tot } => {
            out.push_str("<erkend>");
            if let Some(d) = vanaf {
                el(&mut out, "erkendVanaf", &date(*d));
            }
            if let Some(d) = tot {
                el(&mut out, "erkendTot", &date(*d));
            }
            out.push_str("</erkend>");
        }
        Uitkomst::NietErkend {
            signaal,
            omschrijving,
        } => {
            out.push_str("<nietErkend>");
            el(&mut out, "signaalcode", signaal.code());
            if let Some(o) = omschrijving {
                check_len("nietErkend/omschrijving", o, 200)?;
                el(&mut out, "omschrijving", o);
            }
            out.push_str("</nietErkend>");
        }
    }
    out.push_str("</natrekkenErkenningAntwoord>");
    Ok(out)
}

/// Writes a withdrawal notice (for the SBB simulator).
pub fn write_mutatie(m: &Mutatie) -> Result<String, MappingError> {
    let mut out = format!("<mutatieErkenning xmlns=\"{NS}\">");
    write_bericht(&mut out, &m.bericht);
    el(&mut out, "leerbedrijfId", m.leerbedrijf.as_str());
    if let Some(o) = &m.onderdeel {
        check_crebo(o)?;
        write_onderdeel(&mut out, o);
    }
    el(&mut out, "soortMutatie", "INGETROKKEN");
    el(&mut out, "datumIngang", &date(m.datum_ingang));
    if let Some(s) = m.signaal {
        el(&mut out, "signaalcode", s.code());
    }
    out.push_str("</mutatieErkenning>");
    Ok(out)
}

fn guid(e: &Element, path: &str, name: &str) -> Result<Uuid, MappingError> {
    let s = e.require(path, name)?;
    if s.len() != 36 {
        return Err(MappingError::invalid(
            format!("{path}/{name}"),
            "expected a GUID",
        ));
    }
    Uuid::parse_str(s)
        .map_err(|_| MappingError::invalid(format!("{path}/{name}"), "expected a GUID"))
}

fn read_bericht(e: &Element, path: &str) -> Result<Bericht, MappingError> {
    let oin = |name: &str| -> Result<Oin, MappingError> {
        e.require(path, name)?
            .parse()
            .map_err(|err| MappingError::id(format!("{path}/{name}"), err))
    };
    let t = e.require(path, "tijdstip")?;
    Ok(Bericht {
        bericht_id: guid(e, path, "berichtId")?,
        verzender: oin("verzender")?,
        ontvanger: oin("ontvanger")?,
        tijdstip: DateTime::parse_from_rfc3339(t)
            .map_err(|_| {
                MappingError::invalid(
                    format!("{path}/tijdstip"),
                    "expected an xsd:dateTime with offset",
                )
            })?
            .with_timezone(&Utc),
    })
}

fn read_onderdeel(o: &Element, path: &str) -> Result<BpvOnderdeel, MappingError> {
    if let Some(c) = o.text_of("crebo") {
        if !c.bytes().all(|b| b.is_ascii_digit()) {
            return Err(MappingError::invalid(
                format!("{path}/crebo"),
                "expected 5 digits",
            ));
        }
        return c
            .parse()
            .map(BpvOnderdeel::Crebo)
            .map_err(|e| MappingError::id(format!("{path}/crebo"), e));
    }
    if let Some(k) = o.text_of("keuzedeel") {
        return k
            .parse()
            .map(BpvOnderdeel::Keuzedeel)
            .map_err(|e| MappingError::id(format!("{path}/keuzedeel"), e));
    }
    Err(MappingError::missing(format!("{path}/crebo|keuzedeel")))
}

fn leerbedrijf(e: &Element, path: &str) -> Result<LeerbedrijfId, MappingError> {
    e.require(path, "leerbedrijfId")?
        .parse()
        .map_err(|err| MappingError::id(format!("{path}/leerbedrijfId"), err))
}

fn check_children_ns(e: &Element) -> Result<(), MappingError> {
    e.expect_ns(NS)?;
    e.children.iter().try_for_each(check_children_ns)
}

/// Reads a message from SBB: an answer or a withdrawal notice.
pub fn parse(input: &[u8]) -> Result<Inkomend, MappingError> {
    let root = xml::parse(input, MAX_BYTES)?;
    check_children_ns(&root)?;
    let path = root.name.as_str();
    let bericht = read_bericht(&root, path)?;
    match path {
        "natrekkenErkenningAntwoord" => {
            let onderdeel = read_onderdeel(
                root.child("onderdeel")
                    .ok_or_else(|| MappingError::missing(format!("{path}/onderdeel")))?,
                &format!("{path}/onderdeel"),
            )?;
            let uitkomst = if let Some(e) = root.child("erkend") {
                let ep = format!("{path}/erkend");
                Uitkomst::Erkend {
                    vanaf: e
                        .text_of("erkendVanaf")
                        .map(|s| parse_date(&format!("{ep}/erkendVanaf"), s))
                        .transpose()?,
                    tot: e
                        .text_of("erkendTot")
                        .map(|s| parse_date(&format!("{ep}/erkendTot"), s))
                        .transpose()?,
                }
            } else if let Some(n) = root.child("nietErkend") {
                let np = format!("{path}/nietErkend");
                let omschrijving = n.text_of("omschrijving").map(str::to_owned);
                if let Some(o) = &omschrijving {
                    check_len(&format!("{np}/omschrijving"), o, 200)?;
                }
                Uitkomst::NietErkend {
                    signaal: Signaal::from_code(
                        &format!("{np}/signaalcode"),
                        n.require(&np, "signaalcode")?,
                    )?,
                    omschrijving,
                }
            } else {
                return Err(MappingError::missing(format!("{path}/erkend|nietErkend")));
            };
            Ok(Inkomend::Antwoord(Antwoord {
                bericht,
                in_antwoord_op: guid(&root, path, "inAntwoordOp")?,
                referentie: BpvId(guid(&root, path, "referentie")?),
                leerbedrijf: leerbedrijf(&root, path)?,
                onderdeel,
                startdatum: parse_date(
                    &format!("{path}/startdatum"),
                    root.require(path, "startdatum")?,
                )?,
                uitkomst,
            }))
        }
        "mutatieErkenning" => {
            let soort = root.require(path, "soortMutatie")?;
            if soort != "INGETROKKEN" {
                return Err(MappingError::invalid(
                    format!("{path}/soortMutatie"),
                    "expected INGETROKKEN",
                ));
            }
            Ok(Inkomend::Mutatie(Mutatie {
                bericht,
                leerbedrijf: leerbedrijf(&root, path)?,
                onderdeel: root
                    .child("onderdeel")
                    .map(|o| read_onderdeel(o, &format!("{path}/onderdeel")))
                    .transpose()?,
                datum_ingang: parse_date(
                    &format!("{path}/datumIngang"),
                    root.require(path, "datumIngang")?,
                )?,
                signaal: root
                    .text_of("signaalcode")
                    .map(|c| Signaal::from_code(&format!("{path}/signaalcode"), c))
                    .transpose()?,
            }))
        }
        other => Err(MappingError::invalid(
            other,
            "not an SBB answer or mutation",
        )),
    }
}

/// Reads a natrekken question (for the SBB simulator).
pub fn parse_verzoek(input: &[u8]) -> Result<Verzoek, MappingError> {
    let root = xml::parse(input, MAX_BYTES)?;
    check_children_ns(&root)?;
    let path = "natrekkenErkenningVerzoek";
    if root.name != path {
        return Err(MappingError::invalid(
            &root.name,
            "expected natrekkenErkenningVerzoek",
        ));
    }
    Ok(Verzoek {
        bericht: read_bericht(&root, path)?,
        referentie: BpvId(guid(&root, path, "referentie")?),
        leerbedrijf: leerbedrijf(&root, path)?,
        onderdeel: read_onderdeel(
            root.child("onderdeel")
                .ok_or_else(|| MappingError::missing(format!("{path}/onderdeel")))?,
            &format!("{path}/onderdeel"),
        )?,
        startdatum: parse_date(
            &format!("{path}/startdatum"),
            root.require(path, "startdatum")?,
        )?,
    })
}

/// The registry command for a message from SBB: `RecordSbbCheck` for an answer (dated on the
/// answer's send date), `WithdrawErkenning` for a withdrawal.
pub fn to_command(m: &Inkomend) -> Command {
    match m {
        Inkomend::Antwoord(a) => {
            let (erkend, reden) = match &a.uitkomst {
                Uitkomst::Erkend { .. } => (true, None),
                Uitkomst::NietErkend { signaal, .. } => (false, Some(signaal.code().to_owned())),
            };
            Command::RecordSbbCheck {
                bpv: a.referentie,
                erkend,
                reden,
                datum: a.bericht.tijdstip.date_naive(),
            }
        }
        Inkomend::Mutatie(m) => Command::WithdrawErkenning {
            leerbedrijf: m.leerbedrijf.clone(),
            datum: m.datum_ingang,
            onderdeel: m.onderdeel.clone(),
        },
    }
}
