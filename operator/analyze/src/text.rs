//! Cutting text from untrusted input (a target pod's names, headers, error bodies) to what a
//! status field, a finding, an Event or a terminal line can hold.

/// At most `max` bytes, cut on a char boundary and marked with `…` (which counts toward `max`),
/// with every control character (newlines, tabs, terminal escapes) replaced by a space, so that
/// untrusted text can neither break a line-oriented reader nor drive a terminal.
pub fn clip(s: &str, max: usize) -> String {
    let printable = |t: &str| t.chars().map(|c| if c.is_control() { ' ' } else { c }).collect::<String>();
    if s.len() <= max {
        return printable(s);
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", printable(&s[..end]))
}

/// Longest function name or goroutine state kept from any input; longer ones are cut and end in
/// `…`. Go names, generics included, are far shorter; a 64 KiB name repeated in a deep stack
/// would otherwise make every folded stack and flame graph hundreds of megabytes.
pub const MAX_NAME_BYTES: usize = 1024;

/// A name from untrusted input, cut to [`MAX_NAME_BYTES`] (control characters kept as they are:
/// this is data, and [`clip`] cleans it where it is displayed).
pub fn clip_name(s: &str) -> String {
    if s.len() <= MAX_NAME_BYTES {
        return s.to_string();
    }
    let mut end = MAX_NAME_BYTES - '…'.len_utf8();
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::clip;

    #[test]
    fn short_text_is_unchanged() {
        assert_eq!(clip("main.run", 20), "main.run");
        assert_eq!(clip("", 0), "");
    }

    #[test]
    fn long_text_is_cut_within_the_limit_on_a_char_boundary() {
        let c = clip("aaaaaaaaaa", 6);
        assert_eq!(c, "aaa…");
        assert!(c.len() <= 6);
        let c = clip("ééééé", 6);
        assert!(c.len() <= 6 && c.ends_with('…'), "{c}");
        assert_eq!(clip("abcdef", 2), "…");
    }

    #[test]
    fn control_characters_and_terminal_escapes_become_spaces() {
        assert_eq!(clip("main.f\u{1b}[31mred\nnext\tcol\u{7}", 100), "main.f [31mred next col ");
        assert!(clip(&"\u{1b}".repeat(100), 10).chars().all(|c| !c.is_control()));
    }
}
