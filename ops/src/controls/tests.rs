//! The pure parts of the runtime controls: overrides on top of the configuration, and the
//! checks of a change.

use chrono::TimeDelta;

use super::*;

fn brin(s: &str) -> Brin {
    s.parse().unwrap()
}

#[test]
fn overrides_go_on_top_of_the_configuration_and_say_where_they_come_from() {
    let now = Utc::now();
    let configured = ConfiguredControls {
        windows: vec![(now, now + TimeDelta::hours(1))],
        shadow: false,
        shadow_institutions: [brin("25LX01"), brin("28AB")].into(),
        rate_limit: Some(Rate {
            per_second: 5.0,
            burst: 1,
        }),
    };
    let plain = configured.with(&PartnerOverrides::default());
    assert_eq!(plain.rate_limit_source, Source::Configuration);
    assert_eq!(plain.shadow_institutions.len(), 2);
    assert!(
        plain.shadows(Some(&brin("25LX02"))),
        "vestiging of a shadowed instelling"
    );
    assert!(!plain.shadows(Some(&brin("30CD"))));
    assert!(!plain.shadows(None));

    let mut o = PartnerOverrides::default();
    let id = Uuid::now_v7();
    let add = ControlChange::AddWindow {
        id,
        start: now - TimeDelta::minutes(1),
        end: now + TimeDelta::minutes(5),
    };
    assert!(add.apply(&mut o, "otto", now).unwrap());
    assert!(
        ControlChange::SetInstitutionShadow {
            brin: brin("28AB"),
            on: false
        }
        .apply(&mut o, "otto", now)
        .unwrap()
    );
    assert!(
        ControlChange::SetInstitutionShadow {
            brin: brin("30CD01"),
            on: true
        }
        .apply(&mut o, "otto", now)
        .unwrap()
    );
    let rate = Rate {
        per_second: 2.0,
        burst: 3,
    };
    assert!(
        ControlChange::SetRateLimit { rate }
            .apply(&mut o, "otto", now)
            .unwrap()
    );
    let e = configured.with(&o);
    assert_eq!(e.maintenance.len(), 2);
    assert_eq!(e.maintenance[0].id, Some(id), "sorted by start");
    assert_eq!(e.maintenance[0].added_by.as_deref(), Some("otto"));
    assert_eq!(e.rate_limit, Some(rate));
    assert_eq!(e.rate_limit_source, Source::Operator);
    assert_eq!(e.live_institutions, vec![brin("28AB")]);
    assert!(!e.shadows(Some(&brin("28AB"))));
    assert!(e.shadows(Some(&brin("30CD"))));
    assert!(!e.shadow);

    assert!(
        !ControlChange::RemoveWindow { id: Uuid::now_v7() }
            .apply(&mut o, "otto", now)
            .unwrap(),
        "unknown window"
    );
    assert!(
        ControlChange::RemoveWindow { id }
            .apply(&mut o, "otto", now)
            .unwrap()
    );
    assert!(
        ControlChange::SetShadow { on: true }
            .apply(&mut o, "otto", now)
            .unwrap()
    );
    assert!(configured.with(&o).shadows(None));
    assert_eq!(configured.with(&o).shadow_source, Source::Operator);
    for clear in [
        ControlChange::ClearShadow,
        ControlChange::ClearRateLimit,
        ControlChange::ClearInstitutionShadow { brin: brin("28AB") },
        ControlChange::ClearInstitutionShadow { brin: brin("30CD") },
    ] {
        clear.apply(&mut o, "otto", now).unwrap();
    }
    assert!(o.is_empty(), "{o:?}");
    assert_eq!(configured.with(&o), plain);
}

#[test]
fn bad_changes_are_refused_by_field() {
    let now = Utc::now();
    let field = |c: ControlChange| match c.validate(now) {
        Err(OpsError::Invalid { field, .. }) => field,
        other => panic!("{other:?}"),
    };
    let w = |a: i64, b: i64| ControlChange::AddWindow {
        id: Uuid::nil(),
        start: now + TimeDelta::minutes(a),
        end: now + TimeDelta::minutes(b),
    };
    assert_eq!(field(w(10, 5)), "end");
    assert_eq!(field(w(-10, -5)), "end");
    assert!(
        w(-10, 5).validate(now).is_ok(),
        "a window may start in the past"
    );
    let r = |per_second: f64, burst: u32| ControlChange::SetRateLimit {
        rate: Rate { per_second, burst },
    };
    assert_eq!(field(r(0.0, 1)), "per_second");
    assert_eq!(field(r(-1.0, 1)), "per_second");
    assert_eq!(field(r(f64::NAN, 1)), "per_second");
    assert_eq!(field(r(1.0, 0)), "burst");
    assert!(r(0.5, 2).validate(now).is_ok());
}

#[test]
fn ended_operator_windows_are_forgotten_on_the_next_change() {
    let now = Utc::now();
    let mut o = PartnerOverrides::default();
    ControlChange::AddWindow {
        id: Uuid::nil(),
        start: now,
        end: now + TimeDelta::seconds(1),
    }
    .apply(&mut o, "otto", now)
    .unwrap();
    ControlChange::ClearRateLimit
        .apply(&mut o, "otto", now + TimeDelta::seconds(2))
        .unwrap();
    assert!(o.windows.is_empty());
}
