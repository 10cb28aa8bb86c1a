//! Sibling comparison on real profile pairs: replicas of one service (fixturegen -mode sibling)
//! under unequal load, one of them misbehaving (a hot function, a memory leak, parked goroutines).
#![allow(clippy::unwrap_used)]

mod support;

use godiag_analyze::compare::{self, Comparison, Digest, Normalization, ProfileDigest};
use godiag_analyze::{AnalyzeOptions, ArtifactKind, FlameGraph, Rule, analyze_with_digest};
use support::fixture;

fn digests(replica: &str) -> Vec<Digest> {
    [
        (ArtifactKind::Cpu, "cpu.pb.gz"),
        (ArtifactKind::Heap, "heap.pb.gz"),
        (ArtifactKind::GoroutineText, "goroutine.txt"),
    ]
    .into_iter()
    .filter_map(|(kind, file)| {
        let data = fixture(&format!("sibling-{replica}-{file}"));
        let opts = AnalyzeOptions { kind: Some(kind), ..AnalyzeOptions::default() };
        analyze_with_digest(&data, Some(kind), &opts).unwrap().1
    })
    .collect()
}

fn against(target: &str, siblings: &[&str]) -> Comparison {
    let sib: Vec<(String, Vec<Digest>)> = siblings.iter().map(|s| (format!("shop-{s}"), digests(s))).collect();
    compare::compare(&digests(target), &sib)
}

fn messages(c: &Comparison) -> Vec<String> {
    c.findings.iter().map(|f| f.message.clone()).collect()
}

#[test]
fn the_misbehaving_replica_is_named_by_function_leak_and_goroutine_group() {
    let c = against("hot", &["light", "heavy"]);
    let m = messages(&c);
    eprintln!("{m:#?}");
    assert!(c.findings.iter().all(|f| f.rule == Rule::DiffersFromSiblings));
    let cpu = m.iter().find(|m| m.contains("of CPU")).expect("a CPU finding");
    assert!(cpu.starts_with("main.(*Index).Rebuild: "), "{cpu}");
    assert!(cpu.contains("in 2 healthy siblings") && cpu.ends_with(" cores)"), "{cpu}");
    let heap = m.iter().find(|m| m.contains("of in-use heap")).expect("a heap finding");
    assert!(heap.starts_with("main.(*Sessions).Remember: "), "{heap}");
    let g = m.iter().find(|m| m.contains("goroutines")).expect("a goroutine finding");
    assert!(g.starts_with("300 goroutines in chan receive at main.(*Subscriber).wait here vs 0 in 2"), "{g}");
    assert_eq!(c.findings.len(), 3, "one finding per profile kind: {m:#?}");
}

#[test]
fn unequal_load_between_healthy_replicas_is_not_a_finding() {
    // heavy serves three times the requests of light: more cores, the same mix.
    for (t, s) in [("heavy", "light"), ("light", "heavy")] {
        let c = against(t, &[s]);
        assert!(c.findings.is_empty(), "{t} vs {s}: {:#?}", c.findings);
        let cpu = c.profiles.iter().find(|p| p.kind == ArtifactKind::Cpu).unwrap();
        assert_eq!(cpu.normalization, Normalization::CpuShare);
        assert!(cpu.shifts.iter().all(|s| s.delta().abs() < 10.0), "{:#?}", cpu.shifts);
    }
    let heavy = against("heavy", &["light"]);
    let cpu = heavy.profiles.iter().find(|p| p.kind == ArtifactKind::Cpu).unwrap();
    assert!(
        cpu.target_total > 1.3 * cpu.siblings_total,
        "heavy used more cores: {} vs {}",
        cpu.target_total,
        cpu.siblings_total
    );
}

#[test]
fn a_share_is_of_each_pods_own_total_and_the_siblings_share_is_their_mean() {
    let c = against("hot", &["light", "heavy"]);
    let cpu = c.profiles.iter().find(|p| p.kind == ArtifactKind::Cpu).unwrap();
    let top = &cpu.shifts[0];
    assert_eq!(top.name, "main.(*Index).Rebuild");
    assert_eq!(top.siblings_percent, 0.0);
    assert!(top.target_percent > 20.0 && top.target_value > 0.1, "{top:?}");
    // The healthy work shrank in share: the siblings spend most of their CPU serving requests.
    assert!(cpu.shifts.iter().any(|s| s.delta() < 0.0 && s.name.starts_with("main.")), "{:#?}", cpu.shifts);
    let g = c.goroutines.as_ref().unwrap();
    assert_eq!((g.groups[0].target, g.groups[0].siblings_max), (300, 0));
}

#[test]
fn the_differential_flame_graph_shows_the_new_function_in_red() {
    let target = digests("hot");
    let light = digests("light");
    let heavy = digests("heavy");
    let cpu = |ds: &[Digest]| -> ProfileDigest {
        ds.iter()
            .find_map(|d| match d {
                Digest::Profile(p) if p.kind == ArtifactKind::Cpu => Some(p.clone()),
                _ => None,
            })
            .unwrap()
    };
    let (t, l, h) = (cpu(&target), cpu(&light), cpu(&heavy));
    let base = compare::baseline_stacks(&t, &[&l, &h]);
    let base_total: i64 = base.iter().map(|(_, v)| v).sum();
    let t_total: i64 = t.stacks.iter().map(|s| s.value).sum();
    assert!(
        (base_total - t_total).abs() * 100 < t_total,
        "the baseline is scaled to the target: {base_total} vs {t_total}"
    );
    let stacks: Vec<(String, i64)> = t.stacks.iter().map(|s| (s.name.clone(), s.value)).collect();
    let FlameGraph::Svg(svg) =
        godiag_analyze::flame::differential_flame_graph(&base, &stacks, "cpu: hot vs 2 siblings", "nanoseconds")
            .unwrap()
    else {
        panic!("no flame graph")
    };
    let rebuild = svg.find("main.(*Index).Rebuild").expect("the hot function is drawn");
    let rect = &svg[..rebuild];
    let fill = rect.rfind("fill=\"rgb(").map(|i| &rect[i + 10..i + 22]).unwrap();
    assert!(fill.starts_with("255,"), "a frame only the target has is red: rgb({fill}");
}
