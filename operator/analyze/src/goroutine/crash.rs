//! The Go runtime's crash output: the preamble it prints before the goroutines (`panic: …`,
//! `fatal error: …`, `SIGQUIT: quit` with `PC=…`, `[signal SIGSEGV: …]`, `[recovered]` chains,
//! a test binary's `running tests:`) and the goroutine that crashed, which the runtime prints
//! first. Found anywhere in a container's log: the last crash in it is the one that ended the
//! container.

use crate::frames::{FrameOrigin, is_machinery, origin};
use crate::text::{clip, clip_name};
use serde::{Deserialize, Serialize};

/// Longest message kept (a panic value may be a whole error chain).
const MAX_MESSAGE: usize = 300;
/// Frames of the crashed goroutine kept.
const MAX_STACK: usize = 12;
/// Lines of preamble read before the first goroutine header; more is not a Go crash.
const MAX_PREAMBLE_LINES: usize = 64;

/// How the program died.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CrashKind {
    /// An unrecovered `panic` (including runtime errors such as a nil map write).
    Panic,
    /// A `fatal error` of the runtime (deadlock, concurrent map writes, out of memory), which
    /// no `recover` can catch.
    FatalError,
    /// A signal the runtime turned into a dump (`SIGQUIT`, `SIGABRT`, a fault in non-Go code).
    Signal,
}

impl CrashKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CrashKind::Panic => "panic",
            CrashKind::FatalError => "fatal error",
            CrashKind::Signal => "signal",
        }
    }
}

/// A Go crash, read from the runtime's output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Crash {
    pub kind: CrashKind,
    /// The panic value or fatal error (`assignment to entry in nil map`), or the signal
    /// (`SIGQUIT: quit`); for a panic raised while another was being handled, the last one.
    pub message: String,
    /// Earlier panics of a `[recovered]` chain, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recovered: Vec<String>,
    /// The signal behind a runtime error: `SIGSEGV: segmentation violation code=0x1 addr=0x0 …`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
    /// `runtime: …` lines the runtime printed before a fatal error, and a test binary's
    /// `running tests:` list.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
    /// The goroutine the runtime printed first: the one that panicked or faulted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goroutine: Option<u64>,
    /// Its state (`running`, or what it waited for in a deadlock).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub state: String,
    /// The program's own function nearest the crash on that goroutine's stack.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    /// Its file (base name) and line: `cache.go:88`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// That goroutine's frames, innermost first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stack: Vec<String>,
}

impl Crash {
    /// One line: `panic: assignment to entry in nil map at main.(*Cache).Put (cache.go:88),
    /// goroutine 17`.
    pub fn headline(&self) -> String {
        let head = match self.kind {
            CrashKind::Signal => self.message.clone(),
            k => format!("{}: {}", k.as_str(), self.message),
        };
        // A test binary's timeout names the tests that were running, not the alarm's goroutine.
        if let Some(i) = self.details.iter().position(|d| d == "running tests:") {
            let tests: Vec<&str> = self.details[i + 1..].iter().map(String::as_str).collect();
            return format!("{head}, running {}", tests.join(", "));
        }
        // After a SIGQUIT or SIGABRT sent from outside, the first goroutine is whatever ran.
        if self.kind == CrashKind::Signal && !self.message.starts_with("SIGSEGV") && !self.message.starts_with("SIGBUS")
        {
            return format!("{head}: the runtime printed every goroutine and exited");
        }
        let at = match (&self.site, &self.location) {
            (Some(s), Some(l)) => format!(" at {s} ({l})"),
            (Some(s), None) => format!(" at {s}"),
            _ => String::new(),
        };
        let g = self.goroutine.map(|g| format!(", goroutine {g}")).unwrap_or_default();
        format!("{head}{at}{g}")
    }
}

/// The line a crash starts with, and its kind.
fn marker(line: &str) -> Option<CrashKind> {
    if line.starts_with("panic: ") {
        Some(CrashKind::Panic)
    } else if line.starts_with("fatal error: ") {
        Some(CrashKind::FatalError)
    } else if is_signal_line(line) {
        Some(CrashKind::Signal)
    } else {
        None
    }
}

/// Signals after which the Go runtime prints its dump (`SIGQUIT: quit`, `SIGABRT: abort`, a
/// fault in non-Go code: `SIGSEGV: segmentation violation`).
const DUMP_SIGNALS: &[&str] = &["SIGQUIT", "SIGABRT", "SIGSEGV", "SIGBUS", "SIGFPE", "SIGILL", "SIGTRAP", "SIGSYS"];

fn is_signal_line(line: &str) -> bool {
    line.split_once(": ").is_some_and(|(name, _)| DUMP_SIGNALS.contains(&name))
}

fn is_header(line: &str) -> bool {
    super::text::parse_header(line).is_some()
}

/// Byte offset of the last Go crash in `text` (a container log may hold application lines
/// before it, and earlier crashes of the same container are not what ended it): a marker line
/// followed, within the preamble's length, by a goroutine header. `runtime: …` lines just
/// before the marker belong to it.
pub fn find_start(text: &str) -> Option<usize> {
    let mut found = None;
    // (where the crash would start, lines read since its marker)
    let mut pending: Option<(usize, usize)> = None;
    let mut runtime_lines_from: Option<usize> = None;
    let mut pos = 0;
    for raw in text.split_inclusive('\n') {
        let line = raw.trim_end_matches(['\n', '\r']);
        if let Some((start, n)) = pending {
            pending = if is_header(line) {
                found = Some(start);
                None
            } else if n >= MAX_PREAMBLE_LINES {
                None
            } else {
                Some((start, n + 1))
            };
        }
        if marker(line).is_some() {
            pending = Some((runtime_lines_from.unwrap_or(pos), 0));
        }
        if line.starts_with("runtime: ") {
            runtime_lines_from.get_or_insert(pos);
        } else {
            runtime_lines_from = None;
        }
        pos += raw.len();
    }
    found
}

/// Reads the crash at the start of `text` (see [`find_start`]); `None` when it does not start
/// with one.
pub fn parse(text: &str) -> Option<Crash> {
    let mut lines = text.lines().map(|l| l.strip_suffix('\r').unwrap_or(l)).peekable();
    let mut details = Vec::new();
    while let Some(l) = lines.peek() {
        if let Some(rest) = l.strip_prefix("runtime: ") {
            details.push(clip(rest, MAX_MESSAGE));
            lines.next();
        } else {
            break;
        }
    }
    let first = lines.next()?;
    let kind = marker(first)?;
    let mut messages = vec![match kind {
        CrashKind::Panic => first.trim_start_matches("panic: ").to_string(),
        CrashKind::FatalError => first.trim_start_matches("fatal error: ").to_string(),
        CrashKind::Signal => first.to_string(),
    }];
    let mut signal = None;
    let mut crash = Crash {
        kind,
        message: String::new(),
        recovered: Vec::new(),
        signal: None,
        details,
        goroutine: None,
        state: String::new(),
        site: None,
        location: None,
        stack: Vec::new(),
    };
    // The rest of the preamble, up to the first goroutine header.
    let mut header = None;
    for l in lines.by_ref().take(MAX_PREAMBLE_LINES) {
        if let Some(h) = super::text::parse_header(l) {
            header = Some(h);
            break;
        }
        let t = l.trim();
        if let Some(rest) = t.strip_prefix("panic: ") {
            messages.push(rest.to_string());
        } else if let Some(s) = t.strip_prefix("[signal ").and_then(|s| s.strip_suffix(']')) {
            signal = Some(clip(s, MAX_MESSAGE));
        } else if t == "running tests:" || (l.starts_with("\t\t") && !crash.details.is_empty()) {
            crash.details.push(clip(t, MAX_MESSAGE));
        } else if let Some(rest) = t.strip_prefix("runtime: ") {
            crash.details.push(clip(rest, MAX_MESSAGE));
        }
        // `PC=… m=0 sigcode=0`, `goroutine running on other thread; stack unavailable` and
        // anything else stay in the stored artifact.
    }
    // `panic: a [recovered]` then `\tpanic: b`: a was recovered, b ended the program.
    let strip = |m: &str| -> String {
        let m = m.find(" [recovered").map_or(m, |i| &m[..i]);
        clip(m.trim(), MAX_MESSAGE)
    };
    let last = messages.pop().unwrap_or_default();
    crash.recovered = messages.iter().map(|m| strip(m)).collect();
    crash.message = strip(&last);
    crash.signal = signal;
    crash.details.truncate(8);
    if let Some((id, state, _, _)) = header {
        crash.goroutine = Some(id);
        crash.state = state;
        read_stack(&mut lines, &mut crash);
    }
    Some(crash)
}

/// The crashed goroutine's frames and the file:line of the program's frame nearest the crash.
fn read_stack<'a>(lines: &mut impl Iterator<Item = &'a str>, crash: &mut Crash) {
    let mut frames: Vec<(String, Option<String>)> = Vec::new();
    for l in lines.take(4 * MAX_STACK + 8) {
        if l.is_empty() || is_header(l) || l.starts_with("created by ") {
            break;
        }
        if let Some(file_line) = l.strip_prefix('\t') {
            if let Some(last) = frames.last_mut().filter(|f| f.1.is_none()) {
                last.1 = Some(location(file_line));
            }
        } else if let Some(name) = super::text::frame_name(l) {
            frames.push((clip_name(name), None));
        }
    }
    let own = frames
        .iter()
        .find(|(n, _)| origin(n) == FrameOrigin::Own)
        .or_else(|| frames.iter().find(|(n, _)| !is_machinery(n) && n != "panic"));
    if let Some((name, loc)) = own {
        crash.site = Some(name.clone());
        crash.location = loc.clone();
    }
    crash.stack = frames.into_iter().take(MAX_STACK).map(|(n, _)| n).collect();
}

/// `\t/src/app/cache.go:88 +0x2c fp=… sp=… pc=…` → `cache.go:88`.
fn location(file_line: &str) -> String {
    let path = file_line.split_whitespace().next().unwrap_or("");
    clip(path.rsplit('/').next().unwrap_or(path), 120)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_names_its_site_and_goroutine() {
        let log = "2026/12/02 starting\npanic: boom\n\ngoroutine 7 [running]:\npanic({0x1, 0x2})\n\t/usr/local/go/src/runtime/panic.go:879 +0x16f\nmain.(*Cache).Put(0x0)\n\t/src/app/cache.go:88 +0xaf\nmain.main()\n\t/src/app/main.go:9 +0x1\n";
        let start = find_start(log).unwrap();
        assert!(log[start..].starts_with("panic: boom"));
        let c = parse(&log[start..]).unwrap();
        assert_eq!(c.headline(), "panic: boom at main.(*Cache).Put (cache.go:88), goroutine 7");
        assert_eq!(c.stack, ["panic", "main.(*Cache).Put", "main.main"]);
    }

    #[test]
    fn no_marker_or_no_goroutines_is_no_crash() {
        assert_eq!(find_start("panic: in a log line, nothing after\nother\n"), None);
        assert_eq!(find_start("goroutine 1 [running]:\nmain.main()\n"), None);
        assert!(parse("hello\n").is_none());
        assert!(is_signal_line("SIGQUIT: quit"));
        assert!(!is_signal_line("SIGNAL: received, shutting down"));
    }
}
