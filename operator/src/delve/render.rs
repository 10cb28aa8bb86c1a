//! A Delve snapshot rendered the way Go prints goroutines (`goroutine?debug=2`), so the same
//! grouping and leak findings read it, and a person reads it like any crash dump.

use super::snapshot::{GoroutineRecord, Snapshot, go_minor};
use super::types::Variable;
use std::fmt::Write;

/// Goroutine states by the runtime's `atomicstatus` (without the scan bit); waiting goroutines
/// print their wait reason instead.
fn status_name(status: u64) -> &'static str {
    match status & !0x1000 {
        0 => "idle",
        1 => "runnable",
        2 => "running",
        3 => "syscall",
        6 => "dead",
        8 => "copystack",
        9 => "preempted",
        10 => "leaked",
        _ => "waiting",
    }
}

/// The runtime's wait reasons by their number, for Go 1.26: the order of the `waitReason`
/// constants in `runtime/runtime2.go` (read in Go 1.26.8's source), named as `waitReasonStrings`
/// names them. Other Go versions number them differently; their waiting goroutines are rendered as
/// `waiting` rather than with a reason that could be wrong.
const WAIT_REASONS_1_26: &[&str] = &[
    "",
    "GC assist marking",
    "IO wait",
    "dumping heap",
    "garbage collection",
    "garbage collection scan",
    "panicwait",
    "GC assist wait",
    "GC sweep wait",
    "GC scavenge wait",
    "finalizer wait",
    "force gc (idle)",
    "GOMAXPROCS updater (idle)",
    "semacquire",
    "sleep",
    "chan receive (nil chan)",
    "chan send (nil chan)",
    "select (no cases)",
    "select",
    "chan receive",
    "chan send",
    "sync.Cond.Wait",
    "sync.Mutex.Lock",
    "sync.RWMutex.RLock",
    "sync.RWMutex.Lock",
    "sync.WaitGroup.Wait",
    "trace reader (blocked)",
    "wait for GC cycle",
    "GC worker (idle)",
    "GC worker (active)",
    "preempted",
    "debug call",
    "GC mark termination",
    "stopping the world",
    "flushing proc caches",
    "trace goroutine status",
    "trace proc status",
    "page trace flush",
    "coroutine",
    "GC weak to strong wait",
    "synctest.Run",
    "synctest.Wait",
    "chan receive (durable)",
    "chan send (durable)",
    "select (durable)",
    "sync.WaitGroup.Wait (durable)",
    "cleanup wait",
];

/// The state Go would print for this goroutine of a program built with `go_version`.
pub fn state(g: &super::types::Goroutine, go_version: &str) -> String {
    let name = status_name(g.status);
    if name != "waiting" || g.status & !0x1000 != 4 {
        return name.to_string();
    }
    let table = match go_minor(go_version) {
        Some((1, 26)) => WAIT_REASONS_1_26,
        _ => &[],
    };
    match usize::try_from(g.wait_reason).ok().and_then(|i| table.get(i)) {
        Some(r) if !r.is_empty() => (*r).to_string(),
        _ => "waiting".to_string(),
    }
}

/// The whole snapshot as a `debug=2`-style dump.
pub fn dump(s: &Snapshot) -> String {
    let mut out = String::new();
    for r in &s.goroutines {
        goroutine(&mut out, r, &s.version.target_go_version);
        out.push('\n');
    }
    out
}

fn goroutine(out: &mut String, r: &GoroutineRecord, go_version: &str) {
    let g = &r.goroutine;
    let _ = writeln!(out, "goroutine {} [{}]:", g.id, one_line(&state(g, go_version)));
    if r.stack.is_empty() {
        // No stack read: the current location, and the innermost one in the program's own code,
        // are still known.
        for loc in [&g.current_loc, &g.user_current_loc] {
            if loc.function.is_some() && (std::ptr::eq(loc, &g.current_loc) || loc.pc != g.current_loc.pc) {
                let _ = writeln!(
                    out,
                    "{}(...)\n\t{}:{}",
                    name_or_unknown(loc.function_name()),
                    one_line(&loc.file),
                    loc.line
                );
            }
        }
    }
    for f in &r.stack {
        let loc = &f.location;
        let _ = writeln!(out, "{}(...)\n\t{}:{}", name_or_unknown(loc.function_name()), one_line(&loc.file), loc.line);
    }
    let creator = g.go_statement_loc.function_name();
    if !creator.is_empty() {
        let _ = writeln!(
            out,
            "created by {}\n\t{}:{}",
            one_line(creator),
            one_line(&g.go_statement_loc.file),
            g.go_statement_loc.line
        );
    }
}

fn name_or_unknown(n: &str) -> String {
    if n.is_empty() { "?".into() } else { one_line(n) }
}

/// Names come from the target's memory and debug info: no line breaks or control characters.
fn one_line(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// `name = value` of a variable in one bounded line, as Delve's `locals` prints it briefly.
/// A value alone, on one line, without its name (a captured expression's value).
pub fn value_line(v: &Variable, max: usize) -> String {
    let mut s = String::new();
    value(&mut s, v, 0);
    godiag_analyze::text::clip(&s, max)
}

pub fn variable_line(v: &Variable, max: usize) -> String {
    let mut s = format!("{} = ", one_line(&v.name));
    value(&mut s, v, 0);
    godiag_analyze::text::clip(&s, max)
}

fn value(out: &mut String, v: &Variable, depth: usize) {
    if !v.unreadable.is_empty() {
        let _ = write!(out, "(unreadable {})", one_line(&v.unreadable));
        return;
    }
    if out.len() > 512 || depth > 3 {
        out.push('…');
        return;
    }
    // reflect.Kind: 24 string, 17 array, 23 slice, 21 map, 25 struct, 22 pointer, 18 chan.
    match v.kind {
        24 => {
            let _ = write!(out, "{:?}", v.value);
            if (v.value.chars().count() as i64) < v.len {
                let _ = write!(out, "…(len {})", v.len);
            }
        }
        17 | 23 | 21 | 25 => {
            let _ = write!(out, "{}{{", one_line(&v.type_name));
            for (i, c) in v.children.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                if v.kind == 25 && !c.name.is_empty() {
                    let _ = write!(out, "{}: ", one_line(&c.name));
                }
                value(out, c, depth + 1);
            }
            if (v.children.len() as i64) < v.len && v.kind != 25 {
                let _ = write!(out, ", …(len {})", v.len);
            }
            out.push('}');
        }
        18 => {
            let _ = write!(out, "{} (len {}, cap {})", one_line(&v.type_name), v.len, v.cap);
        }
        _ if !v.value.is_empty() => out.push_str(&one_line(&v.value)),
        22 if v.children.is_empty() => {
            let _ = write!(out, "{} nil", one_line(&v.type_name));
        }
        22 => {
            out.push('&');
            value(out, &v.children[0], depth + 1);
        }
        _ => out.push_str(&one_line(&v.type_name)),
    }
}
