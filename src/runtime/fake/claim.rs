//! Claims on the fake engine (see [`crate::runtime::Runtime::claim`]): a
//! running container under the claim's name while the claim is held, gone
//! when its holder lets go or drops it, as the engine's `cat` would end.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use anyhow::{bail, Result};

use super::{new_info, Container, FakeRuntime, State};
use crate::runtime::{Claim, ClaimSpec, Claimed, ContainerState};

/// What keeps a fake claim: dropping it ends the claim container.
struct Connection {
    state: Arc<Mutex<State>>,
    name: String,
    id: String,
}

impl Drop for Connection {
    fn drop(&mut self) {
        end(&self.state, &self.name, &self.id);
    }
}

/// Removes the claim container `name` if it is still the one of id `id`.
fn end(state: &Mutex<State>, name: &str, id: &str) {
    let mut s = state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if s.containers.get(name).is_some_and(|c| c.info.id == id) {
        s.containers.remove(name);
    }
}

impl FakeRuntime {
    /// See [`crate::runtime::Runtime::claim`].
    pub(super) fn take_claim(&self, spec: &ClaimSpec) -> Result<Claimed> {
        let mut s = self.lock();
        if let Some(taken) = s.containers.get(&spec.name) {
            return Ok(Claimed::Taken(Some(Box::new(taken.info.clone()))));
        }
        if !s.images.contains_key(&spec.image) {
            bail!("No such image: {}", spec.image);
        }
        let info = new_info(&mut s, &spec.name, &spec.image, spec.labels.clone());
        let id = info.id.clone();
        s.containers.insert(
            spec.name.clone(),
            Container {
                info: super::ContainerInfo {
                    state: ContainerState::Running,
                    ..info
                },
                serf_up: false,
            },
        );
        drop(s);
        let connection = Connection {
            state: self.state.clone(),
            name: spec.name.clone(),
            id: id.clone(),
        };
        let (state, name, target) = (self.state.clone(), spec.name.clone(), id.clone());
        let remove = Box::pin(async move { end(&state, &name, &target) });
        Ok(Claimed::Held(Claim::new(id, Box::new(connection), remove)))
    }

    /// Leaves a claim container `name` in `state` with `labels`, as a
    /// holder that went away (or one that holds it now) leaves it.
    pub fn add_claim(&self, name: &str, state: ContainerState, labels: HashMap<String, String>) {
        let mut s = self.lock();
        let image = crate::contract::Role::Ha.image();
        let info = new_info(&mut s, name, image, labels);
        s.containers.insert(
            name.to_string(),
            Container {
                info: super::ContainerInfo { state, ..info },
                serf_up: false,
            },
        );
    }
}
