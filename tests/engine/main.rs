//! The engine tier: the real Docker Engine, real HAProxy and real Serf,
//! through the real labctl binary. Under CI these fail, never skip, when
//! Docker is missing.

#[path = "../shared/bin.rs"]
mod bin;
mod common;

mod arm64;
mod bench;
mod doctor;
mod hardening;
mod lab;
mod podman;
mod remote;
mod runtime_api;
mod scenarios;
mod swarm;
mod swarm_registry;
mod webapp;
