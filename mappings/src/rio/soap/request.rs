//! Requests: the query, its header, the envelope with WS-Addressing, and reading a request (the simulator side).

use super::*;

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

    pub(super) fn validate(&self) -> Result<(), MappingError> {
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

    pub(super) fn write(&self, out: &mut String) {
        el(out, "identificatiecodeBedrijfsdocument", &self.document_id);
        el(out, "verzendendeInstantie", &self.sender);
        el(out, "ontvangendeInstantie", &self.receiver);
        el(
            out,
            "datumTijdBedrijfsdocument",
            &self.at.to_rfc3339_opts(SecondsFormat::Secs, true),
        );
    }

    pub(super) fn read(e: &Element, path: &str) -> Result<Self, MappingError> {
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

pub(super) fn el(out: &mut String, name: &str, value: &str) {
    out.push_str("<duo:");
    out.push_str(name);
    out.push('>');
    out.push_str(&escape(value));
    out.push_str("</duo:");
    out.push_str(name);
    out.push('>');
}

pub(super) fn write_body_into(
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
pub(super) fn unwrap_envelope(root: Element) -> Result<Element, RioError> {
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

pub(super) fn parse_uuid(field: &str, s: &str) -> Result<Uuid, MappingError> {
    if s.len() != 36 {
        return Err(MappingError::invalid(
            field,
            "expected a UUID of 36 characters",
        ));
    }
    Uuid::parse_str(s).map_err(|_| MappingError::invalid(field, "expected a UUID"))
}
