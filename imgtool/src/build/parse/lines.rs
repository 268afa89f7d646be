//! From Dockerfile text to raw instructions: parser directives, comments,
//! line continuations and heredoc bodies, with BuildKit's rules
//! (`frontend/dockerfile/parser`): what counts as a continuation, which
//! lines are skipped inside one, and where a heredoc ends.

use super::lex::{Lexer, NoEnv};

/// One instruction as written, before its arguments are typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawInstruction {
    /// The keyword as written (`run`, `RUN`).
    pub keyword: String,
    /// Leading `--flag[=value]` words.
    pub flags: Vec<String>,
    /// The arguments (see [`Args`]).
    pub args: Args,
    /// Heredoc bodies, in the order their `<<WORD` appear.
    pub heredocs: Vec<Heredoc>,
    /// The logical line after continuations were joined.
    pub original: String,
    /// First line (1-based).
    pub line: usize,
    /// Last line, including heredoc bodies.
    pub end_line: usize,
}

/// Arguments, shaped per instruction as BuildKit's line parsers shape them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Args {
    /// A JSON array (exec form).
    Json(Vec<String>),
    /// The rest of the line as one string (shell form, USER, WORKDIR...).
    Text(String),
    /// Words split on whitespace (FROM, EXPOSE, COPY, ADD, VOLUME).
    Words(Vec<String>),
    /// `key=value` pairs (ENV, LABEL); the legacy `KEY value` form has `legacy`.
    Pairs(Vec<(String, String)>, bool),
    /// Words with their quotes kept, for ARG.
    QuotedWords(Vec<String>),
    /// HEALTHCHECK: the type, then its command.
    Health(String, Box<Args>),
    /// ONBUILD: the trigger instruction.
    Sub(Box<RawInstruction>),
    /// Nothing after the keyword.
    Empty,
}

/// A heredoc body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    /// The terminator word (and the file name for COPY).
    pub name: String,
    /// Variables in the body are expanded (the word was not quoted).
    pub expand: bool,
    /// `<<-`: leading tabs are removed.
    pub chomp: bool,
    /// The file descriptor before `<<` (RUN 3<<EOF).
    pub fd: Option<u32>,
    /// The body, each line ending in a newline.
    pub content: String,
}

/// The parsed file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// The escape character in force.
    pub escape: char,
    /// The `# syntax=` directive, if any (accepted, not acted on).
    pub syntax: Option<String>,
    /// The instructions, in order.
    pub instructions: Vec<RawInstruction>,
}

/// A syntax error at a line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct LineError {
    /// The line (1-based).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

fn error(line: usize, message: impl Into<String>) -> LineError {
    LineError {
        line,
        message: message.into(),
    }
}

/// Parser directives: only at the very top, each once, ending at the first
/// line that is not one.
struct Directives {
    done: bool,
    seen: Vec<String>,
    escape: char,
    syntax: Option<String>,
}

impl Directives {
    /// Whether `line` was a directive (then it is not also a comment).
    fn check(&mut self, line: &str, number: usize) -> Result<bool, LineError> {
        if self.done {
            return Ok(false);
        }
        let Some((key, value)) = directive(line) else {
            self.done = true;
            return Ok(false);
        };
        if !matches!(key.as_str(), "syntax" | "escape" | "check") {
            self.done = true;
            return Ok(false);
        }
        if self.seen.contains(&key) {
            return Err(error(
                number,
                format!("only one {key} parser directive can be used"),
            ));
        }
        if key == "escape" {
            self.escape = match value.as_str() {
                "\\" => '\\',
                "`" => '`',
                _ => {
                    return Err(error(
                        number,
                        format!("invalid escape token '{value}' does not match ` or \\"),
                    ))
                }
            };
        }
        if key == "syntax" {
            self.syntax = Some(value);
        }
        self.seen.push(key);
        Ok(true)
    }
}

/// `# key = value` with a letter-then-alphanumerics key.
fn directive(line: &str) -> Option<(String, String)> {
    let rest = line.strip_prefix('#')?.trim_start();
    let key_len = rest
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit())))
        .map_or(rest.len(), |(i, _)| i);
    if key_len == 0 {
        return None;
    }
    let (key, after) = rest.split_at(key_len);
    let value = after.trim_start().strip_prefix('=')?.trim();
    if value.is_empty() {
        return None;
    }
    Some((key.to_ascii_lowercase(), value.to_string()))
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

/// The line without a trailing continuation escape, or `None` if it has none.
/// An escape counts when only blanks follow it and it is not itself escaped
/// (BuildKit's regex: a non-escape character before it, or nothing at all).
fn strip_continuation(line: &str, escape: char) -> Option<&str> {
    let body = line.trim_end_matches([' ', '\t']);
    let before = body.strip_suffix(escape)?;
    match before.chars().last() {
        None => Some(before),
        Some(c) if c != escape => Some(before),
        Some(_) => None,
    }
}

/// Parse a Dockerfile.
pub fn parse(text: &str) -> Result<Parsed, LineError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut directives = Directives {
        done: false,
        seen: Vec::new(),
        escape: '\\',
        syntax: None,
    };
    let mut instructions = Vec::new();
    let mut index = 0;
    while index < lines.len() {
        let number = index + 1;
        let line = lines[index].trim_end_matches(['\r', '\n']).trim_start();
        index += 1;
        // 1. Directives (top of file only), comments and blank lines.
        if directives.check(line, number)? || is_comment(line) {
            continue;
        }
        // 2. The logical line: continuation lines joined, comments and blank lines inside skipped.
        let escape = directives.escape;
        let mut logical = String::new();
        let mut continues = match strip_continuation(line, escape) {
            Some(head) => {
                logical.push_str(head);
                true
            }
            None => {
                logical.push_str(line);
                false
            }
        };
        if !continues && logical.is_empty() {
            continue;
        }
        while continues && index < lines.len() {
            let next = lines[index].trim_end_matches(['\r', '\n']);
            directives.check(next, index + 1)?;
            index += 1;
            if is_comment(next) || next.trim().is_empty() {
                continue;
            }
            match strip_continuation(next, escape) {
                Some(head) => logical.push_str(head),
                None => {
                    logical.push_str(next);
                    continues = false;
                }
            }
        }
        if logical.trim().is_empty() {
            continue;
        }
        // 3. Keyword, flags and arguments; then heredoc bodies from the following lines.
        let mut instruction =
            split_instruction(&logical, escape).map_err(|message| error(number, message))?;
        instruction.line = number;
        instruction.end_line = index;
        if can_have_heredocs(&instruction) && logical.contains("<<") {
            for mut heredoc in heredoc_words(&logical).map_err(|m| error(number, m))? {
                let mut terminated = false;
                while index < lines.len() {
                    let body_line = lines[index];
                    index += 1;
                    let mut candidate = body_line.trim_end_matches(['\r', '\n']);
                    if heredoc.chomp {
                        candidate = candidate.trim_start_matches('\t');
                    }
                    if candidate == heredoc.name {
                        terminated = true;
                        break;
                    }
                    heredoc.content.push_str(body_line);
                }
                if !terminated {
                    return Err(error(number, "unterminated heredoc"));
                }
                instruction.heredocs.push(heredoc);
            }
            instruction.end_line = index;
        }
        instructions.push(instruction);
    }
    if instructions.is_empty() {
        return Err(error(lines.len().max(1), "file with no instructions"));
    }
    Ok(Parsed {
        escape: directives.escape,
        syntax: directives.syntax,
        instructions,
    })
}

fn can_have_heredocs(instruction: &RawInstruction) -> bool {
    let inner = match &instruction.args {
        Args::Sub(sub) if instruction.keyword.eq_ignore_ascii_case("onbuild") => sub,
        _ => instruction,
    };
    matches!(
        inner.keyword.to_ascii_lowercase().as_str(),
        "run" | "copy" | "add"
    ) && !matches!(inner.args, Args::Json(_))
}

/// The heredocs a logical line opens: each word of the form `[n]<<[-]WORD`.
pub(super) fn heredoc_words(line: &str) -> Result<Vec<Heredoc>, String> {
    let mut lexer = Lexer::new('\\');
    lexer.raw_quotes = true;
    lexer.raw_escapes = true;
    lexer.skip_unset = true;
    let words = lexer.words(line, &NoEnv).unwrap_or_default();
    let mut docs = Vec::new();
    for word in words {
        if let Some(doc) = heredoc_word(&word)? {
            docs.push(doc);
        }
    }
    Ok(docs)
}

/// A `<<-` body with the tabs that start its lines removed.
pub fn chomp(content: &str) -> String {
    content
        .split_inclusive('\n')
        .map(|l| l.trim_start_matches('\t'))
        .collect()
}

/// A `[n]<<[-]WORD` word as a heredoc (body still empty), or `None`.
pub fn heredoc_word(word: &str) -> Result<Option<Heredoc>, String> {
    let digits = word.chars().take_while(char::is_ascii_digit).count();
    let Some(rest) = word[digits..].strip_prefix("<<") else {
        return Ok(None);
    };
    let (chomp, rest) = match rest.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, rest),
    };
    let rest = rest.trim_start();
    if rest.is_empty() || rest.contains('<') {
        return Ok(None);
    }
    // The word with quotes removed names the heredoc; if removing them changed
    // anything, part of it was quoted and the body is taken literally.
    let mut lexer = Lexer::new('\\');
    lexer.skip_unset = true;
    let plain = lexer.words(rest, &NoEnv).map_err(|e| e.to_string())?;
    if plain.len() != 1 {
        return Ok(None);
    }
    lexer.raw_quotes = true;
    let raw = lexer.words(rest, &NoEnv).map_err(|e| e.to_string())?;
    let quotes = |s: &str| s.matches(['\'', '"']).count();
    let expand = raw.len() == 1 && quotes(&plain[0]) == quotes(&raw[0]);
    Ok(Some(Heredoc {
        name: plain[0].clone(),
        expand,
        chomp,
        fd: word[..digits].parse().ok(),
        content: String::new(),
    }))
}

/// Keyword, leading flags and typed-by-keyword arguments of one logical line.
pub fn split_instruction(line: &str, escape: char) -> Result<RawInstruction, String> {
    let line = line.trim();
    let (keyword, rest) = match line.find(is_blank) {
        Some(at) => (&line[..at], line[at..].trim_start_matches(is_blank)),
        None => (line, ""),
    };
    let (rest, flags) = split_flags(rest, escape);
    let rest = rest.trim();
    let args = match keyword.to_ascii_lowercase().as_str() {
        "add" | "copy" | "volume" => json_or(rest, |r| Args::Words(split_blank(r)))?,
        "arg" => Args::QuotedWords(quoted_words(rest, escape)),
        "cmd" | "entrypoint" | "run" | "shell" => json_or(rest, |r| Args::Text(r.to_string()))?,
        "env" | "label" => pairs(rest, keyword, escape)?,
        "expose" | "from" => Args::Words(split_blank(rest)),
        "healthcheck" => {
            let (kind, command) = match rest.find(char::is_whitespace) {
                Some(at) => (&rest[..at], rest[at..].trim_start()),
                None => (rest, ""),
            };
            if kind.is_empty() {
                Args::Empty
            } else {
                let command = match command {
                    "" => Args::Empty,
                    text => json_or(text, |r| Args::Text(r.to_string()))?,
                };
                Args::Health(kind.to_string(), Box::new(command))
            }
        }
        "maintainer" | "stopsignal" | "user" | "workdir" => Args::Text(rest.to_string()),
        "onbuild" if !rest.is_empty() => Args::Sub(Box::new(split_instruction(rest, escape)?)),
        _ => Args::Empty,
    };
    let args = match args {
        Args::Text(t) if t.is_empty() => Args::Empty,
        Args::Words(w) if w.is_empty() => Args::Empty,
        other => other,
    };
    Ok(RawInstruction {
        keyword: keyword.to_string(),
        flags,
        args,
        heredocs: Vec::new(),
        original: line.to_string(),
        line: 0,
        end_line: 0,
    })
}

fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\x0b' | '\x0c')
}

fn split_blank(text: &str) -> Vec<String> {
    text.split(is_blank)
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// A JSON array of strings (exec form), or `otherwise(rest)`. A JSON array
/// holding a non-string is an error, not shell form.
fn json_or(rest: &str, otherwise: impl FnOnce(&str) -> Args) -> Result<Args, String> {
    let trimmed = rest.trim_start();
    if trimmed.starts_with('[') {
        if let Ok(values) = serde_json::from_str::<Vec<serde_json::Value>>(trimmed) {
            let strings: Option<Vec<String>> = values
                .into_iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect();
            return match strings {
                Some(strings) => Ok(Args::Json(strings)),
                None => Err(
                    "when using JSON array syntax, arrays must be comprised of strings only".into(),
                ),
            };
        }
    }
    Ok(otherwise(rest))
}

/// Leading `--name[=value]` words (quotes and escapes resolved); `--` ends them.
fn split_flags(line: &str, escape: char) -> (&str, Vec<String>) {
    let mut flags = Vec::new();
    let chars: Vec<(usize, char)> = line.char_indices().collect();
    let mut i = 0;
    loop {
        while i < chars.len() && chars[i].1.is_whitespace() {
            i += 1;
        }
        let at = chars.get(i).map_or(line.len(), |c| c.0);
        if !line[at..].starts_with("--") {
            return (&line[at..], flags);
        }
        let mut word = String::new();
        let mut quote: Option<char> = None;
        let mut quoted = false;
        while i < chars.len() {
            let c = chars[i].1;
            i += 1;
            match quote {
                None if c.is_whitespace() => break,
                None if c == '\'' || c == '"' => {
                    quote = Some(c);
                    quoted = true;
                }
                Some(q) if c == q => quote = None,
                _ if c == escape => {
                    if i < chars.len() {
                        word.push(chars[i].1);
                        i += 1;
                    }
                }
                _ => word.push(c),
            }
        }
        if word == "--" {
            let at = chars.get(i).map_or(line.len(), |c| c.0);
            return (&line[at..], flags);
        }
        if quoted || !word.is_empty() {
            flags.push(word);
        }
        if i >= chars.len() {
            return ("", flags);
        }
    }
}

/// Words split on unquoted whitespace, quotes and escapes kept for later processing.
fn quoted_words(rest: &str, escape: char) -> Vec<String> {
    let chars: Vec<char> = rest.chars().collect();
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut blank_ok = false;
    let mut quote: Option<char> = None;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match quote {
            None if c.is_whitespace() => {
                if in_word && (blank_ok || !word.is_empty()) {
                    words.push(std::mem::take(&mut word));
                }
                in_word = false;
                blank_ok = false;
                continue;
            }
            None => {
                in_word = true;
                if c == '\'' || c == '"' {
                    quote = Some(c);
                    blank_ok = true;
                }
                if c == escape {
                    if i == chars.len() {
                        continue;
                    }
                    word.push(c);
                    word.push(chars[i]);
                    i += 1;
                    continue;
                }
            }
            Some(q) => {
                if c == q {
                    quote = None;
                }
                if c == escape && q != '\'' {
                    if i == chars.len() {
                        quote = None;
                        continue;
                    }
                    word.push(c);
                    word.push(chars[i]);
                    i += 1;
                    continue;
                }
            }
        }
        word.push(c);
    }
    if in_word && (blank_ok || !word.is_empty()) {
        words.push(word);
    }
    words
}

/// ENV and LABEL: `k=v k2=v2`, or the legacy `k v with spaces`.
fn pairs(rest: &str, keyword: &str, escape: char) -> Result<Args, String> {
    let words = quoted_words(rest, escape);
    let Some(first) = words.first() else {
        return Ok(Args::Empty);
    };
    if !first.contains('=') {
        let Some(at) = rest.find(is_blank) else {
            return Err(format!(
                "{} must have two arguments",
                keyword.to_ascii_uppercase()
            ));
        };
        let value = rest[at..].trim_start_matches(is_blank);
        return Ok(Args::Pairs(
            vec![(rest[..at].to_string(), value.to_string())],
            true,
        ));
    }
    let mut out = Vec::new();
    for word in words {
        let Some((key, value)) = word.split_once('=') else {
            return Err(format!(
                "Syntax error - can't find = in {word:?}. Must be of the form: name=value"
            ));
        };
        out.push((key.to_string(), value.to_string()));
    }
    Ok(Args::Pairs(out, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> RawInstruction {
        let parsed = parse(text).unwrap();
        assert_eq!(parsed.instructions.len(), 1, "{text:?}");
        parsed.instructions.into_iter().next().unwrap()
    }

    #[test]
    fn continuations_skip_comments_and_blank_lines() {
        let text = "FROM busybox\nRUN echo a \\\n# comment\n\n    b \\\n  c\nCMD x\n";
        let parsed = parse(text).unwrap();
        let run = &parsed.instructions[1];
        assert_eq!(run.args, Args::Text("echo a     b   c".into()));
        assert_eq!((run.line, run.end_line), (2, 6));
        assert_eq!(parsed.instructions[2].line, 7);
    }

    #[test]
    fn continuation_at_end_of_file() {
        let i = one("RUN echo \\");
        assert_eq!(i.args, Args::Text("echo".into()));
    }

    #[test]
    fn escaped_escape_is_not_a_continuation() {
        let parsed = parse("RUN echo \\\\\nCMD x").unwrap();
        assert_eq!(parsed.instructions.len(), 2);
    }

    #[test]
    fn escape_directive() {
        let parsed = parse("# escape=`\nFROM x\nRUN dir c:\\ `\n  /b\n").unwrap();
        assert_eq!(parsed.escape, '`');
        assert_eq!(
            parsed.instructions[1].args,
            Args::Text("dir c:\\   /b".into())
        );
    }

    #[test]
    fn directives_only_at_the_top() {
        let parsed =
            parse("# syntax=docker/dockerfile:1\n# escape=`\nFROM x\n# escape=\\\n").unwrap();
        assert_eq!(parsed.syntax.as_deref(), Some("docker/dockerfile:1"));
        assert_eq!(parsed.escape, '`');
        let late = parse("FROM x\n# escape=`\nRUN a \\\n b").unwrap();
        assert_eq!(late.escape, '\\');
        let after_comment = parse("# hello\n# escape=`\nFROM x").unwrap();
        assert_eq!(after_comment.escape, '\\');
        assert_eq!(
            parse("# escape=`\n# escape=`\nFROM x")
                .unwrap_err()
                .to_string(),
            "line 2: only one escape parser directive can be used"
        );
        assert!(parse("# escape=x\nFROM x").is_err());
    }

    #[test]
    fn no_instructions() {
        assert_eq!(parse("").unwrap_err().message, "file with no instructions");
        assert_eq!(
            parse("# a\n\n# b\n").unwrap_err().message,
            "file with no instructions"
        );
    }

    #[test]
    fn flags_are_split_off() {
        let i = one("COPY --from=build --chown=\"1:2\" a b /dst/");
        assert_eq!(i.flags, ["--from=build", "--chown=1:2"]);
        assert_eq!(
            i.args,
            Args::Words(vec!["a".into(), "b".into(), "/dst/".into()])
        );
        let i = one("RUN --mount=type=cache,target=/c -- --notaflag");
        assert_eq!(i.flags, ["--mount=type=cache,target=/c"]);
        assert_eq!(i.args, Args::Text("--notaflag".into()));
    }

    #[test]
    fn json_and_shell_forms() {
        assert_eq!(
            one("CMD [\"a\", \"b c\"]").args,
            Args::Json(vec!["a".into(), "b c".into()])
        );
        assert_eq!(one("CMD [\"a\", ").args, Args::Text("[\"a\",".into()));
        assert!(parse("CMD [\"a\", 1]").is_err());
        assert_eq!(one("CMD").args, Args::Empty);
    }

    #[test]
    fn env_forms() {
        assert_eq!(
            one("ENV A=1 B=\"x y\" C=a\\ b").args,
            Args::Pairs(
                vec![
                    ("A".into(), "1".into()),
                    ("B".into(), "\"x y\"".into()),
                    ("C".into(), "a\\ b".into())
                ],
                false
            )
        );
        assert_eq!(
            one("ENV A 1 2  3").args,
            Args::Pairs(vec![("A".into(), "1 2  3".into())], true)
        );
        assert_eq!(
            parse("ENV A").unwrap_err().message,
            "ENV must have two arguments"
        );
        assert!(parse("LABEL a=b c").is_err());
    }

    #[test]
    fn heredocs() {
        let text = "FROM x\nRUN <<EOF\necho $A\nEOF\nCOPY <<-\"one\" 2<<two /d/\n\tx\n\tone\ny\ntwo\nCMD z\n";
        let parsed = parse(text).unwrap();
        let run = &parsed.instructions[1];
        assert_eq!(run.heredocs.len(), 1);
        assert_eq!(run.heredocs[0].content, "echo $A\n");
        assert!(run.heredocs[0].expand);
        let copy = &parsed.instructions[2];
        assert_eq!(copy.heredocs[0].name, "one");
        assert!(!copy.heredocs[0].expand && copy.heredocs[0].chomp);
        assert_eq!(copy.heredocs[0].content, "\tx\n");
        assert_eq!(copy.heredocs[1].fd, Some(2));
        assert_eq!(copy.heredocs[1].content, "y\n");
        assert_eq!((copy.line, copy.end_line), (5, 9));
        assert_eq!(parsed.instructions[3].line, 10);
        assert_eq!(
            parse("RUN <<EOF\nx\n").unwrap_err().message,
            "unterminated heredoc"
        );
        // Exec form and other instructions take `<<` literally.
        assert!(
            parse("RUN [\"a\", \"<<EOF\"]\nCMD b").unwrap().instructions[0]
                .heredocs
                .is_empty()
        );
        assert!(parse("ENV A=<<EOF\nCMD b").unwrap().instructions[0]
            .heredocs
            .is_empty());
    }

    #[test]
    fn onbuild_wraps_a_trigger() {
        let i = one("ONBUILD RUN --network=none echo hi");
        let Args::Sub(sub) = i.args else { panic!() };
        assert_eq!(sub.keyword, "RUN");
        assert_eq!(sub.flags, ["--network=none"]);
    }

    #[test]
    fn arg_words_keep_quotes() {
        assert_eq!(
            one("ARG a=\"x y\" b c='d'").args,
            Args::QuotedWords(vec!["a=\"x y\"".into(), "b".into(), "c='d'".into()])
        );
    }

    #[test]
    fn crlf_and_bom() {
        let parsed = parse("\u{feff}FROM x\r\nRUN a \\\r\n  b\r\n").unwrap();
        assert_eq!(parsed.instructions[1].args, Args::Text("a   b".into()));
    }
}
