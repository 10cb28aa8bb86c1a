//! Pods for the controller's unit tests.

use k8s_openapi::api::core::v1::{Container, ContainerPort, Pod, PodSpec, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

/// A pod with containers `app` (declaring its pprof port 6060, named `pprof`) and `sidecar`, in
/// `phase`, created `age_s` seconds before a fixed instant.
pub(crate) fn pod(name: &str, phase: &str, age_s: i64) -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: Some(name.into()),
            creation_timestamp: Some(Time(jiff::Timestamp::from_second(1_700_000_000 - age_s).unwrap())),
            ..Default::default()
        },
        spec: Some(PodSpec {
            containers: vec![
                Container {
                    name: "app".into(),
                    ports: Some(vec![ContainerPort {
                        name: Some("pprof".into()),
                        container_port: 6060,
                        ..Default::default()
                    }]),
                    ..Default::default()
                },
                Container { name: "sidecar".into(), ..Default::default() },
            ],
            ..Default::default()
        }),
        status: Some(PodStatus { phase: Some(phase.into()), ..Default::default() }),
    }
}
