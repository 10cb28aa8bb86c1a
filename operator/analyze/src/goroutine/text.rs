//! Parser for `goroutine?debug=2` dumps (`runtime.Stack(all=true)` output). Tolerant: lines it
//! does not understand are skipped, never fatal; a truncated dump yields what was complete.

use crate::text::clip_name;

/// One goroutine from a dump.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Goroutine {
    pub id: u64,
    /// Wait reason or scheduler state without `(scan)`, `(leaked)` or the minutes.
    pub state: String,
    pub minutes: u64,
    /// The runtime marked this goroutine `(leaked)`.
    pub leaked: bool,
    /// Function names, innermost first, without arguments.
    pub frames: Vec<String>,
    pub created_by: Option<String>,
}

/// True when the text looks like a debug=2 dump (first non-empty line is a goroutine header)
/// or holds a Go crash (the runtime's preamble, then goroutines), such as a container's log.
pub fn looks_like_dump(data: &[u8]) -> bool {
    let head = &data[..data.len().min(4096)];
    let text = String::from_utf8_lossy(head);
    if text.lines().map(str::trim).find(|l| !l.is_empty()).is_some_and(|l| parse_header(l).is_some()) {
        return true;
    }
    // Binary input (a profile) has NUL bytes or invalid UTF-8 early; a log is text throughout.
    looks_like_text(head) && super::crash::find_start(&String::from_utf8_lossy(data)).is_some()
}

fn looks_like_text(head: &[u8]) -> bool {
    if head.contains(&0) {
        return false;
    }
    match std::str::from_utf8(head) {
        Ok(_) => true,
        // A multi-byte character cut at the 4 KiB boundary is still text.
        Err(e) => e.error_len().is_none(),
    }
}

/// Parses a header line: `goroutine 18 [chan receive, 2 minutes]:` (optionally with
/// `gp=… m=… mp=…` between the id and the bracket). Returns (id, state, minutes, leaked).
pub fn parse_header(line: &str) -> Option<(u64, String, u64, bool)> {
    let rest = line.strip_prefix("goroutine ")?;
    let rest = rest.strip_suffix(':')?;
    let open = rest.find('[')?;
    let close = rest.rfind(']')?;
    if close < open || close != rest.len() - 1 {
        return None;
    }
    let id: u64 = rest[..open].split_whitespace().next()?.parse().ok()?;
    let inside = &rest[open + 1..close];
    let mut parts = inside.split(", ");
    let raw_state = parts.next()?.trim();
    let mut minutes = 0;
    for p in parts {
        if let Some(n) = p.strip_suffix(" minutes").or_else(|| p.strip_suffix(" minute")) {
            minutes = n.trim().parse().unwrap_or(0);
        }
    }
    let leaked = raw_state.contains("(leaked)");
    let state = raw_state.replace(" (leaked)", "").replace("(leaked)", "").replace(" (scan)", "");
    Some((id, clip_name(state.trim()), minutes, leaked))
}

/// The function name of a frame line `pkg.fn(args)` (or `pkg.fn(...)`).
pub(crate) fn frame_name(line: &str) -> Option<&str> {
    let l = line.trim_end();
    if l.is_empty() || l.starts_with("...") || l.starts_with('\t') || l.starts_with(' ') {
        return None;
    }
    if l.ends_with(')')
        && let Some(i) = l.rfind('(')
        && i > 0
    {
        return Some(&l[..i]);
    }
    None
}

/// Parses a whole dump. Calls `f` for each goroutine so callers can aggregate without keeping
/// every goroutine in memory.
pub fn parse(text: &str, mut f: impl FnMut(Goroutine)) -> usize {
    let mut cur: Option<Goroutine> = None;
    let mut n = 0;
    for line in text.lines() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if let Some((id, state, minutes, leaked)) = parse_header(line) {
            if let Some(g) = cur.take() {
                f(g);
                n += 1;
            }
            cur = Some(Goroutine { id, state, minutes, leaked, frames: Vec::new(), created_by: None });
            continue;
        }
        let Some(g) = cur.as_mut() else { continue };
        if line.is_empty() {
            f(std::mem::take(g));
            n += 1;
            cur = None;
            continue;
        }
        if let Some(rest) = line.strip_prefix("created by ") {
            let name = rest.split(" in goroutine ").next().unwrap_or(rest).trim();
            g.created_by = Some(clip_name(name));
        } else if let Some(name) = frame_name(line)
            && g.frames.len() < super::group::MAX_FRAMES
        {
            g.frames.push(clip_name(name));
        }
    }
    if let Some(g) = cur.take() {
        f(g);
        n += 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers() {
        assert_eq!(
            parse_header("goroutine 18 [chan receive, 2 minutes]:"),
            Some((18, "chan receive".into(), 2, false))
        );
        assert_eq!(parse_header("goroutine 7 [chan send (leaked)]:"), Some((7, "chan send".into(), 0, true)));
        assert_eq!(
            parse_header("goroutine 1 gp=0xc000002380 m=0 mp=0x5 [running, locked to thread]:"),
            Some((1, "running".into(), 0, false))
        );
        assert_eq!(parse_header("goroutine 3 [GC worker (idle)]:"), Some((3, "GC worker (idle)".into(), 0, false)));
        assert_eq!(parse_header("goroutine x [running]:"), None);
        assert_eq!(parse_header("goroutine profile: total 5"), None);
    }

    #[test]
    fn frames_strip_arguments() {
        assert_eq!(frame_name("main.(*T).run(0xc0000, {0x1, 0x2})"), Some("main.(*T).run"));
        assert_eq!(frame_name("main.leak[...](...)"), Some("main.leak[...]"));
        assert_eq!(frame_name("\t/src/main.go:16 +0x1a"), None);
    }
}
