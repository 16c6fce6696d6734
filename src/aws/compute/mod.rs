//! The lesson's compute: the node image, the SSH key pair and the nodes,
//! launched concurrently with a bounded pool, waited for, and recorded in
//! state as each becomes known.  Find-or-create like the network: nodes are
//! found by their `groundup:cluster` and `groundup:node` tags, so a re-run
//! launches only what is missing.
//!
//! - [`image`]: the node image (newest match, or a pinned AMI);
//! - [`key_pair`]: the SSH key pair and its private key file;
//! - [`nodes`]: what a node is (spec, placement, state record, look-up);
//! - [`launch`]: launching the nodes and waiting until they run.

pub mod image;
pub mod key_pair;
pub mod launch;
pub mod nodes;

pub use image::{find_image, get_image};
pub use key_pair::{ensure_key_pair, key_path, openssh_public_key};
pub use launch::{launch_nodes, wait_running};
pub use nodes::{LIVE_STATES, NODE_TAG, NodeSpec, Placement, cluster_instances, node_of};
