//! `--focus` / `--ignore` in the spirit of pprof: focus keeps samples with at least one frame
//! matching, ignore drops samples with any frame matching. Matching is on function names and
//! is evaluated once per function, not once per frame.

use super::decode::Profile;
use crate::AnalyzeError;
use regex::Regex;

#[derive(Clone, Debug, Default)]
pub struct Filter {
    focus: Option<Regex>,
    ignore: Option<Regex>,
}

/// Per-function match bits for one profile.
pub struct CompiledFilter {
    focus: Option<Vec<bool>>,
    ignore: Option<Vec<bool>>,
}

fn compile(expr: Option<&str>) -> Result<Option<Regex>, AnalyzeError> {
    match expr {
        None => Ok(None),
        Some(e) => regex::RegexBuilder::new(e)
            .size_limit(1 << 20)
            .build()
            .map(Some)
            .map_err(|err| AnalyzeError::BadRegex(e.to_string(), err.to_string())),
    }
}

impl Filter {
    pub fn new(focus: Option<&str>, ignore: Option<&str>) -> Result<Filter, AnalyzeError> {
        Ok(Filter { focus: compile(focus)?, ignore: compile(ignore)? })
    }

    pub fn is_active(&self) -> bool {
        self.focus.is_some() || self.ignore.is_some()
    }

    pub fn compile_for(&self, p: &Profile) -> CompiledFilter {
        let bits = |re: &Option<Regex>| re.as_ref().map(|re| p.names.iter().map(|n| re.is_match(n)).collect());
        CompiledFilter { focus: bits(&self.focus), ignore: bits(&self.ignore) }
    }
}

impl CompiledFilter {
    /// Whether it keeps every sample (no focus, no ignore).
    pub fn keeps_all(&self) -> bool {
        self.focus.is_none() && self.ignore.is_none()
    }

    /// Whether a sample with these frames (function indices) is kept.
    pub fn keeps(&self, frames: &[u32]) -> bool {
        if let Some(ign) = &self.ignore
            && frames.iter().any(|&f| ign.get(f as usize).copied().unwrap_or(false))
        {
            return false;
        }
        match &self.focus {
            Some(foc) => frames.iter().any(|&f| foc.get(f as usize).copied().unwrap_or(false)),
            None => true,
        }
    }
}
