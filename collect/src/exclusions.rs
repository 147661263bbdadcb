//! `--exclude FILE`: the addresses, networks and names a run never touches.

use std::net::IpAddr;

/// `--exclude FILE`: one address, CIDR network or host name per line, `#` comments.
#[derive(Debug, Clone, Default)]
pub struct Exclusions {
    nets: Vec<ipnet::IpNet>,
    names: Vec<String>,
}

impl Exclusions {
    pub fn parse(text: &str) -> Result<Exclusions, String> {
        let mut out = Exclusions::default();
        for (i, line) in text.lines().enumerate() {
            let item = line.split('#').next().unwrap_or("").trim();
            if item.is_empty() {
                continue;
            }
            if let Ok(net) = item.parse::<ipnet::IpNet>() {
                out.nets.push(net);
            } else if let Ok(ip) = item.parse::<IpAddr>() {
                out.nets.push(ipnet::IpNet::from(ip));
            } else if item.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-') {
                out.names.push(item.trim_end_matches('.').to_ascii_lowercase());
            } else {
                return Err(format!("line {}: {item:?} is not an address, network or host name", i + 1));
            }
        }
        Ok(out)
    }

    pub fn excludes_name(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.names.iter().any(|n| host == *n || host.ends_with(&format!(".{n}")))
    }

    pub fn excludes_addr(&self, addr: IpAddr) -> bool {
        self.nets.iter().any(|n| n.contains(&addr))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclusions_match_addresses_networks_and_names() {
        let e = Exclusions::parse("# never\n192.0.2.7\n198.51.100.0/25  # lab\n2001:db8::/48\nexample.org\n")
            .unwrap();
        assert!(e.excludes_addr("192.0.2.7".parse().unwrap()));
        assert!(!e.excludes_addr("192.0.2.8".parse().unwrap()));
        assert!(e.excludes_addr("198.51.100.100".parse().unwrap()));
        assert!(!e.excludes_addr("198.51.100.200".parse().unwrap()));
        assert!(e.excludes_addr("2001:db8:0:1::1".parse().unwrap()));
        assert!(e.excludes_name("example.org"));
        assert!(e.excludes_name("www.Example.org."));
        assert!(!e.excludes_name("notexample.org"));
        assert!(Exclusions::parse("what is this?").is_err());
    }
}
