//! RIO *raadplegen V4* over Edukoppeling/WUS (SOAP 1.1, document/literal).
//!
//! Requests are written valid against `DUO_RIO_Raadplegen_OnderwijsOrganisatie_V4.xsd` (tests
//! check with xmllint); the envelope carries the WS-Addressing headers with the OINs in the
//! addresses (domain.md §5.2). Signing (WS-Security) is the adapter's job, not done here.
//! Responses are read by namespace URI + local name, so the sender's prefixes do not matter.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use knooppunt_registry::ids::{Crebo, Oin, OnderwijsaanbiederCode, OnderwijslocatieCode};
use quick_xml::escape::escape;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::model::{
    AangebodenOpleiding, Cohort, CohortStatus, Instroom, Onderwijsaanbieder, Onderwijslocatie,
};
use super::{check_len, parse_date};
use crate::error::MappingError;
use crate::xml::{self, Element};

/// Namespace of the raadplegen V4 messages.
pub const NS: &str = "http://duo.nl/schema/DUO_RIO_Raadplegen_OnderwijsOrganisatie_V4";
/// Prefix of the WS-Addressing action URIs.
pub const ACTION_BASE: &str = "http://duo.nl/contract/DUO_RIO_Raadplegen_OnderwijsOrganisatie_V4/";
/// SOAP 1.1 envelope namespace.
pub const SOAP_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// WS-Addressing namespace.
pub const WSA_NS: &str = "http://www.w3.org/2005/08/addressing";
/// DUO's OIN for the RIO services (domain.md §0).
pub const DUO_OIN: &str = "00000001800866472000";
/// Largest response accepted: 500 aangeboden opleidingen with cohorts fit well within this.
pub const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;
/// Largest request accepted by [`parse_request`].
pub const MAX_REQUEST_BYTES: usize = 256 * 1024;

/// The `Bedrijfsdocument` part every request and response carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestHeader {
    /// `identificatiecodeBedrijfsdocument`: 1–50 of `[A-Za-z0-9_-]`.
    pub document_id: String,
    /// `verzendendeInstantie` (≤ 22), e.g. the sender's OIN.
    pub sender: String,
    /// `ontvangendeInstantie` (≤ 22), e.g. `DUO`.
    pub receiver: String,
    /// `datumTijdBedrijfsdocument`.
    pub at: DateTime<Utc>,
}

impl RequestHeader {
    /// A header for a request from `sender` to DUO with a fresh document id (a UUID).
    pub fn to_duo(sender: &Oin, document_id: Uuid, at: DateTime<Utc>) -> Self {
        Self {
            document_id: document_id.to_string(),
            sender: sender.to_string(),
            receiver: "DUO".to_owned(),
            at,
        }
    }

    fn validate(&self) -> Result<(), MappingError> {
        let id = &self.document_id;
        if id.is_empty()
            || id.len() > 50
            || !id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(MappingError::invalid(
                "identificatiecodeBedrijfsdocument",
                "1 to 50 letters, digits, '_' or '-'",
            ));
        }
        for (field, v) in [
            ("verzendendeInstantie", &self.sender),
            ("ontvangendeInstantie", &self.receiver),
        ] {
            if v.trim().is_empty() {
                return Err(MappingError::missing(field));
            }
            check_len(field, v, 22)?;
            if v.chars().any(|c| c.is_control()) {
                return Err(MappingError::invalid(field, "control characters"));
            }
        }
        Ok(())
    }

    fn write(&self, out: &mut String) {
        el(out, "identificatiecodeBedrijfsdocument", &self.document_id);
        el(out, "verzendendeInstantie", &self.sender);
        el(out, "ontvangendeInstantie", &self.receiver);
        el(
            out,
            "datumTijdBedrijfsdocument",
            &self.at.to_rfc3339_opts(SecondsFormat::Secs, true),
        );
    }

    fn read(e: &Element, path: &str) -> Result<Self, MappingError> {
        let at_field = format!("{path}/datumTijdBedrijfsdocument");
        let at = e.require(path, "datumTijdBedrijfsdocument")?;
        let at = DateTime::parse_from_rfc3339(at)
            .map_err(|_| MappingError::invalid(&at_field, "expected an xsd:dateTime with offset"))?
            .with_timezone(&Utc);
        Ok(Self {
            document_id: e
                .require(path, "identificatiecodeBedrijfsdocument")?
                .to_owned(),
            sender: e.require(path, "verzendendeInstantie")?.to_owned(),
            receiver: e.require(path, "ontvangendeInstantie")?.to_owned(),
            at,
        })
    }
}

/// A raadplegen question Knooppunt asks RIO.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "operation", rename_all = "snake_case")]
pub enum RioQuery {
    /// `opvragen_aangebodenOpleidingenVanOrganisatie`: one page (0-based) of an aanbieder's offer.
    AangebodenOpleidingenVanOrganisatie {
        /// The aanbieder.
        aanbieder: OnderwijsaanbiederCode,
        /// Only at this location.
        locatie: Option<OnderwijslocatieCode>,
        /// Valid on this date (RIO's default: today).
        peildatum: Option<NaiveDate>,
        /// Page, 0-based (0–999999).
        pagina: u32,
    },
    /// `opvragen_aangebodenOpleiding`: one aangeboden opleiding with its cohorts.
    AangebodenOpleiding {
        /// Its code.
        code: Uuid,
    },
    /// `opvragen_onderwijsaanbieder`.
    Onderwijsaanbieder {
        /// Its code.
        code: OnderwijsaanbiederCode,
    },
    /// `opvragen_onderwijslocatie`.
    Onderwijslocatie {
        /// Its code.
        code: OnderwijslocatieCode,
    },
}

impl RioQuery {
    /// The operation name, e.g. `opvragen_onderwijsaanbieder`.
    pub fn operation(&self) -> &'static str {
        match self {
            Self::AangebodenOpleidingenVanOrganisatie { .. } => {
                "opvragen_aangebodenOpleidingenVanOrganisatie"
            }
            Self::AangebodenOpleiding { .. } => "opvragen_aangebodenOpleiding",
            Self::Onderwijsaanbieder { .. } => "opvragen_onderwijsaanbieder",
            Self::Onderwijslocatie { .. } => "opvragen_onderwijslocatie",
        }
    }

    /// The WS-Addressing action / SOAPAction URI.
    pub fn action(&self) -> String {
        format!("{ACTION_BASE}{}", self.operation())
    }
}

fn el(out: &mut String, name: &str, value: &str) {
    out.push_str("<duo:");
    out.push_str(name);
    out.push('>');
    out.push_str(&escape(value));
    out.push_str("</duo:");
    out.push_str(name);
    out.push('>');
}

fn write_body_into(
    out: &mut String,
    header: &RequestHeader,
    query: &RioQuery,
) -> Result<(), MappingError> {
    header.validate()?;
    let op = query.operation();
    out.push_str(&format!("<duo:{op}_request xmlns:duo=\"{NS}\">"));
    header.write(out);
    match query {
        RioQuery::AangebodenOpleidingenVanOrganisatie {
            aanbieder,
            locatie,
            peildatum,
            pagina,
        } => {
            if *pagina > 999_999 {
                return Err(MappingError::invalid("pagina", "at most 999999"));
            }
            el(out, "onderwijsaanbiedercode", aanbieder.as_str());
            if let Some(l) = locatie {
                el(out, "onderwijslocatiecode", l.as_str());
            }
            if let Some(d) = peildatum {
                el(out, "peildatum", &d.format("%Y-%m-%d").to_string());
            }
            el(out, "pagina", &pagina.to_string());
        }
        RioQuery::AangebodenOpleiding { code } => {
            el(out, "aangebodenOpleidingCode", &code.to_string());
        }
        RioQuery::Onderwijsaanbieder { code } => el(out, "onderwijsaanbiedercode", code.as_str()),
        RioQuery::Onderwijslocatie { code } => el(out, "onderwijslocatieCode", code.as_str()),
    }
    out.push_str(&format!("</duo:{op}_request>"));
    Ok(())
}

/// The request body element alone (a standalone document, valid against the XSD).
pub fn write_request_body(
    header: &RequestHeader,
    query: &RioQuery,
) -> Result<String, MappingError> {
    let mut out = String::with_capacity(512);
    write_body_into(&mut out, header, query)?;
    Ok(out)
}

/// Where a request goes: the WS-Addressing values (Edukoppeling puts the OINs in the addresses).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addressing {
    /// Our OIN (`wsa:From` = anonymous?oin=…).
    pub from: Oin,
    /// The endpoint URL, e.g. `https://…/RIO/services/raadplegen4.0`.
    pub endpoint: String,
    /// The receiver's OIN (DUO: [`DUO_OIN`]).
    pub to: Oin,
    /// `wsa:MessageID` (written as `uuid:…`).
    pub message_id: Uuid,
}

/// The whole unsigned SOAP envelope: WS-Addressing headers and the request body.
pub fn write_request_envelope(
    header: &RequestHeader,
    query: &RioQuery,
    addressing: &Addressing,
) -> Result<String, MappingError> {
    if addressing
        .endpoint
        .contains(['?', '<', '>', '"', '\'', ' ', '&'])
    {
        return Err(MappingError::invalid(
            "wsa:To",
            "the endpoint must be a plain URL without query or markup",
        ));
    }
    let mut out = String::with_capacity(1024);
    out.push_str(&format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><soapenv:Envelope xmlns:soapenv=\"{SOAP_NS}\" xmlns:wsa=\"{WSA_NS}\"><soapenv:Header>"
    ));
    out.push_str(&format!("<wsa:Action>{}</wsa:Action>", query.action()));
    out.push_str(&format!(
        "<wsa:From><wsa:Address>http://www.w3.org/2005/08/addressing/anonymous?oin={}</wsa:Address></wsa:From>",
        addressing.from
    ));
    out.push_str(&format!(
        "<wsa:MessageID>uuid:{}</wsa:MessageID>",
        addressing.message_id
    ));
    out.push_str(&format!(
        "<wsa:To>{}?oin={}</wsa:To>",
        addressing.endpoint, addressing.to
    ));
    out.push_str("</soapenv:Header><soapenv:Body>");
    write_body_into(&mut out, header, query)?;
    out.push_str("</soapenv:Body></soapenv:Envelope>");
    Ok(out)
}

/// The payload of a SOAP envelope (the first element in Body), or the element itself when it
/// is not an envelope. A SOAP Fault becomes [`RioError::Fault`].
fn unwrap_envelope(root: Element) -> Result<Element, RioError> {
    if root.name != "Envelope" || root.ns != SOAP_NS {
        return Ok(root);
    }
    let body = root
        .children
        .into_iter()
        .find(|c| c.name == "Body" && c.ns == SOAP_NS)
        .ok_or_else(|| MappingError::missing("Envelope/Body"))?;
    let payload = body
        .children
        .into_iter()
        .next()
        .ok_or_else(|| MappingError::missing("Envelope/Body/*"))?;
    if payload.name == "Fault" && payload.ns == SOAP_NS {
        return Err(RioError::Fault {
            code: payload.text_of("faultcode").unwrap_or("").to_owned(),
            reason: payload.text_of("faultstring").unwrap_or("").to_owned(),
        });
    }
    Ok(payload)
}

/// Reads a request (an envelope or the bare body element): for the RIO simulator and tests.
pub fn parse_request(input: &[u8]) -> Result<(RequestHeader, RioQuery), RioError> {
    let root = unwrap_envelope(xml::parse(input, MAX_REQUEST_BYTES)?)?;
    root.expect_ns(NS)?;
    let op = root
        .name
        .strip_suffix("_request")
        .ok_or_else(|| MappingError::invalid(&root.name, "not a raadplegen request element"))?;
    let path = root.name.as_str();
    let header = RequestHeader::read(&root, path)?;
    let code_of = |name: &str| -> Result<&str, MappingError> { root.require(path, name) };
    let query = match op {
        "opvragen_aangebodenOpleidingenVanOrganisatie" => {
            let aanbieder = code_of("onderwijsaanbiedercode")?
                .parse()
                .map_err(|e| MappingError::id(format!("{path}/onderwijsaanbiedercode"), e))?;
            let locatie = root
                .text_of("onderwijslocatiecode")
                .map(|s| {
                    s.parse()
                        .map_err(|e| MappingError::id(format!("{path}/onderwijslocatiecode"), e))
                })
                .transpose()?;
            let peildatum = root
                .text_of("peildatum")
                .map(|s| parse_date(&format!("{path}/peildatum"), s))
                .transpose()?;
            let pagina = code_of("pagina")?
                .parse::<u32>()
                .ok()
                .filter(|p| *p <= 999_999)
                .ok_or_else(|| MappingError::invalid(format!("{path}/pagina"), "0 to 999999"))?;
            RioQuery::AangebodenOpleidingenVanOrganisatie {
                aanbieder,
                locatie,
                peildatum,
                pagina,
            }
        }
        "opvragen_aangebodenOpleiding" => RioQuery::AangebodenOpleiding {
            code: parse_uuid(
                &format!("{path}/aangebodenOpleidingCode"),
                code_of("aangebodenOpleidingCode")?,
            )?,
        },
        "opvragen_onderwijsaanbieder" => RioQuery::Onderwijsaanbieder {
            code: code_of("onderwijsaanbiedercode")?
                .parse()
                .map_err(|e| MappingError::id(format!("{path}/onderwijsaanbiedercode"), e))?,
        },
        "opvragen_onderwijslocatie" => RioQuery::Onderwijslocatie {
            code: code_of("onderwijslocatieCode")?
                .parse()
                .map_err(|e| MappingError::id(format!("{path}/onderwijslocatieCode"), e))?,
        },
        _ => {
            return Err(MappingError::Unsupported(format!("RIO operation {op}")).into());
        }
    };
    Ok((header, query))
}

fn parse_uuid(field: &str, s: &str) -> Result<Uuid, MappingError> {
    if s.len() != 36 {
        return Err(MappingError::invalid(
            field,
            "expected a UUID of 36 characters",
        ));
    }
    Uuid::parse_str(s).map_err(|_| MappingError::invalid(field, "expected a UUID"))
}

/// One RIO `foutmelding`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Foutmelding {
    /// RIO's code, e.g. `AUT401`, `A01060`.
    pub foutcode: String,
    /// RIO's text (about the request, not personal data).
    pub fouttekst: String,
    /// The key data the error is about (`sleutelnaam`, `sleutelwaarde`), 1–5.
    pub sleutelgegevens: Vec<(String, String)>,
}

/// What can go wrong with a RIO answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RioError {
    /// The message could not be read.
    #[error(transparent)]
    Mapping(#[from] MappingError),
    /// RIO answered `requestGoedgekeurd=false` with foutmeldingen.
    #[error("RIO refused {operation}: {}", codes(.foutmeldingen))]
    Rejected {
        /// The operation.
        operation: String,
        /// RIO's foutmeldingen (1–99).
        foutmeldingen: Vec<Foutmelding>,
    },
    /// A SOAP Fault (transport/security level).
    #[error("SOAP fault {code}: {reason}")]
    Fault {
        /// `faultcode`.
        code: String,
        /// `faultstring`.
        reason: String,
    },
}

fn codes(f: &[Foutmelding]) -> String {
    f.iter()
        .map(|f| f.foutcode.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

impl RioError {
    /// The foutcodes, when RIO refused.
    pub fn foutcodes(&self) -> Vec<&str> {
        match self {
            Self::Rejected { foutmeldingen, .. } => {
                foutmeldingen.iter().map(|f| f.foutcode.as_str()).collect()
            }
            _ => Vec::new(),
        }
    }
}

/// Paging of a list answer (`paginering`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Paginering {
    /// This page (0-based).
    pub pagina: u32,
    /// Number of pages.
    pub aantal_paginas: u32,
    /// Number of results in total.
    pub aantal_resultaten: u32,
}

/// An approved RIO answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "operation", rename_all = "snake_case")]
pub enum RioResponse {
    /// A page of aangeboden opleidingen.
    AangebodenOpleidingen {
        /// The opleidingen on this page.
        items: Vec<AangebodenOpleiding>,
        /// Paging, when given.
        paginering: Option<Paginering>,
    },
    /// One aangeboden opleiding.
    AangebodenOpleiding(AangebodenOpleiding),
    /// One onderwijsaanbieder.
    Onderwijsaanbieder(Onderwijsaanbieder),
    /// One onderwijslocatie.
    Onderwijslocatie(Onderwijslocatie),
}

/// Reads a raadplegen response (an envelope or the bare response element).
pub fn parse_response(input: &[u8]) -> Result<RioResponse, RioError> {
    let root = unwrap_envelope(xml::parse(input, MAX_RESPONSE_BYTES)?)?;
    root.expect_ns(NS)?;
    let op = root
        .name
        .strip_suffix("_response")
        .ok_or_else(|| MappingError::invalid(&root.name, "not a raadplegen response element"))?
        .to_owned();
    let path = root.name.clone();
    let approved = root.require(&path, "requestGoedgekeurd")?;
    let approved = match approved {
        "true" | "1" => true,
        "false" | "0" => false,
        _ => {
            return Err(MappingError::invalid(
                format!("{path}/requestGoedgekeurd"),
                "expected true or false",
            )
            .into());
        }
    };
    if !approved {
        let mut foutmeldingen = Vec::new();
        for (i, f) in root.all("foutmelding").enumerate() {
            let fp = format!("{path}/foutmelding[{}]", i + 1);
            let mut sleutelgegevens = Vec::new();
            for (j, k) in f.all("sleutelgegeven").enumerate() {
                let kp = format!("{fp}/sleutelgegeven[{}]", j + 1);
                sleutelgegevens.push((
                    k.require(&kp, "sleutelnaam")?.to_owned(),
                    k.text_of("sleutelwaarde").unwrap_or("").to_owned(),
                ));
            }
            foutmeldingen.push(Foutmelding {
                foutcode: f.require(&fp, "foutcode")?.to_owned(),
                fouttekst: f.text_of("fouttekst").unwrap_or("").to_owned(),
                sleutelgegevens,
            });
        }
        if foutmeldingen.is_empty() {
            return Err(MappingError::missing(format!("{path}/foutmelding")).into());
        }
        return Err(RioError::Rejected {
            operation: op,
            foutmeldingen,
        });
    }
    for c in &root.children {
        if c.ns != NS {
            return Err(MappingError::WrongNamespace {
                element: c.name.clone(),
                expected: NS.to_owned(),
                got: c.ns.clone(),
            }
            .into());
        }
    }
    let offers = root
        .children
        .iter()
        .filter(|c| is_offer(&c.name))
        .enumerate()
        .map(|(i, c)| read_offer(c, &format!("{path}/{}[{}]", c.name, i + 1)));
    let resp = match op.as_str() {
        "opvragen_aangebodenOpleidingenVanOrganisatie" => {
            let items = offers.collect::<Result<Vec<_>, _>>()?;
            let paginering = root
                .child("paginering")
                .map(|p| read_paginering(p, &format!("{path}/paginering")))
                .transpose()?;
            RioResponse::AangebodenOpleidingen { items, paginering }
        }
        "opvragen_aangebodenOpleiding" => {
            let mut offers = offers;
            let one = offers
                .next()
                .ok_or_else(|| MappingError::missing(format!("{path}/aangebodenOpleiding")))??;
            RioResponse::AangebodenOpleiding(one)
        }
        "opvragen_onderwijsaanbieder" => {
            let a = root
                .child("onderwijsaanbieder")
                .ok_or_else(|| MappingError::missing(format!("{path}/onderwijsaanbieder")))?;
            RioResponse::Onderwijsaanbieder(read_aanbieder(
                a,
                &format!("{path}/onderwijsaanbieder"),
            )?)
        }
        "opvragen_onderwijslocatie" => {
            let l = root
                .child("onderwijslocatie")
                .ok_or_else(|| MappingError::missing(format!("{path}/onderwijslocatie")))?;
            RioResponse::Onderwijslocatie(read_locatie(l, &format!("{path}/onderwijslocatie"))?)
        }
        _ => return Err(MappingError::Unsupported(format!("RIO operation {op}")).into()),
    };
    Ok(resp)
}

/// Concrete members of the `aangebodenOpleiding` substitution group.
fn is_offer(name: &str) -> bool {
    name.starts_with("aangeboden") && !name.ends_with("Cohort") && !name.ends_with("Periode")
}

/// Parses a date, building the field path only on error (this runs per record).
fn date_at(path: &str, name: &str, s: &str) -> Result<NaiveDate, MappingError> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|_| {
        MappingError::invalid(format!("{path}/{name}"), "expected a date as YYYY-MM-DD")
    })
}

fn opt_date(e: &Element, path: &str, name: &str) -> Result<Option<NaiveDate>, MappingError> {
    e.text_of(name).map(|s| date_at(path, name, s)).transpose()
}

fn req_date(e: &Element, path: &str, name: &str) -> Result<NaiveDate, MappingError> {
    date_at(path, name, e.require(path, name)?)
}

fn read_u32(e: &Element, path: &str, name: &str) -> Result<u32, MappingError> {
    e.require(path, name)?
        .parse()
        .map_err(|_| MappingError::invalid(format!("{path}/{name}"), "expected a whole number"))
}

fn read_paginering(p: &Element, path: &str) -> Result<Paginering, MappingError> {
    Ok(Paginering {
        pagina: read_u32(p, path, "pagina")?,
        aantal_paginas: read_u32(p, path, "aantalPaginas")?,
        aantal_resultaten: read_u32(p, path, "aantalResultaten")?,
    })
}

fn read_offer(e: &Element, path: &str) -> Result<AangebodenOpleiding, MappingError> {
    let code = parse_uuid(
        &format!("{path}/aangebodenOpleidingCode"),
        e.require(path, "aangebodenOpleidingCode")?,
    )?;
    let aanbieder = e
        .require(path, "onderwijsaanbiedercode")?
        .parse()
        .map_err(|err| MappingError::id(format!("{path}/onderwijsaanbiedercode"), err))?;
    let opleidingseenheid = e
        .require(path, "opleidingseenheidcode")?
        .parse()
        .map_err(|err| MappingError::id(format!("{path}/opleidingseenheidcode"), err))?;
    let locatie = e
        .text_of("onderwijslocatiecode")
        .map(|s| {
            s.parse()
                .map_err(|err| MappingError::id(format!("{path}/onderwijslocatiecode"), err))
        })
        .transpose()?;
    // The crebo: the opleidingserkenning of the mbo stelsel (SBB erkent the crebo).
    let mut crebo: Option<Crebo> = None;
    for (i, s) in e.all("opleidingserkenningSleutel").enumerate() {
        let sp = format!("{path}/opleidingserkenningSleutel[{}]", i + 1);
        let code = s.require(&sp, "opleidingscode")?;
        if crebo.is_none() && code.len() == 5 {
            crebo = code.parse().ok();
        }
    }
    // The name of the latest period (periods are in date order in RIO, but do not rely on it).
    let mut naam: Option<(NaiveDate, Option<String>)> = None;
    for (i, p) in e
        .children
        .iter()
        .filter(|c| c.name.ends_with("Periode"))
        .enumerate()
    {
        let pp = format!("{path}/{}[{}]", p.name, i + 1);
        let begin = req_date(p, &pp, "begindatum")?;
        if naam.as_ref().is_none_or(|(b, _)| begin >= *b) {
            naam = Some((
                begin,
                p.text_of("eigenNaamAangebodenOpleiding").map(str::to_owned),
            ));
        }
    }
    let mut cohorts = Vec::new();
    for (i, c) in e
        .children
        .iter()
        .filter(|c| c.name.ends_with("Cohort"))
        .enumerate()
    {
        cohorts.push(read_cohort(c, &format!("{path}/{}[{}]", c.name, i + 1))?);
    }
    Ok(AangebodenOpleiding {
        code,
        aanbieder: Some(aanbieder),
        opleidingseenheid: Some(opleidingseenheid),
        locatie,
        crebo,
        begindatum: req_date(e, path, "begindatum")?,
        einddatum: opt_date(e, path, "einddatum")?,
        eerste_instroom: opt_date(e, path, "eersteInstroomDatum")?,
        naam: naam.and_then(|(_, n)| n),
        leertraject: e.text_of("leertrajectMBO").map(str::to_owned),
        niveau: e.text_of("mboNiveau").map(str::to_owned),
        toelatingseisen: e
            .text_of("toelatingseisen")
            .map(|t| ja_nee(&format!("{path}/toelatingseisen"), t))
            .transpose()?,
        toegankelijkheid: e.text_of("toegankelijkheid").map(str::to_owned),
        cohorts,
    })
}

fn read_cohort(c: &Element, path: &str) -> Result<Cohort, MappingError> {
    let code = c.require(path, "cohortcode")?;
    if code.len() > 60 {
        check_len(&format!("{path}/cohortcode"), code, 60)?;
    }
    let instroom = if let Some(v) = c.child("vastInstroommoment") {
        Instroom::Vast {
            moment: req_date(v, &format!("{path}/vastInstroommoment"), "instroommoment")?,
        }
    } else if let Some(f) = c.child("flexibeleInstroom") {
        let fp = format!("{path}/flexibeleInstroom");
        Instroom::Flexibel {
            begin: req_date(f, &fp, "beginInstroomperiode")?,
            eind: opt_date(f, &fp, "eindeInstroomperiode")?,
        }
    } else {
        return Err(MappingError::missing(format!(
            "{path}/vastInstroommoment|flexibeleInstroom"
        )));
    };
    Ok(Cohort {
        code: code.to_owned(),
        status: match c.require(path, "cohortstatus")? {
            "G" => CohortStatus::Gepubliceerd,
            "O" => CohortStatus::Ontwerp,
            other => CohortStatus::from_code(&format!("{path}/cohortstatus"), other)?,
        },
        begin_aanmeldperiode: req_date(c, path, "beginAanmeldperiode")?,
        einde_aanmeldperiode: opt_date(c, path, "eindeAanmeldperiode")?,
        instroom,
        toestemming_vereist: match c.require(path, "toestemmingVereistVoorAanmelding")? {
            "JA" => true,
            "NEE" => false,
            other => ja_nee(&format!("{path}/toestemmingVereistVoorAanmelding"), other)?,
        },
        deelnemersplaatsen: None,
    })
}

/// RIO's `JA` / `NEE`.
pub(crate) fn ja_nee(field: &str, s: &str) -> Result<bool, MappingError> {
    match s.trim() {
        "JA" => Ok(true),
        "NEE" => Ok(false),
        _ => Err(MappingError::invalid(field, "expected JA or NEE")),
    }
}

fn read_aanbieder(a: &Element, path: &str) -> Result<Onderwijsaanbieder, MappingError> {
    let code = a
        .require(path, "onderwijsaanbiedercode")?
        .parse()
        .map_err(|e| MappingError::id(format!("{path}/onderwijsaanbiedercode"), e))?;
    let mut naam: Option<(NaiveDate, String)> = None;
    for (i, p) in a.all("onderwijsaanbiederPeriode").enumerate() {
        let pp = format!("{path}/onderwijsaanbiederPeriode[{}]", i + 1);
        let begin = req_date(p, &pp, "begindatum")?;
        let n = p.require(&pp, "naam")?;
        if naam.as_ref().is_none_or(|(b, _)| begin >= *b) {
            naam = Some((begin, n.to_owned()));
        }
    }
    let mut brins = Vec::new();
    for (i, r) in a.all("juridischeRelatie").enumerate() {
        let rp = format!("{path}/juridischeRelatie[{}]", i + 1);
        let code = r.require(&rp, "instellingserkenningscode")?;
        // Only erkenningen that are BRINs matter to Knooppunt; others (e.g. bestuur codes) are skipped.
        if let Ok(b) = code.parse() {
            brins.push(b);
        }
    }
    let mut bevoegd_gezag = None;
    for (i, b) in a.all("bijbehorendOnderwijsbestuur").enumerate() {
        let bp = format!("{path}/bijbehorendOnderwijsbestuur[{}]", i + 1);
        if b.text_of("organisatierelatieEinddatum").is_some() {
            continue;
        }
        let code = b
            .require(&bp, "onderwijsbestuurcode")?
            .parse()
            .map_err(|e| MappingError::id(format!("{bp}/onderwijsbestuurcode"), e))?;
        bevoegd_gezag.get_or_insert(code);
    }
    Ok(Onderwijsaanbieder {
        code,
        bevoegd_gezag,
        naam: naam.map(|(_, n)| n),
        in_bedrijf: req_date(a, path, "inBedrijfdatum")?,
        uit_bedrijf: opt_date(a, path, "uitBedrijfdatum")?,
        brins,
    })
}

fn read_locatie(l: &Element, path: &str) -> Result<Onderwijslocatie, MappingError> {
    Ok(Onderwijslocatie {
        code: l
            .require(path, "onderwijslocatiecode")?
            .parse()
            .map_err(|e| MappingError::id(format!("{path}/onderwijslocatiecode"), e))?,
        postcode: l.text_of("postcode").map(str::to_owned),
        huisnummer: l
            .text_of("huisnummer")
            .map(|s| {
                s.parse().map_err(|_| {
                    MappingError::invalid(format!("{path}/huisnummer"), "expected a number")
                })
            })
            .transpose()?,
        toevoeging: l.text_of("huisnummertoevoeging").map(str::to_owned),
        plaatsnaam: l.text_of("plaatsnaam").map(str::to_owned),
    })
}

/// The opleidingsstelsel written with a crebo in `opleidingserkenningSleutel` by
/// [`write_response`] (the reader accepts any stelsel; RIO's real value is not public).
pub const CREBO_STELSEL: &str = "MBO";

fn write_offer(out: &mut String, o: &AangebodenOpleiding) -> Result<(), MappingError> {
    let path = format!("aangebodenOpleiding[{}]", o.code);
    let need = |v: Option<&str>, n: &str| -> Result<String, MappingError> {
        v.map(str::to_owned)
            .ok_or_else(|| MappingError::missing(format!("{path}/{n}")))
    };
    let leertraject = need(o.leertraject.as_deref(), "leertrajectMBO")?;
    let toegankelijkheid = need(o.toegankelijkheid.as_deref(), "toegankelijkheid")?;
    let toelatingseisen = o
        .toelatingseisen
        .ok_or_else(|| MappingError::missing(format!("{path}/toelatingseisen")))?;
    let aanbieder = o
        .aanbieder
        .as_ref()
        .ok_or_else(|| MappingError::missing(format!("{path}/onderwijsaanbiedercode")))?;
    let eenheid = o
        .opleidingseenheid
        .as_ref()
        .ok_or_else(|| MappingError::missing(format!("{path}/opleidingseenheidcode")))?;
    let date = |d: NaiveDate| d.format("%Y-%m-%d").to_string();
    out.push_str("<duo:aangebodenMboOpleiding>");
    el(out, "aangebodenOpleidingCode", &o.code.to_string());
    el(out, "onderwijsaanbiedercode", aanbieder.as_str());
    el(out, "opleidingseenheidcode", eenheid.as_str());
    if let Some(l) = &o.locatie {
        el(out, "onderwijslocatiecode", l.as_str());
    }
    el(out, "begindatum", &date(o.begindatum));
    if let Some(d) = o.eerste_instroom {
        el(out, "eersteInstroomDatum", &date(d));
    }
    if let Some(d) = o.einddatum {
        el(out, "einddatum", &date(d));
    }
    if let Some(c) = &o.crebo {
        out.push_str("<duo:opleidingserkenningSleutel>");
        el(out, "opleidingsstelsel", CREBO_STELSEL);
        el(out, "opleidingscode", c.as_str());
        out.push_str("</duo:opleidingserkenningSleutel>");
    }
    out.push_str("<duo:aangebodenMboOpleidingPeriode>");
    el(out, "begindatum", &date(o.begindatum));
    if let Some(n) = &o.naam {
        check_len(&format!("{path}/eigenNaamAangebodenOpleiding"), n, 225)?;
        el(out, "eigenNaamAangebodenOpleiding", n);
    }
    out.push_str("</duo:aangebodenMboOpleidingPeriode>");
    for c in &o.cohorts {
        check_len(&format!("{path}/cohortcode"), &c.code, 60)?;
        out.push_str("<duo:aangebodenMboOpleidingCohort>");
        el(out, "cohortcode", &c.code);
        el(out, "cohortstatus", c.status.code());
        el(out, "beginAanmeldperiode", &date(c.begin_aanmeldperiode));
        match c.instroom {
            Instroom::Vast { moment } => {
                out.push_str("<duo:vastInstroommoment>");
                el(out, "instroommoment", &date(moment));
                out.push_str("</duo:vastInstroommoment>");
            }
            Instroom::Flexibel { begin, eind } => {
                out.push_str("<duo:flexibeleInstroom>");
                el(out, "beginInstroomperiode", &date(begin));
                if let Some(e) = eind {
                    el(out, "eindeInstroomperiode", &date(e));
                }
                out.push_str("</duo:flexibeleInstroom>");
            }
        }
        if let Some(e) = c.einde_aanmeldperiode {
            el(out, "eindeAanmeldperiode", &date(e));
        }
        el(
            out,
            "toestemmingVereistVoorAanmelding",
            if c.toestemming_vereist { "JA" } else { "NEE" },
        );
        out.push_str("</duo:aangebodenMboOpleidingCohort>");
    }
    el(out, "leertrajectMBO", &leertraject);
    if let Some(n) = &o.niveau {
        el(out, "mboNiveau", n);
    }
    el(
        out,
        "toelatingseisen",
        if toelatingseisen { "JA" } else { "NEE" },
    );
    el(out, "toegankelijkheid", &toegankelijkheid);
    out.push_str("</duo:aangebodenMboOpleiding>");
    Ok(())
}

/// Writes an approved response (for the RIO simulator), valid against the XSD. Mbo offers only;
/// an onderwijsaanbieder answer needs data the model does not keep and is refused.
pub fn write_response(
    header: &RequestHeader,
    response: &RioResponse,
) -> Result<String, MappingError> {
    header.validate()?;
    let op = match response {
        RioResponse::AangebodenOpleidingen { .. } => "opvragen_aangebodenOpleidingenVanOrganisatie",
        RioResponse::AangebodenOpleiding(_) => "opvragen_aangebodenOpleiding",
        RioResponse::Onderwijslocatie(_) => "opvragen_onderwijslocatie",
        RioResponse::Onderwijsaanbieder(_) => {
            return Err(MappingError::Unsupported(
                "writing an onderwijsaanbieder answer".to_owned(),
            ));
        }
    };
    let mut out = format!("<duo:{op}_response xmlns:duo=\"{NS}\">");
    header.write(&mut out);
    el(&mut out, "requestGoedgekeurd", "true");
    match response {
        RioResponse::AangebodenOpleidingen { items, paginering } => {
            if items.len() > 500 {
                return Err(MappingError::invalid(
                    "aangebodenOpleiding",
                    "at most 500 per page",
                ));
            }
            for o in items {
                write_offer(&mut out, o)?;
            }
            if let Some(p) = paginering {
                out.push_str("<duo:paginering>");
                el(&mut out, "pagina", &p.pagina.to_string());
                el(&mut out, "aantalPaginas", &p.aantal_paginas.to_string());
                el(
                    &mut out,
                    "aantalResultaten",
                    &p.aantal_resultaten.to_string(),
                );
                out.push_str("</duo:paginering>");
            }
        }
        RioResponse::AangebodenOpleiding(o) => write_offer(&mut out, o)?,
        RioResponse::Onderwijslocatie(l) => {
            out.push_str("<duo:onderwijslocatie>");
            el(&mut out, "onderwijslocatiecode", l.code.as_str());
            if let Some(p) = &l.postcode {
                el(&mut out, "postcode", p);
            }
            if let Some(h) = l.huisnummer {
                el(&mut out, "huisnummer", &h.to_string());
            }
            if let Some(t) = &l.toevoeging {
                el(&mut out, "huisnummertoevoeging", t);
            }
            if let Some(p) = &l.plaatsnaam {
                el(&mut out, "plaatsnaam", p);
            }
            out.push_str("</duo:onderwijslocatie>");
        }
        RioResponse::Onderwijsaanbieder(_) => {}
    }
    out.push_str(&format!("</duo:{op}_response>"));
    Ok(out)
}

/// Writes a refusal (`requestGoedgekeurd=false` with 1–99 foutmeldingen, each with 1–5
/// sleutelgegevens) for `operation` (for the RIO simulator).
pub fn write_rejection(
    header: &RequestHeader,
    operation: &str,
    foutmeldingen: &[Foutmelding],
) -> Result<String, MappingError> {
    header.validate()?;
    if !operation.starts_with("opvragen_")
        || !operation
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Err(MappingError::invalid(
            "operation",
            "expected an opvragen_… operation",
        ));
    }
    if foutmeldingen.is_empty() || foutmeldingen.len() > 99 {
        return Err(MappingError::invalid(
            "foutmelding",
            "1 to 99 foutmeldingen",
        ));
    }
    let mut out = format!("<duo:{operation}_response xmlns:duo=\"{NS}\">");
    header.write(&mut out);
    el(&mut out, "requestGoedgekeurd", "false");
    for (i, f) in foutmeldingen.iter().enumerate() {
        if f.sleutelgegevens.is_empty() || f.sleutelgegevens.len() > 5 {
            return Err(MappingError::invalid(
                format!("foutmelding[{}]/sleutelgegeven", i + 1),
                "1 to 5 sleutelgegevens",
            ));
        }
        out.push_str("<duo:foutmelding>");
        el(&mut out, "foutcode", &f.foutcode);
        el(&mut out, "fouttekst", &f.fouttekst);
        for (naam, waarde) in &f.sleutelgegevens {
            out.push_str("<duo:sleutelgegeven>");
            el(&mut out, "sleutelnaam", naam);
            el(&mut out, "sleutelwaarde", waarde);
            out.push_str("</duo:sleutelgegeven>");
        }
        out.push_str("</duo:foutmelding>");
    }
    out.push_str(&format!("</duo:{operation}_response>"));
    Ok(out)
}
