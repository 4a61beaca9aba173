//! `--rows 5-9,12`: a selection of manifest rows by the numbers a spreadsheet shows. `run` and
//! `reconcile` take one from the command line; `retry` and a resume record theirs in summary.json
//! as text that reads back.

/// `--rows 5-9,12`: spreadsheet row numbers (the header is row 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowSelection {
    /// Sorted, not overlapping, not touching.
    ranges: Vec<(usize, usize)>,
    text: String,
}

/// Ranges sorted and merged where they overlap or touch.
fn merged(mut ranges: Vec<(usize, usize)>) -> Vec<(usize, usize)> {
    ranges.sort_unstable();
    let mut out: Vec<(usize, usize)> = Vec::with_capacity(ranges.len());
    for (a, b) in ranges {
        match out.last_mut() {
            Some((_, end)) if a <= end.saturating_add(1) => *end = (*end).max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

impl RowSelection {
    pub fn parse(text: &str) -> Result<RowSelection, String> {
        let bad = |msg: String| Err(format!("--rows \"{text}\": {msg}"));
        let number = |s: &str| -> Result<usize, String> {
            let s = s.trim();
            match s.parse::<usize>() {
                Ok(0 | 1) => Err(format!("row {s} is not a data row (the header is row 1)")),
                Ok(n) => Ok(n),
                Err(_) => Err(format!("\"{s}\" is not a row number")),
            }
        };
        let mut ranges = Vec::new();
        for piece in text.split(',') {
            if piece.trim().is_empty() {
                return bad("empty item; write rows like 5-9,12".into());
            }
            let (a, b) = match piece.split_once('-') {
                Some((a, b)) => (number(a), number(b)),
                None => (number(piece), number(piece)),
            };
            match (a, b) {
                (Ok(a), Ok(b)) if a <= b => ranges.push((a, b)),
                (Ok(a), Ok(b)) => return bad(format!("range {a}-{b} runs backwards")),
                (Err(e), _) | (_, Err(e)) => return bad(e),
            }
        }
        Ok(RowSelection {
            ranges: merged(ranges),
            text: text.trim().to_string(),
        })
    }

    /// The selection of exactly these rows, written compactly (`4,7-9`) so that it reads back with
    /// [`RowSelection::parse`] (summary.json of a retry).
    pub fn from_rows(rows: &[usize]) -> RowSelection {
        let mut sorted: Vec<usize> = rows.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        let mut ranges: Vec<(usize, usize)> = Vec::new();
        for r in sorted {
            match ranges.last_mut() {
                Some((_, b)) if *b + 1 == r => *b = r,
                _ => ranges.push((r, r)),
            }
        }
        let text = ranges
            .iter()
            .map(|(a, b)| {
                if a == b {
                    a.to_string()
                } else {
                    format!("{a}-{b}")
                }
            })
            .collect::<Vec<_>>()
            .join(",");
        RowSelection { ranges, text }
    }

    /// Whether `row` is selected: a binary search, since a retry's selection can hold tens of
    /// thousands of ranges and every row of the manifest is asked about.
    pub fn contains(&self, row: usize) -> bool {
        let after = self.ranges.partition_point(|(a, _)| *a <= row);
        after > 0 && row <= self.ranges[after - 1].1
    }

    pub fn text(&self) -> &str {
        &self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_selection_parses_lists_and_ranges() {
        let s = RowSelection::parse("5-9, 12").unwrap();
        assert!(s.contains(5) && s.contains(9) && s.contains(12));
        assert!(!s.contains(4) && !s.contains(10) && !s.contains(13));
        assert_eq!(s.text(), "5-9, 12");
        assert!(RowSelection::parse("7").unwrap().contains(7));
        let s = RowSelection::from_rows(&[9, 4, 7, 8, 4, 12]);
        assert_eq!(s.text(), "4,7-9,12");
        assert_eq!(RowSelection::parse(s.text()).unwrap(), s, "reads back");
        let s = RowSelection::parse("40-50,3,7-9,8-12,2").unwrap();
        let selected: Vec<usize> = (0..60).filter(|r| s.contains(*r)).collect();
        let expected: Vec<usize> = [2, 3].into_iter().chain(7..=12).chain(40..=50).collect();
        assert_eq!(selected, expected, "in any order, overlapping");
    }

    #[test]
    fn rows_selection_errors_are_clear() {
        let cases = [
            ("", "empty item"),
            ("5,,7", "empty item"),
            ("5-a", "\"a\" is not a row number"),
            ("9-5", "range 9-5 runs backwards"),
            ("1-3", "row 1 is not a data row"),
            ("-3", "\"\" is not a row number"),
        ];
        for (input, expected) in cases {
            let e = RowSelection::parse(input).unwrap_err();
            assert!(e.starts_with(&format!("--rows \"{input}\": ")), "{e}");
            assert!(e.contains(expected), "{input}: {e}");
        }
    }
}
