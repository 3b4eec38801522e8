//! Where a webhook may point: `https` to a host that resolves only to public addresses, checked
//! when it is registered and again at every connection (a name that resolved to a public address
//! at registration and to an internal one later — DNS rebinding — is refused then). Exceptions
//! are hosts on an allowlist from configuration (`webhooks.allow_hosts`).

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

/// The hosts a webhook may reach besides public ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookTargets {
    allow_hosts: BTreeSet<String>,
}

impl Default for WebhookTargets {
    /// The sandbox's: loopback allowed (a SIS under test on the same machine).
    fn default() -> Self {
        Self::allowing(["localhost", "127.0.0.1", "::1"])
    }
}

impl WebhookTargets {
    /// Public hosts, and these (host names or IP addresses, compared case-insensitively), for
    /// which `http` and non-public addresses are allowed too.
    pub fn allowing<S: AsRef<str>>(hosts: impl IntoIterator<Item = S>) -> Self {
        Self {
            allow_hosts: hosts.into_iter().map(|h| normal_host(h.as_ref())).collect(),
        }
    }

    /// Public hosts only: production without an allowlist.
    pub fn public_only() -> Self {
        Self::allowing(std::iter::empty::<&str>())
    }

    /// Whether `host` (as in a URL) is on the allowlist.
    pub fn allows(&self, host: &str) -> bool {
        self.allow_hosts.contains(&normal_host(host))
    }

    /// The checks that need no DNS: the scheme, and a literal IP address.
    pub fn check_url(&self, url: &reqwest::Url) -> Result<(), &'static str> {
        let Some(host) = url.host_str() else {
            return Err("has no host");
        };
        let allowed = self.allows(host);
        match url.scheme() {
            "https" => {}
            "http" if allowed => {}
            _ => return Err("must be https"),
        }
        if let Ok(ip) = normal_host(host).parse::<IpAddr>()
            && !allowed
            && !is_public(ip)
        {
            return Err("must not point at a private, loopback or otherwise non-public address");
        }
        Ok(())
    }

    /// [`WebhookTargets::check_url`], then the host's addresses: every one must be public.
    pub async fn check_resolved(&self, url: &reqwest::Url) -> Result<(), &'static str> {
        self.check_url(url)?;
        let Some(host) = url.host_str() else {
            return Err("has no host");
        };
        if self.allows(host) || normal_host(host).parse::<IpAddr>().is_ok() {
            return Ok(());
        }
        let port = url.port_or_known_default().unwrap_or(443);
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
            .await
            .map_err(|_| "does not resolve")?
            .collect();
        if addrs.is_empty() {
            return Err("does not resolve");
        }
        if addrs.iter().any(|a| !is_public(a.ip())) {
            return Err("resolves to a private, loopback or otherwise non-public address");
        }
        Ok(())
    }

    /// A DNS resolver for the webhook client that refuses, at every connection, a name that
    /// resolves to a non-public address (unless allowlisted).
    pub fn resolver(&self) -> Arc<PublicResolver> {
        Arc::new(PublicResolver {
            targets: self.clone(),
        })
    }
}

/// See [`WebhookTargets::resolver`].
#[derive(Debug)]
pub struct PublicResolver {
    targets: WebhookTargets,
}

impl reqwest::dns::Resolve for PublicResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allowed = self.targets.allows(name.as_str());
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if !allowed && addrs.iter().any(|a| !is_public(a.ip())) {
                return Err("the webhook host resolves to a non-public address".into());
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

fn normal_host(host: &str) -> String {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

/// Whether `ip` is a public unicast address: not loopback, private (RFC 1918, unique local),
/// shared (CGNAT), link-local (cloud metadata), multicast, documentation, benchmarking,
/// reserved or unspecified; an IPv4-mapped or NAT64 IPv6 address as its IPv4 address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let s = v6.segments();
            if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
                // NAT64 (64:ff9b::/96): the embedded IPv4 address decides.
                let [a, b] = s[6].to_be_bytes();
                let [c, d] = s[7].to_be_bytes();
                return is_public_v4(Ipv4Addr::new(a, b, c, d));
            }
            !(v6.is_unspecified()
                || v6.is_loopback()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (s[0] & 0xffc0) == 0xfec0 // site-local fec0::/10 (deprecated)
                || (s[0] == 0x2001 && s[1] == 0x0db8)) // documentation
        }
    }
}

fn is_public_v4(v4: Ipv4Addr) -> bool {
    let [a, b, c, _] = v4.octets();
    !(v4.is_unspecified()
        || v4.is_loopback()
        || v4.is_private()
        || v4.is_link_local()
        || v4.is_multicast()
        || v4.is_broadcast()
        || v4.is_documentation()
        || a == 0 // "this network"
        || (a == 100 && (b & 0xc0) == 64) // shared address space 100.64.0.0/10 (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments 192.0.0.0/24
        || (a == 198 && (b & 0xfe) == 18) // benchmarking 198.18.0.0/15
        || a >= 240) // reserved 240.0.0.0/4
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_unicast_addresses_are_public() {
        for public in [
            "145.97.1.1",
            "8.8.8.8",
            "2a00:1450:4001::1",
            "::ffff:145.97.1.1",
            "64:ff9b::8.8.8.8",
        ] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
        for internal in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "0.1.2.3",
            "224.0.0.1",
            "255.255.255.255",
            "192.0.2.1",
            "198.18.0.1",
            "240.0.0.1",
            "192.0.0.8",
            "::",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
        ] {
            assert!(!is_public(internal.parse().unwrap()), "{internal}");
        }
    }

    #[test]
    fn https_and_public_unless_allowlisted() {
        let t = WebhookTargets::public_only();
        let url = |s: &str| reqwest::Url::parse(s).unwrap();
        assert!(t.check_url(&url("https://145.97.1.1/hook")).is_ok());
        assert!(t.check_url(&url("http://145.97.1.1/hook")).is_err());
        assert!(t.check_url(&url("https://10.0.0.1/hook")).is_err());
        assert!(t.check_url(&url("https://[::1]/hook")).is_err());
        assert!(t.check_url(&url("http://127.0.0.1:8080/hook")).is_err());
        let t = WebhookTargets::allowing(["sis.internal", "10.0.0.1"]);
        assert!(t.check_url(&url("https://10.0.0.1/hook")).is_ok());
        assert!(t.check_url(&url("http://SIS.internal./hook")).is_ok());
        assert!(t.check_url(&url("https://10.0.0.2/hook")).is_err());
        // The sandbox default: loopback.
        let t = WebhookTargets::default();
        assert!(t.check_url(&url("http://127.0.0.1:8080/hook")).is_ok());
        assert!(t.check_url(&url("http://[::1]:8080/hook")).is_ok());
        assert!(t.check_url(&url("http://192.168.1.1/hook")).is_err());
    }

    #[tokio::test]
    async fn a_name_that_resolves_to_an_internal_address_is_refused() {
        let t = WebhookTargets::public_only();
        // `localhost` resolves to loopback without any network.
        let url = reqwest::Url::parse("https://localhost:8443/hook").unwrap();
        assert!(t.check_resolved(&url).await.is_err());
        // The resolver refuses it at connection time as well.
        use reqwest::dns::Resolve;
        let name: reqwest::dns::Name = "localhost".parse().unwrap();
        assert!(t.resolver().resolve(name).await.is_err());
        let allowed = WebhookTargets::allowing(["localhost"]);
        let name: reqwest::dns::Name = "localhost".parse().unwrap();
        assert!(allowed.resolver().resolve(name).await.is_ok());
    }
}
