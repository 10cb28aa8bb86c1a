//! `spec.delve`: attaching the Delve debugger to the target's Go process in an ephemeral
//! container. Every `///` comment on a field is user documentation (`kubectl explain`).

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The label a namespace must carry before godiag attaches Delve to any of its pods.
pub const DELVE_OPT_IN_LABEL: &str = "godiag.dev/delve";
/// The value of [`DELVE_OPT_IN_LABEL`] that opts a namespace in.
pub const DELVE_OPT_IN_VALUE: &str = "enabled";
/// The hard cap on `maxPause`.
pub const MAX_PAUSE_CAP_SECS: u64 = 30;
/// The hard cap on a session's `ttl`.
pub const MAX_SESSION_TTL_SECS: u64 = 2 * 3600;

/// Attach the Delve debugger to each target's Go process and take a snapshot of every goroutine
/// (stacks, and optionally the values of locals and arguments), then detach so the program runs
/// on.
///
/// Delve's API is unauthenticated code execution, so godiag only does this in namespaces labelled
/// `godiag.dev/delve=enabled`; dlv runs in an ephemeral container of the pod, listens on 127.0.0.1
/// only, and is reached through the API server's port-forward. While Delve reads the goroutines
/// the whole program is stopped (at most `maxPause`), and dlv's memory is charged to the pod.
///
/// When `pprof` is also set, pprof runs first and Delve after: a process stopped by a debugger
/// cannot serve pprof. Ephemeral containers cannot be removed from a pod: each request leaves one
/// terminated container (named in the pod's status) behind.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.mode != 'Trace' || (has(self.tracepoints) && size(self.tracepoints) > 0)").message("mode Trace needs at least one entry in tracepoints"))]
#[x_kube(validation = Rule::new("self.mode == 'Trace' || !has(self.tracepoints) || size(self.tracepoints) == 0").message("tracepoints are only used with mode: Trace"))]
pub struct DelveSpec {
    /// What Delve does: Snapshot (attach, read every goroutine, detach), Session (keep a
    /// headless dlv attached, the program running, for `session.ttl`, for you to `dlv connect`)
    /// or Trace (record what goes through `tracepoints` for `trace.window`, then detach).
    #[serde(default)]
    pub mode: DelveMode,
    /// Where the program is traced (mode Trace), 1–5 places. Every hit stops the whole program
    /// while Delve reads what the tracepoint captures: trace functions called a few times a
    /// second, not a hot loop.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 5))]
    #[x_kube(validation = Rule::new("self.all(t, !has(t.name) || self.exists_one(u, has(u.name) && u.name == t.name))").message("tracepoint names must be unique"))]
    pub tracepoints: Vec<Tracepoint>,
    /// The bounds of a trace (mode Trace): its window, its hits, and how long the program may
    /// be stopped in all.
    #[serde(default)]
    pub trace: TraceOptions,
    /// What the snapshot reads and how long the program may be stopped (mode Snapshot).
    #[serde(default)]
    pub snapshot: SnapshotOptions,
    /// How long the session lasts (mode Session).
    #[serde(default)]
    pub session: SessionOptions,
    /// Which privileges the debugger container gets. Unset: Auto.
    #[serde(default)]
    pub privilege: DelvePrivilege,
    /// The image of the debugger container: a static dlv plus godiag's wrapper. Unset: the
    /// operator's default (Helm value `delve.image`, env GODIAG_DELVE_IMAGE).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    pub image: Option<String>,
    /// The process to attach to, as the start of its command line (e.g. `/app/server`). Unset:
    /// PID 1 of the target container, which is the program in most images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub process: Option<String>,
}

/// What Delve does once attached.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DelveMode {
    /// Attach, read every goroutine with its stack (and locals and arguments if asked), detach.
    #[default]
    Snapshot,
    /// Keep a headless dlv attached (the program running) until `session.ttl` or the request's
    /// deletion, then detach. The status shows the `kubectl port-forward` and `dlv connect`
    /// commands. Whoever can port-forward to the pod can run code in the program meanwhile.
    Session,
    /// Set `tracepoints`, let the program run, and record each hit (the captured values, the
    /// goroutine, a stack) until a bound in `trace` is reached; then clear them and detach.
    Trace,
}

/// The hard cap on `trace.window`.
pub const MAX_TRACE_WINDOW_SECS: u64 = 60;
/// The hard cap on `trace.maxHits`.
pub const MAX_TRACE_HITS: i32 = 1000;
/// The hard cap on `trace.stopBudget`, in milliseconds.
pub const MAX_STOP_BUDGET_MS: u64 = 5000;

/// One place to trace, like a `dlv` script's `trace` line with `on … print`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Tracepoint {
    /// A name for this tracepoint in the status (letters and digits, starting with a letter).
    /// Unset: tp1, tp2, … by position.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[A-Za-z][A-Za-z0-9]{0,31}$"), length(min = 1, max = 32))]
    pub name: Option<String>,
    /// Where: a function (`main.handle`, `github.com/acme/shop/cart.(*Cart).Add`) or a line
    /// (`cart.go:42`), as Delve's `break` takes it. It is checked before the trace starts: an
    /// unknown function or a line without code fails the request and leaves nothing attached.
    #[schemars(length(min = 1, max = 256))]
    pub location: String,
    /// Record only hits where this Go expression is true (e.g. `len(data) > 1000`), evaluated
    /// by Delve in the hit's scope. The program still stops at every call while Delve evaluates
    /// it. An expression Delve cannot evaluate at a hit ends the trace with DelveConditionFailed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    pub condition: Option<String>,
    /// Go expressions to read at each hit (e.g. `r.URL.Path`, `len(buf)`), within `trace.loadLimits`;
    /// the status counts their distinct values. At most 6.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 6))]
    pub capture: Vec<TraceExpression>,
    /// Also read the function's arguments at each hit.
    #[serde(default)]
    pub arguments: bool,
    /// Also read the local variables in scope at each hit.
    #[serde(default)]
    pub locals: bool,
    /// Frames of the hit goroutine's stack to read (0–50, default 10).
    #[serde(default = "default_trace_stack")]
    #[schemars(range(min = 0, max = 50))]
    pub stack_depth: i32,
    /// Stop recording this tracepoint after this many hits (1–1000); it is cleared, so it no
    /// longer stops the program. Unset: only `trace.maxHits` bounds it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000))]
    pub max_hits: Option<i32>,
}

/// A Go expression Delve evaluates (1–256 characters).
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(transparent)]
pub struct TraceExpression(#[schemars(length(min = 1, max = 256))] pub String);

/// The bounds of a trace. The first one reached ends it: godiag clears every tracepoint and
/// detaches, and the program runs on.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TraceOptions {
    /// How long the program runs with the tracepoints set (1s–60s, default 30s).
    #[serde(default = "default_trace_window")]
    #[schemars(regex(pattern = r"^([0-9]{1,6}(ms|s|m|h))+$"))]
    #[x_kube(validation = Rule::new("duration(self) >= duration('1s') && duration(self) <= duration('60s')").message("trace.window must be between 1s and 60s"))]
    pub window: String,
    /// Hits recorded in all, over every tracepoint (1–1000, default 100).
    #[serde(default = "default_trace_hits")]
    #[schemars(range(min = 1, max = 1000))]
    pub max_hits: i32,
    /// The total time the program may spend stopped at hits (10ms–5s, default 500ms). godiag
    /// measures each stop from Delve's answer to its next continue, plus one round trip through
    /// the port-forward, and ends the trace before the next hit could pass the budget.
    #[serde(default = "default_stop_budget")]
    #[schemars(regex(pattern = r"^([0-9]{1,6}(ms|s|m|h))+$"))]
    #[x_kube(validation = Rule::new("duration(self) >= duration('10ms') && duration(self) <= duration('5s')").message("trace.stopBudget must be between 10ms and 5s"))]
    pub stop_budget: String,
    /// How much of each captured value, argument and local is read.
    #[serde(default)]
    pub load_limits: LoadLimits,
}

fn default_trace_stack() -> i32 {
    10
}
fn default_trace_window() -> String {
    "30s".into()
}
fn default_trace_hits() -> i32 {
    100
}
fn default_stop_budget() -> String {
    "500ms".into()
}

impl Default for TraceOptions {
    fn default() -> Self {
        TraceOptions {
            window: default_trace_window(),
            max_hits: default_trace_hits(),
            stop_budget: default_stop_budget(),
            load_limits: LoadLimits::default(),
        }
    }
}

/// A live debugging session.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SessionOptions {
    /// How long dlv stays attached (30s–2h, default 15m). At the end, or when the request is
    /// deleted, godiag halts the program if it runs and detaches without killing it; the
    /// debugger container's own deadline is the backstop.
    #[serde(default = "default_ttl")]
    #[schemars(regex(pattern = r"^([0-9]{1,6}(ms|s|m|h))+$"))]
    #[x_kube(validation = Rule::new("duration(self) >= duration('30s') && duration(self) <= duration('2h')").message("session.ttl must be between 30s and 2h"))]
    pub ttl: String,
}

fn default_ttl() -> String {
    "15m".into()
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions { ttl: default_ttl() }
    }
}

/// The debugger container's privileges.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DelvePrivilege {
    /// SameUser when the namespace enforces the `baseline` or `restricted` Pod Security level,
    /// else SysPtrace.
    #[default]
    Auto,
    /// Runs as root with the `SYS_PTRACE` capability: attaches whatever user the program runs
    /// as, on nodes whose `kernel.yama.ptrace_scope` is 0, 1 or 2. Refused by the `baseline` and
    /// `restricted` Pod Security levels.
    SysPtrace,
    /// Runs as the program's own UID/GID with every capability dropped, no privilege
    /// escalation and the RuntimeDefault seccomp profile: admissible under `restricted`. Attaches
    /// only on nodes whose `kernel.yama.ptrace_scope` is 0. The target container (or pod) must
    /// set `runAsUser`.
    SameUser,
}

/// What the snapshot reads and its bounds.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotOptions {
    /// Read at most this many goroutines (1–100000); the rest are counted but not read.
    #[serde(default = "default_max_goroutines")]
    #[schemars(range(min = 1, max = 100_000))]
    pub max_goroutines: i32,
    /// Frames read per goroutine stack (1–256).
    #[serde(default = "default_stack_depth")]
    #[schemars(range(min = 1, max = 256))]
    pub stack_depth: i32,
    /// Also read the values of each frame's local variables and arguments, within `loadLimits`.
    /// This makes the pause longer, and the values can hold secrets the program keeps in memory:
    /// they are stored with the artifacts.
    #[serde(default)]
    pub locals: bool,
    /// How much of each value is read when `locals` is set.
    #[serde(default)]
    pub load_limits: LoadLimits,
    /// Longest time the program may stay stopped (1s–30s, default 5s). When it is reached godiag
    /// stores what it read so far, marks the snapshot partial, and detaches.
    #[serde(default = "default_max_pause")]
    #[schemars(regex(pattern = r"^([0-9]{1,6}(ms|s|m|h))+$"))]
    #[x_kube(validation = Rule::new("duration(self) >= duration('1s') && duration(self) <= duration('30s')").message("maxPause must be between 1s and 30s"))]
    pub max_pause: String,
}

/// Bounds on the values Delve reads (Delve's `LoadConfig`).
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LoadLimits {
    /// Characters read of each string (0–4096).
    #[serde(default = "default_max_string_len")]
    #[schemars(range(min = 0, max = 4096))]
    pub max_string_len: i32,
    /// Elements read of each slice, array or map (0–256).
    #[serde(default = "default_max_array_values")]
    #[schemars(range(min = 0, max = 256))]
    pub max_array_values: i32,
    /// How deep nested structs and pointers are followed (0–5).
    #[serde(default = "default_max_recurse")]
    #[schemars(range(min = 0, max = 5))]
    pub max_variable_recurse: i32,
    /// Fields read of each struct (0–256).
    #[serde(default = "default_max_struct_fields")]
    #[schemars(range(min = 0, max = 256))]
    pub max_struct_fields: i32,
}

fn default_max_goroutines() -> i32 {
    10_000
}
fn default_stack_depth() -> i32 {
    50
}
fn default_max_pause() -> String {
    "5s".into()
}
fn default_max_string_len() -> i32 {
    64
}
fn default_max_array_values() -> i32 {
    16
}
fn default_max_recurse() -> i32 {
    1
}
fn default_max_struct_fields() -> i32 {
    16
}

impl Default for SnapshotOptions {
    fn default() -> Self {
        SnapshotOptions {
            max_goroutines: default_max_goroutines(),
            stack_depth: default_stack_depth(),
            locals: false,
            load_limits: LoadLimits::default(),
            max_pause: default_max_pause(),
        }
    }
}

impl Default for LoadLimits {
    fn default() -> Self {
        LoadLimits {
            max_string_len: default_max_string_len(),
            max_array_values: default_max_array_values(),
            max_variable_recurse: default_max_recurse(),
            max_struct_fields: default_max_struct_fields(),
        }
    }
}
