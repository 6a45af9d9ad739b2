//! Escaping text that comes from records (server banners, AS names: hostile) for every place it
//! lands: HTML and SVG text and attributes, JSON inside `<script>`, Markdown.
use std::borrow::Cow;

/// Escapes `& < > " '` for HTML or XML text and quoted attribute values.
pub fn xml(s: &str) -> Cow<'_, str> {
    if !s.contains(['&', '<', '>', '"', '\'']) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Makes serialized JSON safe inside `<script type="application/json">`: `<`, `>` and `&` become
/// `\u003c` and friends (no `</script>` or `<!--` can appear), and U+2028/2029 are escaped. These
/// characters only occur inside JSON strings, where the escapes mean the same characters.
pub fn json_in_script(json: &str) -> String {
    let mut out = String::with_capacity(json.len() + json.len() / 64);
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes text for a Markdown table cell or line: Markdown syntax characters get a backslash,
/// HTML-significant ones become entities, line breaks become spaces.
pub fn markdown(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len() + 8);
    for (i, &c) in chars.iter().enumerate() {
        match c {
            '\\' | '`' | '*' | '[' | ']' | '|' | '#' | '~' | '!' => {
                out.push('\\');
                out.push(c);
            }
            // Intraword underscores (`not_offered`) are safe in GFM; others are escaped.
            '_' => {
                let alnum = |j: Option<usize>| {
                    j.and_then(|j| chars.get(j))
                        .is_some_and(|c| c.is_alphanumeric())
                };
                if !(alnum(i.checked_sub(1)) && alnum(Some(i + 1))) {
                    out.push('\\');
                }
                out.push('_');
            }
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\r' | '\n' | '\t' => out.push(' '),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// At most `max` characters, with an ellipsis when cut.
pub fn truncate(s: &str, max: usize) -> Cow<'_, str> {
    if s.chars().count() <= max {
        return Cow::Borrowed(s);
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_xml() {
        assert_eq!(
            xml(r#"</script><img src=x onerror="a('b')">&"#),
            "&lt;/script&gt;&lt;img src=x onerror=&quot;a(&#39;b&#39;)&quot;&gt;&amp;"
        );
        assert!(matches!(xml("plain"), Cow::Borrowed(_)));
    }

    #[test]
    fn test_json_in_script_keeps_meaning() {
        let hostile = "</script><script>alert(1)</script><!-- \u{2028}&";
        let json = serde_json::to_string(&hostile).unwrap();
        let safe = json_in_script(&json);
        assert!(!safe.contains('<') && !safe.contains('>') && !safe.contains('&'));
        assert!(!safe.contains('\u{2028}'));
        let back: String = serde_json::from_str(&safe).unwrap();
        assert_eq!(back, hostile);
    }

    #[test]
    fn test_markdown() {
        assert_eq!(markdown("not_offered"), "not_offered");
        assert_eq!(markdown("_x_ *y* | <b>"), "\\_x\\_ \\*y\\* \\| &lt;b&gt;");
        assert_eq!(markdown("a\nb"), "a b");
    }

    #[test]
    fn test_truncate() {
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
    }
}
