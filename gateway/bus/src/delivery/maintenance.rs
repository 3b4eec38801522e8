//! Maintenance windows: while one is active nothing is sent to the partner.

use chrono::{DateTime, Utc};

use super::config::MaintenanceWindow;

/// The end of the window containing `now`, if `now` is in one.
pub fn active_until(windows: &[MaintenanceWindow], now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    windows
        .iter()
        .filter(|w| w.start <= now && now < w.end)
        .map(|w| w.end)
        .max()
}

/// Whether a window ended in `(since, now]`: a backlog may have built up that must be drained.
pub fn ended_between(
    windows: &[MaintenanceWindow],
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> bool {
    windows.iter().any(|w| since < w.end && w.end <= now)
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;

    #[test]
    fn window_is_half_open_and_overlaps_take_the_latest_end() {
        let t = Utc::now();
        let w = |a: i64, b: i64| MaintenanceWindow {
            start: t + TimeDelta::seconds(a),
            end: t + TimeDelta::seconds(b),
        };
        let ws = vec![w(0, 10), w(5, 20)];
        assert_eq!(active_until(&ws, t - TimeDelta::seconds(1)), None);
        assert_eq!(active_until(&ws, t), Some(t + TimeDelta::seconds(10)));
        assert_eq!(
            active_until(&ws, t + TimeDelta::seconds(6)),
            Some(t + TimeDelta::seconds(20))
        );
        assert_eq!(active_until(&ws, t + TimeDelta::seconds(20)), None);
        assert!(ended_between(&ws, t, t + TimeDelta::seconds(10)));
        assert!(!ended_between(
            &ws,
            t + TimeDelta::seconds(10),
            t + TimeDelta::seconds(19)
        ));
    }
}
