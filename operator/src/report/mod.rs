//! `report.html`: one self-contained page per request, stored next to its artifacts and made
//! from them alone (the operator at the end of a request, `godiag report` on a laptop).

pub mod html;
pub mod load;

use crate::store::{ArtifactStore, StoreError, StoredObject, layout};
use bytes::Bytes;

/// Renders the report of the request stored under `request_dir`.
pub async fn render(store: &dyn ArtifactStore, request_dir: &str) -> Result<String, StoreError> {
    let data = load::load(store, request_dir).await?;
    Ok(html::render(&data, jiff::Timestamp::now()))
}

/// Renders the report and stores it as `report.html` in the request's directory.
pub async fn store_report(store: &dyn ArtifactStore, request_dir: &str) -> Result<StoredObject, StoreError> {
    let page = render(store, request_dir).await?;
    store.put_bytes(&layout::join(request_dir, layout::REPORT_FILE), Bytes::from(page)).await
}
