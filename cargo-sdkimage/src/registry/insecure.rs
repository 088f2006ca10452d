//! Which registries are spoken to over plain HTTP: exactly those the engine treats as insecure,
//! decided as the daemon decides (`IndexConfigs[host].Secure`, else any address of the host
//! inside `InsecureRegistryCIDRs`).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use crate::dockerconfig::EngineRegistryConfig;

const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

/// The engine's registry settings, reduced to what the insecure decision needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InsecureRegistries {
    /// `IndexConfigs`: host (with port) -> secure.
    index: BTreeMap<String, bool>,
    cidrs: Vec<Cidr>,
}

impl Default for InsecureRegistries {
    /// The daemon's defaults: only loopback (127.0.0.0/8) is insecure.
    fn default() -> Self {
        InsecureRegistries {
            index: BTreeMap::new(),
            cidrs: vec![Cidr::LOOPBACK_V4],
        }
    }
}

impl InsecureRegistries {
    pub fn from_engine_config(config: &EngineRegistryConfig) -> Self {
        let index = config.index_secure.clone();
        let cidrs = match &config.insecure_cidrs {
            Some(cidrs) => cidrs.iter().filter_map(|c| Cidr::parse(c)).collect(),
            None => vec![Cidr::LOOPBACK_V4],
        };
        InsecureRegistries { index, cidrs }
    }

    /// Whether `registry` (`host[:port]`) is spoken to over plain HTTP. Resolves the host name.
    pub async fn is_insecure(&self, registry: &str) -> bool {
        if let Some(secure) = self.index.get(registry) {
            return !secure;
        }
        let addrs = resolve(host_of(registry)).await;
        self.any_insecure(&addrs)
    }

    /// The decision for a host that resolved to `addrs` (and is not in `IndexConfigs`).
    pub fn any_insecure(&self, addrs: &[IpAddr]) -> bool {
        addrs
            .iter()
            .any(|a| self.cidrs.iter().any(|c| c.contains(*a)))
    }
}

/// `host:port`, `[v6]:port` or `host` -> the host part (brackets removed).
fn host_of(registry: &str) -> &str {
    if let Some(rest) = registry.strip_prefix('[') {
        return rest.split_once(']').map_or(rest, |(h, _)| h);
    }
    match registry.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            host
        }
        _ => registry,
    }
}

/// The host's addresses; none when it cannot be resolved (then it counts as secure, as in the
/// daemon). `localhost` is loopback without asking the resolver.
async fn resolve(host: &str) -> Vec<IpAddr> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return vec![ip];
    }
    if host.eq_ignore_ascii_case("localhost") {
        return vec![IpAddr::V4(Ipv4Addr::LOCALHOST)];
    }
    match tokio::time::timeout(LOOKUP_TIMEOUT, tokio::net::lookup_host((host, 0))).await {
        Ok(Ok(addrs)) => addrs.map(|a| a.ip()).collect(),
        _ => Vec::new(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    const LOOPBACK_V4: Cidr = Cidr {
        network: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 0)),
        prefix: 8,
    };

    fn parse(text: &str) -> Option<Cidr> {
        let (addr, prefix) = text.split_once('/')?;
        let network: IpAddr = addr.parse().ok()?;
        let prefix: u8 = prefix.parse().ok()?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(Cidr { network, prefix })
    }

    fn contains(&self, addr: IpAddr) -> bool {
        let (net, addr, bits) = match (self.network, addr) {
            (IpAddr::V4(n), IpAddr::V4(a)) => (
                u128::from(u32::from(n)) << 96,
                u128::from(u32::from(a)) << 96,
                self.prefix,
            ),
            (IpAddr::V6(n), IpAddr::V6(a)) => (u128::from(n), u128::from(a), self.prefix),
            _ => return false,
        };
        let mask = if bits == 0 {
            0
        } else {
            u128::MAX << (128 - u32::from(bits))
        };
        net & mask == addr & mask
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cidrs_contain() {
        let c = Cidr::parse("10.1.0.0/16").unwrap();
        assert!(c.contains(ip("10.1.200.3")));
        assert!(!c.contains(ip("10.2.0.1")));
        assert!(!c.contains(ip("::1")));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert!(Cidr::parse("fd00::/8").unwrap().contains(ip("fd12::1")));
        assert_eq!(Cidr::parse("10.0.0.0/33"), None);
        assert_eq!(Cidr::parse("nonsense"), None);
    }

    #[test]
    fn hosts_are_split_from_ports() {
        assert_eq!(host_of("localhost:5000"), "localhost");
        assert_eq!(host_of("[::1]:5000"), "::1");
        assert_eq!(host_of("ghcr.io"), "ghcr.io");
        assert_eq!(host_of("::1"), "::1");
    }

    #[tokio::test]
    async fn defaults_make_loopback_and_localhost_insecure() {
        let d = InsecureRegistries::default();
        assert!(d.is_insecure("localhost:5000").await);
        assert!(d.is_insecure("127.0.0.1:5000").await);
        assert!(d.is_insecure("127.8.9.1").await);
        assert!(!d.is_insecure("10.0.0.1:5000").await);
        assert!(
            !d.is_insecure("[::1]:5000").await,
            "the daemon's default covers IPv4 loopback only"
        );
    }

    #[tokio::test]
    async fn engine_config_decides() {
        let config = EngineRegistryConfig {
            insecure_cidrs: Some(vec!["127.0.0.0/8".into(), "10.0.0.0/8".into()]),
            index_secure: BTreeMap::from([
                ("docker.io".to_string(), true),
                ("myreg.example:5000".to_string(), false),
                ("127.0.0.1:443".to_string(), true),
            ]),
        };
        let r = InsecureRegistries::from_engine_config(&config);
        assert!(
            r.is_insecure("myreg.example:5000").await,
            "named insecure registry"
        );
        assert!(!r.is_insecure("docker.io").await);
        assert!(
            !r.is_insecure("127.0.0.1:443").await,
            "IndexConfigs wins over the CIDRs"
        );
        assert!(r.is_insecure("10.4.4.4:5000").await);
        assert!(
            !r.is_insecure("unresolvable.invalid:5000").await,
            "unresolvable counts as secure"
        );
        assert!(r.any_insecure(&[ip("192.168.0.1"), ip("10.0.0.9")]));
    }
}
