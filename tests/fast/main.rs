//! The fast tier: no engine. Every verb on both kinds of lab through the
//! in-memory runtime, orchestration against it, and the real binary's
//! command line and bad inputs. `cargo test --test fast` runs it in
//! seconds.

#[path = "../shared/bin.rs"]
mod bin;
mod fake;

mod bad_inputs;
mod cli;
mod engine_lock;
mod orchestration;
mod orchestration_nodes;
mod verbs;
