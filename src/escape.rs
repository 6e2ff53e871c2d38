//! Text from outside (request values, names, the database's messages), made safe to print.
//!
//! A value can hold a line break or a terminal escape; written as it is into a log line, it
//! could forge a second log line or rewrite the operator's screen. Every log line and CLI
//! message that carries such text goes through [`OneLine`], and every message that echoes
//! a request's value quotes it with [`echo`], which also keeps a huge value from flooding
//! the log.

use std::fmt::{self, Write};

/// Shows text on one line: control characters (line breaks, tabs, escapes, and Unicode's
/// line and paragraph separators) as `\n`, `\t`, `\u{1b}`, ...; a backslash as `\\`, so an
/// escape in the output always means one was made.
#[derive(Debug, Clone, Copy)]
pub struct OneLine<'a>(pub &'a str);

impl fmt::Display for OneLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.0;
        let mut start = 0;
        for (index, c) in text.char_indices() {
            let escaped = match c {
                '\n' => Some("\\n"),
                '\r' => Some("\\r"),
                '\t' => Some("\\t"),
                '\\' => Some("\\\\"),
                _ => None,
            };
            if escaped.is_none() && !needs_escape(c) {
                continue;
            }
            f.write_str(&text[start..index])?;
            match escaped {
                Some(escaped) => f.write_str(escaped)?,
                None => write!(f, "\\u{{{:x}}}", c as u32)?,
            }
            start = index + c.len_utf8();
        }
        f.write_str(&text[start..])
    }
}

fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')
}

/// The most characters of a value that a message repeats.
const ECHO_CHARS: usize = 100;

/// A request's value quoted for a message: escaped as a Rust string literal, and cut to
/// 100 characters (`ECHO_CHARS`) with a note of its length when longer.
pub fn echo(value: &str) -> String {
    match value.char_indices().nth(ECHO_CHARS) {
        None => format!("{value:?}"),
        Some((cut, _)) => {
            let mut echoed = format!("{:?}", &value[..cut]);
            let _ = write!(echoed, "... ({} bytes)", value.len());
            echoed
        }
    }
}

/// Double-quotes an identifier for SQL (a name from the config file, never from a
/// request): the name as it is, quotes doubled.
pub fn quote_identifier(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_escapes_what_could_forge_a_line() {
        let forged = "bad\nINFO rowpipe: download complete\r\t\x1b[31m\u{2028}\\n é";
        let shown = OneLine(forged).to_string();
        assert_eq!(
            shown,
            "bad\\nINFO rowpipe: download complete\\r\\t\\u{1b}[31m\\u{2028}\\\\n é"
        );
        assert!(!shown.chars().any(needs_escape));
        assert_eq!(OneLine("plain text").to_string(), "plain text");
    }

    #[test]
    fn echo_quotes_and_shortens() {
        assert_eq!(echo("a\"b\nc"), r#""a\"b\nc""#);
        let long = "é".repeat(500);
        let echoed = echo(&long);
        assert!(echoed.starts_with(&format!("\"{}\"", "é".repeat(ECHO_CHARS))));
        assert!(echoed.ends_with("... (1000 bytes)"), "{echoed}");
    }
}
