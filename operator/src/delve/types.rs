//! The parts of Delve's JSON-RPC API (`service/api`, `service/rpc2`) godiag uses. Argument keys
//! are Go field names; result keys are Delve's json tags. Fields godiag does not read are left
//! out (serde skips them), so a newer Delve that adds fields still decodes.

use serde::{Deserialize, Serialize};

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
    #[serde(default, rename = "exited")]
    pub exited: bool,
    #[serde(default, rename = "exitStatus")]
    pub exit_status: i64,
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
    #[serde(default, rename = "Goroutines")]
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
    #[serde(default)]
    pub children: Vec<Variable>,
    #[serde(default)]
    pub unreadable: String,
}

/// One frame of `RPCServer.Stacktrace`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Stackframe {
    #[serde(flatten)]
    pub location: Location,
    #[serde(default, rename = "Locals")]
    pub locals: Vec<Variable>,
    #[serde(default, rename = "Arguments")]
    pub arguments: Vec<Variable>,
    #[serde(default, rename = "Err")]
    pub err: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StacktraceOut {
    #[serde(default, rename = "Locations")]
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
