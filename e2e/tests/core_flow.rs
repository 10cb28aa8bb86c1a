//! The core flow a user sees: apply a DiagnosisRequest against goapp pods, watch it reach a
//! terminal phase, find the artifacts it lists, and read the summary in its status.
//!
//! Not written yet: it needs the DiagnosisRequest CRD and the operator deployed from
//! `manifests/` with `localhost/godiag:e2e` (built by `e2e/images/build.sh godiag`). Use
//! `common::with_temp_ns`, `common::wait_for` and the image constants in `common`; the harness
//! already prints the operator's logs (godiag-system, app.kubernetes.io/name=godiag) and the
//! namespace's events when a test fails.
#![cfg(feature = "e2e")]

mod common;
