//! A synthetic RO file, for trying and measuring the import (`knooppunt import generate-ro`):
//! valid test BSNs, every person one BOL enrolment in crebo 25655 from 2023-08-01; every second
//! person a BPV, every fourth a diploma with two keuzedelen, every seventh a day-less birth date.

use std::io::Write;

use knooppunt_registry::ids::Brin;
use knooppunt_registry::store::bench::synthetic_person;

/// The crebo of every synthetic enrolment (the reference data must know its niveau).
pub const CREBO: &str = "25655";

/// Writes an RO of `persons` persons of institution `brin`; returns the number of records.
pub fn write_ro(w: &mut impl Write, brin: &Brin, persons: u32) -> std::io::Result<u64> {
    let (mut per, mut isg, mut isp, mut bpv, mut dip, mut kzd) = (0u64, 0u64, 0u64, 0u64, 0, 0);
    writeln!(
        w,
        "VLP|{}|2023-07-31|2026-03-24|2026-03-25",
        brin.instelling()
    )?;
    for n in 0..persons {
        let bsn = synthetic_person(u64::from(n));
        let bsn = bsn.digits();
        let birth = if n % 7 == 0 {
            format!("{}-{:02}-00", 2000 + n % 8, 1 + n % 12)
        } else {
            format!("{}-{:02}-{:02}", 2000 + n % 8, 1 + n % 12, 1 + n % 28)
        };
        let sex = if n % 2 == 0 { "M" } else { "V" };
        writeln!(w, "PER|{bsn}||{birth}|{sex}")?;
        per += 1;
        let diploma = n % 4 == 0;
        if diploma {
            writeln!(w, "ISG|{bsn}||1|2023-08-01|2026-07-31|2025-06-30|01")?;
        } else {
            writeln!(w, "ISG|{bsn}||1|2023-08-01|2026-07-31||")?;
        }
        writeln!(w, "ISP|{bsn}||1|2023-08-01|{CREBO}|BOL||J|||||")?;
        isg += 1;
        isp += 1;
        if n % 2 == 0 {
            writeln!(
                w,
                "BPV|{bsn}||1|1|2023-08-15|2023-09-01|2024-06-30|2024-06-30|800|100018965|{CREBO}|"
            )?;
            bpv += 1;
        }
        if diploma {
            let r = 8_000_000 + u64::from(n) * 3;
            writeln!(w, "DIP|{bsn}||{r}|{CREBO}|2025-06-30||J|1|")?;
            writeln!(w, "KZD|{bsn}||{r}|{CREBO}|{}|K0067||Behaald|||", r + 1)?;
            writeln!(w, "KZD|{bsn}||{r}|{CREBO}|{}|K0138||Behaald|||", r + 2)?;
            dip += 1;
            kzd += 2;
        }
    }
    writeln!(w, "SLR|{per}|{isg}|{isp}|0|{bpv}|{dip}|0|0|{kzd}")?;
    Ok(per + isg + isp + bpv + dip + kzd + 2)
}
