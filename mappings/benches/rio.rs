//! Parsing a RIO raadplegen response (a page of aangeboden mbo opleidingen with cohorts):
//! records (opleidingen + cohorts) per second.
//!
//! Run briefly: `cargo bench -p knooppunt-mappings --bench rio -- --warm-up-time 1 --measurement-time 3`.

use std::fmt::Write;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use knooppunt_mappings::rio::soap::{NS, parse_response};

const OPLEIDINGEN: usize = 500; // the XSD's maximum per page
const COHORTS: usize = 3;

fn page() -> String {
    let mut x = format!(
        "<duo:opvragen_aangebodenOpleidingenVanOrganisatie_response xmlns:duo=\"{NS}\">\
         <duo:identificatiecodeBedrijfsdocument>b</duo:identificatiecodeBedrijfsdocument>\
         <duo:verzendendeInstantie>DUO</duo:verzendendeInstantie><duo:ontvangendeInstantie>K</duo:ontvangendeInstantie>\
         <duo:datumTijdBedrijfsdocument>2027-03-01T09:30:01Z</duo:datumTijdBedrijfsdocument>\
         <duo:requestGoedgekeurd>true</duo:requestGoedgekeurd>"
    );
    for i in 0..OPLEIDINGEN {
        let _ = write!(
            x,
            "<duo:aangebodenMboOpleiding><duo:aangebodenOpleidingCode>00000000-0000-0000-0000-{i:012}</duo:aangebodenOpleidingCode>\
             <duo:onderwijsaanbiedercode>100A501</duo:onderwijsaanbiedercode><duo:opleidingseenheidcode>1009O{:04}</duo:opleidingseenheidcode>\
             <duo:onderwijslocatiecode>101X591</duo:onderwijslocatiecode><duo:begindatum>2026-08-01</duo:begindatum>\
             <duo:opleidingserkenningSleutel><duo:opleidingsstelsel>MBO</duo:opleidingsstelsel><duo:opleidingscode>25655</duo:opleidingscode></duo:opleidingserkenningSleutel>\
             <duo:aangebodenMboOpleidingPeriode><duo:begindatum>2026-08-01</duo:begindatum><duo:eigenNaamAangebodenOpleiding>Opleiding {i} Çelik</duo:eigenNaamAangebodenOpleiding></duo:aangebodenMboOpleidingPeriode>",
            i % 10_000
        );
        for c in 0..COHORTS {
            let _ = write!(
                x,
                "<duo:aangebodenMboOpleidingCohort><duo:cohortcode>C{c}</duo:cohortcode><duo:cohortstatus>G</duo:cohortstatus>\
                 <duo:beginAanmeldperiode>2026-10-01</duo:beginAanmeldperiode><duo:vastInstroommoment><duo:instroommoment>2027-08-30</duo:instroommoment></duo:vastInstroommoment>\
                 <duo:eindeAanmeldperiode>2027-04-01</duo:eindeAanmeldperiode><duo:toestemmingVereistVoorAanmelding>NEE</duo:toestemmingVereistVoorAanmelding></duo:aangebodenMboOpleidingCohort>"
            );
        }
        x.push_str("<duo:leertrajectMBO>BOL</duo:leertrajectMBO><duo:mboNiveau>MBO-4</duo:mboNiveau><duo:toelatingseisen>NEE</duo:toelatingseisen><duo:toegankelijkheid>ALL</duo:toegankelijkheid></duo:aangebodenMboOpleiding>");
    }
    x.push_str("</duo:opvragen_aangebodenOpleidingenVanOrganisatie_response>");
    x
}

fn bench(c: &mut Criterion) {
    let doc = page();
    assert!(
        parse_response(doc.as_bytes()).is_ok(),
        "the benchmark page must parse"
    );
    let mut g = c.benchmark_group("rio");
    g.throughput(Throughput::Elements((OPLEIDINGEN * (1 + COHORTS)) as u64));
    g.bench_function("parse_aangeboden_opleidingen_page", |b| {
        b.iter(|| parse_response(std::hint::black_box(doc.as_bytes())))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
