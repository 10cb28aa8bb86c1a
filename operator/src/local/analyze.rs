//! `godiag analyze FILE`: the same analysis the operator runs, on a laptop.

use crate::cli::{AnalyzeArgs, OutputFormat};
use anyhow::Context;
use godiag_analyze::{
    Analysis, AnalyzeOptions, ArtifactKind, FlameGraph, FlameOptions, analyze_bytes, analyze_diff, flame_graph, render,
};
use std::path::Path;

/// The artifact kind a file name suggests (`mutex.pb.gz` → mutex), used only to sharpen messages
/// about block and mutex profiles, which look the same inside.
fn kind_from_name(path: &Path) -> Option<ArtifactKind> {
    let name = path.file_name()?.to_string_lossy().to_ascii_lowercase();
    [ArtifactKind::Mutex, ArtifactKind::Block].into_iter().find(|k| name.contains(k.as_str()))
}

/// Runs `godiag analyze` and writes the result to `out`.
pub fn run_analyze(args: &AnalyzeArgs, out: &mut dyn std::io::Write) -> anyhow::Result<()> {
    let data = std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let opts = AnalyzeOptions {
        sample_type: args.sample_type.clone(),
        top: args.top,
        focus: args.focus.clone(),
        ignore: args.ignore.clone(),
        kind: kind_from_name(&args.file),
        ..AnalyzeOptions::default()
    };
    let analysis = match &args.base {
        Some(base) => {
            let b = std::fs::read(base).with_context(|| format!("reading {}", base.display()))?;
            analyze_diff(&b, &data, &opts)
        }
        None => analyze_bytes(&data, &opts),
    }
    .with_context(|| format!("analysing {}", args.file.display()))?;

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
            serde_json::to_writer_pretty(&mut *out, &analysis)?;
            writeln!(out)?;
            if let Some(n) = flame_note {
                eprintln!("{n}");
            }
        }
        OutputFormat::Text => {
            write!(out, "{}", render::text(&analysis))?;
            if let Some(n) = flame_note {
                writeln!(out, "\n{n}")?;
            }
        }
    }
    Ok(())
}
