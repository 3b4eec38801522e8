//! The recognitions the SBB simulator knows in the sandbox: the leerbedrijven of the sandbox's
//! sample data (`knooppunt-sample`), recognised for crebos the sample institutions offer. The
//! journey's BPV (ROC Zuidwaard, leerbedrijf `100018965`, Software Developer `25998`, and the
//! keuzedeel `K0067`) is recognised, so the sandbox's BPVs pass the check; every other
//! leerbedrijf is unknown to SBB (`SBB001`). The adapters crate keeps this list itself (no
//! product library depends on the sample crate); `tests/tests/suite/sample_agreement.rs`
//! checks that the two agree.
//!
//! Leerbedrijf ids are company ids, not personal data.

use chrono::NaiveDate;
use knooppunt_registry::domain::BpvOnderdeel;

use crate::sbb::simulator::Erkenning;

/// (leerbedrijf, crebo or keuzedeel, recognised from)
const ERKENNINGEN: [(&str, &str, (i32, u32, u32)); 3] = [
    // The journey's leerbedrijf: Software Developer and the keuzedeel taken during the BPV.
    ("100018965", "25998", (2020, 8, 1)),
    ("100018965", "K0067", (2020, 8, 1)),
    // A care institution recognised for Verzorgende-IG (ROC Zuidwaard).
    ("100024417", "25655", (2021, 1, 1)),
];

/// The sandbox's recognitions, each open-ended.
pub fn erkenningen() -> Vec<Erkenning> {
    ERKENNINGEN
        .iter()
        .filter_map(|(leerbedrijf, onderdeel, (y, m, d))| {
            let onderdeel = if onderdeel.starts_with('K') {
                BpvOnderdeel::Keuzedeel(onderdeel.parse().ok()?)
            } else {
                BpvOnderdeel::Crebo(onderdeel.parse().ok()?)
            };
            Some(Erkenning {
                leerbedrijf: leerbedrijf.parse().ok()?,
                onderdeel,
                vanaf: NaiveDate::from_ymd_opt(*y, *m, *d)?,
                tot: None,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sample_recognition_is_valid() {
        assert_eq!(erkenningen().len(), ERKENNINGEN.len());
    }
}
