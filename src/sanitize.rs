//! Printing names that come from the disk safely: a file name with a newline or an escape
//! sequence must not forge output lines or drive the terminal, and one with bidi or zero-width
//! code points must not rewrite the line it is printed on (as fd escapes them).

use std::path::Path;

/// A path as printable text: control characters escaped (`\n`, `\x1b`), invalid UTF-8 bytes as
/// `\xNN`. Ordinary paths come back unchanged.
pub fn display_path(path: &Path) -> String {
    let bytes = path.as_os_str().as_encoded_bytes();
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            push_escaped(&mut out, c);
        }
        for byte in chunk.invalid() {
            out.push_str(&format!("\\x{byte:02x}"));
        }
    }
    out
}

/// Text from a file or a child process, escaped the same way (newlines and tabs kept when
/// `keep_newlines`).
pub fn display_text(text: &str, keep_newlines: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if keep_newlines && (c == '\n' || c == '\t') {
            out.push(c);
        } else {
            push_escaped(&mut out, c);
        }
    }
    out
}

fn push_escaped(out: &mut String, c: char) {
    match c {
        '\\' => out.push_str("\\\\"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
        c if is_invisible_format(c) => out.push_str(&format!("\\u{{{:04x}}}", c as u32)),
        c => out.push(c),
    }
}

/// Zero-width and bidirectional-control code points: U+200B–U+200F, U+202A–U+202E,
/// U+2060–U+206F and U+FEFF.
fn is_invisible_format(c: char) -> bool {
    matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{206f}' | '\u{feff}')
}

/// At most `max_chars` characters of `text`, escaped like [`display_text`], with `…` when cut:
/// what an error message may quote of an input, however large the input is.
pub fn excerpt(text: &str, max_chars: usize) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    for c in chars.by_ref().take(max_chars) {
        push_escaped(&mut out, c);
    }
    if chars.next().is_some() {
        out.push('…');
    }
    out
}

/// Longest quoted value (`"…"`) an error or warning line keeps, in characters (a deep path
/// quoted whole still fits).
pub const QUOTE_MAX_CHARS: usize = 200;
/// Longest error or warning line, in characters; longer ones keep their head and tail.
pub const MESSAGE_MAX_CHARS: usize = 900;

/// A diagnostic line bounded whatever the input it quotes: every double-quoted span longer than
/// [`QUOTE_MAX_CHARS`] is cut to that many characters with `…` and its length, and a line still
/// longer than [`MESSAGE_MAX_CHARS`] keeps its start and end (where the place and the advice
/// are). The printer applies it to every error and warning, so a 3 MB config value or CSV field
/// can never become a 3 MB message, whichever parser or check quoted it.
pub fn bounded_message(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MESSAGE_MAX_CHARS * 4));
    let mut chars = text.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        if c != '"' {
            out.push(c);
            continue;
        }
        // A quoted span: up to the next unescaped quote (or the end of the line).
        let mut end = text.len();
        let mut escaped = false;
        for (index, inner) in chars.by_ref() {
            if escaped {
                escaped = false;
            } else if inner == '\\' {
                escaped = true;
            } else if inner == '"' {
                end = index;
                break;
            }
        }
        let inner = &text[start + 1..end];
        let count = inner.chars().count();
        out.push('"');
        if end == text.len() {
            // No closing quote (a `"` in a file name): not a quoted value; the line cap applies.
            out.push_str(inner);
        } else if count > QUOTE_MAX_CHARS {
            let cut: String = inner.chars().take(QUOTE_MAX_CHARS).collect();
            out.push_str(&cut);
            out.push_str(&format!("…\" ({count} characters)"));
        } else {
            out.push_str(inner);
            out.push('"');
        }
    }
    let total = out.chars().count();
    if total <= MESSAGE_MAX_CHARS {
        return out;
    }
    let head: String = out.chars().take(MESSAGE_MAX_CHARS * 2 / 3).collect();
    let tail: String = out.chars().skip(total - MESSAGE_MAX_CHARS / 4).collect();
    format!("{head} … ({} characters left out) … {tail}", total - head.chars().count() - tail.chars().count())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;

    #[test]
    fn ordinary_paths_unchanged() {
        assert_eq!(display_path(Path::new("artifacts/reports/a b.json")), "artifacts/reports/a b.json");
        assert_eq!(display_path(Path::new("données/ü.txt")), "données/ü.txt");
    }

    #[test]
    fn control_and_invalid_bytes_escaped() {
        let path = Path::new(OsStr::from_bytes(b"evil\n| rotate | OK |\x1b[31m\xff"));
        assert_eq!(display_path(path), "evil\\n| rotate | OK |\\x1b[31m\\xff");
    }

    #[test]
    fn bidi_and_zero_width_escaped() {
        let path = Path::new("report\u{202e}gpj.exe\u{200b}\u{feff}\u{2066}");
        assert_eq!(display_path(path), "report\\u{202e}gpj.exe\\u{200b}\\u{feff}\\u{2066}");
        assert_eq!(display_path(Path::new("a\u{2070}b")), "a\u{2070}b", "U+2070 is an ordinary superscript");
    }

    #[test]
    fn excerpt_is_short_and_escaped() {
        assert_eq!(excerpt("abc", 5), "abc");
        assert_eq!(excerpt("abcdef", 3), "abc…");
        assert_eq!(excerpt("a\nb", 10), "a\\nb");
        assert_eq!(excerpt(&"x".repeat(300_000_000 / 1000), 4), "xxxx…");
    }

    /// Audit gap 4: a 3 MB `schedule` value made a 3,000,185-byte error line.
    #[test]
    fn diagnostics_quote_at_most_a_short_excerpt() {
        assert_eq!(bounded_message("schedule \"*/5 * * * *\" is odd"), "schedule \"*/5 * * * *\" is odd");
        assert_eq!(bounded_message(r#"a "b\"c" d"#), r#"a "b\"c" d"#);
        assert_eq!(bounded_message("unterminated \"quote"), "unterminated \"quote");
        let lone = format!("cannot read a\"b/{}: No such file or directory", "c".repeat(100));
        assert_eq!(bounded_message(&lone), lone, "a lone quote in a path is not a quoted value");
        let huge = format!(
            "cron.yaml:4:15: schedule \"{}\" is not a cron expression; fix it",
            "x".repeat(3_000_000)
        );
        let short = bounded_message(&huge);
        assert!(short.len() < 1024, "{} bytes", short.len());
        assert!(short.starts_with("cron.yaml:4:15: schedule \"xxxx"), "{short}");
        assert!(short.ends_with("…\" (3000000 characters) is not a cron expression; fix it"), "{short}");
        let many = format!("{}: end", "word ".repeat(100_000));
        let short = bounded_message(&many);
        assert!(short.chars().count() < 1024 && short.ends_with(": end"), "{short}");
    }

    proptest::proptest! {
        // Attack on bounded_message: quotes, escapes, multibyte and huge runs anywhere; it must
        // never panic (char boundaries), stay bounded, and leave short lines as they were.
        #[test]
        fn bounded_message_never_panics_and_stays_bounded(
            parts in proptest::collection::vec(("[a-z\"\\\\é€ ]{0,8}", 0usize..3000), 0..12),
        ) {
            let text: String = parts.iter().map(|(piece, repeat)| piece.repeat(*repeat % 400 + 1)).collect();
            let bounded = bounded_message(&text);
            proptest::prop_assert!(bounded.chars().count() <= MESSAGE_MAX_CHARS + 64, "{}", bounded.len());
            if text.chars().count() <= QUOTE_MAX_CHARS {
                proptest::prop_assert_eq!(bounded, text);
            }
        }
    }

    #[test]
    fn text_keeps_newlines_when_asked() {
        assert_eq!(display_text("a\nb\x07", true), "a\nb\\x07");
        assert_eq!(display_text("a\nb", false), "a\\nb");
    }
}
