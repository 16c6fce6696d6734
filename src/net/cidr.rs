//! IPv4 CIDR math with Terraform's `cidrsubnet` / `cidrhost` semantics.
//!
//! IPv6 is rejected with a clear message: the lesson's network is IPv4 only.

use std::net::{IpAddr, Ipv4Addr};

use ipnet::{IpNet, Ipv4Net};

/// A CIDR error, phrased for the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CidrError(pub String);

type R<T> = Result<T, CidrError>;

/// Parses an IPv4 CIDR block such as `172.31.0.0/16`.
///
/// Host bits must be zero (`172.31.0.1/16` is rejected, naming the network
/// address the user probably meant), IPv6 is rejected.
pub fn parse(s: &str) -> R<Ipv4Net> {
    let s = s.trim();
    let net: IpNet = s.parse().map_err(|_| {
        if s.parse::<IpAddr>().is_ok() {
            CidrError(format!(
                "`{s}` is an address, not a CIDR block: add a prefix length, e.g. `{s}/32`"
            ))
        } else {
            CidrError(format!(
                "`{s}` is not a CIDR block (expected a.b.c.d/n with each part 0-255 and n 0-32)"
            ))
        }
    })?;
    let v4 = match net {
        IpNet::V4(v4) => v4,
        IpNet::V6(_) => {
            return Err(CidrError(format!(
                "`{s}` is IPv6: groundup's networks are IPv4 only"
            )));
        }
    };
    if v4.addr() != v4.network() {
        return Err(CidrError(format!(
            "`{s}` has host bits set: did you mean `{}`?",
            v4.trunc()
        )));
    }
    Ok(v4)
}

/// Parses an IPv4 address.
pub fn parse_ip(s: &str) -> R<Ipv4Addr> {
    let s = s.trim();
    match s.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) => Ok(ip),
        Ok(IpAddr::V6(_)) => Err(CidrError(format!(
            "`{s}` is IPv6: groundup's networks are IPv4 only"
        ))),
        Err(_) => Err(CidrError(format!("`{s}` is not an IPv4 address"))),
    }
}

/// Terraform's `cidrsubnet(base, newbits, netnum)`: the `netnum`-th subnet
/// of `base` whose prefix is `newbits` longer.
pub fn subnet(base: &str, newbits: i64, netnum: i64) -> R<Ipv4Net> {
    let base = parse(base)?;
    if newbits < 0 {
        return Err(CidrError(format!("newbits must be >= 0, got {newbits}")));
    }
    let new_len = base.prefix_len() as i64 + newbits;
    if new_len > 32 {
        return Err(CidrError(format!(
            "{base} has no room for {newbits} more bits (prefix would be /{new_len}, at most /32)"
        )));
    }
    let count: i64 = 1i64 << newbits;
    if netnum < 0 || netnum >= count {
        return Err(CidrError(format!(
            "netnum {netnum} does not fit in {newbits} bits: {base} splits into {count} subnets of /{new_len} (0..{})",
            count - 1
        )));
    }
    let size: u64 = 1u64 << (32 - new_len);
    let start = u32::from(base.network()) as u64 + netnum as u64 * size;
    let addr = Ipv4Addr::from(start as u32);
    Ipv4Net::new(addr, new_len as u8).map_err(|e| CidrError(e.to_string()))
}

/// Terraform's `cidrhost(prefix, hostnum)`: the `hostnum`-th address of
/// `prefix`; a negative number counts back from the last address (-1).
pub fn host(prefix: &str, hostnum: i64) -> R<Ipv4Addr> {
    let net = parse(prefix)?;
    let size: i64 = 1i64 << (32 - net.prefix_len());
    let idx = if hostnum < 0 { size + hostnum } else { hostnum };
    if idx < 0 || idx >= size {
        return Err(CidrError(format!(
            "host number {hostnum} is outside {net}, which has {size} addresses (0..{} or -{size}..-1)",
            size - 1
        )));
    }
    Ok(Ipv4Addr::from(
        (u32::from(net.network()) as u64 + idx as u64) as u32,
    ))
}

/// Whether `outer` contains `inner`; `inner` may be a CIDR block or an address.
pub fn contains(outer: &str, inner: &str) -> R<bool> {
    let outer = parse(outer)?;
    if inner.contains('/') {
        let inner = parse(inner)?;
        Ok(outer.contains(&inner))
    } else {
        Ok(outer.contains(&parse_ip(inner)?))
    }
}

/// Whether two CIDR blocks share any address.
pub fn overlaps(a: &str, b: &str) -> R<bool> {
    let a = parse(a)?;
    let b = parse(b)?;
    Ok(a.contains(&b) || b.contains(&a))
}

/// Number of addresses in a block.
pub fn size(prefix: &str) -> R<u64> {
    let net = parse(prefix)?;
    Ok(1u64 << (32 - net.prefix_len()))
}

/// Host numbers AWS lets instances use in a subnet: it reserves the first
/// four and the last address. Returns `(first, last)` inclusive.
pub fn aws_usable_hosts(prefix: &str) -> R<(i64, i64)> {
    let n = size(prefix)? as i64;
    if n < 16 {
        return Err(CidrError(format!(
            "{prefix} is smaller than /28, the smallest subnet AWS allows"
        )));
    }
    Ok((4, n - 2))
}

/// The EC2 private DNS host name of an address: `ip-172-31-0-10`.
pub fn ec2_hostname(ip: &str) -> R<String> {
    let ip = parse_ip(ip)?;
    Ok(format!("ip-{}", ip.to_string().replace('.', "-")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnet_like_terraform() {
        assert_eq!(
            subnet("172.31.0.0/16", 8, 0).unwrap().to_string(),
            "172.31.0.0/24"
        );
        assert_eq!(
            subnet("172.20.0.0/16", 8, 2).unwrap().to_string(),
            "172.20.2.0/24"
        );
        assert_eq!(
            subnet("10.0.0.0/8", 0, 0).unwrap().to_string(),
            "10.0.0.0/8"
        );
        assert_eq!(
            subnet("0.0.0.0/0", 1, 1).unwrap().to_string(),
            "128.0.0.0/1"
        );
        assert_eq!(
            subnet("10.0.0.0/24", 8, 255).unwrap().to_string(),
            "10.0.0.255/32"
        );
    }

    #[test]
    fn subnet_overflow_and_bad_input() {
        let e = subnet("172.31.0.0/16", 8, 256).unwrap_err();
        assert_eq!(
            e.0,
            "netnum 256 does not fit in 8 bits: 172.31.0.0/16 splits into 256 subnets of /24 (0..255)"
        );
        assert!(
            subnet("172.31.0.0/16", 17, 0)
                .unwrap_err()
                .0
                .contains("at most /32")
        );
        assert!(
            subnet("172.31.0.0/16", -1, 0)
                .unwrap_err()
                .0
                .contains(">= 0")
        );
        assert!(subnet("172.31.0.0/16", 8, -1).is_err());
    }

    #[test]
    fn host_like_terraform() {
        assert_eq!(
            host("172.31.0.0/24", 10).unwrap().to_string(),
            "172.31.0.10"
        );
        assert_eq!(
            host("172.31.0.0/24", -1).unwrap().to_string(),
            "172.31.0.255"
        );
        assert_eq!(host("172.32.0.0/24", 1).unwrap().to_string(), "172.32.0.1");
        assert_eq!(host("10.1.2.3/32", 0).unwrap().to_string(), "10.1.2.3");
        assert_eq!(
            host("0.0.0.0/0", -1).unwrap().to_string(),
            "255.255.255.255"
        );
        assert!(
            host("10.1.2.3/32", 1)
                .unwrap_err()
                .0
                .contains("has 1 addresses")
        );
        assert!(host("172.31.0.0/24", 256).is_err());
        assert!(host("172.31.0.0/24", -257).is_err());
    }

    #[test]
    fn parse_rejects_clearly() {
        assert_eq!(
            parse("300.1.0.0/16").unwrap_err().0,
            "`300.1.0.0/16` is not a CIDR block (expected a.b.c.d/n with each part 0-255 and n 0-32)"
        );
        assert_eq!(
            parse("172.31.0.1/16").unwrap_err().0,
            "`172.31.0.1/16` has host bits set: did you mean `172.31.0.0/16`?"
        );
        assert!(parse("fd00::/8").unwrap_err().0.contains("IPv6"));
        assert!(
            parse("10.0.0.1")
                .unwrap_err()
                .0
                .contains("add a prefix length")
        );
        assert!(parse("10.0.0.0/33").is_err());
    }

    #[test]
    fn contains_and_overlaps() {
        assert!(contains("172.31.0.0/16", "172.31.0.0/24").unwrap());
        assert!(!contains("172.31.0.0/16", "172.32.0.0/24").unwrap());
        assert!(contains("172.32.0.0/24", "172.32.0.10").unwrap());
        assert!(!contains("172.32.0.0/24", "10.32.0.10").unwrap());
        assert!(overlaps("172.31.0.0/16", "172.31.5.0/24").unwrap());
        assert!(!overlaps("172.31.0.0/16", "172.20.0.0/16").unwrap());
    }

    #[test]
    fn aws_hosts_and_names() {
        assert_eq!(aws_usable_hosts("172.31.0.0/24").unwrap(), (4, 254));
        assert!(aws_usable_hosts("10.0.0.0/29").is_err());
        assert_eq!(ec2_hostname("172.31.0.10").unwrap(), "ip-172-31-0-10");
    }
}
