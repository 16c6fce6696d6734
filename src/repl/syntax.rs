//! Just enough of Rhai's lexical structure for the REPL: which brackets,
//! strings and comments are still open at the end of some text (for
//! multi-line input and for knowing whether the cursor is inside a string),
//! and the word or call the cursor is in.

/// What is still open at the end of some Rhai text.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Open {
    /// Open brackets, innermost last: the bracket and its byte offset.
    pub brackets: Vec<(char, usize)>,
    /// An unterminated string or character literal: its quote and the
    /// quote's byte offset.
    pub string: Option<(char, usize)>,
    /// Inside a (possibly nested) block comment.
    pub comment: bool,
    /// A closing bracket matched nothing; the compiler will report it.
    pub unbalanced: bool,
}

fn closer(open: char) -> char {
    match open {
        '(' => ')',
        '[' => ']',
        _ => '}',
    }
}

/// Scans `text` and reports what is left open at its end.  Knows `//` and
/// nested `/* */` comments, `"…"` and `'…'` literals with `\` escapes (they
/// end at a line break) and multi-line `` `…` `` strings.
pub fn scan(text: &str) -> Open {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut open = Open::default();
    let mut comment_depth = 0usize;
    let mut i = 0;
    while i < chars.len() {
        let (off, c) = chars[i];
        let next = chars.get(i + 1).map(|&(_, n)| n);
        if comment_depth > 0 {
            match (c, next) {
                ('*', Some('/')) => {
                    comment_depth -= 1;
                    i += 2;
                }
                ('/', Some('*')) => {
                    comment_depth += 1;
                    i += 2;
                }
                _ => i += 1,
            }
            continue;
        }
        if let Some((quote, _)) = open.string {
            if c == '\\' && quote != '`' {
                i += 2;
                continue;
            }
            if c == quote || (c == '\n' && quote != '`') {
                open.string = None;
            }
            i += 1;
            continue;
        }
        match (c, next) {
            ('/', Some('/')) => {
                while i < chars.len() && chars[i].1 != '\n' {
                    i += 1;
                }
                continue;
            }
            ('/', Some('*')) => {
                comment_depth = 1;
                i += 2;
                continue;
            }
            ('"' | '\'' | '`', _) => open.string = Some((c, off)),
            ('(' | '[' | '{', _) => open.brackets.push((c, off)),
            (')' | ']' | '}', _) => match open.brackets.last() {
                Some(&(o, _)) if closer(o) == c => {
                    open.brackets.pop();
                }
                _ => open.unbalanced = true,
            },
            _ => {}
        }
        i += 1;
    }
    open.comment = comment_depth > 0;
    open
}

/// Whether `input` is unfinished: a bracket, a block comment or a
/// back-tick string is still open (so Enter continues on a new line).
/// Meta-commands (`:help`) are always complete.
pub fn needs_more(input: &str) -> bool {
    if input.trim_start().starts_with(':') {
        return false;
    }
    let open = scan(input);
    !open.unbalanced
        && (!open.brackets.is_empty() || open.comment || matches!(open.string, Some(('`', _))))
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Where the path word ending at `pos` starts: `ec2::cre`, `vpc`, or
/// nothing (`pos` itself).
pub fn word_start(line: &str, pos: usize) -> usize {
    let mut start = pos;
    for (i, c) in line[..pos].char_indices().rev() {
        if is_word_char(c) || c == ':' {
            start = i;
        } else {
            break;
        }
    }
    start
}

/// Where the plain identifier ending at `pos` starts (no `::`).
pub fn ident_start(line: &str, pos: usize) -> usize {
    let mut start = pos;
    for (i, c) in line[..pos].char_indices().rev() {
        if is_word_char(c) {
            start = i;
        } else {
            break;
        }
    }
    start
}

/// The function whose argument list the end of `before` is in:
/// `cidr::host("10.0.0.0/24", ` → `cidr::host`.
pub fn enclosing_call(before: &str) -> Option<&str> {
    let open = scan(before);
    if open.string.is_some() || open.comment {
        return None;
    }
    let &(bracket, at) = open.brackets.last()?;
    if bracket != '(' {
        return None;
    }
    let name = &before[word_start(before, at)..at];
    let starts_ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_');
    starts_ok.then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_brackets_continue_the_input() {
        assert!(needs_more("fn f(x) {"));
        assert!(needs_more("let a = [1,\n 2,"));
        assert!(needs_more("let m = #{ a: (1"));
        assert!(needs_more("let s = `multi\nline"));
        assert!(needs_more("/* a comment"));
        assert!(!needs_more("fn f(x) { x + 1 }"));
        assert!(!needs_more("let s = \"(\";"));
        assert!(!needs_more("let c = '{';"));
        assert!(!needs_more("let s = \"\\\"(\";"));
        assert!(!needs_more("1 + 1 // (open in a comment"));
        assert!(
            !needs_more("let x = 1)"),
            "unbalanced: let the compiler say so"
        );
        assert!(!needs_more(":help ec2::create_vpc("));
    }

    #[test]
    fn words_and_calls() {
        let l = "let v = ec2::cre";
        assert_eq!(&l[word_start(l, l.len())..], "ec2::cre");
        let l = "vpc.ci";
        assert_eq!(&l[ident_start(l, l.len())..], "ci");
        assert_eq!(
            enclosing_call("cidr::host(\"10.0.0.0/24\", "),
            Some("cidr::host")
        );
        assert_eq!(enclosing_call("f(g(1), "), Some("f"));
        assert_eq!(enclosing_call("(1 + "), None);
        assert_eq!(enclosing_call("cidr::host(\"10.0"), None);
        assert_eq!(scan("state::get(\"vp").string, Some(('"', 11)));
    }
}
