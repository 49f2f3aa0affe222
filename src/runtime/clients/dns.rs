//! Name resolution for the hub move's DNS step, through the system resolver (`getaddrinfo`:
//! `/etc/hosts`, then the configured DNS servers), as users' browsers will see the name.
//!
//! Owns: the `Resolver` trait and its system implementation. Does not own: deciding whether
//! the answer is the expected one (`steps::dns`).

use std::fmt;
use std::net::{IpAddr, ToSocketAddrs};

/// Resolves a host name to its addresses; an error when the name does not resolve.
pub trait Resolver: Send + Sync + fmt::Debug {
    fn resolve(&self, host: &str) -> Result<Vec<IpAddr>, String>;
}

/// The system resolver.
#[derive(Debug, Default, Clone)]
pub struct SystemResolver;

impl Resolver for SystemResolver {
    fn resolve(&self, host: &str) -> Result<Vec<IpAddr>, String> {
        let mut ips: Vec<IpAddr> = (host, 443)
            .to_socket_addrs()
            .map_err(|e| format!("{host} does not resolve: {e}"))?
            .map(|a| a.ip())
            .collect();
        ips.sort();
        ips.dedup();
        Ok(ips)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_resolver_reads_the_hosts_file() {
        let ips = SystemResolver.resolve("localhost").unwrap();
        assert!(ips.iter().any(IpAddr::is_loopback), "{ips:?}");
        let e = SystemResolver.resolve("no-such-host.invalid").unwrap_err();
        assert!(e.contains("no-such-host.invalid does not resolve"), "{e}");
    }
}
