//! Signs of tampering in what the server (or a box in front of it) said.
use super::Reply;

/// A PIX/ASA-style masked banner: the box replaces every character but `2`, `0` and spaces
/// with `*`. A one-line banner is masked when its text is only those characters with at least
/// three asterisks. In a multi-line banner, a box may mask some lines only; a line counts
/// when it is made of them and is not merely a row of asterisks (servers draw such separator
/// lines themselves; a masked line of text keeps its spaces or a 2 or 0).
pub fn banner_masked(banner: &Reply) -> bool {
    let masked_chars = |l: &str| {
        l.chars().filter(|&c| c == '*').count() >= 3
            && l.chars().all(|c| matches!(c, '*' | '2' | '0' | ' '))
    };
    match banner.lines.as_slice() {
        [one] => masked_chars(one),
        lines => lines
            .iter()
            .any(|l| masked_chars(l) && l.chars().any(|c| c != '*')),
    }
}

/// EHLO keywords that are runs of `X` where an extension name was (`XXXXXXXA`, `XXXXXXXX`):
/// at least four characters, all letters, all but at most one of them `X`.
pub fn masked_keywords(ehlo: &Reply) -> Vec<String> {
    ehlo.lines
        .iter()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .filter(|k| {
            let xs = k.chars().filter(|&c| c == 'X' || c == 'x').count();
            k.len() >= 4 && k.chars().all(|c| c.is_ascii_alphabetic()) && xs + 1 >= k.len()
        })
        .map(str::to_string)
        .collect()
}

/// Whether the EHLO reply lists STARTTLS.
pub fn advertises_starttls(ehlo: &Reply) -> bool {
    ehlo.lines.iter().skip(1).any(|l| {
        l.split_whitespace()
            .next()
            .is_some_and(|k| k.eq_ignore_ascii_case("STARTTLS"))
    })
}

/// A rewritten command echoed in a reply, e.g. `500 ... unrecognized: "XXXXXXXX"`: the first run
/// of four or more `X`.
pub fn echoed_rewrite(reply: &Reply) -> Option<String> {
    let text = reply.lines.join(" ");
    let mut best: Option<String> = None;
    let mut run = String::new();
    for c in text.chars().chain(std::iter::once(' ')) {
        if c == 'X' || c == 'x' {
            run.push(c);
        } else {
            if run.len() >= 4 && best.is_none() {
                best = Some(run.clone());
            }
            run.clear();
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(code: u16, lines: &[&str]) -> Reply {
        Reply {
            code,
            lines: lines.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn pix_banner_masking() {
        assert!(banner_masked(&reply(
            220,
            &["*****************************0*2*****2*00*"]
        )));
        assert!(!banner_masked(&reply(220, &["mail.lab ESMTP Postfix"])));
        assert!(!banner_masked(&reply(220, &["** 20"])));
        // Issue: a partly masked multi-line banner was not reported as masked.
        assert!(banner_masked(&reply(
            220,
            &["***** ***2**0*", "hostile.lab ESMTP"]
        )));
        // A server's own separator line of asterisks is not masking.
        assert!(!banner_masked(&reply(
            220,
            &["*****************", "mx.example ESMTP", "*****************"]
        )));
    }

    #[test]
    fn ehlo_keyword_masking_and_advertisement() {
        let masked = reply(
            250,
            &[
                "mail.lab",
                "PIPELINING",
                "XXXXXXXA",
                "8BITMIME",
                "XCLIENT NAME",
            ],
        );
        assert_eq!(masked_keywords(&masked), ["XXXXXXXA"]);
        assert!(!advertises_starttls(&masked));
        let clean = reply(
            250,
            &["mail.lab", "PIPELINING", "starttls", "XXXXXXXX is our name"],
        );
        assert!(advertises_starttls(&clean));
        assert_eq!(masked_keywords(&clean), ["XXXXXXXX"]);
        // The greeting line is never a keyword.
        assert!(masked_keywords(&reply(250, &["XXXXXX"])).is_empty());
    }

    #[test]
    fn echo_of_a_rewritten_command() {
        let r = reply(500, &["5.5.1 Command unrecognized: \"XXXXXXXX\""]);
        assert_eq!(echoed_rewrite(&r).as_deref(), Some("XXXXXXXX"));
        assert_eq!(
            echoed_rewrite(&reply(502, &["5.5.2 Error: command not recognized"])),
            None
        );
    }
}
