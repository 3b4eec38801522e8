//! BRON over the Edukoppeling/WUS transport conventions (`domain.md` §5.2): one mutation per
//! SOAP 1.1 envelope, WS-Addressing headers with the OINs in the addresses (`wsa:From` =
//! `…/anonymous?oin=<institution>`, `wsa:To` = `<endpoint>?oin=<DUO>`), the
//! [`Mutatiebericht`](super::writer) as the only element of the Body; and DUO's per-mutation
//! answer, the [`Verwerkingsresultaat`].
//!
//! ASSUMPTION (`docs/partners/duo.md`): DUO's BRON web service contract is not public. The action
//! URIs ([`ACTION`], [`ACTION_ANTWOORD`]) and the answer element are ours, in the namespace of
//! our BRON format ([`NAMESPACE`]); the answer's three outcomes are DUO's (accepted, accepted
//! with signals, rejected — an afkeuring carries at least one signal with its code). Signing
//! (WS-Security) is not done here.

use knooppunt_registry::domain::{DuoUitkomst, Signaal, SignaalParameter};
use knooppunt_registry::ids::Oin;
use uuid::Uuid;

use super::writer::escape_into;
use super::{BronBericht, MAX_MESSAGE_BYTES, NAMESPACE};
use crate::error::MappingError;
use crate::rio::soap::{Addressing, SOAP_NS, WSA_NS};
use crate::xml::{self, Element};

/// `wsa:Action` of a delivered mutation.
pub const ACTION: &str = "urn:knooppunt:bron:mbo:v1:aanleverenMutatie";
/// `wsa:Action` of DUO's answer.
pub const ACTION_ANTWOORD: &str = "urn:knooppunt:bron:mbo:v1:aanleverenMutatieResponse";
/// Largest envelope [`read_envelope`] accepts: one message and its headers.
pub const MAX_ENVELOPE_BYTES: usize = MAX_MESSAGE_BYTES + 8 * 1024;
/// Largest answer [`read_answer`] accepts.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

const ANONYMOUS: &str = "http://www.w3.org/2005/08/addressing/anonymous";

/// The WS-Addressing headers of a received envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kop {
    /// `wsa:Action`.
    pub action: String,
    /// The sender's OIN, from `wsa:From`.
    pub from: Oin,
    /// The receiver's OIN, from `wsa:To`.
    pub to: Oin,
    /// `wsa:To` without its `?oin=…`.
    pub endpoint: String,
    /// `wsa:MessageID`.
    pub message_id: Uuid,
}

/// DUO's answer to one delivered mutation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verwerkingsresultaat {
    /// The `BerichtId` of the mutation answered.
    pub bericht_id: Uuid,
    /// Accepted, accepted with signals or rejected.
    pub uitkomst: DuoUitkomst,
}

/// Maximum lengths of a signal's texts (the registry's limits).
const MAX_CODE: usize = 20;
const MAX_OMSCHRIJVING: usize = 500;
const MAX_PARAMETER_NAAM: usize = 100;
const MAX_PARAMETER_WAARDE: usize = 500;

/// The whole unsigned envelope of one mutation, addressed with `addressing`.
pub fn write_envelope(msg: &BronBericht, addressing: &Addressing) -> Result<String, MappingError> {
    if addressing
        .endpoint
        .contains(['?', '<', '>', '"', '\'', ' ', '&'])
    {
        return Err(MappingError::invalid(
            "wsa:To",
            "the endpoint must be a plain URL without query or markup",
        ));
    }
    let body = super::write(msg)?;
    let body = body
        .strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")
        .unwrap_or(&body);
    let mut out = String::with_capacity(body.len() + 768);
    out.push_str(&format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<soapenv:Envelope xmlns:soapenv=\"{SOAP_NS}\" xmlns:wsa=\"{WSA_NS}\"><soapenv:Header>"
    ));
    out.push_str(&format!("<wsa:Action>{ACTION}</wsa:Action>"));
    out.push_str(&format!(
        "<wsa:From><wsa:Address>{ANONYMOUS}?oin={}</wsa:Address></wsa:From>",
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
    out.push_str(body.trim_end());
    out.push_str("</soapenv:Body></soapenv:Envelope>\n");
    Ok(out)
}

/// Reads one envelope strictly (the DUO simulator's check): the SOAP and WS-Addressing headers
/// with both OINs, and exactly one [`Mutatiebericht`](super::reader) in the Body, read with the
/// strict reader.
pub fn read_envelope(input: &[u8]) -> Result<(Kop, BronBericht), MappingError> {
    let root = xml::parse(input, MAX_ENVELOPE_BYTES)?;
    if root.name != "Envelope" {
        return Err(MappingError::invalid(
            root.name.clone(),
            "expected a SOAP Envelope",
        ));
    }
    root.expect_ns(SOAP_NS)?;
    let header = soap_child(&root, "Header")?;
    let wsa = |name: &str| -> Result<&Element, MappingError> {
        header
            .children
            .iter()
            .find(|c| c.name == name && c.ns == WSA_NS)
            .ok_or_else(|| MappingError::missing(format!("Envelope/Header/wsa:{name}")))
    };
    let action = wsa("Action")?.text.clone();
    if action != ACTION {
        return Err(MappingError::invalid(
            "Envelope/Header/wsa:Action",
            format!("expected {ACTION}"),
        ));
    }
    let from = wsa("From")?
        .children
        .iter()
        .find(|c| c.name == "Address" && c.ns == WSA_NS)
        .map(|a| a.text.as_str())
        .ok_or_else(|| MappingError::missing("Envelope/Header/wsa:From/wsa:Address"))?;
    let (from_base, from) = oin_of("Envelope/Header/wsa:From/wsa:Address", from)?;
    if from_base != ANONYMOUS {
        return Err(MappingError::invalid(
            "Envelope/Header/wsa:From/wsa:Address",
            "expected the anonymous address with ?oin=",
        ));
    }
    let (endpoint, to) = oin_of("Envelope/Header/wsa:To", &wsa("To")?.text)?;
    let message_id = wsa("MessageID")?
        .text
        .strip_prefix("uuid:")
        .and_then(|s| Uuid::parse_str(s).ok())
        .ok_or_else(|| {
            MappingError::invalid("Envelope/Header/wsa:MessageID", "expected uuid:<UUID>")
        })?;
    let body = soap_child(&root, "Body")?;
    let [payload] = body.children.as_slice() else {
        return Err(MappingError::invalid(
            "Envelope/Body",
            "expected exactly one Mutatiebericht",
        ));
    };
    let bericht = super::reader::read_element(payload)?;
    Ok((
        Kop {
            action,
            from,
            to,
            endpoint: endpoint.to_owned(),
            message_id,
        },
        bericht,
    ))
}

/// DUO's answer as an envelope, relating to the delivered envelope's `wsa:MessageID`.
pub fn write_answer(answer: &Verwerkingsresultaat, relates_to: Uuid) -> String {
    let (code, signalen) = match &answer.uitkomst {
        DuoUitkomst::Geaccepteerd => ("geaccepteerd", &[][..]),
        DuoUitkomst::GeaccepteerdMetSignalen { signalen } => {
            ("geaccepteerd_met_signalen", signalen.as_slice())
        }
        DuoUitkomst::Afgekeurd { signalen } => ("afgekeurd", signalen.as_slice()),
    };
    let mut out = String::with_capacity(1024);
    out.push_str(&format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<soapenv:Envelope xmlns:soapenv=\"{SOAP_NS}\" xmlns:wsa=\"{WSA_NS}\"><soapenv:Header>"
    ));
    out.push_str(&format!(
        "<wsa:Action>{ACTION_ANTWOORD}</wsa:Action><wsa:RelatesTo>uuid:{relates_to}</wsa:RelatesTo>"
    ));
    out.push_str(&format!(
        "</soapenv:Header><soapenv:Body><Verwerkingsresultaat xmlns=\"{NAMESPACE}\">"
    ));
    out.push_str(&format!(
        "<BerichtId>{}</BerichtId><Resultaat>{code}</Resultaat>",
        answer.bericht_id
    ));
    for s in signalen {
        out.push_str("<Signaal><Code>");
        escape_into(&mut out, &s.code);
        out.push_str("</Code><Omschrijving>");
        escape_into(&mut out, &s.omschrijving);
        out.push_str("</Omschrijving>");
        for p in &s.parameters {
            out.push_str("<Parameter><Naam>");
            escape_into(&mut out, &p.naam);
            out.push_str("</Naam><Waarde>");
            escape_into(&mut out, &p.waarde);
            out.push_str("</Waarde></Parameter>");
        }
        out.push_str("</Signaal>");
    }
    out.push_str("</Verwerkingsresultaat></soapenv:Body></soapenv:Envelope>\n");
    out
}

/// Reads DUO's answer (an envelope, or the bare `Verwerkingsresultaat`). An afkeuring and an
/// acceptance with signals carry at least one signal; a plain acceptance none.
pub fn read_answer(input: &[u8]) -> Result<Verwerkingsresultaat, MappingError> {
    let root = xml::parse(input, MAX_ANSWER_BYTES)?;
    let el = if root.name == "Envelope" && root.ns == SOAP_NS {
        let body = soap_child(&root, "Body")?;
        let [payload] = body.children.as_slice() else {
            return Err(MappingError::invalid(
                "Envelope/Body",
                "expected exactly one Verwerkingsresultaat",
            ));
        };
        payload.clone()
    } else {
        root
    };
    if el.name != "Verwerkingsresultaat" {
        return Err(MappingError::invalid(
            el.name.clone(),
            "expected Verwerkingsresultaat",
        ));
    }
    el.expect_ns(NAMESPACE)?;
    let r = xml::Node::in_ns(&el, "Verwerkingsresultaat".to_owned(), NAMESPACE)?;
    r.only(&["BerichtId", "Resultaat", "Signaal"])?;
    let bericht_id = Uuid::parse_str(r.req("BerichtId")?)
        .map_err(|_| MappingError::invalid(r.path("BerichtId"), "expected a UUID"))?;
    let mut signalen = Vec::new();
    for s in r.children("Signaal")? {
        s.only(&["Code", "Omschrijving", "Parameter"])?;
        let code = bounded(&s.path("Code"), s.req("Code")?, MAX_CODE)?;
        let omschrijving = bounded(
            &s.path("Omschrijving"),
            s.opt("Omschrijving").unwrap_or(""),
            MAX_OMSCHRIJVING,
        )?;
        let mut parameters = Vec::new();
        for p in s.children("Parameter")? {
            p.only(&["Naam", "Waarde"])?;
            parameters.push(SignaalParameter {
                naam: bounded(&p.path("Naam"), p.req("Naam")?, MAX_PARAMETER_NAAM)?,
                waarde: bounded(
                    &p.path("Waarde"),
                    p.opt("Waarde").unwrap_or(""),
                    MAX_PARAMETER_WAARDE,
                )?,
            });
        }
        signalen.push(Signaal {
            code,
            omschrijving,
            parameters,
        });
    }
    let resultaat = r.req("Resultaat")?;
    let uitkomst = match (resultaat, signalen.is_empty()) {
        ("geaccepteerd", true) => DuoUitkomst::Geaccepteerd,
        ("geaccepteerd_met_signalen", false) => DuoUitkomst::GeaccepteerdMetSignalen { signalen },
        ("afgekeurd", false) => DuoUitkomst::Afgekeurd { signalen },
        ("geaccepteerd", false) => {
            return Err(MappingError::invalid(
                r.path("Signaal"),
                "a plain acceptance carries no signals",
            ));
        }
        ("geaccepteerd_met_signalen" | "afgekeurd", true) => {
            return Err(MappingError::missing(r.path("Signaal")));
        }
        _ => {
            return Err(MappingError::invalid(
                r.path("Resultaat"),
                "expected geaccepteerd, geaccepteerd_met_signalen or afgekeurd",
            ));
        }
    };
    Ok(Verwerkingsresultaat {
        bericht_id,
        uitkomst,
    })
}

fn soap_child<'a>(parent: &'a Element, name: &str) -> Result<&'a Element, MappingError> {
    parent
        .children
        .iter()
        .find(|c| c.name == name && c.ns == SOAP_NS)
        .ok_or_else(|| MappingError::missing(format!("Envelope/{name}")))
}

/// Splits `<base>?oin=<OIN>` into the base and the OIN.
fn oin_of<'a>(field: &str, address: &'a str) -> Result<(&'a str, Oin), MappingError> {
    let (base, oin) = address
        .split_once("?oin=")
        .ok_or_else(|| MappingError::invalid(field, "expected ?oin=<OIN>"))?;
    let oin = oin.parse().map_err(|e| MappingError::id(field, e))?;
    Ok((base, oin))
}

fn bounded(field: &str, value: &str, max: usize) -> Result<String, MappingError> {
    if value.chars().count() > max {
        return Err(MappingError::invalid(field, format!("longer than {max}")));
    }
    if value.chars().any(|c| c.is_control()) {
        return Err(MappingError::invalid(field, "control characters"));
    }
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signaal(code: &str) -> Signaal {
        Signaal {
            code: code.to_owned(),
            omschrijving: "Leerbedrijf onbekend & niet erkend".to_owned(),
            parameters: vec![SignaalParameter {
                naam: "LeerbedrijfId".to_owned(),
                waarde: "100000001".to_owned(),
            }],
        }
    }

    #[test]
    fn answers_round_trip() {
        for uitkomst in [
            DuoUitkomst::Geaccepteerd,
            DuoUitkomst::GeaccepteerdMetSignalen {
                signalen: vec![signaal("S0012")],
            },
            DuoUitkomst::Afgekeurd {
                signalen: vec![signaal("F0401"), signaal("F0402")],
            },
        ] {
            let answer = Verwerkingsresultaat {
                bericht_id: Uuid::new_v4(),
                uitkomst,
            };
            let xml = write_answer(&answer, Uuid::new_v4());
            assert_eq!(read_answer(xml.as_bytes()).unwrap(), answer, "{xml}");
        }
    }

    #[test]
    fn an_answer_that_contradicts_itself_is_refused_naming_the_field() {
        let bare = |body: &str| {
            format!(
                "<Verwerkingsresultaat xmlns=\"{NAMESPACE}\"><BerichtId>{}</BerichtId>{body}</Verwerkingsresultaat>",
                Uuid::nil()
            )
        };
        let cases = [
            ("<Resultaat>afgekeurd</Resultaat>", "Signaal"),
            (
                "<Resultaat>geaccepteerd_met_signalen</Resultaat>",
                "Signaal",
            ),
            (
                "<Resultaat>geaccepteerd</Resultaat><Signaal><Code>X</Code></Signaal>",
                "Signaal",
            ),
            ("<Resultaat>misschien</Resultaat>", "Resultaat"),
            ("<Resultaat>geaccepteerd</Resultaat><Extra/>", "Extra"),
        ];
        for (body, field) in cases {
            let e = read_answer(bare(body).as_bytes()).unwrap_err();
            assert!(
                e.field().is_some_and(|f| f.contains(field)),
                "{body}: {e:?}"
            );
        }
        let long = format!(
            "<Resultaat>afgekeurd</Resultaat><Signaal><Code>{}</Code></Signaal>",
            "X".repeat(21)
        );
        let e = read_answer(bare(&long).as_bytes()).unwrap_err();
        assert_eq!(e.field(), Some("Verwerkingsresultaat/Signaal[1]/Code"));
    }

    #[test]
    fn oins_are_read_from_the_addresses() {
        let (base, oin) = oin_of(
            "wsa:To",
            "https://duo.example/bron?oin=00000001800866472000",
        )
        .unwrap();
        assert_eq!(base, "https://duo.example/bron");
        assert_eq!(oin.to_string(), "00000001800866472000");
        assert!(oin_of("wsa:To", "https://duo.example/bron").is_err());
    }
}
