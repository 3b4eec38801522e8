//! Small-cell suppression: the one place that decides which numbers of a report are hidden, so
//! that nobody can be singled out.
//!
//! The rule (also in `docs/operations.md`, *Sector reports*):
//!
//! 1. **Primary.** A count of students from 1 through 4 is hidden. 0 and 5 or more are shown
//!    (a 0 tells nothing about a person).
//! 2. **Secondary.** A report row that shows its total (the distinct students over the row's
//!    cells) must not let a hidden cell be computed as the total minus the shown cells. When
//!    exactly one cell of such a row is hidden and the total is shown, the smallest shown
//!    non-zero cell of the row is hidden too (the leftmost of equal ones); when there is none,
//!    the total is hidden instead. Two hidden cells only give their sum. Reports publish no
//!    column totals, so no rule across rows is needed.
//! 3. **Counts that ride along.** A number that belongs to a hidden count of students (the
//!    mutations behind it) is hidden with it ([`with`]).
//! 4. **Percentiles.** A p50 or p95 over fewer than 5 messages is not given
//!    ([`percentile`]).

use super::Cell;

/// The smallest count of students that is shown (besides 0), and the fewest messages a
/// percentile is computed over.
pub const THRESHOLD: u64 = 5;

/// Rule 1: a count of students as a cell (1–4 hidden).
pub fn students(count: u64) -> Cell {
    if (1..THRESHOLD).contains(&count) {
        Cell::Suppressed
    } else {
        Cell::Number(count)
    }
}

/// Rules 1 and 2 for one row: its counts of students and their total. Returns the cells and
/// the total's cell.
pub fn row(counts: &[u64], total: u64) -> (Vec<Cell>, Cell) {
    let mut cells: Vec<Cell> = counts.iter().map(|c| students(*c)).collect();
    let mut total_cell = students(total);
    let hidden = cells.iter().filter(|c| c.is_suppressed()).count();
    if hidden == 1 && !total_cell.is_suppressed() {
        let smallest = counts
            .iter()
            .enumerate()
            .filter(|(i, c)| **c > 0 && cells.get(*i).is_some_and(|cell| !cell.is_suppressed()))
            .min_by_key(|(i, c)| (**c, *i))
            .map(|(i, _)| i);
        match smallest.and_then(|i| cells.get_mut(i)) {
            Some(cell) => *cell = Cell::Suppressed,
            None => total_cell = Cell::Suppressed,
        }
    }
    (cells, total_cell)
}

/// Rule 3: `value` as a cell, hidden when the count of students it belongs to is.
pub fn with(students: &Cell, value: u64) -> Cell {
    if students.is_suppressed() {
        Cell::Suppressed
    } else {
        Cell::Number(value)
    }
}

/// Rule 4: a percentile over `messages` messages (hidden under [`THRESHOLD`], or when there
/// is no value).
pub fn percentile(messages: u64, value: Option<u64>) -> Cell {
    match value {
        Some(v) if messages >= THRESHOLD => Cell::Number(v),
        _ => Cell::Suppressed,
    }
}

/// The nearest-rank percentile (`p` in 0..=1) of ascending `sorted` values: the smallest value
/// at or below which at least `p` of the values lie (PostgreSQL's `percentile_disc`).
pub fn nearest_rank(sorted: &[u64], p: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Cell = Cell::Suppressed;

    fn n(v: u64) -> Cell {
        Cell::Number(v)
    }

    #[test]
    fn one_to_four_students_are_hidden_zero_and_five_up_shown() {
        assert_eq!(students(0), n(0));
        for c in 1..=4 {
            assert_eq!(students(c), S, "{c}");
        }
        assert_eq!(students(5), n(5));
        assert_eq!(students(120), n(120));
    }

    #[test]
    fn a_row_without_small_cells_is_shown_whole() {
        assert_eq!(row(&[12, 0, 7], 19), (vec![n(12), n(0), n(7)], n(19)));
    }

    #[test]
    fn a_lone_hidden_cell_takes_the_smallest_shown_cell_with_it() {
        // 3 could be computed as 30 - 12 - 7 - 8: the 7 is hidden too.
        assert_eq!(row(&[12, 3, 7, 8], 30), (vec![n(12), S, S, n(8)], n(30)));
        // Zeros are no cover: the smallest non-zero shown cell is taken.
        assert_eq!(row(&[0, 2, 9, 0], 11), (vec![n(0), S, S, n(0)], n(11)));
        // Equal candidates: the leftmost.
        assert_eq!(row(&[6, 6, 1], 13), (vec![S, n(6), S], n(13)));
    }

    #[test]
    fn two_hidden_cells_need_nothing_more() {
        assert_eq!(row(&[2, 3, 10], 15), (vec![S, S, n(10)], n(15)));
    }

    #[test]
    fn a_lone_hidden_cell_without_cover_hides_the_total() {
        // Distinct students: the total can exceed what the cells show.
        assert_eq!(row(&[4, 0], 5), (vec![S, n(0)], S));
    }

    #[test]
    fn a_small_total_is_hidden_with_its_cells() {
        assert_eq!(row(&[3, 1, 0], 4), (vec![S, S, n(0)], S));
        assert_eq!(row(&[0, 0], 0), (vec![n(0), n(0)], n(0)));
    }

    #[test]
    fn numbers_riding_along_follow_their_students() {
        assert_eq!(with(&S, 40), S);
        assert_eq!(with(&n(5), 40), n(40));
    }

    #[test]
    fn percentiles_need_five_messages() {
        assert_eq!(percentile(4, Some(10)), S);
        assert_eq!(percentile(5, Some(10)), n(10));
        assert_eq!(percentile(9, None), S);
    }

    #[test]
    fn nearest_rank_matches_percentile_disc() {
        let v: Vec<u64> = (1..=10).collect();
        assert_eq!(nearest_rank(&v, 0.5), Some(5));
        assert_eq!(nearest_rank(&v, 0.95), Some(10));
        let v: Vec<u64> = (1..=20).collect();
        assert_eq!(nearest_rank(&v, 0.95), Some(19));
        assert_eq!(nearest_rank(&[7], 0.5), Some(7));
        assert_eq!(nearest_rank(&[], 0.5), None);
    }
}
