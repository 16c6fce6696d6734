//! Pure checks of setting values that settings validation shares with the
//! modules that use the values (`ssh`, `etcd`): a leaf, depending on
//! nothing in the crate, so validation never reaches up into them. Each
//! error says what a good value looks like; the caller names the setting.

/// Which address of a node SSH dials (`ssh_address`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressChoice {
    /// The node's public IP (the default: from the internet).
    Public,
    /// Its private IP (through a bastion, a VPN, or the test nodes).
    Private,
}

impl AddressChoice {
    /// Parses the `ssh_address` setting.
    pub fn parse(s: &str) -> Option<AddressChoice> {
        match s {
            "public" => Some(AddressChoice::Public),
            "private" => Some(AddressChoice::Private),
            _ => None,
        }
    }
}

/// Checks a user or group name (`root`, `etcd`, `ubuntu`).
pub fn check_account(what: &str, name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 32
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
        && !name.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!("{what} `{name}` is not a user or group name"))
    }
}

/// Checks a version (`3.4.23`, `3.5.0-rc.1`): digits and dots, an optional
/// pre-release suffix; nothing a shell or URL would read specially. The
/// error says what a version looks like (the caller names the setting).
pub fn check_version(v: &str) -> Result<(), &'static str> {
    let (core, pre) = v.split_once('-').unwrap_or((v, ""));
    let parts: Vec<&str> = core.split('.').collect();
    let ok = parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
        && pre.chars().all(|c| c.is_ascii_alphanumeric() || c == '.');
    if ok && !(v.contains('-') && pre.is_empty()) {
        Ok(())
    } else {
        Err("a release version looks like 3.4.23 (no leading v)")
    }
}

/// Checks a release base URL: http(s), no blanks, quotes or shell syntax.
pub fn check_url(u: &str) -> Result<(), &'static str> {
    let ok = (u.starts_with("https://") || u.starts_with("http://"))
        && u.len() > "https://".len()
        && u.chars()
            .all(|c| c.is_ascii_graphic() && !"\"'`\\$;&|<>(){}".contains(c));
    if ok {
        Ok(())
    } else {
        Err("expected an http(s) URL such as https://github.com/etcd-io/etcd/releases/download")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_accounts() {
        assert_eq!(AddressChoice::parse("public"), Some(AddressChoice::Public));
        assert_eq!(
            AddressChoice::parse("private"),
            Some(AddressChoice::Private)
        );
        assert_eq!(AddressChoice::parse("Public"), None);
        assert!(check_account("owner", "etcd").is_ok());
        assert!(check_account("owner", "root;x").is_err());
        assert!(check_account("owner", "-x").is_err());
    }

    #[test]
    fn versions_and_urls_are_checked() {
        for ok in ["3.4.23", "3.5.0-rc.1", "10.0.1"] {
            check_version(ok).unwrap();
        }
        for bad in ["v3.4.23", "3.4", "3.4.x", "3.4.23;rm", "3.4.23-", ""] {
            assert!(check_version(bad).unwrap_err().contains("3.4.23"), "{bad}");
        }
        check_url("http://172.31.0.1:8080/etcd").unwrap();
        for bad in ["ftp://x", "https://", "https://x/$(id)", "https://a b"] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }
}
