//! labctl's container spec as the engine's creation request.

use std::collections::HashMap;

use bollard::models::{
    ContainerCreateBody, EndpointIpamConfig, EndpointSettings, HostConfig, NetworkingConfig,
    PortBinding,
};

use crate::runtime::ContainerSpec;

/// The body of the engine's create request for `spec`.
pub(super) fn create_body(spec: &ContainerSpec) -> ContainerCreateBody {
    let port_bindings: HashMap<String, Option<Vec<PortBinding>>> = spec
        .publish
        .iter()
        .map(|(port, host_ip, host_port)| {
            (
                format!("{port}/tcp"),
                Some(vec![PortBinding {
                    host_ip: Some(host_ip.clone()),
                    host_port: Some(if *host_port == 0 {
                        String::new()
                    } else {
                        host_port.to_string()
                    }),
                }]),
            )
        })
        .collect();
    let endpoint = EndpointSettings {
        ipam_config: Some(EndpointIpamConfig {
            ipv4_address: Some(spec.ip.to_string()),
            ..Default::default()
        }),
        aliases: Some(spec.aliases.clone()),
        ..Default::default()
    };
    ContainerCreateBody {
        hostname: Some(spec.hostname.clone()),
        image: Some(spec.image.clone()),
        env: Some(spec.env.clone()),
        labels: Some(spec.labels.clone()),
        exposed_ports: Some(
            spec.publish
                .iter()
                .map(|(port, _, _)| format!("{port}/tcp"))
                .collect(),
        ),
        host_config: Some(host_config(spec, port_bindings)),
        networking_config: Some(NetworkingConfig {
            endpoints_config: Some(HashMap::from([(spec.network.clone(), endpoint)])),
        }),
        ..Default::default()
    }
}

/// The host settings of a container. One that runs a Docker Engine of its
/// own (`runs_engine`) gets what that needs:
/// `--privileged` is not needed (and not granted everywhere): every
/// capability but CAP_SYS_RESOURCE, no seccomp or AppArmor confinement, the
/// kernel's paths unmasked, and the host's cgroup tree, writable, so that
/// the inner engine can make cgroups for its containers.
fn host_config(
    spec: &ContainerSpec,
    port_bindings: HashMap<String, Option<Vec<PortBinding>>>,
) -> HostConfig {
    let plain = HostConfig {
        network_mode: Some(spec.network.clone()),
        port_bindings: Some(port_bindings),
        init: Some(false),
        ..Default::default()
    };
    if !spec.runs_engine {
        return plain;
    }
    HostConfig {
        cap_add: Some(vec!["ALL".into()]),
        cap_drop: Some(vec!["SYS_RESOURCE".into()]),
        security_opt: Some(vec![
            "seccomp=unconfined".into(),
            "apparmor=unconfined".into(),
        ]),
        // What the docker CLI's `systempaths=unconfined` sends: no path of
        // the kernel's masked or read-only.
        masked_paths: Some(Vec::new()),
        readonly_paths: Some(Vec::new()),
        cgroupns_mode: Some(bollard::models::HostConfigCgroupnsModeEnum::HOST),
        binds: Some(vec!["/sys/fs/cgroup:/sys/fs/cgroup:rw".into()]),
        ..plain
    }
}
