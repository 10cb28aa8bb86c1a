//! Flame graph SVGs (inferno) from pprof profiles, coloured by where the code lives: the Go
//! runtime, the standard library, or the program's own code (including its dependencies).

use crate::AnalyzeError;
use crate::frames::{FrameOrigin, origin};
use crate::pprof::{Filter, Profile, decode, folded};
use inferno::flamegraph::{self, color::Color, color::PaletteMap};

/// Options for one flame graph.
#[derive(Clone, Debug, Default)]
pub struct FlameOptions {
    /// Sample type to draw (default: the one `go tool pprof` picks).
    pub sample_type: Option<String>,
    /// Keep only stacks with a frame matching this regular expression.
    pub focus: Option<String>,
    /// Drop stacks with a frame matching this regular expression.
    pub ignore: Option<String>,
    /// Title (default: "<profile> flame graph (<sample type>)").
    pub title: Option<String>,
}

/// A flame graph, or why there is none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FlameGraph {
    Svg(String),
    /// Nothing to draw, e.g. "empty profile: no samples" for a block profile with rate 0.
    Empty {
        reason: String,
    },
}

fn hash(s: &str) -> u32 {
    // FNV-1a: stable across runs and platforms.
    s.bytes().fold(0x811c9dc5u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x01000193))
}

/// The colour of a function: a hue per class, lightness varied by name so neighbours differ.
pub fn color_for(name: &str) -> Color {
    let v = (hash(name) % 40) as u8;
    match origin(name) {
        FrameOrigin::Runtime => Color { r: 110 + v, g: 150 + v, b: 215 },
        FrameOrigin::Stdlib => Color { r: 215, g: 190 + v / 2, b: 60 + v },
        FrameOrigin::Library => Color { r: 170 + v, g: 120 + v, b: 200 },
        FrameOrigin::Unsymbolized => Color { r: 160 + v, g: 160 + v, b: 160 + v },
        FrameOrigin::Own => Color { r: 235, g: 100 + v, b: 40 + v / 2 },
    }
}

/// Draws a flame graph from profile bytes.
pub fn flame_graph(data: &[u8], opts: &FlameOptions) -> Result<FlameGraph, AnalyzeError> {
    let p = decode::decode(data)?;
    flame_graph_from_profile(&p, opts)
}

/// Draws a flame graph from a decoded profile.
pub fn flame_graph_from_profile(p: &Profile, opts: &FlameOptions) -> Result<FlameGraph, AnalyzeError> {
    let col = p.column(opts.sample_type.as_deref())?;
    let filter = Filter::new(opts.focus.as_deref(), opts.ignore.as_deref())?;
    let stacks = folded::folded(p, col, &filter.compile_for(p))?;
    if stacks.is_empty() {
        let reason = if p.sample_count() == 0 {
            format!("empty profile: no {} samples", p.guess_type())
        } else if filter.is_active() {
            "empty profile: no samples left after focus/ignore".to_string()
        } else {
            "empty profile: all samples are zero".to_string()
        };
        return Ok(FlameGraph::Empty { reason });
    }
    let vk = &p.sample_types[col];
    let mut palette = PaletteMap::default();
    let mut seen = std::collections::HashSet::new();
    for (stack, _) in &stacks {
        for f in stack.split(';') {
            if seen.insert(f) {
                palette.insert(f, color_for(f));
            }
        }
    }
    let mut o = flamegraph::Options::default();
    o.title = opts.title.clone().unwrap_or_else(|| format!("{} flame graph ({})", p.guess_type(), vk.name));
    o.subtitle = Some("blue: Go runtime · yellow: standard library · orange: program code".to_string());
    o.count_name = if vk.unit.is_empty() { "samples".to_string() } else { vk.unit.clone() };
    o.deterministic = true;
    // A fixed width: a fluid graph measures its container from a timer, which inside a report's
    // frame can run before layout and draw nothing.
    o.image_width = Some(FLAME_WIDTH);
    o.palette_map = Some(&mut palette);
    let lines: Vec<String> = stacks.iter().map(|(s, v)| format!("{s} {v}")).collect();
    drop(stacks);
    capped_svg(|svg| flamegraph::from_lines(&mut o, lines.iter().map(String::as_str), svg))
}

/// A differential flame graph (inferno's, as Brendan Gregg drew them): the frames at the target's
/// widths, red where the target spends a larger share than the baseline, blue where it spends
/// less. `baseline` is scaled to the target's total first, so a busier pod is not all red.
pub fn differential_flame_graph(
    baseline: &[(String, i64)],
    target: &[(String, i64)],
    title: &str,
    unit: &str,
) -> Result<FlameGraph, AnalyzeError> {
    if target.is_empty() {
        return Ok(FlameGraph::Empty { reason: "empty profile: nothing to compare".into() });
    }
    let folded = |stacks: &[(String, i64)]| -> Vec<u8> {
        stacks.iter().filter(|(_, v)| *v > 0).map(|(s, v)| format!("{s} {v}\n")).collect::<String>().into_bytes()
    };
    let (before, after) = (folded(baseline), folded(target));
    let mut diff = Vec::new();
    let d = inferno::differential::Options { normalize: true, ..Default::default() };
    inferno::differential::from_readers(d, &before[..], &after[..], &mut diff)
        .map_err(|e| AnalyzeError::Flame(e.to_string()))?;
    let mut o = flamegraph::Options::default();
    o.title = title.to_string();
    o.subtitle = Some("red: a larger share than in the siblings · blue: a smaller one · width: this pod".to_string());
    o.count_name = if unit.is_empty() { "samples".to_string() } else { unit.to_string() };
    o.deterministic = true;
    // A fixed width: a fluid graph measures its container from a timer, which inside a report's
    // frame can run before layout and draw nothing.
    o.image_width = Some(FLAME_WIDTH);
    capped_svg(|svg| flamegraph::from_reader(&mut o, &diff[..], svg))
}

/// Runs an inferno drawing into a writer capped at [`MAX_SVG_BYTES`]; past the cap the drawing
/// is refused as too large.
fn capped_svg(draw: impl FnOnce(&mut CappedWriter) -> std::io::Result<()>) -> Result<FlameGraph, AnalyzeError> {
    let mut svg = CappedWriter { out: Vec::new(), cap: MAX_SVG_BYTES, overflowed: false };
    draw(&mut svg).map_err(|e| {
        if svg.overflowed {
            AnalyzeError::TooLarge(format!("the flame graph SVG would be larger than {} MiB", MAX_SVG_BYTES >> 20))
        } else {
            AnalyzeError::Flame(e.to_string())
        }
    })?;
    String::from_utf8(svg.out).map(FlameGraph::Svg).map_err(|e| AnalyzeError::Flame(e.to_string()))
}

/// Width of a flame graph, in pixels (inferno's default, fixed).
pub const FLAME_WIDTH: usize = 1200;

/// Largest flame graph SVG drawn: a browser struggles long before this.
pub const MAX_SVG_BYTES: usize = 32 << 20;

/// A `Vec` writer that refuses to grow past `cap`, and remembers that it did.
struct CappedWriter {
    out: Vec<u8>,
    cap: usize,
    overflowed: bool,
}

impl std::io::Write for CappedWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.out.len() + buf.len() > self.cap {
            self.overflowed = true;
            return Err(std::io::Error::other("flame graph too large"));
        }
        self.out.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
