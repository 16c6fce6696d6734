//! The emulator guard: on an emulator (moto, `--local`) the nodes are not
//! machines, and the public IPs it invents are real internet addresses.
//! So while AWS calls go to a loopback endpoint, SSH never targets a public
//! address; it targets a private one only when the user asked for private
//! addresses (`ssh_address = "private"`) **and** the address lies on a
//! network directly attached to this machine (a connected route in the
//! main routing table, no gateway, its interface up). A test network that
//! is missing or not up yet can then never send a packet out through the
//! default gateway.

use std::net::Ipv4Addr;

/// One IPv4 route of the main table, as `/proc/net/route` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The interface (`eth0`, `gt-host`).
    pub iface: String,
    /// The destination network.
    pub dest: Ipv4Addr,
    /// Its mask.
    pub mask: Ipv4Addr,
    /// The gateway; `0.0.0.0` for a connected route.
    pub gateway: Ipv4Addr,
    /// `RTF_*` flags (`RTF_UP` = 1, `RTF_GATEWAY` = 2).
    pub flags: u32,
    /// The route's metric.
    pub metric: u32,
}

const RTF_UP: u32 = 0x1;
const RTF_GATEWAY: u32 = 0x2;
/// Reject/unreachable/blackhole routes carry RTF_REJECT.
const RTF_REJECT: u32 = 0x200;

fn hex_addr(s: &str) -> Option<Ipv4Addr> {
    // /proc/net/route prints addresses as host-order (little-endian) hex.
    u32::from_str_radix(s, 16)
        .ok()
        .map(|v| Ipv4Addr::from(v.to_le_bytes()))
}

/// Parses the text of `/proc/net/route`; malformed lines are skipped.
pub fn parse_routes(text: &str) -> Vec<Route> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 8 {
                return None;
            }
            Some(Route {
                iface: f[0].to_string(),
                dest: hex_addr(f[1])?,
                gateway: hex_addr(f[2])?,
                flags: u32::from_str_radix(f[3], 16).ok()?,
                metric: f[6].parse().ok()?,
                mask: hex_addr(f[7])?,
            })
        })
        .collect()
}

/// The route the kernel would pick for `ip` from `routes` (longest prefix,
/// then lowest metric), like `ip route get` on the main table.
pub fn best_route(ip: Ipv4Addr, routes: &[Route]) -> Option<&Route> {
    routes
        .iter()
        .filter(|r| r.flags & RTF_UP != 0)
        .filter(|r| u32::from(ip) & u32::from(r.mask) == u32::from(r.dest) & u32::from(r.mask))
        .max_by(|a, b| {
            u32::from(a.mask)
                .count_ones()
                .cmp(&u32::from(b.mask).count_ones())
                .then(b.metric.cmp(&a.metric))
        })
}

/// Whether `ip` is reached through a network directly attached to this
/// machine: its best route is a connected one (no gateway, not a reject
/// route) on an interface that is up (`is_up` answers for an interface).
pub fn directly_attached(ip: Ipv4Addr, routes: &[Route], is_up: impl Fn(&str) -> bool) -> bool {
    match best_route(ip, routes) {
        Some(r) => {
            r.flags & (RTF_GATEWAY | RTF_REJECT) == 0
                && r.gateway.is_unspecified()
                && is_up(&r.iface)
        }
        None => false,
    }
}

/// Whether an interface of this machine is up (its operstate is `up`, or
/// `unknown` as for interfaces without carrier detection).
pub fn interface_up(iface: &str) -> bool {
    if iface.contains('/') || iface.contains("..") {
        return false;
    }
    std::fs::read_to_string(format!("/sys/class/net/{iface}/operstate"))
        .map(|s| matches!(s.trim(), "up" | "unknown"))
        .unwrap_or(false)
}

/// The routes of this machine's main IPv4 table (empty if unreadable, so
/// nothing counts as attached).
pub fn host_routes() -> Vec<Route> {
    std::fs::read_to_string("/proc/net/route")
        .map(|t| parse_routes(&t))
        .unwrap_or_default()
}

/// Which address of a node SSH dials (`ssh_address`): a settings rule.
pub use crate::settings::rules::AddressChoice;

/// Why the guard refuses a target; `Display` is the one line `up` prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocked {
    /// What was refused and why (without the common prefix).
    pub why: String,
}

impl std::fmt::Display for Blocked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the emulator has no machines: {}; the AWS and PKI steps are done",
            self.why
        )
    }
}

/// Decides the address to dial for one node, or why not.
///
/// `emulator` is whether AWS calls go to a loopback endpoint. Off an
/// emulator the chosen address is used as it is (an empty one is an error
/// for the caller). On an emulator a public address is never dialled, and a
/// private one only when it was chosen and `attached` says it lies on a
/// directly attached network.
pub fn target(
    node: &str,
    choice: AddressChoice,
    public_ip: &str,
    private_ip: &str,
    emulator: bool,
    attached: impl Fn(Ipv4Addr) -> bool,
) -> Result<String, Blocked> {
    let addr = match choice {
        AddressChoice::Public => public_ip,
        AddressChoice::Private => private_ip,
    };
    if !emulator {
        return Ok(addr.to_string());
    }
    match choice {
        AddressChoice::Public => Err(Blocked {
            why: format!(
                "AWS calls go to a local endpoint, so {node}'s public address {} is not a machine of yours and SSH never dials it (test nodes: --set ssh_address=private)",
                if addr.is_empty() { "-" } else { addr }
            ),
        }),
        AddressChoice::Private => match addr.parse::<Ipv4Addr>() {
            Ok(ip) if attached(ip) => Ok(addr.to_string()),
            Ok(_) => Err(Blocked {
                why: format!(
                    "{node}'s private address {addr} is not on a network attached to this machine, so SSH does not dial it"
                ),
            }),
            Err(_) => Err(Blocked {
                why: format!("{node} has no private address"),
            }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // This machine's table with a test bridge: default via 192.0.2.1 on
    // eth0, 192.0.2.0/24 on eth0, 172.31.0.0/24 on gt-host.
    const ROUTES: &str = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
gt-host\t00001FAC\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_proc_net_route() {
        let r = parse_routes(ROUTES);
        assert_eq!(r.len(), 3);
        assert_eq!(r[0].gateway, ip("192.0.2.1"));
        assert_eq!(r[2].dest, ip("172.31.0.0"));
        assert_eq!(r[2].mask, ip("255.255.255.0"));
        assert_eq!(r[2].iface, "gt-host");
    }

    #[test]
    fn only_connected_routes_on_up_interfaces_count_as_attached() {
        let r = parse_routes(ROUTES);
        let up = |_: &str| true;
        assert!(directly_attached(ip("172.31.0.10"), &r, up));
        assert!(directly_attached(ip("192.0.2.7"), &r, up));
        // 172.31.1.10 would leave through the default gateway.
        assert!(!directly_attached(ip("172.31.1.10"), &r, up));
        assert!(!directly_attached(ip("54.214.1.2"), &r, up));
        // The bridge exists but is down: not attached.
        assert!(!directly_attached(ip("172.31.0.10"), &r, |i| i != "gt-host"));
        // Without the bridge's route the default route would carry it.
        let without: Vec<Route> = r.into_iter().filter(|x| x.iface != "gt-host").collect();
        assert!(!directly_attached(ip("172.31.0.10"), &without, up));
        assert!(!directly_attached(ip("172.31.0.10"), &[], up));
    }

    #[test]
    fn the_longest_prefix_wins_even_over_a_connected_shorter_route() {
        // 172.31.0.0/16 connected, but 172.31.0.0/24 via a gateway.
        let text = "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT\n\
a\t00001FAC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n\
b\t00001FAC\t010200C0\t0003\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";
        let r = parse_routes(text);
        assert!(!directly_attached(ip("172.31.0.10"), &r, |_| true));
        assert!(directly_attached(ip("172.31.5.10"), &r, |_| true));
    }

    #[test]
    fn on_an_emulator_public_addresses_are_never_dialled() {
        let yes = |_: Ipv4Addr| true;
        let e = target(
            "master-0",
            AddressChoice::Public,
            "54.214.1.2",
            "172.31.0.10",
            true,
            yes,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "the emulator has no machines: AWS calls go to a local endpoint, so master-0's public address 54.214.1.2 is not a machine of yours and SSH never dials it (test nodes: --set ssh_address=private); the AWS and PKI steps are done"
        );
        let e = target(
            "worker-1",
            AddressChoice::Private,
            "54.1.1.1",
            "172.31.0.21",
            true,
            |_| false,
        )
        .unwrap_err();
        assert!(
            e.why.contains("172.31.0.21 is not on a network attached"),
            "{e}"
        );
        assert_eq!(
            target(
                "worker-1",
                AddressChoice::Private,
                "54.1.1.1",
                "172.31.0.21",
                true,
                yes
            ),
            Ok("172.31.0.21".into())
        );
        // Real AWS: the choice as it is.
        assert_eq!(
            target(
                "m",
                AddressChoice::Public,
                "54.1.1.1",
                "172.31.0.10",
                false,
                |_| false
            ),
            Ok("54.1.1.1".into())
        );
    }
}
