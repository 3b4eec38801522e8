//! Events: what happened to a dossier. Applying them is the only way a dossier changes.
//!
//! Each event carries what applying it needs and what a partner mapping needs to send it
//! (e.g. the OOK details on signing), so mappings never read the dossier.

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::Person;
use super::parts::{
    AanmeldStatus, Aanmelding, AanmeldingId, Bekostiging, BpvDetails, BpvId, BpvOndertekenaar,
    Diploma, DuoTerugkoppeling, Examenresultaat, Handtekening, Keuzedeel, KeuzedeelResultaat,
    OokDetails, OokId, OokOndertekenaar, Overstapdossier, Personalia, RedenUitschrijving, SbbCheck,
    SigningTransaction, Vooropleiding,
};
use crate::ids::{Brin, Crebo, KeuzedeelCode, LeerbedrijfId};
use crate::partner::Partner;
use crate::policy::Part;
use crate::reference::GemeenteCode;

/// Something that happened to a dossier. Holds personal data: never log it, log
/// [`Event::type_name`] and ids.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The dossier was opened.
    DossierOpened {
        /// The person.
        person: Person,
    },
    /// DUO's personal data were recorded (replacing earlier ones).
    PersonaliaVastgelegd {
        /// The data.
        personalia: Personalia,
    },
    /// A vooropleiding was recorded (replacing one for the same school and opleiding).
    VooropleidingVastgelegd {
        /// The vooropleiding.
        vooropleiding: Vooropleiding,
    },
    /// An aanmelding was submitted (status `ontvangen`).
    AanmeldingIngediend {
        /// The aanmelding as it now stands.
        aanmelding: Aanmelding,
    },
    /// The VA status of an aanmelding changed.
    AanmeldingStatusGewijzigd {
        /// The aanmelding.
        aanmelding: AanmeldingId,
        /// The institution.
        instelling: Brin,
        /// Crebo of the opleiding (for VVA routing).
        crebo: Crebo,
        /// The sending school, if any (VVA routing).
        toeleverende_school: Option<Brin>,
        /// The municipality to inform (VVA routing): set when the student lives in a Dutch
        /// municipality, has no startkwalificatie and may be under 23 on the day of the change.
        #[serde(default)]
        gemeente: Option<GemeenteCode>,
        /// Old status.
        van: AanmeldStatus,
        /// New status.
        naar: AanmeldStatus,
    },
    /// A VA partner refused an aanmeldstatus (reported back to the institution). Applying it
    /// changes nothing in the dossier: the refusal is a message to the institution, kept in the
    /// history; the aanmelding's status stays as it is.
    AanmeldingStatusAfgewezen {
        /// The aanmelding.
        aanmelding: AanmeldingId,
        /// The institution of the aanmelding (it is told).
        instelling: Brin,
        /// The aanmelding's status when the refusal was recorded.
        status: AanmeldStatus,
        /// The partner that refused, e.g. [`Partner::Intergrip`] (`"intergrip"` on the wire).
        partner: Partner,
        /// The partner's reason code.
        reden: String,
    },
    /// Consent was granted (or its scopes replaced).
    ToestemmingVerleend {
        /// The institution.
        instelling: Brin,
        /// The parts it may read.
        scopes: BTreeSet<Part>,
        /// When.
        op: DateTime<Utc>,
    },
    /// Consent was withdrawn.
    ToestemmingIngetrokken {
        /// The institution.
        instelling: Brin,
        /// When.
        op: DateTime<Utc>,
    },
    /// An overstapdossier was attached.
    OverstapdossierToegevoegd {
        /// Summary and hash.
        overstapdossier: Overstapdossier,
    },
    /// An onderwijsovereenkomst was drafted.
    OnderwijsovereenkomstOpgesteld {
        /// Id.
        ook: OokId,
        /// The institution.
        instelling: Brin,
        /// Details.
        details: OokDetails,
    },
    /// An onderwijsovereenkomst was offered to the student.
    OnderwijsovereenkomstAangeboden {
        /// Id.
        ook: OokId,
        /// The institution.
        instelling: Brin,
        /// Details.
        details: OokDetails,
        /// Whether a parent must sign too: the student may be under 18 on the day of the offer
        /// (`policy::may_be_minor`). The signing provider's adapter invites the signers from
        /// this without reading the personalia. Absent in events stored before it existed.
        #[serde(default)]
        ouder_tekent: bool,
    },
    /// One party signed an onderwijsovereenkomst.
    OnderwijsovereenkomstGetekend {
        /// Id.
        ook: OokId,
        /// The institution.
        instelling: Brin,
        /// Who.
        ondertekenaar: OokOndertekenaar,
        /// The signature.
        handtekening: Handtekening,
    },
    /// Every required party signed: the student is enrolled (to DUO).
    OnderwijsovereenkomstOndertekend {
        /// Id.
        ook: OokId,
        /// The institution.
        instelling: Brin,
        /// Date of the last signature.
        datum: NaiveDate,
        /// Details (for the DUO delivery).
        details: OokDetails,
    },
    /// A signed onderwijsovereenkomst ended (uitschrijving).
    OnderwijsovereenkomstBeeindigd {
        /// Id.
        ook: OokId,
        /// The institution.
        instelling: Brin,
        /// Werkelijke datum uitschrijving.
        datum: NaiveDate,
        /// Reden uitschrijving.
        reden: RedenUitschrijving,
    },
    /// An unsigned onderwijsovereenkomst was withdrawn.
    OnderwijsovereenkomstVervallen {
        /// Id.
        ook: OokId,
        /// The institution.
        instelling: Brin,
    },
    /// A praktijkovereenkomst was registered; SBB's check is pending.
    PraktijkovereenkomstGeregistreerd {
        /// Id.
        bpv: BpvId,
        /// The institution.
        instelling: Brin,
        /// Details.
        details: BpvDetails,
        /// Crebo of the enrolment (SBB checks the leerbedrijf for it).
        crebo: Crebo,
    },
    /// SBB answered on the recognition.
    SbbCheckVastgelegd {
        /// Id.
        bpv: BpvId,
        /// The institution.
        instelling: Brin,
        /// The new check state (`erkend` or `niet_erkend`).
        uitkomst: SbbCheck,
    },
    /// One party signed a praktijkovereenkomst.
    PraktijkovereenkomstGetekend {
        /// Id.
        bpv: BpvId,
        /// The institution.
        instelling: Brin,
        /// Who.
        ondertekenaar: BpvOndertekenaar,
        /// The signature.
        handtekening: Handtekening,
    },
    /// All three parties signed: the BPV goes to DUO.
    PraktijkovereenkomstOndertekend {
        /// Id.
        bpv: BpvId,
        /// The institution.
        instelling: Brin,
        /// Date of the last signature.
        datum: NaiveDate,
        /// Details (for the DUO delivery).
        details: BpvDetails,
    },
    /// A praktijkovereenkomst ended.
    PraktijkovereenkomstBeeindigd {
        /// Id.
        bpv: BpvId,
        /// The institution.
        instelling: Brin,
        /// Datum einde werkelijk.
        datum: NaiveDate,
    },
    /// SBB withdrew the recognition of the leerbedrijf of this BPV.
    ErkenningIngetrokken {
        /// Id.
        bpv: BpvId,
        /// The institution.
        instelling: Brin,
        /// The leerbedrijf.
        leerbedrijf: LeerbedrijfId,
        /// Date of withdrawal.
        datum: NaiveDate,
    },
    /// A keuzedeel was registered.
    KeuzedeelGeregistreerd {
        /// The keuzedeel.
        keuzedeel: Keuzedeel,
    },
    /// A keuzedeel result was recorded.
    KeuzedeelResultaatVastgelegd {
        /// The enrolment.
        ook: OokId,
        /// The enrolling institution.
        instelling: Brin,
        /// Code.
        code: KeuzedeelCode,
        /// The result.
        resultaat: KeuzedeelResultaat,
    },
    /// An exam result was recorded (replacing one for the same exam).
    ExamenresultaatVastgelegd {
        /// The institution.
        instelling: Brin,
        /// The result.
        resultaat: Examenresultaat,
    },
    /// A diploma was awarded; the OOK ends on its date (reden `01`).
    DiplomaUitgereikt {
        /// The diploma.
        diploma: Diploma,
    },
    /// DUO answered on a delivered mutation.
    DuoTerugkoppelingOntvangen {
        /// The answer.
        terugkoppeling: DuoTerugkoppeling,
    },
    /// DUO reported a bekostigingsstatus.
    BekostigingsstatusVastgelegd {
        /// The status.
        bekostiging: Bekostiging,
    },
    /// The signing provider reported a transaction status.
    OndertekenstatusVastgelegd {
        /// The transaction as it now stands.
        transactie: SigningTransaction,
    },
    /// An existing enrolment was imported (institution moving to `krd`).
    InschrijvingGeimporteerd {
        /// Id.
        ook: OokId,
        /// The institution.
        instelling: Brin,
        /// Details.
        details: OokDetails,
        /// Inschrijvingsvolgnummer.
        inschrijvingsvolgnummer: String,
        /// Date signed.
        ondertekend_op: NaiveDate,
    },
}

impl Event {
    /// The versioned CloudEvents type of this event: `nl.knooppunt.<part>.<verb>.v1`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::DossierOpened { .. } => "nl.knooppunt.dossier.geopend.v1",
            Self::PersonaliaVastgelegd { .. } => "nl.knooppunt.personalia.vastgelegd.v1",
            Self::VooropleidingVastgelegd { .. } => "nl.knooppunt.vooropleiding.vastgelegd.v1",
            Self::AanmeldingIngediend { .. } => "nl.knooppunt.aanmelding.ingediend.v1",
            Self::AanmeldingStatusGewijzigd { .. } => "nl.knooppunt.aanmelding.status_gewijzigd.v1",
            Self::AanmeldingStatusAfgewezen { .. } => "nl.knooppunt.aanmelding.status_afgewezen.v1",
            Self::ToestemmingVerleend { .. } => "nl.knooppunt.toestemming.verleend.v1",
            Self::ToestemmingIngetrokken { .. } => "nl.knooppunt.toestemming.ingetrokken.v1",
            Self::OverstapdossierToegevoegd { .. } => "nl.knooppunt.overstapdossier.toegevoegd.v1",
            Self::OnderwijsovereenkomstOpgesteld { .. } => {
                "nl.knooppunt.onderwijsovereenkomst.opgesteld.v1"
            }
            Self::OnderwijsovereenkomstAangeboden { .. } => {
                "nl.knooppunt.onderwijsovereenkomst.aangeboden.v1"
            }
            Self::OnderwijsovereenkomstGetekend { .. } => {
                "nl.knooppunt.onderwijsovereenkomst.getekend.v1"
            }
            Self::OnderwijsovereenkomstOndertekend { .. } => {
                "nl.knooppunt.onderwijsovereenkomst.ondertekend.v1"
            }
            Self::OnderwijsovereenkomstBeeindigd { .. } => {
                "nl.knooppunt.onderwijsovereenkomst.beeindigd.v1"
            }
            Self::OnderwijsovereenkomstVervallen { .. } => {
                "nl.knooppunt.onderwijsovereenkomst.vervallen.v1"
            }
            Self::PraktijkovereenkomstGeregistreerd { .. } => {
                "nl.knooppunt.praktijkovereenkomst.geregistreerd.v1"
            }
            Self::SbbCheckVastgelegd { .. } => {
                "nl.knooppunt.praktijkovereenkomst.sbb_gecontroleerd.v1"
            }
            Self::PraktijkovereenkomstGetekend { .. } => {
                "nl.knooppunt.praktijkovereenkomst.getekend.v1"
            }
            Self::PraktijkovereenkomstOndertekend { .. } => {
                "nl.knooppunt.praktijkovereenkomst.ondertekend.v1"
            }
            Self::PraktijkovereenkomstBeeindigd { .. } => {
                "nl.knooppunt.praktijkovereenkomst.beeindigd.v1"
            }
            Self::ErkenningIngetrokken { .. } => {
                "nl.knooppunt.praktijkovereenkomst.erkenning_ingetrokken.v1"
            }
            Self::KeuzedeelGeregistreerd { .. } => "nl.knooppunt.keuzedeel.geregistreerd.v1",
            Self::KeuzedeelResultaatVastgelegd { .. } => {
                "nl.knooppunt.keuzedeel.resultaat_vastgelegd.v1"
            }
            Self::ExamenresultaatVastgelegd { .. } => "nl.knooppunt.examenresultaat.vastgelegd.v1",
            Self::DiplomaUitgereikt { .. } => "nl.knooppunt.diploma.uitgereikt.v1",
            Self::DuoTerugkoppelingOntvangen { .. } => {
                "nl.knooppunt.duo_terugkoppeling.ontvangen.v1"
            }
            Self::BekostigingsstatusVastgelegd { .. } => {
                "nl.knooppunt.bekostigingsstatus.vastgelegd.v1"
            }
            Self::OndertekenstatusVastgelegd { .. } => {
                "nl.knooppunt.ondertekening.status_vastgelegd.v1"
            }
            Self::InschrijvingGeimporteerd { .. } => "nl.knooppunt.inschrijving.geimporteerd.v1",
        }
    }

    /// Every event type name, for registries of consumers and documentation.
    pub const TYPE_NAMES: [&'static str; 29] = [
        "nl.knooppunt.dossier.geopend.v1",
        "nl.knooppunt.personalia.vastgelegd.v1",
        "nl.knooppunt.vooropleiding.vastgelegd.v1",
        "nl.knooppunt.aanmelding.ingediend.v1",
        "nl.knooppunt.aanmelding.status_gewijzigd.v1",
        "nl.knooppunt.aanmelding.status_afgewezen.v1",
        "nl.knooppunt.toestemming.verleend.v1",
        "nl.knooppunt.toestemming.ingetrokken.v1",
        "nl.knooppunt.overstapdossier.toegevoegd.v1",
        "nl.knooppunt.onderwijsovereenkomst.opgesteld.v1",
        "nl.knooppunt.onderwijsovereenkomst.aangeboden.v1",
        "nl.knooppunt.onderwijsovereenkomst.getekend.v1",
        "nl.knooppunt.onderwijsovereenkomst.ondertekend.v1",
        "nl.knooppunt.onderwijsovereenkomst.beeindigd.v1",
        "nl.knooppunt.onderwijsovereenkomst.vervallen.v1",
        "nl.knooppunt.praktijkovereenkomst.geregistreerd.v1",
        "nl.knooppunt.praktijkovereenkomst.sbb_gecontroleerd.v1",
        "nl.knooppunt.praktijkovereenkomst.getekend.v1",
        "nl.knooppunt.praktijkovereenkomst.ondertekend.v1",
        "nl.knooppunt.praktijkovereenkomst.beeindigd.v1",
        "nl.knooppunt.praktijkovereenkomst.erkenning_ingetrokken.v1",
        "nl.knooppunt.keuzedeel.geregistreerd.v1",
        "nl.knooppunt.keuzedeel.resultaat_vastgelegd.v1",
        "nl.knooppunt.examenresultaat.vastgelegd.v1",
        "nl.knooppunt.diploma.uitgereikt.v1",
        "nl.knooppunt.duo_terugkoppeling.ontvangen.v1",
        "nl.knooppunt.bekostigingsstatus.vastgelegd.v1",
        "nl.knooppunt.ondertekening.status_vastgelegd.v1",
        "nl.knooppunt.inschrijving.geimporteerd.v1",
    ];

    /// The institution this event concerns, if any (routing and access). For an
    /// overstapdossier this is the sending school.
    pub fn institution(&self) -> Option<Brin> {
        match self {
            Self::DossierOpened { .. }
            | Self::PersonaliaVastgelegd { .. }
            | Self::VooropleidingVastgelegd { .. } => None,
            Self::AanmeldingIngediend { aanmelding } => Some(aanmelding.instelling.clone()),
            Self::OverstapdossierToegevoegd { overstapdossier } => {
                Some(overstapdossier.school.clone())
            }
            Self::KeuzedeelGeregistreerd { keuzedeel } => Some(keuzedeel.instelling.clone()),
            Self::DiplomaUitgereikt { diploma } => Some(diploma.instelling.clone()),
            Self::DuoTerugkoppelingOntvangen { terugkoppeling } => {
                Some(terugkoppeling.instelling.clone())
            }
            Self::BekostigingsstatusVastgelegd { bekostiging } => {
                Some(bekostiging.instelling.clone())
            }
            Self::OndertekenstatusVastgelegd { transactie } => Some(transactie.instelling.clone()),
            Self::AanmeldingStatusGewijzigd { instelling, .. }
            | Self::AanmeldingStatusAfgewezen { instelling, .. }
            | Self::ToestemmingVerleend { instelling, .. }
            | Self::ToestemmingIngetrokken { instelling, .. }
            | Self::OnderwijsovereenkomstOpgesteld { instelling, .. }
            | Self::OnderwijsovereenkomstAangeboden { instelling, .. }
            | Self::OnderwijsovereenkomstGetekend { instelling, .. }
            | Self::OnderwijsovereenkomstOndertekend { instelling, .. }
            | Self::OnderwijsovereenkomstBeeindigd { instelling, .. }
            | Self::OnderwijsovereenkomstVervallen { instelling, .. }
            | Self::PraktijkovereenkomstGeregistreerd { instelling, .. }
            | Self::SbbCheckVastgelegd { instelling, .. }
            | Self::PraktijkovereenkomstGetekend { instelling, .. }
            | Self::PraktijkovereenkomstOndertekend { instelling, .. }
            | Self::PraktijkovereenkomstBeeindigd { instelling, .. }
            | Self::ErkenningIngetrokken { instelling, .. }
            | Self::KeuzedeelResultaatVastgelegd { instelling, .. }
            | Self::ExamenresultaatVastgelegd { instelling, .. }
            | Self::InschrijvingGeimporteerd { instelling, .. } => Some(instelling.clone()),
        }
    }

    /// The dossier part this event changes (access to history entries follows it).
    pub fn part(&self) -> Part {
        match self {
            Self::DossierOpened { .. } | Self::PersonaliaVastgelegd { .. } => Part::Personalia,
            Self::VooropleidingVastgelegd { .. } => Part::Vooropleidingen,
            Self::AanmeldingIngediend { .. } => Part::Aanmeldingen,
            Self::AanmeldingStatusGewijzigd { .. } | Self::AanmeldingStatusAfgewezen { .. } => {
                Part::VaStatus
            }
            Self::ToestemmingVerleend { .. } | Self::ToestemmingIngetrokken { .. } => {
                Part::Toestemmingen
            }
            Self::OverstapdossierToegevoegd { .. } => Part::Overstapdossier,
            Self::OnderwijsovereenkomstOpgesteld { .. }
            | Self::OnderwijsovereenkomstAangeboden { .. }
            | Self::OnderwijsovereenkomstGetekend { .. }
            | Self::OnderwijsovereenkomstOndertekend { .. }
            | Self::OnderwijsovereenkomstBeeindigd { .. }
            | Self::OnderwijsovereenkomstVervallen { .. }
            | Self::InschrijvingGeimporteerd { .. } => Part::Onderwijsovereenkomsten,
            Self::PraktijkovereenkomstGeregistreerd { .. }
            | Self::SbbCheckVastgelegd { .. }
            | Self::PraktijkovereenkomstGetekend { .. }
            | Self::PraktijkovereenkomstOndertekend { .. }
            | Self::PraktijkovereenkomstBeeindigd { .. }
            | Self::ErkenningIngetrokken { .. } => Part::Praktijkovereenkomsten,
            Self::KeuzedeelGeregistreerd { .. } | Self::KeuzedeelResultaatVastgelegd { .. } => {
                Part::Keuzedelen
            }
            Self::ExamenresultaatVastgelegd { .. } => Part::Examenresultaten,
            Self::DiplomaUitgereikt { .. } => Part::Diplomas,
            Self::DuoTerugkoppelingOntvangen { .. } | Self::BekostigingsstatusVastgelegd { .. } => {
                Part::DuoTerugkoppeling
            }
            Self::OndertekenstatusVastgelegd { .. } => Part::Ondertekening,
        }
    }
}
