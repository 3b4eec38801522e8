//! The person: personalia (with the birth date as DUO gives it) and vooropleidingen.

use super::*;

/// Geslacht as DUO records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Geslacht {
    /// Man.
    M,
    /// Vrouw.
    V,
    /// Onbekend / anders.
    O,
}

/// A birth date where the day, or the day and the month, may be unknown (DUO writes `00`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Geboortedatum {
    jaar: i32,
    maand: Option<u32>,
    dag: Option<u32>,
}

impl Geboortedatum {
    /// Builds one; a day needs a month and the date must exist.
    pub fn new(jaar: i32, maand: Option<u32>, dag: Option<u32>) -> Result<Self, ValueError> {
        const F: &str = "geboortedatum";
        if !(1900..=2200).contains(&jaar) {
            return Err(ValueError::new(
                F,
                "the year must lie between 1900 and 2200",
            ));
        }
        match (maand, dag) {
            (None, Some(_)) => Err(ValueError::new(F, "a day needs a month")),
            (Some(m), None) if !(1..=12).contains(&m) => {
                Err(ValueError::new(F, "the month must be 1 to 12"))
            }
            (Some(m), Some(d)) if NaiveDate::from_ymd_opt(jaar, m, d).is_none() => {
                Err(ValueError::new(F, "the date does not exist"))
            }
            _ => Ok(Self { jaar, maand, dag }),
        }
    }

    /// A fully known date.
    pub fn from_date(date: NaiveDate) -> Self {
        Self {
            jaar: date.year(),
            maand: Some(date.month()),
            dag: Some(date.day()),
        }
    }

    /// The year.
    pub fn jaar(&self) -> i32 {
        self.jaar
    }

    /// The month, when known.
    pub fn maand(&self) -> Option<u32> {
        self.maand
    }

    /// The day, when known.
    pub fn dag(&self) -> Option<u32> {
        self.dag
    }

    /// The latest date the person can have been born on.
    pub fn latest(&self) -> NaiveDate {
        let fallback = NaiveDate::MIN;
        match (self.maand, self.dag) {
            (Some(m), Some(d)) => NaiveDate::from_ymd_opt(self.jaar, m, d).unwrap_or(fallback),
            (Some(m), None) => NaiveDate::from_ymd_opt(self.jaar, m, 1)
                .and_then(|first| first.checked_add_months(Months::new(1)))
                .and_then(|next| next.pred_opt())
                .unwrap_or(fallback),
            _ => NaiveDate::from_ymd_opt(self.jaar, 12, 31).unwrap_or(fallback),
        }
    }

    /// Whether the person may still be younger than `years` on `on`. With an unknown day or
    /// month the latest possible birth date counts: when in doubt, treat as younger (a parent
    /// signs; a parent may act).
    pub fn may_be_younger_than(&self, years: u32, on: NaiveDate) -> bool {
        match self.latest().checked_add_months(Months::new(years * 12)) {
            Some(birthday) => on < birthday,
            None => true,
        }
    }

    /// `YYYY-MM-DD` with `00` for unknown parts, as DUO writes it.
    pub fn duo_format(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}",
            self.jaar,
            self.maand.unwrap_or(0),
            self.dag.unwrap_or(0)
        )
    }
}

impl fmt::Debug for Geboortedatum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Geboortedatum(***)")
    }
}

impl FromStr for Geboortedatum {
    type Err = ValueError;
    /// Parses `YYYY-MM-DD` where `MM`/`DD` may be `00`.
    fn from_str(s: &str) -> Result<Self, ValueError> {
        const F: &str = "geboortedatum";
        let mut parts = s.trim().split('-');
        let (Some(y), Some(m), Some(d), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(ValueError::new(F, "expected YYYY-MM-DD"));
        };
        if y.len() != 4 || m.len() != 2 || d.len() != 2 {
            return Err(ValueError::new(F, "expected YYYY-MM-DD"));
        }
        let jaar: i32 = y
            .parse()
            .map_err(|_| ValueError::new(F, "the year is not a number"))?;
        let m: u32 = m
            .parse()
            .map_err(|_| ValueError::new(F, "the month is not a number"))?;
        let d: u32 = d
            .parse()
            .map_err(|_| ValueError::new(F, "the day is not a number"))?;
        let maand = (m != 0).then_some(m);
        let dag = (d != 0).then_some(d);
        Self::new(jaar, maand, dag)
    }
}

impl Serialize for Geboortedatum {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.duo_format())
    }
}

impl<'de> Deserialize<'de> for Geboortedatum {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Personal data from DUO (BRP): names, birth date, sex, residence. Redacted in `Debug`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Personalia {
    /// Voornamen.
    pub voornamen: String,
    /// Voorvoegsels, e.g. `"van der"`.
    #[serde(default)]
    pub voorvoegsels: Option<String>,
    /// Achternaam (geslachtsnaam).
    pub achternaam: String,
    /// Geboortedatum.
    pub geboortedatum: Geboortedatum,
    /// Geslacht.
    pub geslacht: Geslacht,
    /// Woongemeente, when the student lives in the Netherlands.
    #[serde(default)]
    pub woongemeente: Option<crate::reference::GemeenteCode>,
    /// Whether the student holds a startkwalificatie (VVA routing to the municipality).
    #[serde(default)]
    pub startkwalificatie: bool,
}

impl fmt::Debug for Personalia {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Personalia(***)")
    }
}

impl Personalia {
    /// Checks the fields: names must not be empty or over-long.
    pub fn validate(&self) -> Result<(), ValueError> {
        non_empty("voornamen", &self.voornamen, 200)?;
        non_empty("achternaam", &self.achternaam, 200)?;
        if let Some(v) = &self.voorvoegsels {
            non_empty("voorvoegsels", v, 20)?;
        }
        Ok(())
    }
}

pub(super) fn non_empty(field: &str, value: &str, max: usize) -> Result<(), ValueError> {
    if value.trim().is_empty() {
        return Err(ValueError::new(field, "it is empty"));
    }
    if value.chars().count() > max {
        return Err(ValueError::new(field, "it is too long"));
    }
    if value.chars().any(char::is_control) {
        return Err(ValueError::new(field, "it contains control characters"));
    }
    Ok(())
}

/// A prior education (from DUO), keyed by school and opleiding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vooropleiding {
    /// BRIN of the school, when known.
    #[serde(default)]
    pub instelling: Option<Brin>,
    /// Opleiding code as DUO gives it (e.g. an ILT code or crebo).
    pub opleiding: String,
    /// Human-readable name.
    pub omschrijving: String,
    /// From.
    #[serde(default)]
    pub vanaf: Option<NaiveDate>,
    /// Until (inclusive).
    #[serde(default)]
    pub tot_en_met: Option<NaiveDate>,
    /// Whether the diploma was obtained.
    pub diploma_behaald: bool,
    /// Date of the result.
    #[serde(default)]
    pub datum_uitslag: Option<NaiveDate>,
}

impl Vooropleiding {
    /// Checks the fields.
    pub fn validate(&self) -> Result<(), ValueError> {
        non_empty("opleiding", &self.opleiding, 36)?;
        non_empty("omschrijving", &self.omschrijving, 200)?;
        if let (Some(a), Some(b)) = (self.vanaf, self.tot_en_met)
            && b < a
        {
            return Err(ValueError::new("tot_en_met", "it lies before vanaf"));
        }
        Ok(())
    }

    /// Whether `other` is the same vooropleiding (same school and opleiding).
    pub fn same_as(&self, other: &Vooropleiding) -> bool {
        self.instelling == other.instelling && self.opleiding == other.opleiding
    }
}
