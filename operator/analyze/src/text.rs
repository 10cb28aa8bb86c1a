//! Cutting text from untrusted input to a size that fits a status field, a finding or a line.

/// Truncates to at most `max` bytes on a char boundary, marking the cut with `…` (which counts
/// toward `max`).
pub fn clip(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while end > 0 && !s.is_char_boundary(end) {
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
}
