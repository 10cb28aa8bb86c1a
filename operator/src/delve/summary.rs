//! From a snapshot to the bounded status entry: counts, the pause, and a few values of locals in
//! the largest goroutine groups.

use super::render::variable_line;
use super::snapshot::{Partial, Snapshot};
use crate::api::DelveSummary;
use std::collections::HashMap;

/// Groups whose locals are shown.
const LOCAL_GROUPS: usize = 3;
/// Variables shown per group.
const LOCALS_PER_GROUP: usize = 3;
/// Longest line of one variable.
const LOCAL_LINE: usize = 120;

/// The summary of a snapshot taken with `privilege` in `container`.
pub fn summarize(s: &Snapshot, container: &str, privilege: &str) -> DelveSummary {
    DelveSummary {
        container: container.into(),
        privilege: privilege.into(),
        versions: versions(&s.version),
        goroutines_read: s.goroutines.len() as u64,
        partial: s.partial.map(|p| match p {
            Partial::MaxPause => "MaxPause".to_string(),
            Partial::MaxGoroutines => "MaxGoroutines".to_string(),
            Partial::MaxBytes => "MaxBytes".to_string(),
        }),
        paused_ms: s.paused_ms,
        dlv_ran_ms: None,
        resumed: None,
        responded: None,
        locals: if s.locals { top_group_locals(s) } else { Vec::new() },
        session: None,
        trace: None,
    }
}

/// `Delve 1.27.2 / go1.26.8`, without the Go part when Delve did not say (a running target).
pub fn versions(v: &super::types::Version) -> String {
    let delve = format!("Delve {}", delve_version(&v.delve_version));
    if v.target_go_version.is_empty() { delve } else { format!("{delve} / {}", go_version(&v.target_go_version)) }
}

/// `1.27.2` from Delve's `Version: 1.27.2\nBuild: $Id: … $`.
pub fn delve_version(v: &str) -> &str {
    v.lines().next().unwrap_or(v).trim_start_matches("Version:").trim()
}

/// `go1.26.8` from `Go cmd/compile go1.26.8`.
pub fn go_version(v: &str) -> &str {
    v.rsplit(' ').next().unwrap_or(v)
}

/// For the largest groups of goroutines with the same stack: the locals of the first frame of
/// the program's own code (not `runtime.` or the standard library), as `func: name = value`.
pub fn top_group_locals(s: &Snapshot) -> Vec<String> {
    let mut groups: HashMap<Vec<&str>, (usize, usize)> = HashMap::new();
    for (i, r) in s.goroutines.iter().enumerate() {
        let key: Vec<&str> = r.stack.iter().map(|f| f.location.function_name()).collect();
        groups.entry(key).or_insert((0, i)).0 += 1;
    }
    let mut ranked: Vec<(usize, usize)> = groups.into_values().collect();
    ranked.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut lines = Vec::new();
    for (count, first) in ranked.into_iter().take(LOCAL_GROUPS) {
        let r = &s.goroutines[first];
        let Some(frame) = r.stack.iter().find(|f| is_user_function(f.location.function_name())) else { continue };
        // Values Delve could not read (optimised away) say nothing about the program's state.
        let vars =
            frame.arguments.iter().chain(&frame.locals).filter(|v| v.unreadable.is_empty()).take(LOCALS_PER_GROUP);
        for v in vars {
            lines.push(variable_line_in(frame.location.function_name(), count, v));
        }
    }
    lines
}

fn variable_line_in(func: &str, count: usize, v: &super::types::Variable) -> String {
    let short = func.rsplit('/').next().unwrap_or(func);
    godiag_analyze::text::clip(&format!("{short} (×{count}): {}", variable_line(v, LOCAL_LINE)), LOCAL_LINE)
}

/// A function of the program rather than of the Go runtime or standard library.
fn is_user_function(name: &str) -> bool {
    !name.is_empty() && godiag_analyze::frames::origin(name) == godiag_analyze::frames::FrameOrigin::Own
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delve::snapshot::GoroutineRecord;
    use crate::delve::types::{Function, Goroutine, Location, Stackframe, Variable, Version};

    fn frame(func: &str, locals: Vec<Variable>) -> Stackframe {
        Stackframe {
            location: Location {
                function: Some(Function { name: func.into() }),
                file: "/src/x.go".into(),
                line: 1,
                pc: 0,
            },
            locals,
            ..Stackframe::default()
        }
    }

    fn var(name: &str, value: &str) -> Variable {
        Variable { name: name.into(), kind: 2, value: value.into(), type_name: "int".into(), ..Variable::default() }
    }

    #[test]
    fn locals_come_from_the_largest_groups_first_user_frame() {
        let leak = |id| GoroutineRecord {
            goroutine: Goroutine { id, status: 4, wait_reason: 14, ..Goroutine::default() },
            stack: vec![
                frame("runtime.gopark", vec![var("reason", "14")]),
                frame("main.leak.func1", vec![var("n", "7")]),
            ],
            stack_error: None,
        };
        let other = GoroutineRecord {
            goroutine: Goroutine { id: 99, ..Goroutine::default() },
            stack: vec![frame("net/http.(*conn).serve", vec![var("c", "1")])],
            stack_error: None,
        };
        let s = Snapshot {
            version: Version {
                delve_version: "Version: 1.27.2\nBuild: $Id: 360e7b $".into(),
                target_go_version: "Go cmd/compile go1.26.8".into(),
                ..Version::default()
            },
            goroutines: vec![leak(1), other, leak(2), leak(3)],
            partial: None,
            paused_ms: 42,
            detached: true,
            locals: true,
        };
        let sum = summarize(&s, "godiag-dlv-1", "SysPtrace");
        assert_eq!(sum.goroutines_read, 4);
        assert_eq!(sum.versions, "Delve 1.27.2 / go1.26.8");
        assert_eq!(sum.locals, vec!["main.leak.func1 (×3): n = 7".to_string()], "no runtime or stdlib frames");
    }

    #[test]
    fn user_functions_are_main_and_module_paths() {
        assert!(is_user_function("main.leak.func1"));
        assert!(is_user_function("github.com/acme/shop/cart.(*Cart).Add"));
        assert!(!is_user_function("runtime.gopark"));
        assert!(!is_user_function("net/http.(*conn).serve"));
        assert!(!is_user_function("internal/poll.(*FD).Read"));
    }
}
