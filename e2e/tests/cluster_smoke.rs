//! Is the cluster itself fit for godiag's tests? These need no godiag: they check the
//! things the operator relies on — a Ready node, pods from locally imported images, and
//! the API server's port-forward reaching a pprof server bound to 127.0.0.1 in a pod.
#![cfg(feature = "e2e")]

mod common;

use anyhow::{Result, ensure};
use k8s_openapi::api::core::v1::{Container, Node, Pod, PodSpec};
use kube::{
    Api,
    api::{ObjectMeta, PostParams},
    runtime::wait::conditions::is_pod_running,
};

use common::{GOAPP_IMAGE, TIMEOUT, wait_for};

/// A goapp pod whose pprof server listens on loopback only, so only port-forward reaches it.
fn goapp_pod(name: &str) -> Pod {
    Pod {
        metadata: ObjectMeta { name: Some(name.to_owned()), ..ObjectMeta::default() },
        spec: Some(PodSpec {
            containers: vec![Container {
                name: "goapp".to_owned(),
                image: Some(GOAPP_IMAGE.to_owned()),
                image_pull_policy: Some("Never".to_owned()),
                args: Some(vec!["-listen".to_owned(), "127.0.0.1:6060".to_owned()]),
                ..Container::default()
            }],
            termination_grace_period_seconds: Some(1),
            ..PodSpec::default()
        }),
        ..Pod::default()
    }
}

#[tokio::test]
async fn node_is_ready() -> Result<()> {
    let nodes: Api<Node> = Api::all(common::client().await);
    let list = nodes.list(&Default::default()).await?;
    ensure!(!list.items.is_empty(), "the cluster has no nodes");
    for node in list {
        let name = node.metadata.name.clone().unwrap_or_default();
        wait_for(&nodes, &name, "node Ready", TIMEOUT, |n: Option<&Node>| {
            n.and_then(|n| n.status.as_ref())
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        })
        .await?;
    }
    Ok(())
}

#[tokio::test]
async fn pod_from_local_image_runs() -> Result<()> {
    common::with_temp_ns("smoke-image", |client, ns| async move {
        let pods: Api<Pod> = Api::namespaced(client, &ns);
        pods.create(&PostParams::default(), &goapp_pod("goapp")).await?;
        wait_for(&pods, "goapp", "goapp pod Running", TIMEOUT, is_pod_running()).await?;
        Ok(())
    })
    .await
}

#[tokio::test]
async fn port_forward_reaches_loopback_pprof() -> Result<()> {
    common::with_temp_ns("smoke-portforward", |client, ns| async move {
        let pods: Api<Pod> = Api::namespaced(client, &ns);
        pods.create(&PostParams::default(), &goapp_pod("goapp")).await?;
        wait_for(&pods, "goapp", "goapp pod Running", TIMEOUT, is_pod_running()).await?;

        let response = common::wait_until_serving(&pods, "goapp", 6060, "/debug/pprof/").await?;
        ensure!(response.contains("goroutine"), "pprof index does not list the goroutine profile:\n{response}");
        Ok(())
    })
    .await
}
