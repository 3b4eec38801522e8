//! Grouping the RO's record stream per person (`PER` and its children), checking that every
//! child record belongs to its parent.

use std::io::BufRead;

use serde::{Deserialize, Serialize};

use super::reader::RoReader;
use super::records::*;
use crate::duo::codes::Volgnummer;
use crate::duo::records::{Bpv, Diploma, Inschrijving};
use crate::error::MappingError;

/// An inschrijving as the RO delivers it: ISG with its ISP and ISE records, and its BPV's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoInschrijving {
    /// ISG + ISP + ISE.
    pub inschrijving: Inschrijving,
    /// The BPV records of this inschrijving.
    pub bpvs: Vec<Bpv>,
}

/// A diploma with its results, and its AMvB-onderdelen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoDiploma {
    /// DIP + GEO + KZD.
    pub diploma: Diploma,
    /// AMO records of this diploma.
    pub amvb_onderdelen: Vec<RoAmo>,
}

/// A result not part of a diploma.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "record")]
pub enum RoLosResultaat {
    /// AMvB-onderdeel (e.g. a certificate).
    #[serde(rename = "AMO")]
    Amo(RoAmo),
    /// Generiek examenonderdeel.
    #[serde(rename = "GEO")]
    Geo(RoGeo),
    /// Keuzedeel.
    #[serde(rename = "KZD")]
    Kzd(RoKzd),
}

/// Everything the RO holds about one person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoPersoon {
    /// The PER record.
    pub per: RoPer,
    /// Inschrijvingen in file order.
    pub inschrijvingen: Vec<RoInschrijving>,
    /// Diplomas in file order.
    pub diplomas: Vec<RoDiploma>,
    /// Loose results.
    pub losse_resultaten: Vec<RoLosResultaat>,
}

/// Groups a stream of RO records per person (`PER` and everything after it up to the next
/// `PER` or the `SLR`), checking that every child record belongs to its parent.
#[derive(Debug)]
pub struct RoPersonen<R> {
    reader: RoReader<R>,
    pending: Option<RoPer>,
    done: bool,
}

/// Opens an RO stream: reads the VLP header and returns it with the per-person iterator.
pub fn open<R: BufRead>(input: R) -> Result<(RoVlp, RoPersonen<R>), MappingError> {
    let mut reader = RoReader::new(input);
    match reader.next() {
        Some(Ok(RoRecord::Vlp(v))) => Ok((
            v,
            RoPersonen {
                reader,
                pending: None,
                done: false,
            },
        )),
        Some(Err(e)) => Err(e),
        Some(Ok(_)) | None => Err(MappingError::missing("line 1/VLP")),
    }
}

impl<R: BufRead> RoPersonen<R> {
    /// Counts of the records read so far.
    pub fn counts(&self) -> RoCounts {
        self.reader.counts()
    }

    fn here(&self, kind: &str, field: &str) -> String {
        format!("line {}/{kind}/{field}", self.reader.line())
    }

    fn same_person(&self, per: &RoPer, rec: &RoRecord) -> Result<(), MappingError> {
        if rec.persoon() == Some(&per.persoon) {
            Ok(())
        } else {
            Err(MappingError::invalid(
                self.here(rec.kind(), "Burgerservicenummer"),
                "does not belong to the preceding PER record",
            ))
        }
    }

    fn next_person(&mut self) -> Result<Option<RoPersoon>, MappingError> {
        let per = match self.pending.take() {
            Some(p) => p,
            None => match self.reader.next().transpose()? {
                None => return Ok(None),
                Some(RoRecord::Slr(_)) => {
                    if let Some(trailing) = self.reader.next() {
                        trailing?;
                    }
                    return Ok(None);
                }
                Some(RoRecord::Per(p)) => p,
                Some(other) => {
                    return Err(MappingError::invalid(
                        self.here(other.kind(), "Recordsoort"),
                        "expected a PER record before this one",
                    ));
                }
            },
        };
        let mut p = RoPersoon {
            per,
            inschrijvingen: Vec::new(),
            diplomas: Vec::new(),
            losse_resultaten: Vec::new(),
        };
        while let Some(rec) = self.reader.next().transpose()? {
            if let RoRecord::Slr(_) = rec {
                self.done = true;
                // Nothing may follow the sluitrecord: the reader reports it as an error.
                if let Some(trailing) = self.reader.next() {
                    trailing?;
                }
                break;
            }
            if let RoRecord::Per(next) = rec {
                self.pending = Some(next);
                break;
            }
            self.same_person(&p.per, &rec)?;
            let kind = rec.kind();
            match rec {
                RoRecord::Isg(isg) => {
                    self.close_inschrijving(&p)?;
                    p.inschrijvingen.push(RoInschrijving {
                        inschrijving: Inschrijving {
                            inschrijvingvolgnummer: isg.inschrijvingvolgnummer,
                            datum_inschrijving: isg.datum_inschrijving,
                            datum_uitschrijving_gepland: isg.datum_uitschrijving_gepland,
                            datum_uitschrijving_werkelijk: isg.datum_uitschrijving_werkelijk,
                            reden_uitschrijving: isg.reden_uitschrijving,
                            perioden: Vec::new(),
                            extra_ondersteuning: Vec::new(),
                        },
                        bpvs: Vec::new(),
                    });
                }
                RoRecord::Isp(RoIsp {
                    inschrijvingvolgnummer,
                    periode,
                    ..
                }) => self
                    .current_isg(&mut p, kind, &inschrijvingvolgnummer)?
                    .inschrijving
                    .perioden
                    .push(periode),
                RoRecord::Ise(RoIse {
                    inschrijvingvolgnummer,
                    periode,
                    ..
                }) => self
                    .current_isg(&mut p, kind, &inschrijvingvolgnummer)?
                    .inschrijving
                    .extra_ondersteuning
                    .push(periode),
                RoRecord::Bpv(RoBpv { bpv, .. }) => {
                    let v = bpv.inschrijvingvolgnummer.clone();
                    self.current_isg(&mut p, kind, &v)?.bpvs.push(bpv);
                }
                RoRecord::Dip(dip) => {
                    self.close_inschrijving(&p)?;
                    p.diplomas.push(RoDiploma {
                        diploma: Diploma {
                            resultaatvolgnummer: dip.resultaatvolgnummer,
                            opleidingcode: dip.opleidingcode,
                            datum_resultaat: dip.datum_resultaat,
                            indicatie_bekostigbaar: dip.indicatie_bekostigbaar,
                            inschrijvingvolgnummer: dip.inschrijvingvolgnummer,
                            onderwijsaanbieder: dip.onderwijsaanbieder,
                            generieke_examenonderdelen: Vec::new(),
                            keuzedelen: Vec::new(),
                        },
                        amvb_onderdelen: Vec::new(),
                    });
                }
                RoRecord::Amo(amo) => match amo.diploma.clone() {
                    None => p.losse_resultaten.push(RoLosResultaat::Amo(amo)),
                    Some(r) => self
                        .current_dip(&mut p, kind, &r)?
                        .amvb_onderdelen
                        .push(amo),
                },
                RoRecord::Geo(geo) => match geo.diploma.clone() {
                    None => p.losse_resultaten.push(RoLosResultaat::Geo(geo)),
                    Some(r) => self
                        .current_dip(&mut p, kind, &r)?
                        .diploma
                        .generieke_examenonderdelen
                        .push(geo.geo),
                },
                RoRecord::Kzd(kzd) => match kzd.diploma.clone() {
                    None => p.losse_resultaten.push(RoLosResultaat::Kzd(kzd)),
                    Some(r) => self
                        .current_dip(&mut p, kind, &r)?
                        .diploma
                        .keuzedelen
                        .push(kzd.kzd),
                },
                RoRecord::Vlp(_) | RoRecord::Per(_) | RoRecord::Slr(_) => {}
            }
        }
        self.close_inschrijving(&p)?;
        Ok(Some(p))
    }

    /// An ISG needs at least one ISP before the next record group starts.
    fn close_inschrijving(&self, p: &RoPersoon) -> Result<(), MappingError> {
        match p.inschrijvingen.last() {
            Some(i) if i.inschrijving.perioden.is_empty() => Err(MappingError::missing(format!(
                "line {}/ISP (inschrijving {} has no period)",
                self.reader.line(),
                i.inschrijving.inschrijvingvolgnummer
            ))),
            _ => Ok(()),
        }
    }

    fn current_isg<'p>(
        &self,
        p: &'p mut RoPersoon,
        kind: &str,
        volgnummer: &Volgnummer,
    ) -> Result<&'p mut RoInschrijving, MappingError> {
        let field = self.here(kind, "Inschrijvingvolgnummer");
        match p.inschrijvingen.last_mut() {
            Some(i) if &i.inschrijving.inschrijvingvolgnummer == volgnummer => Ok(i),
            _ => Err(MappingError::invalid(
                field,
                "does not match the preceding ISG record",
            )),
        }
    }

    fn current_dip<'p>(
        &self,
        p: &'p mut RoPersoon,
        kind: &str,
        r: &DiplomaRef,
    ) -> Result<&'p mut RoDiploma, MappingError> {
        let field = self.here(kind, "ResultaatvolgnummerDiploma");
        match p.diplomas.last_mut() {
            Some(d)
                if d.diploma.resultaatvolgnummer == r.resultaatvolgnummer
                    && d.diploma.opleidingcode == r.opleidingcode =>
            {
                Ok(d)
            }
            _ => Err(MappingError::invalid(
                field,
                "does not match the preceding DIP record",
            )),
        }
    }
}

impl<R: BufRead> Iterator for RoPersonen<R> {
    type Item = Result<RoPersoon, MappingError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done && self.pending.is_none() {
            return None;
        }
        match self.next_person() {
            Ok(Some(p)) => Some(Ok(p)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                self.pending = None;
                Some(Err(e))
            }
        }
    }
}
