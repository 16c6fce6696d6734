//! The lesson's EC2 network, as find-or-create operations.
//!
//! Each `ensure_*` first looks the resource up (by the ID in state, then by
//! the `groundup:cluster` tag and its identifying properties) and reuses it;
//! only when nothing matches does it create one, tagged at creation.  When
//! the parent was created by this very process, children cannot exist yet
//! and the lookup is skipped (fewer API calls).  In plan mode, creates are
//! recorded instead of made.
//!
//! - [`vpc`]: the VPC (DNS support and host names) and its DHCP options;
//! - [`routing`]: the subnet, the internet gateway, the route table;
//! - [`security_group`]: the security group and its ingress rules.
//!
//! The load balancer in front of the API servers is ELBv2: `aws::elb`.

pub mod routing;
pub mod security_group;
pub mod vpc;

pub use routing::{ensure_internet_gateway, ensure_route_table, ensure_subnet};
pub use security_group::ensure_security_group;
pub use vpc::{ensure_dhcp_options, ensure_vpc};
