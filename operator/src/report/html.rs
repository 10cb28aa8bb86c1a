//! The report page (pure): one self-contained HTML document — no external script, style, font or
//! image, nothing fetched — that opens from a file, a presigned URL or a bucket's static website.
//! Summary and findings first, then per pod the sibling comparison, top functions, goroutine
//! groups, trace figures, flame graphs and every artifact with the command that opens it.
//!
//! Each flame graph is inferno's own interactive SVG (click to zoom, Search, Ctrl-F) in an
//! `<iframe srcdoc>`: its script expects a document of its own, and ids must not clash between
//! graphs. A few lines beside it make every frame reachable by keyboard (Tab, Enter or Space to
//! zoom, Escape to zoom out) and keep it from writing its zoom state to the page's URL, which a
//! `file:` or `srcdoc` page cannot change.

use super::load::{Flame, PodReport, ReportData, StoredSummary};
use crate::controller::baseline::go_tool_diff;
use godiag_analyze::compare::{Comparison, Normalization};
use godiag_analyze::findings::Finding;
use godiag_analyze::{Analysis, ArtifactFormat, ArtifactKind, units};
use maud::{DOCTYPE, Markup, PreEscaped, html};

const STYLE: &str = r#"
:root { --fg:#1b1f24; --muted:#57606a; --line:#d0d7de; --warn:#9a6700; --high:#cf222e; --info:#0969da; --bg:#fff; --soft:#f6f8fa; }
* { box-sizing: border-box; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: var(--fg); background: var(--bg); margin: 0 auto; max-width: 1280px; padding: 1.5rem; }
h1 { font-size: 1.6rem; margin: 0 0 .25rem; } h2 { font-size: 1.3rem; border-bottom: 1px solid var(--line); padding-bottom: .25rem; margin-top: 2.5rem; } h3 { font-size: 1.05rem; margin-top: 1.5rem; }
.muted { color: var(--muted); } code, pre, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .85rem; }
pre { background: var(--soft); padding: .5rem .75rem; overflow-x: auto; border-radius: 6px; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0; } th, td { text-align: left; padding: .2rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: var(--soft); font-weight: 600; } td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.name { word-break: break-all; font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .85rem; }
.finding { border-left: 4px solid var(--info); padding: .25rem .75rem; margin: .5rem 0; background: var(--soft); }
.finding.warning { border-color: var(--warn); } .finding.high { border-color: var(--high); }
.finding .evidence { color: var(--muted); font-size: .85rem; margin: .25rem 0 0; padding-left: 1.25rem; }
.sev { font-weight: 700; text-transform: uppercase; font-size: .75rem; margin-right: .4rem; }
.badge { display: inline-block; font-size: .75rem; border: 1px solid var(--line); border-radius: 1rem; padding: 0 .5rem; margin-left: .5rem; vertical-align: middle; }
figure { margin: 1rem 0; } iframe.flame { width: 100%; border: 1px solid var(--line); border-radius: 6px; background: #fff; }
nav ul { columns: 2; } a { color: var(--info); } a:focus, iframe:focus { outline: 3px solid var(--info); outline-offset: 2px; }
@media print { iframe.flame { display: none; } .print-only { display: block; } nav { display: none; } h2 { break-before: page; } body { max-width: none; } }
.print-only { display: none; }
"#;

/// Runs inside each flame graph's frame, before inferno's own script.
const FLAME_SHIM: &str = r##"<script>
history.replaceState = function () {};
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("#frames > g").forEach(function (g) {
    var t = g.querySelector("title");
    g.setAttribute("tabindex", "0");
    g.setAttribute("role", "button");
    if (t) g.setAttribute("aria-label", t.textContent);
  });
  document.addEventListener("keydown", function (e) {
    var g = e.target && e.target.closest ? e.target.closest("#frames > g") : null;
    if (g && (e.key === "Enter" || e.key === " ")) {
      e.preventDefault();
      g.dispatchEvent(new MouseEvent("click", { bubbles: true }));
    } else if (e.key === "Escape" && typeof unzoom === "function") {
      unzoom(true);
    }
  });
});
</script>"##;

fn anchor(pod: &str) -> String {
    format!("pod-{}", crate::store::layout::segment(pod))
}

fn severity_class(f: &Finding) -> &'static str {
    match f.severity {
        godiag_analyze::Severity::High => "high",
        godiag_analyze::Severity::Warning => "warning",
        godiag_analyze::Severity::Info => "info",
    }
}

fn findings(list: &[Finding]) -> Markup {
    html! {
        @for f in list {
            div class={ "finding " (severity_class(f)) } {
                span class="sev" { (format!("{:?}", f.severity)) }
                span class="mono muted" { (f.rule.reason()) } " "
                strong { (f.message) }
                @if !f.evidence.is_empty() {
                    ul class="evidence" { @for e in &f.evidence { li { (e) } } }
                }
            }
        }
    }
}

/// The command that opens an artifact with Go's own tools, from a copy of the request directory.
pub fn open_command(kind: ArtifactKind, file: &str) -> String {
    match kind.format() {
        ArtifactFormat::Pprof => format!("go tool pprof -http=: {file}"),
        ArtifactFormat::Trace => format!("go tool trace {file}"),
        _ => format!("less {file}"),
    }
}

fn svg_height(svg: &str) -> u32 {
    let head = &svg[..svg.len().min(4096)];
    head.find("<svg")
        .and_then(|i| head[i..].find(" height=\"").map(|j| i + j + 9))
        .and_then(|k| head[k..].split('"').next())
        .and_then(|h| h.trim_end_matches("px").parse::<f64>().ok())
        .map_or(600, |h| (h.ceil() as u32).clamp(120, 4000) + 8)
}

fn flame(f: &Flame, pod: &str, what: &str) -> Markup {
    match f {
        Flame::Inline { kind, file, svg } => {
            let title = format!("{what} of the {kind} profile of pod {pod}");
            // The frame's own document, escaped once more as the attribute's value.
            let doc = format!(
                "<!doctype html><meta charset=\"utf-8\"><title>{}</title><style>body{{margin:0}} svg{{display:block}}</style>{FLAME_SHIM}{svg}",
                maud::html! { (title) }.into_string()
            );
            html! {
                figure {
                    iframe class="flame" title=(title) style={ "height:" (svg_height(svg)) "px" } srcdoc=(doc) {}
                    figcaption class="muted" {
                        (title) ": click a frame to zoom, Search (or Ctrl-F) to highlight; Tab to a frame and Enter to zoom, Escape to zoom out. "
                        a href=(file) { "Open " (file) " on its own" }
                    }
                    p class="print-only" { "Flame graph: " (file) }
                }
            }
        }
        Flame::Linked { kind, file, why } => html! {
            p { (what) " of the " (kind) " profile: " a href=(file) { (file) } " (" (why) ")" }
        },
    }
}

fn fixed(v: f64, n: Normalization, unit: &str) -> String {
    match n {
        Normalization::CpuShare => format!("{v:.2} cores"),
        Normalization::ShareOfTotal => units::scaled(v.round() as i64, unit),
    }
}

fn comparison(c: &Comparison, p: &PodReport) -> Markup {
    html! {
        h3 { "Compared with " (c.siblings.len()) " healthy sibling(s)" }
        p class="muted" { "Siblings: " (c.siblings.join(", ")) ". Every value is a share of its own pod's total, so a busier sibling does not look like a regression; the siblings' share is the mean of their shares." }
        (findings(&c.findings))
        @for pc in &c.profiles {
            h4 { (pc.kind) " (" (pc.sample_type) ") — " (fixed(pc.target_total, pc.normalization, &pc.unit)) " here, " (fixed(pc.siblings_total, pc.normalization, &pc.unit)) " on average in the siblings" }
            p class="muted" { "Compared: " (pc.normalization.describe()) }
            @if pc.shifts.is_empty() {
                p { "No function's share changed by more than half a percentage point." }
            } @else {
                table {
                    thead { tr { th { "function" } th class="num" { "here" } th class="num" { "siblings" } th class="num" { "highest sibling" } th class="num" { "here" } th class="num" { "siblings" } } }
                    tbody {
                        @for s in &pc.shifts {
                            tr {
                                td class="name" { (s.name) }
                                td class="num" { (format!("{:.1}%", s.target_percent)) }
                                td class="num" { (format!("{:.1}%", s.siblings_percent)) }
                                td class="num" { (format!("{:.1}%", s.siblings_max_percent)) }
                                td class="num" { (fixed(s.target_value, pc.normalization, &pc.unit)) }
                                td class="num" { (fixed(s.siblings_value, pc.normalization, &pc.unit)) }
                            }
                        }
                    }
                }
            }
            @if pc.kind.format() == ArtifactFormat::Pprof {
                p { "The same comparison in Go's tool, from a copy of this request's directory:" }
                pre { (go_tool_diff(&p.dir, &c.siblings, pc.kind)) }
            }
        }
        @if let Some(g) = &c.goroutines {
            h4 { "Goroutines: " (g.target_total) " here, " (format!("{:.0}", g.siblings_total)) " on average in the siblings" }
            @if !g.groups.is_empty() {
                table {
                    thead { tr { th class="num" { "here" } th class="num" { "siblings (mean)" } th class="num" { "highest sibling" } th { "state" } th { "site" } } }
                    tbody { @for x in &g.groups { tr { td class="num" { (x.target) } td class="num" { (format!("{:.0}", x.siblings_mean)) } td class="num" { (x.siblings_max) } td { (x.state) } td class="name" { (x.site) } } } }
                }
            }
        }
        @if let Some(t) = &c.trace {
            h4 { "Execution trace, side by side" }
            table {
                thead { tr { th { "figure" } th class="num" { "here" } th class="num" { "siblings (mean)" } th class="num" { "lowest" } th class="num" { "highest" } } }
                tbody { @for r in &t.rows { tr { td { (r.figure) " (" (r.unit) ")" } td class="num" { (format!("{:.1}", r.target)) } td class="num" { (format!("{:.1}", r.siblings_mean)) } td class="num" { (format!("{:.1}", r.siblings_min)) } td class="num" { (format!("{:.1}", r.siblings_max)) } } } }
            }
        }
        @for f in &p.diffs {
            (flame(f, &p.entry.name, "Differential flame graph (red: a larger share than in the siblings, blue: a smaller one)"))
        }
    }
}

fn analyses(s: &StoredSummary) -> Markup {
    html! {
        @for (kind, a) in &s.artifacts {
            @match a {
                Analysis::Pprof(r) if !r.own_code.is_empty() && kind != "goroutine" => {
                    h3 { "Top functions: " (kind) " (" (r.sample_type) ", " (units::scaled(r.own_total, &r.unit)) " in all)" }
                    table {
                        thead { tr { th class="num" { "value" } th class="num" { "share" } th { "the program's function" } th { "where the time or bytes went" } } }
                        tbody {
                            @for f in r.own_code.iter().take(10) {
                                tr {
                                    td class="num" { (units::scaled(f.value, &r.unit)) }
                                    td class="num" { (format!("{:.1}%", godiag_analyze::findings::percent(f.value, r.own_total))) }
                                    td class="name" { (f.name) }
                                    td class="name" { (f.leaf.as_deref().unwrap_or("")) }
                                }
                            }
                        }
                    }
                }
                Analysis::Goroutines(r) if kind == "goroutineText" || !s.artifacts.contains_key("goroutineText") => {
                    h3 { "Goroutines: " (r.total) " (" (kind) ")" }
                    table {
                        thead { tr { th class="num" { "count" } th { "state" } th class="num" { "longest wait" } th { "stack (innermost first)" } } }
                        tbody {
                            @for g in r.groups.iter().take(10) {
                                tr {
                                    td class="num" { (g.count) }
                                    td { (g.state) }
                                    td class="num" { @if g.max_wait_minutes > 0 { (g.max_wait_minutes) " min" } }
                                    td class="name" { (g.stack.iter().take(6).cloned().collect::<Vec<_>>().join(" ← ")) }
                                }
                            }
                        }
                    }
                }
                Analysis::Trace(t) => {
                    h3 { "Execution trace (" (units::nanoseconds_u64(t.duration_ns)) ")" }
                    table {
                        tbody {
                            tr { th { "P utilisation" } td class="num" { (format!("{:.1}%", t.utilization() * 100.0)) } }
                            @if let Some(w) = &t.blocking.scheduler { tr { th { "scheduler latency p99 / max" } td class="num" { (units::nanoseconds_u64(w.p99_ns)) " / " (units::nanoseconds_u64(w.max_ns)) } } }
                            @if let Some(g) = t.gc_cpu_percent { tr { th { "GC share of CPU" } td class="num" { (format!("{g:.1}%")) } } }
                            tr { th { "GC cycles" } td class="num" { (t.gc_count) } }
                            tr { th { "longest stop-the-world" } td class="num" { (units::nanoseconds_u64(t.stw_max_ns)) } }
                            tr { th { "time in syscalls" } td class="num" { (units::nanoseconds_u64(t.syscall_ns)) } }
                            tr { th { "goroutines created" } td class="num" { (t.goroutines_created) } }
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

fn pod(p: &PodReport) -> Markup {
    let e = &p.entry;
    html! {
        section id=(anchor(&e.name)) aria-labelledby={ (anchor(&e.name)) "-h" } {
            h2 id={ (anchor(&e.name)) "-h" } {
                "Pod " (e.name)
                span class="badge" { @if e.sibling { "sibling" } @else { "target" } }
            }
            p class="muted" {
                (e.source)
                @if let Some(o) = &e.owner { " · owner " (o) }
                @if let Some(w) = &e.window_start { " · window started " (w.to_string()) }
            }
            @if let Some(err) = &e.error { div class="finding high" { span class="sev" { "failed" } (err) } }
            @if let Some(s) = &p.summary {
                p { strong { (s.one_line) } }
                (findings(&s.summary.findings))
            }
            @if let Some(c) = &p.comparison { (comparison(c, p)) }
            @if let Some(s) = &p.summary { (analyses(s)) }
            @if !p.flames.is_empty() {
                h3 { "Flame graphs" }
                @for f in &p.flames { (flame(f, &e.name, "Flame graph")) }
            }
            h3 { "Artifacts" }
            table {
                thead { tr { th { "kind" } th class="num" { "size" } th { "file" } th { "open with" } th { "sha256" } } }
                tbody {
                    @for a in &e.artifacts {
                        @let file = crate::store::layout::join(&p.dir, a.kind.file_name());
                        tr {
                            td { (a.kind) @if let Some(n) = &a.note { br; span class="muted" { (n) } } }
                            td class="num" { (units::bytes_u64(a.object.bytes)) }
                            td class="name" { a href=(file) { (file) } }
                            td class="name" { code { (open_command(a.kind, &file)) } }
                            td class="name muted" { (a.object.sha256.get(..12).unwrap_or("")) "…" }
                        }
                    }
                }
            }
            @if !e.failures.is_empty() {
                h3 { "Not collected" }
                ul { @for f in &e.failures { li { strong { (f.kind) } " — " span class="mono" { (f.reason) } ": " (f.message) } } }
            }
            @for n in &p.notes { p class="muted" { "Note: " (n) } }
        }
    }
}

/// A target's findings for the summary: what differs from its siblings first, then the rest.
fn summary_findings(p: &PodReport, s: &StoredSummary) -> Vec<Finding> {
    let mut all = p.comparison.as_ref().map(|c| c.findings.clone()).unwrap_or_default();
    for f in &s.summary.findings {
        if !all.contains(f) {
            all.push(f.clone());
        }
    }
    all
}

/// The whole page.
pub fn render(d: &ReportData, generated: jiff::Timestamp) -> String {
    let m = &d.manifest;
    let title = match (&m.namespace, &m.request) {
        (Some(ns), Some(r)) => format!("godiag: {r} ({ns})"),
        _ => "godiag report".to_string(),
    };
    let targets: Vec<&PodReport> = d.pods.iter().filter(|p| !p.entry.sibling).collect();
    let siblings = d.pods.len() - targets.len();
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="generator" content="godiag";
                title { (title) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header {
                    h1 { (title) }
                    p class="muted" {
                        (targets.len()) " pod(s) diagnosed"
                        @if siblings > 0 { ", compared with " (siblings) " healthy sibling(s)" }
                        " · collected " (m.started.to_string()) " · report made " (generated.to_string())
                    }
                }
                nav aria-label="Pods" {
                    ul { @for p in &d.pods { li { a href={ "#" (anchor(&p.entry.name)) } { (p.entry.name) } @if p.entry.sibling { " (sibling)" } } } }
                }
                main {
                    section aria-labelledby="summary-h" {
                        h2 id="summary-h" { "Summary" }
                        @for p in &targets {
                            h3 { a href={ "#" (anchor(&p.entry.name)) } { (p.entry.name) } }
                            @match &p.summary {
                                Some(s) => {
                                    @let all = summary_findings(p, s);
                                    p { (godiag_analyze::one_line(&godiag_analyze::TargetSummary { findings: all.clone(), ..s.summary.clone() })) }
                                    @if all.is_empty() { p class="muted" { "Nothing godiag's rules would flag." } } @else { (findings(&all)) }
                                }
                                None => { p class="muted" { (p.entry.error.as_deref().unwrap_or("no analysis stored for this pod")) } }
                            }
                        }
                    }
                    @for p in &d.pods { (pod(p)) }
                }
                footer class="muted" { p { "Made by godiag from the artifacts stored next to this file; links are relative to it." } }
            }
        }
    };
    page.into_string()
}
