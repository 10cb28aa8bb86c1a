//! Shared helpers for the e2e tests live in tests/common.
