//! Control characters made visible. Manifest cells, file names and server messages can hold
//! ESC, CR, LF, NUL and the like; printed raw they clear a terminal, retitle its window, or forge
//! a line of run.log or summary.txt. Every output meant for people (the terminal, run.log,
//! summary.txt, results.csv, images.csv) passes such values through [`escape_control`]. The
//! journal and summary.json (JSON) and report.html (HTML) encode them their own way and keep the
//! exact value.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether `c` is one that [`escape_control`] turns into a visible escape: the C0 controls (tab
/// and line breaks included), DEL and the C1 controls.
pub fn is_escaped(c: char) -> bool {
    c.is_control()
}

/// `s` with every control character written as a visible escape: `\n`, `\r`, `\t`, `\0`, and
/// `\u{1b}` for the others (ESC, DEL, the C1 controls...). Everything else, backslashes included,
/// is left as it is: the escaped text is for reading, the exact value stays in the journal.
/// Borrows when there is nothing to escape, which is nearly always.
pub fn escape_control(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_escaped) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\0' => out.push_str("\\0"),
            c if is_escaped(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// `eprintln!` with the whole line passed through [`escape_control`]: for messages that may
/// carry a value from a file or from the server.
#[macro_export]
macro_rules! eprintln_escaped {
    ($($arg:tt)*) => {
        eprintln!("{}", $crate::escape::escape_control(&format!($($arg)*)))
    };
}

/// `println!` with the whole line passed through [`escape_control`].
#[macro_export]
macro_rules! println_escaped {
    ($($arg:tt)*) => {
        println!("{}", $crate::escape::escape_control(&format!($($arg)*)))
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_become_visible_escapes() {
        assert_eq!(
            escape_control("a\u{1b}[2Jb\rc\nd\te\0f\u{7f}g\u{9b}h"),
            "a\\u{1b}[2Jb\\rc\\nd\\te\\0f\\u{7f}g\\u{9b}h"
        );
        assert_eq!(escape_control("\u{7}\u{8}\u{c}"), "\\u{7}\\u{8}\\u{c}");
    }

    #[test]
    fn plain_text_is_borrowed_and_unchanged() {
        for s in ["", "CNTEST-1", "photos\\a b/é.jpg", "☃ 2025-01-02"] {
            assert!(
                matches!(escape_control(s), Cow::Borrowed(x) if x == s),
                "{s}"
            );
        }
    }

    #[test]
    fn no_control_character_survives() {
        let all: String = (0u32..0x200).filter_map(char::from_u32).collect();
        let escaped = escape_control(&all);
        assert!(!escaped.chars().any(char::is_control), "{escaped}");
    }
}
