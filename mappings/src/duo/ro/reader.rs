//! The RO line reader: one typed record per line, the file's framing checked (VLP first, the
//! separator, column counts, the SLR trailer's counts, nothing after it). Lines are read and
//! split by the shared DUO line reader ([`crate::duo::lines`]).

use std::io::BufRead;

use chrono::NaiveDate;
use knooppunt_registry::ids::PersonId;

use super::records::*;
use crate::duo::codes::{
    AmoCode, Geboortedatum, GeoCode, Geslacht, KeuzedeelResultaat, Leerroute, Leerroutefase,
    Leertraject, LocatiecodeVsv, Niveau, RedenUitschrijving, Volgnummer, Vrijstelling, parse_jn,
    parse_uint,
};
use crate::duo::convert::{PersonField, person_id};
use crate::duo::lines::{self, Bom, Columns, Fields, LineReader};
use crate::duo::records::{Bpv, ExtraOndersteuning, GeneriekExamenonderdeel, Keuzedeel, Periode};
use crate::error::MappingError;

/// Longest line accepted (the longest RO record is well under 300 bytes).
pub const MAX_LINE_BYTES: usize = 4096;

/// Parses an RO date: `ccyy-mm-dd` (PvE) or `d-m-yyyy` (seen from some institutions).
pub fn parse_ro_date(field: &str, s: &str) -> Result<NaiveDate, MappingError> {
    let bad = || MappingError::invalid(field, "expected a date ccyy-mm-dd or d-m-yyyy");
    let mut parts = s.split('-');
    let (a, b, c) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(a), Some(b), Some(c), None) => (a, b, c),
        _ => return Err(bad()),
    };
    let num = |p: &str, lens: &[usize]| -> Result<u32, MappingError> {
        if lens.contains(&p.len()) && p.bytes().all(|x| x.is_ascii_digit()) {
            p.parse().map_err(|_| bad())
        } else {
            Err(bad())
        }
    };
    let (y, m, day) = if a.len() == 4 {
        (num(a, &[4])?, num(b, &[2])?, num(c, &[2])?)
    } else {
        (num(c, &[4])?, num(b, &[1, 2])?, num(a, &[1, 2])?)
    };
    NaiveDate::from_ymd_opt(y as i32, m, day)
        .ok_or_else(|| MappingError::invalid(field, "not an existing calendar date"))
}

/// Column names per record type (after the record type), for error paths and the column count.
fn columns(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "VLP" => &["BRIN", "Begindatum", "Einddatum", "Aanmaakdatum"],
        "PER" => &[
            "Burgerservicenummer",
            "Onderwijsnummer",
            "Geboortedatum",
            "Geslacht",
        ],
        "ISG" => &[
            "Burgerservicenummer",
            "Onderwijsnummer",
            "Inschrijvingvolgnummer",
            "DatumInschrijving",
            "DatumUitschrijvingGepland",
            "DatumUitschrijvingWerkelijk",
            "RedenUitschrijving",
        ],
        "ISP" => &[
            "Burgerservicenummer",
            "Onderwijsnummer",
            "Inschrijvingvolgnummer",
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
        ],
        "ISE" => &[
            "Burgerservicenummer",
            "Onderwijsnummer",
            "Inschrijvingvolgnummer",
            "DatumBegin",
            "DatumEind",
        ],
        "BPV" => &[
            "Burgerservicenummer",
            "Onderwijsnummer",
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
        ],
        "DIP" => &[
            "Burgerservicenummer",
            "Onderwijsnummer",
            "Resultaatvolgnummer",
            "Opleidingcode",
            "DatumResultaat",
            "(leeg)",
            "IndicatieBekostigbaar",
            "Inschrijvingvolgnummer",
            "Onderwijsaanbieder",
        ],
        "AMO" => &[
            "Burgerservicenummer",
            "Onderwijsnummer",
            "ResultaatvolgnummerDiploma",
            "OpleidingcodeDiploma",
            "Resultaatvolgnummer",
            "CodeAMvBOnderdeel",
            "DatumResultaat",
            "Certificaat",
            "Inschrijvingvolgnummer",
            "Onderwijsaanbieder",
        ],
        "GEO" => &[
            "Burgerservicenummer",
            "Onderwijsnummer",
            "ResultaatvolgnummerDiploma",
            "OpleidingcodeDiploma",
            "Resultaatvolgnummer",
            "CodeGeneriekExamenonderdeel",
            "DatumResultaat",
            "Eindcijfer",
            "Vrijstelling",
            "CijferIE",
            "VrijstellingIE",
            "CijferCE",
            "VrijstellingCE",
            "Inschrijvingvolgnummer",
            "Onderwijsaanbieder",
        ],
        "KZD" => &[
            "Burgerservicenummer",
            "Onderwijsnummer",
            "ResultaatvolgnummerDiploma",
            "OpleidingcodeDiploma",
            "Resultaatvolgnummer",
            "CodeKeuzedeel",
            "DatumResultaat",
            "Resultaat",
            "Certificaat",
            "Inschrijvingvolgnummer",
            "Onderwijsaanbieder",
        ],
        "SLR" => &RoCounts::NAMES,
        _ => return None,
    })
}

/// RO-specific field readers on top of the shared [`Fields`].
trait RoFields {
    fn date(&self, i: usize) -> Result<NaiveDate, MappingError>;
    fn opt_date(&self, i: usize) -> Result<Option<NaiveDate>, MappingError>;
    fn persoon(&self) -> Result<PersonId, MappingError>;
    fn dipref(&self) -> Result<Option<DiplomaRef>, MappingError>;
    fn cijfer(&self, i: usize, digits: usize) -> Result<Option<u32>, MappingError>;
}

impl RoFields for Fields<'_> {
    fn date(&self, i: usize) -> Result<NaiveDate, MappingError> {
        self.with(i, parse_ro_date)
    }

    fn opt_date(&self, i: usize) -> Result<Option<NaiveDate>, MappingError> {
        self.opt_with(i, parse_ro_date)
    }

    /// Fields 0 and 1: exactly one of BSN and onderwijsnummer.
    fn persoon(&self) -> Result<PersonId, MappingError> {
        person_id(self.opt(0), self.opt(1), |f| match f {
            PersonField::Bsn => self.path(0),
            PersonField::Onderwijsnummer => self.path(1),
        })
    }

    /// Fields 2 and 3: the diploma a result belongs to (both or neither).
    fn dipref(&self) -> Result<Option<DiplomaRef>, MappingError> {
        match (self.opt(2), self.opt(3)) {
            (None, None) => Ok(None),
            (Some(_), None) => Err(MappingError::missing(self.path(3))),
            (None, Some(_)) => Err(MappingError::missing(self.path(2))),
            (Some(_), Some(_)) => Ok(Some(DiplomaRef {
                resultaatvolgnummer: self.with(2, Volgnummer::parse)?,
                opleidingcode: self.id(3)?,
            })),
        }
    }

    fn cijfer(&self, i: usize, digits: usize) -> Result<Option<u32>, MappingError> {
        self.opt_with(i, |f, v| parse_uint(f, v, digits))
    }
}

fn parse_line(line_no: u64, text: &str, sep: char) -> Result<RoRecord, MappingError> {
    let (kind_raw, mut fields) = lines::split(text, sep);
    let (kind, names) = ["VLP", "PER", "ISG", "ISP", "ISE", "BPV", "DIP", "AMO", "GEO", "KZD", "SLR"]
        .iter()
        .find(|k| **k == kind_raw)
        .and_then(|k| columns(k).map(|c| (*k, c)))
        .ok_or_else(|| {
            MappingError::invalid(
                format!("line {line_no}/Recordsoort"),
                "unknown record type (expected VLP, PER, ISG, ISP, ISE, BPV, DIP, AMO, GEO, KZD or SLR)",
            )
        })?;
    // DIP: DUO delivers 10 columns with an always-empty 6th field; the PvE says 9. Accept both.
    if kind == "DIP" && fields.len() == names.len() - 1 {
        fields.insert(5, "");
    }
    if fields.len() != names.len() {
        return Err(lines::column_count(
            line_no,
            kind,
            names.len() + 1,
            fields.len() + 1,
        ));
    }
    let l = Fields::new(line_no, kind, Columns::Named(names), fields);
    let los = |l: &Fields<'_>,
               datum: usize,
               isg: usize,
               aanbieder: usize|
     -> Result<LosResultaat, MappingError> {
        Ok(LosResultaat {
            datum_resultaat: l.opt_date(datum)?,
            inschrijvingvolgnummer: l.opt_with(isg, Volgnummer::parse)?,
            onderwijsaanbieder: l.opt_id(aanbieder)?,
        })
    };
    Ok(match kind {
        "VLP" => RoRecord::Vlp(RoVlp {
            brin: l.id(0)?,
            begin: l.date(1)?,
            eind: l.date(2)?,
            aanmaakdatum: l.date(3)?,
        }),
        "PER" => RoRecord::Per(RoPer {
            persoon: l.persoon()?,
            geboortedatum: l.with(2, Geboortedatum::parse)?,
            geslacht: l.with(3, Geslacht::parse)?,
        }),
        "ISG" => RoRecord::Isg(RoIsg {
            persoon: l.persoon()?,
            inschrijvingvolgnummer: l.with(2, Volgnummer::parse)?,
            datum_inschrijving: l.date(3)?,
            datum_uitschrijving_gepland: l.date(4)?,
            datum_uitschrijving_werkelijk: l.opt_date(5)?,
            reden_uitschrijving: l.opt_with(6, RedenUitschrijving::parse)?,
        }),
        "ISP" => RoRecord::Isp(RoIsp {
            persoon: l.persoon()?,
            inschrijvingvolgnummer: l.with(2, Volgnummer::parse)?,
            periode: Periode {
                datum_begin: l.date(3)?,
                opleidingcode: l.id(4)?,
                leertraject: l.with(5, Leertraject::parse)?,
                niveau: l.opt_with(6, Niveau::parse)?,
                indicatie_bekostigbaar: l.with(7, parse_jn)?,
                locatiecode_vsv: l.opt_with(8, LocatiecodeVsv::parse)?,
                onderwijsaanbieder: l.opt_id(9)?,
                onderwijslocatie: l.opt_id(10)?,
                leerroute: l.opt_with(11, Leerroute::parse)?,
                leerroutefase: l.opt_with(12, Leerroutefase::parse)?,
            },
        }),
        "ISE" => RoRecord::Ise(RoIse {
            persoon: l.persoon()?,
            inschrijvingvolgnummer: l.with(2, Volgnummer::parse)?,
            periode: ExtraOndersteuning {
                datum_begin: l.date(3)?,
                datum_eind: l.opt_date(4)?,
            },
        }),
        "BPV" => RoRecord::Bpv(RoBpv {
            persoon: l.persoon()?,
            bpv: Bpv {
                inschrijvingvolgnummer: l.with(2, Volgnummer::parse)?,
                bpv_volgnummer: l.with(3, Volgnummer::parse)?,
                afsluitdatum: l.date(4)?,
                datum_begin: l.date(5)?,
                datum_einde_gepland: l.date(6)?,
                datum_einde_werkelijk: l.opt_date(7)?,
                omvang: l.with(8, |f, v| parse_uint(f, v, 9))?,
                leerbedrijf_id: l.id(9)?,
                opleidingcode: l.id(10)?,
                code_keuzedeel: l.opt_id(11)?,
            },
        }),
        "DIP" => {
            if l.opt(5).is_some() {
                return Err(MappingError::invalid(l.path(5), "must be empty"));
            }
            RoRecord::Dip(RoDip {
                persoon: l.persoon()?,
                resultaatvolgnummer: l.with(2, Volgnummer::parse)?,
                opleidingcode: l.id(3)?,
                datum_resultaat: l.date(4)?,
                indicatie_bekostigbaar: l.with(6, parse_jn)?,
                inschrijvingvolgnummer: l.opt_with(7, Volgnummer::parse)?,
                onderwijsaanbieder: l.opt_id(8)?,
            })
        }
        "AMO" => RoRecord::Amo(RoAmo {
            persoon: l.persoon()?,
            diploma: l.dipref()?,
            resultaatvolgnummer: l.with(4, Volgnummer::parse)?,
            code: l.with(5, AmoCode::parse)?,
            certificaat: l.opt_with(7, parse_jn)?,
            los: los(&l, 6, 8, 9)?,
        }),
        "GEO" => {
            let eindcijfer = l.cijfer(7, 2)?;
            if eindcijfer.is_some_and(|c| !(1..=10).contains(&c)) {
                return Err(MappingError::invalid(l.path(7), "must be 1 to 10"));
            }
            RoRecord::Geo(RoGeo {
                persoon: l.persoon()?,
                diploma: l.dipref()?,
                geo: GeneriekExamenonderdeel {
                    resultaatvolgnummer: l.with(4, Volgnummer::parse)?,
                    code: l.with(5, GeoCode::parse)?,
                    eindcijfer: eindcijfer.map(|c| c as u8),
                    vrijstelling: l.opt_with(8, Vrijstelling::parse)?,
                    cijfer_ie: l.cijfer(9, 3)?.map(|c| c as u16),
                    vrijstelling_ie: l.opt_with(10, Vrijstelling::parse)?,
                    cijfer_ce: l.cijfer(11, 3)?.map(|c| c as u16),
                    vrijstelling_ce: l.opt_with(12, Vrijstelling::parse)?,
                },
                los: los(&l, 6, 13, 14)?,
            })
        }
        "KZD" => RoRecord::Kzd(RoKzd {
            persoon: l.persoon()?,
            diploma: l.dipref()?,
            kzd: Keuzedeel {
                resultaatvolgnummer: l.with(4, Volgnummer::parse)?,
                code: l.id(5)?,
                resultaat: l.with(7, KeuzedeelResultaat::parse)?,
            },
            certificaat: l.opt_with(8, parse_jn)?,
            los: los(&l, 6, 9, 10)?,
        }),
        _ => {
            let mut a = [0u64; 9];
            for (i, slot) in a.iter_mut().enumerate() {
                *slot = u64::from(l.with(i, |f, v| parse_uint(f, v, 9))?);
            }
            RoRecord::Slr(RoCounts::from_array(a))
        }
    })
}

/// Streams RO records from a reader, one line at a time. After the first error it yields
/// nothing more. The SLR record is yielded only when its counts match.
#[derive(Debug)]
pub struct RoReader<R> {
    lines: LineReader<R>,
    sep: Option<char>,
    counts: RoCounts,
    done: bool,
    vlp_seen: bool,
    seen_slr: bool,
}

impl<R: BufRead> RoReader<R> {
    /// A reader over `input` (wrap files in a `BufReader`).
    pub fn new(input: R) -> Self {
        Self {
            lines: LineReader::new(input, MAX_LINE_BYTES, Bom::Strip),
            sep: None,
            counts: RoCounts::default(),
            done: false,
            vlp_seen: false,
            seen_slr: false,
        }
    }

    /// Number of the last line read (1-based).
    pub fn line(&self) -> u64 {
        self.lines.line()
    }

    /// Counts of the records read so far.
    pub fn counts(&self) -> RoCounts {
        self.counts
    }

    fn next_record(&mut self) -> Result<Option<RoRecord>, MappingError> {
        let Some((line, text)) = self.lines.next_line()? else {
            if self.seen_slr {
                return Ok(None);
            }
            return Err(MappingError::missing(format!(
                "line {}/SLR (the file ends without its sluitrecord)",
                self.lines.line() + 1
            )));
        };
        if self.seen_slr {
            return Err(lines::after_trailer(line));
        }
        let sep = match self.sep {
            Some(s) => s,
            None => {
                let s = match text.as_bytes().get(3) {
                    Some(b'|') => '|',
                    Some(b';') => ';',
                    _ => {
                        return Err(MappingError::invalid(
                            format!("line {line}/Recordsoort"),
                            "the file must start with a VLP record followed by | or ;",
                        ));
                    }
                };
                self.sep = Some(s);
                s
            }
        };
        if !self.vlp_seen && text.split(sep).next() != Some("VLP") {
            return Err(lines::not_vlp_first(line));
        }
        let rec = parse_line(line, text, sep)?;
        let first = !self.vlp_seen;
        self.vlp_seen = true;
        match (&rec, first) {
            (RoRecord::Vlp(_), true) => {}
            (_, true) => return Err(lines::not_vlp_first(line)),
            (RoRecord::Vlp(_), false) => {
                return Err(MappingError::invalid(
                    format!("line {line}/VLP"),
                    "a second VLP record",
                ));
            }
            _ => {}
        }
        let c = &mut self.counts;
        match &rec {
            RoRecord::Per(_) => c.per += 1,
            RoRecord::Isg(_) => c.isg += 1,
            RoRecord::Isp(_) => c.isp += 1,
            RoRecord::Ise(_) => c.ise += 1,
            RoRecord::Bpv(_) => c.bpv += 1,
            RoRecord::Dip(_) => c.dip += 1,
            RoRecord::Amo(_) => c.amo += 1,
            RoRecord::Geo(_) => c.geo += 1,
            RoRecord::Kzd(_) => c.kzd += 1,
            RoRecord::Vlp(_) => {}
            RoRecord::Slr(declared) => {
                lines::check_trailer(
                    line,
                    &declared.as_array(),
                    &self.counts.as_array(),
                    &RoCounts::KINDS,
                    |i| RoCounts::NAMES[i].to_owned(),
                )?;
                self.seen_slr = true;
            }
        }
        Ok(Some(rec))
    }
}

impl<R: BufRead> Iterator for RoReader<R> {
    type Item = Result<RoRecord, MappingError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let next = self.next_record();
        crate::error::fuse(&mut self.done, next)
    }
}
