//! The label keys that mark what labctl created: labels are the lab's state.

/// Every resource labctl creates carries this label, set to `true`.
pub const MANAGED: &str = "io.labctl.managed";
/// The lab a container or network belongs to.
pub const LAB: &str = "io.labctl.lab";
/// A container's node name inside its lab (`ha`, `s1`, …).
pub const NODE: &str = "io.labctl.node";
/// A container's role: `balancer` or `backend`.
pub const ROLE: &str = "io.labctl.role";
/// On containers: the lab stage (0 to 6) the node runs.
pub const STAGE: &str = "io.labctl.stage";
/// On a lab's containers, when the engine runs them under emulation: the
/// platform they run (`linux/arm64` on an x86_64 engine).
pub const PLATFORM: &str = "io.labctl.platform";
/// On images: which image of the lab this is (`ha`, `webapp`, `base`).
pub const IMAGE: &str = "io.labctl.image";
/// On images: a digest of the build context, to tell a stale image.
pub const CONTEXT: &str = "io.labctl.context";
/// On networks: the lab's Serf encryption key (base64), made when the lab
/// is created, so that only the lab's own agents can join its cluster.
pub const SERF_KEY: &str = "io.labctl.serf-key";
/// On a lab's Swarm resources (services, overlay, secret): `swarm`.
pub const ENGINE: &str = "io.labctl.engine";
