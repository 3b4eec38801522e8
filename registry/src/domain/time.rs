//! Dutch local dates. Deadlines in the chain (1 April, teldata) are Dutch calendar dates, while
//! commands carry UTC times. Europe/Amsterdam is UTC+1, and UTC+2 from the last Sunday of March
//! 01:00 UTC until the last Sunday of October 01:00 UTC (EU rule since 1996).

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, Utc, Weekday};

fn last_sunday(year: i32, month: u32) -> Option<NaiveDate> {
    let first_next = if month == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)?
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)?
    };
    let last = first_next.pred_opt()?;
    let back = last.weekday().num_days_from_sunday();
    last.checked_sub_signed(Duration::days(i64::from(back)))
}

/// Whether Dutch summer time (CEST) is in force at `t`.
pub fn is_summer_time(t: DateTime<Utc>) -> bool {
    let year = t.year();
    let one = NaiveTime::from_hms_opt(1, 0, 0).unwrap_or(NaiveTime::MIN);
    match (last_sunday(year, 3), last_sunday(year, 10)) {
        (Some(start), Some(end)) => {
            let start = start.and_time(one).and_utc();
            let end = end.and_time(one).and_utc();
            t >= start && t < end
        }
        _ => false,
    }
}

/// The Dutch calendar date at `t`.
pub fn local_date(t: DateTime<Utc>) -> NaiveDate {
    let offset = if is_summer_time(t) { 2 } else { 1 };
    (t + Duration::hours(offset)).date_naive()
}

/// Whether `d` is a Sunday.
pub fn is_sunday(d: NaiveDate) -> bool {
    d.weekday() == Weekday::Sun
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn last_sundays_are_sundays() {
        for year in 2020..2040 {
            let m = last_sunday(year, 3).unwrap();
            let o = last_sunday(year, 10).unwrap();
            assert!(is_sunday(m) && is_sunday(o));
            assert!(m.day() > 24 && o.day() > 24);
        }
        assert_eq!(last_sunday(2027, 3), NaiveDate::from_ymd_opt(2027, 3, 28));
    }

    #[test]
    fn late_evening_of_1_april_is_still_1_april() {
        // 1 April 23:30 CEST = 21:30 UTC; 2 April 00:30 CEST = 1 April 22:30 UTC.
        let late = Utc.with_ymd_and_hms(2027, 4, 1, 21, 30, 0).unwrap();
        assert_eq!(
            local_date(late),
            NaiveDate::from_ymd_opt(2027, 4, 1).unwrap()
        );
        let after_midnight = Utc.with_ymd_and_hms(2027, 4, 1, 22, 30, 0).unwrap();
        assert_eq!(
            local_date(after_midnight),
            NaiveDate::from_ymd_opt(2027, 4, 2).unwrap()
        );
    }

    #[test]
    fn winter_is_utc_plus_one() {
        let t = Utc.with_ymd_and_hms(2027, 1, 31, 23, 30, 0).unwrap();
        assert_eq!(local_date(t), NaiveDate::from_ymd_opt(2027, 2, 1).unwrap());
        let t = Utc.with_ymd_and_hms(2027, 1, 31, 22, 30, 0).unwrap();
        assert_eq!(local_date(t), NaiveDate::from_ymd_opt(2027, 1, 31).unwrap());
    }
}
