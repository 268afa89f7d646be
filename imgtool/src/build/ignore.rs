//! `.dockerignore`: which context paths a build never sees, with the rules
//! of moby/patternmatcher (what docker build and BuildKit use): patterns are
//! cleaned paths relative to the context root, `*` and `?` stop at `/`, `**`
//! crosses directories, `!` re-includes, the last matching pattern wins, and
//! a pattern that matches a directory also matches everything below it.

use regex::Regex;

/// A compiled ignore file.
#[derive(Clone, Debug, Default)]
pub struct Ignore {
    patterns: Vec<Pattern>,
}

#[derive(Clone, Debug)]
struct Pattern {
    exclusion: bool,
    cleaned: String,
    matcher: Matcher,
}

#[derive(Clone, Debug)]
enum Matcher {
    Exact,
    /// `foo**`: any path starting with `foo`.
    Prefix(String),
    /// `**foo`: any path ending with `foo` (and `**/foo` matches `foo`).
    Suffix(String),
    Regex(Regex),
}

/// A pattern that cannot be compiled.
#[derive(Debug, thiserror::Error)]
#[error("line {line}: bad pattern {pattern:?}")]
pub struct IgnoreError {
    /// The line in the ignore file.
    pub line: usize,
    /// The pattern.
    pub pattern: String,
}

/// Lexical cleaning as Go's filepath.Clean.
pub fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            p => parts.push(p),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

impl Ignore {
    /// Parse the text of a `.dockerignore`.
    pub fn parse(text: &str) -> Result<Self, IgnoreError> {
        let mut patterns = Vec::new();
        for (index, line) in text.lines().enumerate() {
            if line.starts_with('#') {
                continue;
            }
            let mut pattern = line.trim();
            if pattern.is_empty() {
                continue;
            }
            let exclusion = pattern.starts_with('!');
            if exclusion {
                pattern = pattern[1..].trim();
            }
            let bad = || IgnoreError {
                line: index + 1,
                pattern: line.to_string(),
            };
            if pattern.is_empty() {
                return Err(bad());
            }
            let mut cleaned = clean(pattern);
            if cleaned.len() > 1 && cleaned.starts_with('/') {
                cleaned.remove(0);
            }
            let matcher = compile(&cleaned).ok_or_else(bad)?;
            patterns.push(Pattern {
                exclusion,
                cleaned,
                matcher,
            });
        }
        Ok(Ignore { patterns })
    }

    /// Whether nothing is ignored.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Whether any pattern re-includes (then an ignored directory must still be walked).
    pub fn has_exclusions(&self) -> bool {
        self.patterns.iter().any(|p| p.exclusion)
    }

    /// Whether `path` (relative to the context, `/`-separated) is ignored.
    pub fn ignores(&self, path: &str) -> bool {
        let path = clean(path);
        if path == "." {
            return false;
        }
        let parents: Vec<&str> = match path.rfind('/') {
            Some(at) => path[..at].split('/').collect(),
            None => Vec::new(),
        };
        let mut matched = false;
        for pattern in &self.patterns {
            if pattern.exclusion != matched {
                continue;
            }
            let mut hit = pattern.matches(&path);
            if !hit {
                hit = (1..=parents.len()).any(|n| pattern.matches(&parents[..n].join("/")));
            }
            if hit {
                matched = !pattern.exclusion;
            }
        }
        matched
    }
}

impl Pattern {
    fn matches(&self, path: &str) -> bool {
        match &self.matcher {
            Matcher::Exact => path == self.cleaned,
            Matcher::Prefix(prefix) => path.starts_with(prefix.as_str()),
            Matcher::Suffix(suffix) => {
                path.ends_with(suffix.as_str()) || suffix.strip_prefix('/') == Some(path)
            }
            Matcher::Regex(re) => re.is_match(path),
        }
    }
}

#[derive(PartialEq, Clone, Copy)]
enum Detected {
    Exact,
    Prefix,
    Suffix,
    Regex,
}

fn compile(pattern: &str) -> Option<Matcher> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut re = String::from("^");
    let mut detected = Detected::Exact;
    let mut i = 0;
    let mut index = 0;
    while i < chars.len() {
        let ch = chars[i];
        i += 1;
        match ch {
            '*' if chars.get(i) == Some(&'*') => {
                i += 1;
                if chars.get(i) == Some(&'/') {
                    i += 1;
                }
                if i == chars.len() {
                    if detected == Detected::Exact {
                        detected = Detected::Prefix;
                    } else {
                        re.push_str(".*");
                        detected = Detected::Regex;
                    }
                } else {
                    re.push_str("(.*/)?");
                    detected = Detected::Regex;
                }
                if index == 0 {
                    detected = Detected::Suffix;
                }
            }
            '*' => {
                re.push_str("[^/]*");
                detected = Detected::Regex;
            }
            '?' => {
                re.push_str("[^/]");
                detected = Detected::Regex;
            }
            '.' | '+' | '(' | ')' | '|' | '{' | '}' | '$' => {
                re.push('\\');
                re.push(ch);
            }
            '\\' => match chars.get(i) {
                Some(&next) => {
                    i += 1;
                    re.push('\\');
                    re.push(next);
                    detected = Detected::Regex;
                }
                None => re.push_str("\\\\"),
            },
            '[' | ']' => {
                re.push(ch);
                detected = Detected::Regex;
            }
            _ => re.push(ch),
        }
        index += 1;
    }
    Some(match detected {
        Detected::Exact => Matcher::Exact,
        Detected::Prefix => Matcher::Prefix(pattern[..pattern.len() - 2].to_string()),
        Detected::Suffix => Matcher::Suffix(pattern[2..].to_string()),
        Detected::Regex => {
            re.push('$');
            Matcher::Regex(Regex::new(&re).ok()?)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ignored(patterns: &str, path: &str) -> bool {
        Ignore::parse(patterns).unwrap().ignores(path)
    }

    // Cases from moby/patternmatcher's tests.
    #[test]
    fn pattern_rules() {
        assert!(ignored("fileutils.go", "fileutils.go"));
        assert!(ignored("*.go", "fileutils.go"));
        assert!(!ignored("*.go", "a/fileutils.go"));
        assert!(ignored("**/*.go", "a/b/fileutils.go"));
        assert!(ignored("**/*.go", "fileutils.go"));
        assert!(ignored("docs", "docs/README.md"));
        assert!(ignored("/docs", "docs/a/b"));
        assert!(ignored("docs/", "docs/x"));
        assert!(ignored("a/**/b", "a/b"));
        assert!(ignored("a/**/b", "a/x/y/b"));
        assert!(ignored("a/**", "a/x"));
        assert!(ignored("abc?", "abcd"));
        assert!(!ignored("abc?", "abc/d"));
        assert!(ignored("[a-c]x", "bx"));
        assert!(ignored("**", "anything/at/all"));
        assert!(ignored("**/foo", "foo"));
        assert!(ignored("a.b", "a.b"));
        assert!(!ignored("a.b", "axb"));
        assert!(ignored("a/../b", "b"));
    }

    #[test]
    fn last_match_wins_and_exclusions_reinclude() {
        let rules = "# comment\n*.md\n!README.md\n\ndocs\n!docs/keep\n";
        assert!(ignored(rules, "CHANGES.md"));
        assert!(!ignored(rules, "README.md"));
        assert!(ignored(rules, "docs/drop"));
        assert!(!ignored(rules, "docs/keep"));
        assert!(!ignored(rules, "docs/keep/inner"));
        assert!(Ignore::parse(rules).unwrap().has_exclusions());
        assert!(Ignore::parse("!").is_err());
    }

    #[test]
    fn clean_paths() {
        assert_eq!(clean("./a//b/../c/"), "a/c");
        assert_eq!(clean("/../a"), "/a");
        assert_eq!(clean(""), ".");
    }
}
