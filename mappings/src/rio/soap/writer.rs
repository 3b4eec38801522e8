//! Writing an answer and a rejection (the simulator side).

use super::*;

/// The opleidingsstelsel written with a crebo in `opleidingserkenningSleutel` by
/// [`write_response`] (the reader accepts any stelsel; RIO's real value is not public).
pub const CREBO_STELSEL: &str = "MBO";

pub(super) fn write_offer(out: &mut String, o: &AangebodenOpleiding) -> Result<(), MappingError> {
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
