//! The parts of Delve's JSON-RPC API (`service/api`, `service/rpc2`) godiag uses. Argument keys
//! are Go field names; result keys are Delve's json tags. Fields godiag does not read are left
//! out (serde skips them), so a newer Delve that adds fields still decodes.

use serde::{Deserialize, Deserializer, Serialize};

/// Go encodes an empty slice as `null`; read it as empty.
fn null_as_empty<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// `RPCServer.GetVersion`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Version {
    pub delve_version: String,
    #[serde(rename = "APIVersion")]
    pub api_version: i64,
    #[serde(default)]
    pub backend: String,
    /// e.g. `go1.26.8`.
    #[serde(default)]
    pub target_go_version: String,
    /// e.g. `1.24.0`.
    #[serde(default)]
    pub min_supported_version_of_go: String,
    #[serde(default)]
    pub max_supported_version_of_go: String,
}

/// `RPCServer.State` and `RPCServer.Command` (only what godiag reads).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StateOut {
    #[serde(rename = "State")]
    pub state: Option<DebuggerState>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DebuggerState {
    #[serde(default, rename = "Running")]
    pub running: bool,
    /// Every thread of a stopped target, with the breakpoint it sits on, if any (`null` while
    /// the target runs).
    #[serde(default, rename = "Threads", deserialize_with = "null_as_empty", skip_serializing_if = "Vec::is_empty")]
    pub threads: Vec<Thread>,
    #[serde(default, rename = "exited")]
    pub exited: bool,
    #[serde(default, rename = "exitStatus")]
    pub exit_status: i64,
}

/// One thread of a stopped target.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Thread {
    #[serde(default)]
    pub id: i64,
    #[serde(default, rename = "goroutineID")]
    pub goroutine_id: i64,
    /// The breakpoint (or tracepoint) this thread stopped at.
    #[serde(default, rename = "breakPoint")]
    pub breakpoint: Option<Breakpoint>,
    /// What the breakpoint asked Delve to read when it was hit.
    #[serde(default, rename = "breakPointInfo")]
    pub info: Option<BreakpointInfo>,
}

/// A breakpoint as Delve reports it (only what godiag reads).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Breakpoint {
    #[serde(default)]
    pub id: i64,
    #[serde(default)]
    pub name: String,
    /// Where it is set: empty for a breakpoint Delve could not place.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub addrs: Vec<u64>,
    #[serde(default)]
    pub file: String,
    #[serde(default)]
    pub line: i64,
    #[serde(default, rename = "functionName")]
    pub function_name: String,
}

/// What Delve read at a tracepoint hit: `Breakpoint.stacktrace` frames, the goroutine,
/// `Breakpoint.variables`, and the arguments and locals when `LoadArgs`/`LoadLocals` were set.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BreakpointInfo {
    #[serde(default, deserialize_with = "null_as_empty")]
    pub stacktrace: Vec<Stackframe>,
    #[serde(default)]
    pub goroutine: Option<Goroutine>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub variables: Vec<Variable>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub arguments: Vec<Variable>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub locals: Vec<Variable>,
}

/// A function as Delve names it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Function {
    #[serde(default)]
    pub name: String,
}

/// A code location.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Location {
    #[serde(default)]
    pub pc: u64,
    #[serde(default)]
    pub file: String,
    #[serde(default)]
    pub line: i64,
    #[serde(default)]
    pub function: Option<Function>,
}

impl Location {
    pub fn function_name(&self) -> &str {
        self.function.as_ref().map_or("", |f| f.name.as_str())
    }
}

/// One goroutine from `ListGoroutines`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Goroutine {
    pub id: i64,
    #[serde(default)]
    pub current_loc: Location,
    #[serde(default)]
    pub user_current_loc: Location,
    #[serde(default)]
    pub go_statement_loc: Location,
    #[serde(default)]
    pub start_loc: Location,
    #[serde(default, rename = "threadID")]
    pub thread_id: i64,
    /// The runtime's `g.atomicstatus`: 1 runnable, 2 running, 3 syscall, 4 waiting, …
    #[serde(default)]
    pub status: u64,
    /// The runtime's `waitReason` (an index into its table of reasons).
    #[serde(default)]
    pub wait_reason: i64,
    #[serde(default)]
    pub unreadable: String,
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub labels: std::collections::BTreeMap<String, String>,
}

/// `RPCServer.ListGoroutines`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ListGoroutinesOut {
    #[serde(default, deserialize_with = "null_as_empty", rename = "Goroutines")]
    pub goroutines: Vec<Goroutine>,
    /// Where the next page starts; negative when this was the last.
    #[serde(default = "last_page", rename = "Nextg")]
    pub nextg: i64,
}

fn last_page() -> i64 {
    -1
}

/// A variable's value as Delve read it, within the load limits.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Variable {
    #[serde(default)]
    pub name: String,
    #[serde(default, rename = "type")]
    pub type_name: String,
    #[serde(default)]
    pub kind: u64,
    #[serde(default)]
    pub value: String,
    #[serde(default)]
    pub len: i64,
    #[serde(default)]
    pub cap: i64,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub children: Vec<Variable>,
    #[serde(default)]
    pub unreadable: String,
}

/// One frame of `RPCServer.Stacktrace`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Stackframe {
    #[serde(flatten)]
    pub location: Location,
    #[serde(default, deserialize_with = "null_as_empty", rename = "Locals")]
    pub locals: Vec<Variable>,
    #[serde(default, deserialize_with = "null_as_empty", rename = "Arguments")]
    pub arguments: Vec<Variable>,
    #[serde(default, rename = "Err")]
    pub err: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StacktraceOut {
    #[serde(default, deserialize_with = "null_as_empty", rename = "Locations")]
    pub locations: Vec<Stackframe>,
}

/// Delve's `LoadConfig`: how much of each value is read. Always sent: with `Full` and no config
/// Delve loads every value without limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LoadConfig {
    pub follow_pointers: bool,
    pub max_variable_recurse: i64,
    pub max_string_len: i64,
    pub max_array_values: i64,
    pub max_struct_fields: i64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListGoroutinesIn {
    pub start: i64,
    pub count: i64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct StacktraceIn {
    pub id: i64,
    pub depth: i64,
    pub full: bool,
    pub cfg: Option<LoadConfig>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct StateIn {
    /// Always true: a blocking State waits for a running target to stop.
    pub non_blocking: bool,
}

/// `RPCServer.Detach`. There is no way to build a detach that kills the target.
#[derive(Debug, Clone, Serialize)]
pub struct DetachIn {
    #[serde(rename = "Kill")]
    kill: bool,
}

impl DetachIn {
    /// The only detach godiag sends: the target runs on.
    pub const KEEP_RUNNING: DetachIn = DetachIn { kill: false };
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Empty {}

/// `RPCServer.Command`: only `halt` is ever sent, and only to a running target.
#[derive(Debug, Clone, Serialize)]
pub struct CommandIn {
    pub name: &'static str,
}

/// `RPCServer.Command` with `continue`: runs the target until a breakpoint, exit, or `halt`.
#[derive(Debug, Clone, Serialize)]
pub struct ContinueIn {
    pub name: &'static str,
}

impl ContinueIn {
    pub const CONTINUE: ContinueIn = ContinueIn { name: "continue" };
}

/// Delve's `EvalScope`: `GoroutineID: -1` is the current goroutine.
#[derive(Debug, Clone, Serialize)]
pub struct EvalScope {
    #[serde(rename = "GoroutineID")]
    pub goroutine_id: i64,
    #[serde(rename = "Frame")]
    pub frame: i64,
    #[serde(rename = "DeferredCall")]
    pub deferred_call: i64,
}

/// `RPCServer.FindLocation`: where a location expression (`pkg.Func`, `file.go:42`) resolves.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct FindLocationIn {
    pub scope: EvalScope,
    pub loc: String,
    pub include_non_executable_lines: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FindLocationOut {
    #[serde(default, rename = "Locations", deserialize_with = "null_as_empty")]
    pub locations: Vec<Location>,
}

/// The breakpoint godiag creates: always a tracepoint (`"continue": true`), so Delve records the
/// hit and godiag continues at once.
#[derive(Debug, Clone, Serialize)]
pub struct NewTracepoint {
    pub name: String,
    #[serde(rename = "continue")]
    pub tracepoint: bool,
    #[serde(rename = "Cond")]
    pub cond: String,
    pub variables: Vec<String>,
    #[serde(rename = "LoadArgs")]
    pub load_args: Option<LoadConfig>,
    #[serde(rename = "LoadLocals")]
    pub load_locals: Option<LoadConfig>,
    pub stacktrace: i64,
    pub goroutine: bool,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateBreakpointIn {
    pub breakpoint: NewTracepoint,
    pub loc_expr: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CreateBreakpointOut {
    #[serde(rename = "Breakpoint")]
    pub breakpoint: Breakpoint,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ClearBreakpointIn {
    pub id: i64,
    pub name: String,
}
