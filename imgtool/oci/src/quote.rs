//! Untrusted text (tar names and header fields, registry replies, config
//! values, parser messages that echo their input) shown in one line with its
//! control characters escaped, so no input can break or forge a message.

use std::fmt::{self, Write};

/// Shows `T`'s Display with control and invisible characters escaped
/// (`\n`, `\u{1b}`, ...); printable text, Unicode included, is kept.
pub struct Escaped<T>(pub T);

impl<T: fmt::Display> fmt::Display for Escaped<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.0.to_string();
        for c in text.chars() {
            if c.is_control() || matches!(c, '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}') {
                write!(f, "{}", c.escape_default())?;
            } else {
                f.write_char(c)?;
            }
        }
        Ok(())
    }
}

/// Shows `T`'s Display in double quotes, escaped as [`Escaped`] does (and
/// its own quotes and backslashes escaped).
pub struct Quoted<T>(pub T);

impl<T: fmt::Display> fmt::Display for Quoted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.0.to_string();
        f.write_char('"')?;
        for c in text.chars() {
            match c {
                '"' | '\\' => write!(f, "\\{c}")?,
                _ => write!(f, "{}", Escaped(c))?,
            }
        }
        f.write_char('"')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_control_characters() {
        assert_eq!(
            Escaped("a\nb\u{1b}[31mc\0é").to_string(),
            "a\\nb\\u{1b}[31mc\\u{0}é"
        );
        assert_eq!(Quoted("say \"hi\"\r").to_string(), "\"say \\\"hi\\\"\\r\"");
    }
}
