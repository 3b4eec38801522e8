//! Responses: reading the answer (offers, cohorts, aanbieders, locaties, paging) and RIO's faults.

use super::*;

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

pub(super) fn codes(f: &[Foutmelding]) -> String {
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
pub(super) fn is_offer(name: &str) -> bool {
    name.starts_with("aangeboden") && !name.ends_with("Cohort") && !name.ends_with("Periode")
}

/// Parses a date, building the field path only on error (this runs per record).
pub(super) fn date_at(path: &str, name: &str, s: &str) -> Result<NaiveDate, MappingError> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|_| {
        MappingError::invalid(format!("{path}/{name}"), "expected a date as YYYY-MM-DD")
    })
}

pub(super) fn opt_date(
    e: &Element,
    path: &str,
    name: &str,
) -> Result<Option<NaiveDate>, MappingError> {
    e.text_of(name).map(|s| date_at(path, name, s)).transpose()
}

pub(super) fn req_date(e: &Element, path: &str, name: &str) -> Result<NaiveDate, MappingError> {
    date_at(path, name, e.require(path, name)?)
}

pub(super) fn read_u32(e: &Element, path: &str, name: &str) -> Result<u32, MappingError> {
    e.require(path, name)?
        .parse()
        .map_err(|_| MappingError::invalid(format!("{path}/{name}"), "expected a whole number"))
}

pub(super) fn read_paginering(p: &Element, path: &str) -> Result<Paginering, MappingError> {
    Ok(Paginering {
        pagina: read_u32(p, path, "pagina")?,
        aantal_paginas: read_u32(p, path, "aantalPaginas")?,
        aantal_resultaten: read_u32(p, path, "aantalResultaten")?,
    })
}

pub(super) fn read_offer(e: &Element, path: &str) -> Result<AangebodenOpleiding, MappingError> {
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

pub(super) fn read_cohort(c: &Element, path: &str) -> Result<Cohort, MappingError> {
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

pub(super) fn read_aanbieder(a: &Element, path: &str) -> Result<Onderwijsaanbieder, MappingError> {
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

pub(super) fn read_locatie(l: &Element, path: &str) -> Result<Onderwijslocatie, MappingError> {
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
