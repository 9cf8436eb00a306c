//! Fitting text into a platform's limit: untrusted parts escaped as they are written, and
//! whatever does not fit cut off with an ellipsis, never in the middle of an escape.
//! Lengths are counted in characters (Unicode scalar values), as the platforms count them.

use super::Part;

/// What ends a text that was cut short.
pub const ELLIPSIS: char = '…';

/// Writes the escaped form of one character of untrusted text.
pub(crate) type Escape = fn(char, &mut String);

/// Untrusted text left as it is (a platform field that renders no markup).
pub(crate) fn verbatim(c: char, out: &mut String) {
    out.push(c);
}

/// The parts, the untrusted ones escaped, in at most `max` characters: all of it when it
/// fits, otherwise as much as fits before an [`ELLIPSIS`].
pub(crate) fn fit(parts: &[Part<'_>], max: usize, escape: Escape) -> String {
    let mut whole = String::new();
    let mut pieces: Vec<(usize, usize)> = Vec::new();
    for part in parts {
        match part {
            Part::Ours(text) => {
                for c in text.chars() {
                    let start = whole.len();
                    whole.push(c);
                    pieces.push((start, 1));
                }
            }
            Part::Theirs(text) => {
                for c in text.chars() {
                    let start = whole.len();
                    escape(c, &mut whole);
                    pieces.push((start, whole[start..].chars().count()));
                }
            }
        }
    }
    let total: usize = pieces.iter().map(|(_, n)| n).sum();
    if total <= max {
        return whole;
    }
    // Whole pieces up to max - 1 characters, then the ellipsis.
    let mut used = 0;
    let mut end = 0;
    for (start, n) in pieces {
        if used + n > max.saturating_sub(1) {
            break;
        }
        used += n;
        end = start + whole[start..].chars().take(n).map(char::len_utf8).sum::<usize>();
    }
    let mut cut = whole[..end].trim_end().to_owned();
    cut.push(ELLIPSIS);
    cut
}

/// One untrusted text in at most `max` characters.
pub(crate) fn fit_one(text: &str, max: usize, escape: Escape) -> String {
    fit(&[Part::Theirs(text)], max, escape)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amp(c: char, out: &mut String) {
        match c {
            '&' => out.push_str("&amp;"),
            c => out.push(c),
        }
    }

    #[test]
    fn text_that_fits_is_kept_whole() {
        assert_eq!(fit_one("abc", 3, verbatim), "abc");
        assert_eq!(fit(&[Part::Ours("a "), Part::Theirs("&")], 7, amp), "a &amp;");
    }

    #[test]
    fn text_that_does_not_fit_ends_with_an_ellipsis_within_the_limit() {
        assert_eq!(fit_one("abcdef", 4, verbatim), "abc…");
        assert_eq!(fit_one("ab    cdef", 5, verbatim), "ab…");
        let cut = fit_one(&"é".repeat(100), 10, verbatim);
        assert_eq!(cut.chars().count(), 10);
        assert!(cut.ends_with(ELLIPSIS));
    }

    #[test]
    fn an_escape_is_never_cut_in_half() {
        // "x&y" escapes to "x&amp;y" (7 characters): with 6, the entity does not fit at all.
        assert_eq!(fit_one("x&y", 6, amp), "x…");
        assert_eq!(fit_one("x&yz", 7, amp), "x&amp;…");
        assert_eq!(fit_one("x&y", 7, amp), "x&amp;y");
    }
}
