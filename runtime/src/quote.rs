//! Untrusted text (config values, paths, ids, messages built from them) made safe for one
//! line of an error or log record: control characters, newlines included, become escapes, so
//! a hostile value can neither split a record nor hide what follows it on a terminal.

use std::borrow::Cow;

/// `text` with every control character written as a Rust escape (`\n`, `\0`, `\u{1b}`);
/// borrowed unchanged when it has none.
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::escape_controls;

    #[test]
    fn control_characters_become_escapes_and_the_rest_stays() {
        assert_eq!(escape_controls("plain: \"quoted\" é"), "plain: \"quoted\" é");
        assert_eq!(escape_controls("a\nb\0c\u{1b}[2J\r"), "a\\nb\\0c\\u{1b}[2J\\r");
        assert!(!escape_controls("x\ty\n").contains(['\n', '\t']));
    }
}
