//! `godiag analyze FILE`: the same analysis the operator runs, on a laptop.

use crate::cli::{AnalyzeArgs, OutputFormat};
use anyhow::Context;
use godiag_analyze::{
    Analysis, AnalyzeOptions, ArtifactKind, FlameGraph, FlameOptions, analyze_against, analyze_bytes, flame_graph,
    render,
};
use std::path::Path;

/// The artifact kind a file name suggests (`mutex.pb.gz` → mutex), used only to sharpen messages
/// about block and mutex profiles, which look the same inside.
fn kind_from_name(path: &Path) -> Option<ArtifactKind> {
    let name = path.file_name()?.to_string_lossy().to_ascii_lowercase();
    [ArtifactKind::Mutex, ArtifactKind::Block].into_iter().find(|k| name.contains(k.as_str()))
}

/// Largest file `godiag analyze` reads: the operator analyses at most 64 MiB per artifact.
pub const MAX_INPUT_BYTES: u64 = 256 << 20;

/// Reads a regular file of at most [`MAX_INPUT_BYTES`]; a FIFO, a device such as `/dev/zero` or
/// a larger file is refused with a message instead of growing until memory runs out.
fn read_input(path: &Path) -> anyhow::Result<Vec<u8>> {
    use std::io::Read;
    let file = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let meta = file.metadata().with_context(|| format!("reading {}", path.display()))?;
    if !meta.is_file() {
        anyhow::bail!(
            "{} is not a regular file (a pipe or device could be endless); save it to a file first",
            path.display()
        );
    }
    let mut data = Vec::new();
    file.take(MAX_INPUT_BYTES + 1).read_to_end(&mut data).with_context(|| format!("reading {}", path.display()))?;
    if data.len() as u64 > MAX_INPUT_BYTES {
        anyhow::bail!("{} is larger than {} MiB, more than godiag analyses", path.display(), MAX_INPUT_BYTES >> 20);
    }
    Ok(data)
}

/// Runs `godiag analyze` and writes the result to `out`.
pub fn run_analyze(args: &AnalyzeArgs, out: &mut dyn std::io::Write) -> anyhow::Result<()> {
    let data = read_input(&args.file)?;
    let opts = AnalyzeOptions {
        sample_type: args.sample_type.clone(),
        top: args.top,
        focus: args.focus.clone(),
        ignore: args.ignore.clone(),
        kind: kind_from_name(&args.file),
        resources: args.resources.resources(),
        ..AnalyzeOptions::default()
    };
    let (analysis, comparison) = if args.base.is_empty() {
        (analyze_bytes(&data, &opts), None)
    } else {
        let mut bases = Vec::new();
        for b in &args.base {
            bases.push((b.display().to_string(), read_input(b)?));
        }
        match analyze_against(&data, &bases, opts.kind, &opts) {
            Ok((a, c)) => (Ok(a), Some(c)),
            Err(e) => (Err(e), None),
        }
    };
    let analysis = analysis.with_context(|| format!("analysing {}", args.file.display()))?;

    let mut flame_note = None;
    if let Some(svg_path) = &args.svg {
        if !matches!(analysis, Analysis::Pprof(_)) {
            flame_note = Some("no flame graph: --svg needs a pprof profile".to_string());
        } else {
            let fo = FlameOptions {
                sample_type: args.sample_type.clone(),
                focus: args.focus.clone(),
                ignore: args.ignore.clone(),
                title: None,
            };
            match flame_graph(&data, &fo)? {
                FlameGraph::Svg(svg) => {
                    std::fs::write(svg_path, svg).with_context(|| format!("writing {}", svg_path.display()))?;
                    flame_note = Some(format!("flame graph written to {}", svg_path.display()));
                }
                FlameGraph::Empty { reason } => flame_note = Some(format!("no flame graph: {reason}")),
            }
        }
    }

    match args.format {
        OutputFormat::Json => {
            match &comparison {
                Some(c) => serde_json::to_writer_pretty(
                    &mut *out,
                    &serde_json::json!({ "analysis": &analysis, "comparison": c }),
                )?,
                None => serde_json::to_writer_pretty(&mut *out, &analysis)?,
            }
            writeln!(out)?;
            if let Some(n) = flame_note {
                eprintln!("{n}");
            }
        }
        OutputFormat::Text => {
            write!(out, "{}", render::text(&analysis))?;
            if let Some(c) = &comparison {
                write!(out, "{}", render::comparison(c))?;
            }
            if let Some(n) = flame_note {
                writeln!(out, "\n{n}")?;
            }
        }
    }
    Ok(())
}
