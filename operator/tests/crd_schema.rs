//! The CRD YAML users install (crds/ and the Helm chart's copy) must be exactly what the Rust types
//! generate. Run `make crds` after changing anything under operator/src/api/.

use std::path::Path;

fn repo_file(rel: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}; run `make crds`", path.display()))
}

#[test]
fn crds_dir_matches_rust_types() {
    let generated = godiag::api::crds_yaml().expect("CRDs serialize");
    assert!(
        repo_file("crds/godiag.dev.yaml") == generated,
        "crds/godiag.dev.yaml is out of date with operator/src/api; run `make crds` and commit the result"
    );
}

#[test]
fn helm_chart_crds_are_a_copy_of_crds_dir() {
    assert!(
        repo_file("charts/godiag/crds/godiag.dev.yaml") == repo_file("crds/godiag.dev.yaml"),
        "charts/godiag/crds/godiag.dev.yaml differs from crds/godiag.dev.yaml; run `make crds`"
    );
}
