//! BuildKit's parser tests of heredocs (moby/buildkit
//! frontend/dockerfile/parser/parser_heredoc_test.go), ported: each test is
//! named after the one it ports and expects what BuildKit's parser yields.

use super::lines::{chomp, heredoc_word, heredoc_words, parse, Heredoc};

fn doc(name: &str, content: &str, expand: bool, chomp: bool, fd: Option<u32>) -> Heredoc {
    Heredoc {
        name: name.into(),
        expand,
        chomp,
        fd,
        content: content.into(),
    }
}

/// An ordinary heredoc: expanded, not chomped, no descriptor.
fn plain(name: &str, content: &str) -> Heredoc {
    doc(name, content, true, false, None)
}

const EXTRACTS_HEREDOC: &str = r#"
FROM alpine:3.6

ENV NAME=me

RUN ls

USER <<INVALID
INVALID

RUN <<EMPTY
EMPTY

RUN 3<<EMPTY2
EMPTY2

RUN "<<NOHEREDOC"

RUN <<INDENT
	foo
	bar
INDENT

RUN <<-UNINDENT
	baz
	quux
UNINDENT

RUN <<-UNINDENT2
	baz
	quux
	UNINDENT2

RUN <<-EXPAND
	expand $NAME
EXPAND

RUN <<-'NOEXPAND'
	don't expand $NAME
NOEXPAND

RUN <<COPY
echo hello world
echo foo bar
COPY

RUN <<COMMENT
# internal comment
echo hello world
echo foo bar # trailing comment
COMMENT

RUN --mount=type=cache,target=/foo <<MOUNT
echo hello
MOUNT

COPY <<FILE1 <<FILE2 /dest
content 1
FILE1
content 2
FILE2

COPY <<EOF /quotes
"foo"
'bar'
EOF

COPY <<X <<Y /dest
Y
X
X
Y

RUN <<COMPLEX python3
print('hello world')
COMPLEX

COPY <<file.txt /dest
hello world
file.txt

RUN <<eo'f'
echo foo
eof

RUN <<eo\'f
echo foo
eo'f

RUN <<'e'o\'f
echo foo
eo'f

RUN <<'one two'
echo bar
one two

RUN <<$EOF
$EOF

RUN <<  EOF
EOF

RUN <<  EOF  > foo
EOF
	"#;

#[test]
fn test_parse_extracts_heredoc() {
    let expected: Vec<Vec<Heredoc>> = vec![
        vec![],                   // ENV NAME=me
        vec![],                   // RUN ls
        vec![],                   // USER <<INVALID
        vec![],                   // INVALID
        vec![plain("EMPTY", "")], // RUN <<EMPTY
        vec![doc("EMPTY2", "", true, false, Some(3))],
        vec![], // RUN "<<NOHEREDOC"
        vec![plain("INDENT", "\tfoo\n\tbar\n")],
        vec![doc("UNINDENT", "\tbaz\n\tquux\n", true, true, None)],
        vec![doc("UNINDENT2", "\tbaz\n\tquux\n", true, true, None)],
        vec![doc("EXPAND", "\texpand $NAME\n", true, true, None)],
        vec![doc("NOEXPAND", "\tdon't expand $NAME\n", false, true, None)],
        vec![plain("COPY", "echo hello world\necho foo bar\n")],
        vec![plain(
            "COMMENT",
            "# internal comment\necho hello world\necho foo bar # trailing comment\n",
        )],
        vec![plain("MOUNT", "echo hello\n")],
        vec![plain("FILE1", "content 1\n"), plain("FILE2", "content 2\n")],
        vec![plain("EOF", "\"foo\"\n'bar'\n")],
        vec![plain("X", "Y\n"), plain("Y", "X\n")],
        vec![plain("COMPLEX", "print('hello world')\n")],
        vec![plain("file.txt", "hello world\n")],
        vec![doc("eof", "echo foo\n", false, false, None)],
        vec![plain("eo'f", "echo foo\n")],
        vec![doc("eo'f", "echo foo\n", false, false, None)],
        vec![doc("one two", "echo bar\n", false, false, None)],
        vec![plain("$EOF", "")],
        vec![plain("EOF", "")],
        vec![plain("EOF", "")],
    ];
    let parsed = parse(EXTRACTS_HEREDOC).unwrap();
    let found: Vec<&Vec<Heredoc>> = parsed.instructions[1..]
        .iter()
        .map(|i| &i.heredocs)
        .collect();
    assert_eq!(found.len(), expected.len());
    for (i, (found, expected)) in found.into_iter().zip(&expected).enumerate() {
        assert_eq!(found, expected, "instruction {}", i + 1);
    }
}

#[test]
fn test_parse_json_heredoc() {
    let text = "\nFROM alpine:3.6\n\nRUN [\"whoami\"]\nRUN [\"<<EOF\"]\nRUN [\"<<'EOF'\"]\n\t";
    let parsed = parse(text).unwrap();
    for instruction in &parsed.instructions[1..=3] {
        assert!(instruction.heredocs.is_empty(), "{instruction:?}");
    }
}

#[test]
fn test_heredoc_chomp() {
    assert_eq!(chomp("\thello\n\tworld\n"), "hello\nworld\n");
}

#[test]
fn test_parse_heredoc_helpers() {
    let valid = [
        "<<EOF",
        "<<'EOF'",
        "<<\"EOF\"",
        "<<-EOF",
        "<<-'EOF'",
        "<<-\"EOF\"",
        "<<EO\"F\"",
        "<< EOF",
        "<<- EOF",
    ];
    let invalid = ["<<'EOF", "<<\"EOF", "<<EOF'", "<<EOF\""];
    let not_heredocs = ["", "EOF", "<<", "<<-", "<EOF", "<<<EOF", "<<EOF sh"];
    for word in not_heredocs {
        assert_eq!(heredoc_word(word), Ok(None), "{word:?}");
    }
    for word in valid {
        let found = heredoc_word(word).unwrap();
        assert_eq!(found.map(|d| d.name).as_deref(), Some("EOF"), "{word:?}");
    }
    for word in invalid {
        assert!(heredoc_word(word).is_err(), "{word:?}");
    }
}

#[test]
fn test_heredocs_from_line() {
    let cases: [(&str, &[&str]); 10] = [
        ("RUN <<EOF", &["EOF"]),
        ("RUN <<-EOF", &["EOF"]),
        ("RUN <<EOF", &["EOF"]),
        ("RUN <<- EOF", &["EOF"]),
        ("RUN << -EOF", &["-EOF"]),
        ("RUN <<'EOF'", &["EOF"]),
        ("RUN 4<<EOF", &["EOF"]),
        ("RUN <<EOF <<EOF2", &["EOF", "EOF2"]),
        ("RUN '<<EOF'", &[]),
        ("RUN \"<<EOF\"", &[]),
    ];
    for (line, names) in cases {
        let found: Vec<String> = heredoc_words(line)
            .unwrap()
            .into_iter()
            .map(|d| d.name)
            .collect();
        assert_eq!(found, names, "{line:?}");
    }
}
