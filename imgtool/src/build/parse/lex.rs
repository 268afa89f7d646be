//! Shell-word processing of Dockerfile arguments: quotes, escapes and
//! variable substitution, with the semantics of BuildKit's shell lexer
//! (`frontend/dockerfile/shell/lex.go`), which is not a full POSIX shell:
//! no command substitution, no field splitting inside quotes, and only the
//! `${name...}` modifiers listed in [`LexError`]'s neighbours below.

/// Where variable values come from.
pub trait Env {
    /// The value of `name`, if set.
    fn lookup(&self, name: &str) -> Option<String>;
}

impl Env for [(String, String)] {
    fn lookup(&self, name: &str) -> Option<String> {
        self.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }
}

impl Env for Vec<(String, String)> {
    fn lookup(&self, name: &str) -> Option<String> {
        self.as_slice().lookup(name)
    }
}

/// An environment with nothing set.
pub struct NoEnv;

impl Env for NoEnv {
    fn lookup(&self, _: &str) -> Option<String> {
        None
    }
}

/// A word that cannot be processed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LexError {
    /// A quote, `${` or pattern is not closed.
    #[error("unexpected end of statement while looking for matching {0}")]
    Unclosed(&'static str),
    /// `${` without its `}`.
    #[error("syntax error: missing '}}'")]
    MissingBrace,
    /// `${}`, `${:x}`, `${{x}`.
    #[error("syntax error: bad substitution")]
    BadSubstitution,
    /// `${a/pattern` without the second `/`.
    #[error("syntax error: missing '/' in ${{}}")]
    MissingSlash,
    /// A modifier BuildKit does not have (`${a:#x}`, `${a!}`).
    #[error("unsupported modifier ({0}) in substitution")]
    UnsupportedModifier(String),
    /// `${a?msg}` / `${a:?msg}` on an unset or empty variable.
    #[error("{name}: {message}")]
    Required {
        /// The variable.
        name: String,
        /// The message.
        message: String,
    },
    /// A pattern with an escape other than `\*`, `\?`, `\\`.
    #[error("invalid pattern ({pattern}) in substitution: invalid escape '\\{escaped}'")]
    BadPattern {
        /// The pattern.
        pattern: String,
        /// The escaped character.
        escaped: char,
    },
}

/// How a word is processed.
#[derive(Clone, Copy, Debug)]
pub struct Lexer {
    /// The escape character: `\` or `` ` `` (`# escape=`).
    pub escape: char,
    /// Keep quote characters in the result.
    pub raw_quotes: bool,
    /// Keep escape characters in the result.
    pub raw_escapes: bool,
    /// Treat quotes as ordinary characters (heredoc contents).
    pub skip_quotes: bool,
    /// Leave references to unset variables as written.
    pub skip_unset: bool,
}

impl Lexer {
    /// A lexer with escape character `escape`.
    pub fn new(escape: char) -> Self {
        Lexer {
            escape,
            raw_quotes: false,
            raw_escapes: false,
            skip_quotes: false,
            skip_unset: false,
        }
    }

    /// `word` with quotes removed and variables substituted, spaces kept.
    pub fn word(&self, word: &str, env: &dyn Env) -> Result<String, LexError> {
        Ok(self.process(word, env)?.0)
    }

    /// `word` split into fields after substitution (quoted spaces do not split).
    pub fn words(&self, word: &str, env: &dyn Env) -> Result<Vec<String>, LexError> {
        Ok(self.process(word, env)?.1)
    }

    fn process(&self, word: &str, env: &dyn Env) -> Result<(String, Vec<String>), LexError> {
        let mut scan = Scan {
            lexer: *self,
            chars: word.chars().collect(),
            pos: 0,
            env,
            raw_escapes: self.raw_escapes,
        };
        let raw = self.raw_escapes;
        scan.until(None, raw)
    }
}

/// Fields being collected: unquoted whitespace ends a field.
#[derive(Default)]
struct Fields {
    buf: String,
    fields: Vec<String>,
    in_field: bool,
}

impl Fields {
    fn add_char(&mut self, ch: char) {
        if ch.is_whitespace() {
            if self.in_field && !self.buf.is_empty() {
                self.fields.push(std::mem::take(&mut self.buf));
                self.in_field = false;
            }
        } else {
            self.add_raw_char(ch);
        }
    }

    fn add_raw_char(&mut self, ch: char) {
        self.buf.push(ch);
        self.in_field = true;
    }

    fn add_str(&mut self, s: &str) {
        s.chars().for_each(|c| self.add_char(c));
    }

    fn add_raw_str(&mut self, s: &str) {
        self.buf.push_str(s);
        self.in_field = true;
    }

    fn finish(mut self) -> Vec<String> {
        if !self.buf.is_empty() {
            self.fields.push(self.buf);
        }
        self.fields
    }
}

struct Scan<'e> {
    lexer: Lexer,
    chars: Vec<char>,
    pos: usize,
    env: &'e dyn Env,
    raw_escapes: bool,
}

impl Scan<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let ch = self.peek();
        if ch.is_some() {
            self.pos += 1;
        }
        ch
    }

    /// Process until `stop` (consumed) or the end; `raw_escapes` holds meanwhile.
    fn until(
        &mut self,
        stop: Option<char>,
        raw_escapes: bool,
    ) -> Result<(String, Vec<String>), LexError> {
        let saved = std::mem::replace(&mut self.raw_escapes, raw_escapes);
        let result = self.until_inner(stop);
        self.raw_escapes = saved;
        result
    }

    fn until_inner(&mut self, stop: Option<char>) -> Result<(String, Vec<String>), LexError> {
        let mut result = String::new();
        let mut fields = Fields::default();
        while let Some(ch) = self.peek() {
            if Some(ch) == stop {
                self.pos += 1;
                return Ok((result, fields.finish()));
            }
            let special = match ch {
                '$' => Some(self.dollar()?),
                '<' => Some(self.possible_heredoc()),
                '\'' if !self.lexer.skip_quotes => Some(self.single_quoted()?),
                '"' if !self.lexer.skip_quotes => Some(self.double_quoted()?),
                _ => None,
            };
            if let Some(text) = special {
                result.push_str(&text);
                if ch == '$' {
                    fields.add_str(&text);
                } else {
                    fields.add_raw_str(&text);
                }
                continue;
            }
            self.pos += 1;
            if ch == self.lexer.escape {
                if self.raw_escapes {
                    fields.add_raw_char(ch);
                    result.push(ch);
                }
                let Some(escaped) = self.next() else { break };
                fields.add_raw_char(escaped);
                result.push(escaped);
            } else {
                fields.add_char(ch);
                result.push(ch);
            }
        }
        match stop {
            Some('}') => Err(LexError::Unclosed("}")),
            Some('/') => Err(LexError::Unclosed("/")),
            Some(_) => Err(LexError::Unclosed("delimiter")),
            None => Ok((result, fields.finish())),
        }
    }

    fn single_quoted(&mut self) -> Result<String, LexError> {
        let mut out = String::new();
        let quote = self.next();
        if self.lexer.raw_quotes {
            out.extend(quote);
        }
        loop {
            match self.next() {
                None => return Err(LexError::Unclosed("single-quote")),
                Some('\'') => {
                    if self.lexer.raw_quotes {
                        out.push('\'');
                    }
                    return Ok(out);
                }
                Some(ch) => out.push(ch),
            }
        }
    }

    fn double_quoted(&mut self) -> Result<String, LexError> {
        let mut out = String::new();
        let quote = self.next();
        if self.lexer.raw_quotes {
            out.extend(quote);
        }
        loop {
            match self.peek() {
                None => return Err(LexError::Unclosed("double-quote")),
                Some('"') => {
                    self.pos += 1;
                    if self.lexer.raw_quotes {
                        out.push('"');
                    }
                    return Ok(out);
                }
                Some('$') => out.push_str(&self.dollar()?),
                Some(mut ch) => {
                    self.pos += 1;
                    if ch == self.lexer.escape {
                        if self.raw_escapes {
                            out.push(ch);
                        }
                        match self.peek() {
                            // A trailing escape is dropped; the loop then reports the open quote.
                            None => continue,
                            Some(next)
                                if next == '"' || next == '$' || next == self.lexer.escape =>
                            {
                                self.pos += 1;
                                ch = next;
                            }
                            Some(_) => {}
                        }
                    }
                    out.push(ch);
                }
            }
        }
    }

    /// `<<`, a `-` after it and the blanks after those stay together, so
    /// `<< EOF` and `<<- EOF` are one heredoc word each (BuildKit's
    /// TestHeredocsFromLine).
    fn possible_heredoc(&mut self) -> String {
        self.pos += 1;
        if self.peek() != Some('<') {
            return "<".into();
        }
        self.pos += 1;
        let mut out = String::from("<<");
        if self.peek() == Some('-') {
            out.push('-');
            self.pos += 1;
        }
        while let Some(ch @ (' ' | '\t' | '\r')) = self.peek() {
            out.push(ch);
            self.pos += 1;
        }
        out
    }

    fn name(&mut self) -> String {
        let mut name = String::new();
        match self.peek() {
            Some(c) if c.is_ascii_digit() => {
                while let Some(c @ '0'..='9') = self.peek() {
                    name.push(c);
                    self.pos += 1;
                }
                return name;
            }
            Some(c @ ('@' | '*' | '#' | '?' | '-' | '$' | '!' | '0')) => {
                self.pos += 1;
                return c.to_string();
            }
            _ => {}
        }
        while let Some(c) = self.peek() {
            if !(c.is_alphanumeric() || c == '_') {
                break;
            }
            name.push(c);
            self.pos += 1;
        }
        name
    }

    fn get(&self, name: &str) -> Option<String> {
        self.env.lookup(name)
    }

    fn dollar(&mut self) -> Result<String, LexError> {
        self.pos += 1;
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok(match self.get(&name) {
                Some(value) => value,
                None if self.lexer.skip_unset => format!("${name}"),
                None => String::new(),
            });
        }
        self.pos += 1;
        match self.peek() {
            None => return Err(LexError::MissingBrace),
            Some('{' | '}' | ':') => return Err(LexError::BadSubstitution),
            _ => {}
        }
        let name = self.name();
        let Some(mut op) = self.next() else {
            return Err(LexError::MissingBrace);
        };
        let mut written = op.to_string();
        let value = self.get(&name);
        match op {
            '}' => Ok(match value {
                Some(value) => value,
                None if self.lexer.skip_unset => format!("${{{name}}}"),
                None => String::new(),
            }),
            '/' => self.substitute(&name, value),
            ':' | '+' | '-' | '?' | '#' | '%' => {
                let null_is_unset = op == ':';
                if null_is_unset {
                    op = self.next().ok_or(LexError::MissingBrace)?;
                    written.push(op);
                }
                let pattern_like = op == '#' || op == '%';
                if null_is_unset && pattern_like {
                    return Err(LexError::UnsupportedModifier(written));
                }
                let word = self.operand('}', pattern_like, LexError::MissingBrace)?;
                if value.is_none() && self.lexer.skip_unset {
                    return Ok(format!("${{{name}{written}{word}}}"));
                }
                let empty = value.is_none() || (null_is_unset && value.as_deref() == Some(""));
                match op {
                    '-' => Ok(if empty {
                        word
                    } else {
                        value.unwrap_or_default()
                    }),
                    '+' => Ok(if empty { String::new() } else { word }),
                    '?' if empty => {
                        let default = if value.is_none() {
                            "is not allowed to be unset"
                        } else {
                            "is not allowed to be empty"
                        };
                        let message = if word.is_empty() {
                            default.to_string()
                        } else {
                            word
                        };
                        Err(LexError::Required { name, message })
                    }
                    '?' => Ok(value.unwrap_or_default()),
                    '#' | '%' => {
                        let (greedy, pattern) = match word.strip_prefix(op) {
                            Some(rest) => (true, rest.to_string()),
                            None => (false, word),
                        };
                        let tokens = compile_pattern(&pattern)?;
                        let value: Vec<char> = value.unwrap_or_default().chars().collect();
                        Ok(if op == '#' {
                            trim_prefix(&tokens, &value, greedy)
                        } else {
                            trim_suffix(&tokens, &value, greedy)
                        })
                    }
                    _ => Err(LexError::UnsupportedModifier(written)),
                }
            }
            _ => Err(LexError::UnsupportedModifier(written)),
        }
    }

    /// The text of a modifier up to `stop`; a missing `stop` is `missing`.
    fn operand(&mut self, stop: char, raw: bool, missing: LexError) -> Result<String, LexError> {
        match self.until(Some(stop), raw) {
            Ok((word, _)) => Ok(word),
            Err(_) if self.peek().is_none() => Err(missing),
            Err(error) => Err(error),
        }
    }

    /// `${name/pattern/replacement}` and `${name//pattern/replacement}`.
    fn substitute(&mut self, name: &str, value: Option<String>) -> Result<String, LexError> {
        let all = self.peek() == Some('/');
        if all {
            self.pos += 1;
        }
        let pattern = self.operand('/', true, LexError::MissingSlash)?;
        let replacement = self.operand('}', true, LexError::MissingBrace)?;
        let Some(value) = value else {
            if self.lexer.skip_unset {
                return Ok(format!("${{{name}/{pattern}/{replacement}}}"));
            }
            return Ok(String::new());
        };
        let tokens = compile_pattern(&pattern)?;
        let chars: Vec<char> = value.chars().collect();
        let mut out = String::new();
        let mut start = 0;
        let mut replaced = false;
        while start <= chars.len() {
            if !all && replaced {
                break;
            }
            // Leftmost match, longest at that position (greedy `*`).
            let found = (start..=chars.len()).find_map(|from| {
                (from..=chars.len())
                    .rev()
                    .find(|&to| matches(&tokens, &chars[from..to]))
                    .map(|to| (from, to))
            });
            let Some((from, to)) = found else { break };
            out.extend(&chars[start..from]);
            out.push_str(&replacement);
            replaced = true;
            if to == from {
                // An empty match: step over one character so the scan moves on.
                if from < chars.len() {
                    out.push(chars[from]);
                }
                start = from + 1;
            } else {
                start = to;
            }
        }
        if start <= chars.len() {
            out.extend(&chars[start..]);
        }
        Ok(out)
    }
}

/// One element of a `${a#pattern}` pattern.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Token {
    Literal(char),
    AnyChar,
    AnyString,
}

fn compile_pattern(pattern: &str) -> Result<Vec<Token>, LexError> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '*' => tokens.push(Token::AnyString),
            '?' => tokens.push(Token::AnyChar),
            '\\' => match chars.get(i + 1) {
                // `\}` and `\/` only protect the delimiter: the backslash goes.
                Some('}' | '/') => {}
                Some(&c @ ('*' | '?' | '\\')) => {
                    tokens.push(Token::Literal(c));
                    i += 1;
                }
                other => {
                    return Err(LexError::BadPattern {
                        pattern: pattern.to_string(),
                        escaped: other.copied().unwrap_or(' '),
                    })
                }
            },
            c => tokens.push(Token::Literal(c)),
        }
        i += 1;
    }
    Ok(tokens)
}

/// Whether `tokens` matches all of `text`.
fn matches(tokens: &[Token], text: &[char]) -> bool {
    match tokens.split_first() {
        None => text.is_empty(),
        Some((Token::AnyString, rest)) => (0..=text.len()).any(|n| matches(rest, &text[n..])),
        Some((Token::AnyChar, rest)) => !text.is_empty() && matches(rest, &text[1..]),
        Some((Token::Literal(c), rest)) => text.first() == Some(c) && matches(rest, &text[1..]),
    }
}

fn trim_prefix(tokens: &[Token], value: &[char], greedy: bool) -> String {
    let mut ends: Vec<usize> = (0..=value.len()).collect();
    if greedy {
        ends.reverse();
    }
    let cut = ends
        .into_iter()
        .find(|&end| matches(tokens, &value[..end]))
        .unwrap_or(0);
    value[cut..].iter().collect()
}

fn trim_suffix(tokens: &[Token], value: &[char], greedy: bool) -> String {
    let mut starts: Vec<usize> = (0..=value.len()).collect();
    if !greedy {
        starts.reverse();
    }
    let cut = starts
        .into_iter()
        .find(|&start| matches(tokens, &value[start..]))
        .unwrap_or(value.len());
    value[..cut].iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Vec<(String, String)> {
        [
            ("PWD", "/home"),
            ("SHELL", "bash"),
            ("KOREAN", "한국어"),
            ("NULL", ""),
            ("P", "/usr/local/bin/tool"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    fn word(text: &str) -> Result<String, LexError> {
        Lexer::new('\\').word(text, &env())
    }

    fn words(text: &str) -> Vec<String> {
        Lexer::new('\\').words(text, &env()).unwrap()
    }

    // Cases from BuildKit's shell/envVarTest and wordsTest tables.
    #[test]
    fn substitution_forms() {
        let cases = [
            ("hello", "hello"),
            ("he'll'o", "hello"),
            ("he'llo", ""),
            ("he\\'llo", "he'llo"),
            ("'hello\\'", "hello\\"),
            ("\"hello\"", "hello"),
            ("\"hel\\\"lo\"", "hel\"lo"),
            ("\"'\"", "'"),
            ("$.", "$."),
            ("he$1x", "hex"),
            ("he$.x", "he$.x"),
            ("he$pwd.", "he."),
            ("he$PWD", "he/home"),
            ("he\\$PWD", "he$PWD"),
            ("he\\\\$PWD", "he\\/home"),
            ("\"\\\\\\$PWD\"", "\\$PWD"),
            ("he\\${}", "he${}"),
            ("'he${XX}'", "he${XX}"),
            ("\"he${PWD}\"", "he/home"),
            ("he${PWD:-000}xx", "he/homexx"),
            ("he${XXX:-000}xx", "he000xx"),
            ("he${XXX:-$PWD}xx", "he/homexx"),
            ("he${XXX:-${PWD:-yyy}}xx", "he/homexx"),
            ("he${XXX:-${YYY:-yyy}}xx", "heyyyxx"),
            ("he${NULL:-x}", "hex"),
            ("he${NULL-x}", "he"),
            ("he${PWD:+x}", "hex"),
            ("he${XXX:+x}", "he"),
            ("he${NULL+x}", "hex"),
            ("he${NULL:+x}", "he"),
            ("${KOREAN}", "한국어"),
            ("한${KOREAN}", "한한국어"),
            ("${P#*/}", "usr/local/bin/tool"),
            ("${P##*/}", "tool"),
            ("${P%/*}", "/usr/local/bin"),
            ("${P%%/*}", ""),
            ("${P/local/opt}", "/usr/opt/bin/tool"),
            ("${P//o/0}", "/usr/l0cal/bin/t00l"),
            ("${SHELL:?}", "bash"),
            ("$@x", "x"),
        ];
        for (input, want) in cases {
            match word(input) {
                Ok(got) => assert_eq!(got, want, "input {input:?}"),
                Err(e) => assert!(want.is_empty(), "input {input:?}: {e}"),
            }
        }
    }

    #[test]
    fn substitution_errors() {
        assert_eq!(word("he${}").unwrap_err(), LexError::BadSubstitution);
        assert_eq!(word("he${:x}").unwrap_err(), LexError::BadSubstitution);
        assert_eq!(word("he${PWD").unwrap_err(), LexError::MissingBrace);
        assert_eq!(word("he${PWD:-x").unwrap_err(), LexError::MissingBrace);
        assert_eq!(
            word("'abc").unwrap_err(),
            LexError::Unclosed("single-quote")
        );
        assert_eq!(
            word("\"abc").unwrap_err(),
            LexError::Unclosed("double-quote")
        );
        assert_eq!(
            word("${XXX:?need it}").unwrap_err().to_string(),
            "XXX: need it"
        );
        assert_eq!(
            word("${NULL:?}").unwrap_err().to_string(),
            "NULL: is not allowed to be empty"
        );
        assert_eq!(
            word("${XXX?}").unwrap_err().to_string(),
            "XXX: is not allowed to be unset"
        );
        assert!(matches!(
            word("${PWD:#x}"),
            Err(LexError::UnsupportedModifier(_))
        ));
    }

    #[test]
    fn fields_split_after_substitution() {
        assert_eq!(words("hello world"), ["hello", "world"]);
        assert_eq!(words("  hello  "), ["hello"]);
        assert_eq!(words("'hello world'"), ["hello world"]);
        assert_eq!(words("\"hello world\" x"), ["hello world", "x"]);
        let two: Vec<(String, String)> = vec![("A".into(), "x y".into())];
        assert_eq!(
            Lexer::new('\\').words("$A z", &two).unwrap(),
            ["x", "y", "z"]
        );
        assert_eq!(
            Lexer::new('\\').words("\"$A\" z", &two).unwrap(),
            ["x y", "z"]
        );
        assert_eq!(words("\\ x"), [" x"]);
    }

    #[test]
    fn backtick_escape() {
        let lexer = Lexer::new('`');
        assert_eq!(lexer.word("a`$PWD", &env()).unwrap(), "a$PWD");
        assert_eq!(lexer.word("c:\\dir", &env()).unwrap(), "c:\\dir");
    }

    #[test]
    fn skip_unset_keeps_references() {
        let mut lexer = Lexer::new('\\');
        lexer.skip_unset = true;
        assert_eq!(
            lexer.word("$X ${Y} ${Z:-a} $PWD", &env()).unwrap(),
            "$X ${Y} ${Z:-a} /home"
        );
    }
}
