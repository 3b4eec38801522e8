//! Reads a BRON message back (for tests and the DUO simulator), with the same safety rules as
//! every incoming XML (size limit, UTF-8, no DOCTYPE, namespace by URI). Strict: an unknown
//! element is an error, so the reader and the schema cannot drift apart unnoticed.

use chrono::{DateTime, NaiveDateTime, Utc};

use super::{BronBericht, BronInhoud, BronPersoon, MAX_MESSAGE_BYTES, NAMESPACE, Naam};
use crate::duo::codes::{
    Geboortedatum, GeoCode, Geslacht, KeuzedeelResultaat, Landcode, Leerroute, Leerroutefase,
    Leertraject, LocatiecodeVsv, Mutatiesoort, Niveau, Postcodecijfers, RedenUitschrijving,
    Volgnummer, Vrijstelling, parse_date, parse_jn, parse_uint,
};
use crate::duo::convert::{PersonField, person_id};
use crate::duo::records::{
    Bpv, Diploma, ExtraOndersteuning, GeneriekExamenonderdeel, Inschrijving, Keuzedeel, Periode,
    Uitschrijving,
};
use crate::error::MappingError;
use crate::xml::{self, Node};

/// Parses one BRON message.
pub fn read(input: &[u8]) -> Result<BronBericht, MappingError> {
    let root = xml::parse(input, MAX_MESSAGE_BYTES)?;
    read_element(&root)
}

/// Reads one BRON message from its parsed `Mutatiebericht` element (e.g. the payload of a SOAP
/// envelope, [`super::soap::read_envelope`]), with the same strictness as [`read`].
pub fn read_element(root: &xml::Element) -> Result<BronBericht, MappingError> {
    root.expect_ns(NAMESPACE)?;
    if root.name != "Mutatiebericht" {
        return Err(MappingError::invalid(
            root.name.clone(),
            "expected the root element Mutatiebericht",
        ));
    }
    let r = Node::in_ns(root, "Mutatiebericht".to_owned(), NAMESPACE)?;
    r.only(&[
        "BerichtId",
        "DatumTijdAanmaak",
        "BRIN",
        "SoortMutatie",
        "Persoon",
        "Inschrijving",
        "BPV",
        "Diploma",
        "Uitschrijving",
    ])?;
    let bericht_id = uuid::Uuid::parse_str(r.req("BerichtId")?)
        .map_err(|_| MappingError::invalid(r.path("BerichtId"), "expected a UUID"))?;
    let aangemaakt =
        NaiveDateTime::parse_from_str(r.req("DatumTijdAanmaak")?, "%Y-%m-%dT%H:%M:%SZ")
            .map(|t| DateTime::<Utc>::from_naive_utc_and_offset(t, Utc))
            .map_err(|_| {
                MappingError::invalid(r.path("DatumTijdAanmaak"), "expected ccyy-mm-ddThh:mm:ssZ")
            })?;
    let brin = r.id("BRIN")?;
    let mutatie = Mutatiesoort::parse(&r.path("SoortMutatie"), r.req("SoortMutatie")?)?;
    let persoon = persoon(&r.child("Persoon")?)?;
    let kinds = ["Inschrijving", "BPV", "Diploma", "Uitschrijving"];
    let mut found = kinds.iter().filter_map(|k| r.el.child(k).map(|c| (*k, c)));
    let (kind, el) = found
        .next()
        .ok_or_else(|| MappingError::missing(r.path("Inschrijving|BPV|Diploma|Uitschrijving")))?;
    if found.next().is_some() || r.el.all(kind).count() > 1 {
        return Err(MappingError::invalid(
            r.path(kind),
            "a message carries exactly one record",
        ));
    }
    let n = r.node(el, r.path(kind))?;
    let inhoud = match kind {
        "Inschrijving" => BronInhoud::Inschrijving(inschrijving(&n)?),
        "BPV" => BronInhoud::Bpv(bpv(&n)?),
        "Diploma" => BronInhoud::Diploma(diploma(&n)?),
        _ => BronInhoud::Uitschrijving(uitschrijving(&n)?),
    };
    Ok(BronBericht {
        bericht_id,
        aangemaakt,
        brin,
        mutatie,
        persoon,
        inhoud,
    })
}

/// BRON-specific field readers on top of [`Node`].
trait BronNode {
    fn date(&self, name: &str) -> Result<chrono::NaiveDate, MappingError>;
    fn opt_date(&self, name: &str) -> Result<Option<chrono::NaiveDate>, MappingError>;
    fn opt_num(&self, name: &str, digits: usize) -> Result<Option<u32>, MappingError>;
}

impl BronNode for Node<'_> {
    fn date(&self, name: &str) -> Result<chrono::NaiveDate, MappingError> {
        parse_date(&self.path(name), self.req(name)?)
    }

    fn opt_date(&self, name: &str) -> Result<Option<chrono::NaiveDate>, MappingError> {
        self.opt(name)
            .map(|v| parse_date(&self.path(name), v))
            .transpose()
    }

    fn opt_num(&self, name: &str, digits: usize) -> Result<Option<u32>, MappingError> {
        self.opt(name)
            .map(|v| parse_uint(&self.path(name), v, digits))
            .transpose()
    }
}

fn persoon(n: &Node<'_>) -> Result<BronPersoon, MappingError> {
    n.only(&[
        "Burgerservicenummer",
        "Onderwijsnummer",
        "Geboortedatum",
        "Geslacht",
        "Postcodecijfers",
        "Land",
        "Naam",
    ])?;
    let id = person_id(
        n.opt("Burgerservicenummer"),
        n.opt("Onderwijsnummer"),
        |f| match f {
            PersonField::Bsn => n.path("Burgerservicenummer"),
            PersonField::Onderwijsnummer => n.path("Onderwijsnummer"),
        },
    )?;
    let naam = match n.el.child("Naam") {
        None => None,
        Some(_) => {
            let m = n.child("Naam")?;
            m.only(&["Voornamen", "Voorvoegsels", "Geslachtsnaam"])?;
            Some(Naam {
                voornamen: m.opt("Voornamen").map(str::to_owned),
                voorvoegsels: m.opt("Voorvoegsels").map(str::to_owned),
                geslachtsnaam: m.req("Geslachtsnaam")?.to_owned(),
            })
        }
    };
    Ok(BronPersoon {
        id,
        geboortedatum: n.with("Geboortedatum", Geboortedatum::parse)?,
        geslacht: n.with("Geslacht", Geslacht::parse)?,
        postcodecijfers: n.opt_with("Postcodecijfers", Postcodecijfers::parse)?,
        land: n.opt_with("Land", Landcode::parse)?,
        naam,
    })
}

fn inschrijving(n: &Node<'_>) -> Result<Inschrijving, MappingError> {
    n.only(&[
        "Inschrijvingvolgnummer",
        "DatumInschrijving",
        "DatumUitschrijvingGepland",
        "DatumUitschrijvingWerkelijk",
        "RedenUitschrijving",
        "Inschrijvingsperiode",
        "ExtraOndersteuning",
    ])?;
    let perioden = n
        .children("Inschrijvingsperiode")?
        .iter()
        .map(periode)
        .collect::<Result<Vec<_>, _>>()?;
    if perioden.is_empty() {
        return Err(MappingError::missing(n.path("Inschrijvingsperiode")));
    }
    let extra_ondersteuning = n
        .children("ExtraOndersteuning")?
        .iter()
        .map(|e| {
            e.only(&["DatumBegin", "DatumEind"])?;
            Ok(ExtraOndersteuning {
                datum_begin: e.date("DatumBegin")?,
                datum_eind: e.opt_date("DatumEind")?,
            })
        })
        .collect::<Result<Vec<_>, MappingError>>()?;
    Ok(Inschrijving {
        inschrijvingvolgnummer: n.with("Inschrijvingvolgnummer", Volgnummer::parse)?,
        datum_inschrijving: n.date("DatumInschrijving")?,
        datum_uitschrijving_gepland: n.date("DatumUitschrijvingGepland")?,
        datum_uitschrijving_werkelijk: n.opt_date("DatumUitschrijvingWerkelijk")?,
        reden_uitschrijving: n.opt_with("RedenUitschrijving", RedenUitschrijving::parse)?,
        perioden,
        extra_ondersteuning,
    })
}

fn periode(n: &Node<'_>) -> Result<Periode, MappingError> {
    n.only(&[
        "DatumBegin",
        "Opleidingcode",
        "Leertraject",
        "Niveau",
        "IndicatieBekostigbaar",
        "LocatiecodeVSV",
        "Onderwijsaanbieder",
        "Onderwijslocatie",
        "Leerroute",
        "Leerroutefase",
    ])?;
    Ok(Periode {
        datum_begin: n.date("DatumBegin")?,
        opleidingcode: n.id("Opleidingcode")?,
        leertraject: n.with("Leertraject", Leertraject::parse)?,
        niveau: n.opt_with("Niveau", Niveau::parse)?,
        indicatie_bekostigbaar: n.with("IndicatieBekostigbaar", parse_jn)?,
        locatiecode_vsv: n.opt_with("LocatiecodeVSV", LocatiecodeVsv::parse)?,
        onderwijsaanbieder: n.opt_id("Onderwijsaanbieder")?,
        onderwijslocatie: n.opt_id("Onderwijslocatie")?,
        leerroute: n.opt_with("Leerroute", Leerroute::parse)?,
        leerroutefase: n.opt_with("Leerroutefase", Leerroutefase::parse)?,
    })
}

fn bpv(n: &Node<'_>) -> Result<Bpv, MappingError> {
    n.only(&[
        "Inschrijvingvolgnummer",
        "BPVVolgnummer",
        "Afsluitdatum",
        "DatumBegin",
        "DatumEindeGepland",
        "DatumEindeWerkelijk",
        "Omvang",
        "LeerbedrijfID",
        "Opleidingcode",
        "CodeKeuzedeel",
    ])?;
    Ok(Bpv {
        inschrijvingvolgnummer: n.with("Inschrijvingvolgnummer", Volgnummer::parse)?,
        bpv_volgnummer: n.with("BPVVolgnummer", Volgnummer::parse)?,
        afsluitdatum: n.date("Afsluitdatum")?,
        datum_begin: n.date("DatumBegin")?,
        datum_einde_gepland: n.date("DatumEindeGepland")?,
        datum_einde_werkelijk: n.opt_date("DatumEindeWerkelijk")?,
        omvang: n.with("Omvang", |f, v| parse_uint(f, v, 9))?,
        leerbedrijf_id: n.id("LeerbedrijfID")?,
        opleidingcode: n.id("Opleidingcode")?,
        code_keuzedeel: n.opt_id("CodeKeuzedeel")?,
    })
}

fn diploma(n: &Node<'_>) -> Result<Diploma, MappingError> {
    n.only(&[
        "Resultaatvolgnummer",
        "Opleidingcode",
        "DatumResultaat",
        "IndicatieBekostigbaar",
        "Inschrijvingvolgnummer",
        "Onderwijsaanbieder",
        "GeneriekExamenonderdeel",
        "Keuzedeel",
    ])?;
    let generieke_examenonderdelen = n
        .children("GeneriekExamenonderdeel")?
        .iter()
        .map(|g| {
            g.only(&[
                "Resultaatvolgnummer",
                "Code",
                "Eindcijfer",
                "Vrijstelling",
                "CijferIE",
                "VrijstellingIE",
                "CijferCE",
                "VrijstellingCE",
            ])?;
            let eindcijfer = g.opt_num("Eindcijfer", 2)?;
            if eindcijfer.is_some_and(|c| !(1..=10).contains(&c)) {
                return Err(MappingError::invalid(
                    g.path("Eindcijfer"),
                    "must be 1 to 10",
                ));
            }
            Ok(GeneriekExamenonderdeel {
                resultaatvolgnummer: g.with("Resultaatvolgnummer", Volgnummer::parse)?,
                code: g.with("Code", GeoCode::parse)?,
                eindcijfer: eindcijfer.map(|c| c as u8),
                vrijstelling: g.opt_with("Vrijstelling", Vrijstelling::parse)?,
                cijfer_ie: g.opt_num("CijferIE", 3)?.map(|c| c as u16),
                vrijstelling_ie: g.opt_with("VrijstellingIE", Vrijstelling::parse)?,
                cijfer_ce: g.opt_num("CijferCE", 3)?.map(|c| c as u16),
                vrijstelling_ce: g.opt_with("VrijstellingCE", Vrijstelling::parse)?,
            })
        })
        .collect::<Result<Vec<_>, MappingError>>()?;
    let keuzedelen = n
        .children("Keuzedeel")?
        .iter()
        .map(|k| {
            k.only(&["Resultaatvolgnummer", "CodeKeuzedeel", "Resultaat"])?;
            Ok(Keuzedeel {
                resultaatvolgnummer: k.with("Resultaatvolgnummer", Volgnummer::parse)?,
                code: k.id("CodeKeuzedeel")?,
                resultaat: k.with("Resultaat", KeuzedeelResultaat::parse)?,
            })
        })
        .collect::<Result<Vec<_>, MappingError>>()?;
    Ok(Diploma {
        resultaatvolgnummer: n.with("Resultaatvolgnummer", Volgnummer::parse)?,
        opleidingcode: n.id("Opleidingcode")?,
        datum_resultaat: n.date("DatumResultaat")?,
        indicatie_bekostigbaar: n.with("IndicatieBekostigbaar", parse_jn)?,
        inschrijvingvolgnummer: n.opt_with("Inschrijvingvolgnummer", Volgnummer::parse)?,
        onderwijsaanbieder: n.opt_id("Onderwijsaanbieder")?,
        generieke_examenonderdelen,
        keuzedelen,
    })
}

fn uitschrijving(n: &Node<'_>) -> Result<Uitschrijving, MappingError> {
    n.only(&[
        "Inschrijvingvolgnummer",
        "DatumUitschrijvingWerkelijk",
        "RedenUitschrijving",
    ])?;
    Ok(Uitschrijving {
        inschrijvingvolgnummer: n.with("Inschrijvingvolgnummer", Volgnummer::parse)?,
        datum_uitschrijving_werkelijk: n.date("DatumUitschrijvingWerkelijk")?,
        reden_uitschrijving: n.with("RedenUitschrijving", RedenUitschrijving::parse)?,
    })
}
