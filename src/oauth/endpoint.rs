//! The outbound HTTP policy for OAuth2 token calls.
//!
//! Every call to a provider's token endpoint goes through a [`reqwest::Client`]
//! built by [`EndpointPolicy::client_for`] for that one URL:
//!
//! - the URL must be `https` (plain `http` only with the development flag), carry
//!   no user credentials and name a host;
//! - the host must not be `localhost` / `*.localhost` nor an address literal in a
//!   refused range (loopback, private, link-local, unspecified, multicast,
//!   broadcast, shared/CGNAT, reserved, and the IPv4-mapped / IPv4-compatible /
//!   NAT64 forms of those);
//! - the host name is resolved once, every resolved address is vetted (if ANY is
//!   in a refused range the call is refused: DNS rebinding defence), and the
//!   client is pinned to exactly those addresses; it resolves no other name;
//! - the client follows no redirects, uses no proxy, and has a connect timeout
//!   ([`CONNECT_TIMEOUT`]) and a whole-request timeout ([`REQUEST_TIMEOUT`]).
//!
//! The development flag ([`EndpointPolicy::allow_insecure`]) lifts the scheme and
//! address restrictions so that local test providers can be used; redirects,
//! proxies and timeouts stay as they are.
//!
//! Error messages name the URL's host and the reason, never the URL's path,
//! query or credentials, so no token or secret that a URL might carry is echoed.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use ipnet::{Ipv4Net, Ipv6Net};
use reqwest::dns::{Name, Resolve, Resolving};
use reqwest::Url;

/// How long establishing a connection to a token endpoint may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a whole token call (connect, send, receive the body) may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// How long resolving a token endpoint's host name may take.
pub const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a token endpoint was refused or could not be prepared.
///
/// Messages name the host (when the URL has one) and the reason; they never
/// include the URL's path, query, fragment or user information.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    /// The text is not a URL.
    #[error("endpoint URL is invalid: {reason}")]
    InvalidUrl {
        /// What the parser objected to.
        reason: String,
    },
    /// The URL has no host (or an empty one).
    #[error("endpoint URL has no host")]
    MissingHost,
    /// The scheme is not `https` (or `http` under the development flag).
    #[error("endpoint {host}: scheme `{scheme}` is not allowed, https is required")]
    SchemeNotAllowed {
        /// The URL's host.
        host: String,
        /// The refused scheme.
        scheme: String,
    },
    /// The URL carries a user name or password.
    #[error("endpoint {host}: URLs with user credentials are not allowed")]
    UserInfo {
        /// The URL's host.
        host: String,
    },
    /// The host name is `localhost` or a sub-domain of it.
    #[error("endpoint {host}: local host names are not allowed")]
    LocalHostName {
        /// The URL's host.
        host: String,
    },
    /// The host is, or resolved to, an address in a refused range.
    #[error("endpoint {host}: address {addr} is {class}, which is not allowed")]
    RefusedAddress {
        /// The URL's host.
        host: String,
        /// The refused address.
        addr: IpAddr,
        /// The range it falls in.
        class: RefusedRange,
    },
    /// The URL's scheme has no known default port and none is given.
    #[error("endpoint {host}: no port")]
    MissingPort {
        /// The URL's host.
        host: String,
    },
    /// Name resolution failed or took longer than [`RESOLVE_TIMEOUT`].
    #[error("endpoint {host}: name resolution failed: {reason}")]
    Resolve {
        /// The URL's host.
        host: String,
        /// What went wrong.
        reason: String,
    },
    /// Name resolution returned no address.
    #[error("endpoint {host}: name resolved to no address")]
    NoAddress {
        /// The URL's host.
        host: String,
    },
    /// The HTTP client could not be built.
    #[error("endpoint {host}: HTTP client could not be built: {reason}")]
    Client {
        /// The URL's host.
        host: String,
        /// What went wrong.
        reason: String,
    },
}

/// The address ranges a token call may not target without the development flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefusedRange {
    /// `127.0.0.0/8`, `::1`.
    Loopback,
    /// `10.0.0.0/8`, `172.16.0.0/12`, `192.168.0.0/16`, `fc00::/7`, `fec0::/10`.
    Private,
    /// `169.254.0.0/16`, `fe80::/10`.
    LinkLocal,
    /// `0.0.0.0/8` ("this network"), `::`.
    Unspecified,
    /// `224.0.0.0/4`, `ff00::/8`.
    Multicast,
    /// `255.255.255.255`.
    Broadcast,
    /// `100.64.0.0/10` (carrier-grade NAT).
    SharedAddressSpace,
    /// `240.0.0.0/4` (reserved for future use, not routable).
    Reserved,
}

impl fmt::Display for RefusedRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RefusedRange::Loopback => "a loopback address",
            RefusedRange::Private => "a private address",
            RefusedRange::LinkLocal => "a link-local address",
            RefusedRange::Unspecified => "an unspecified address",
            RefusedRange::Multicast => "a multicast address",
            RefusedRange::Broadcast => "the broadcast address",
            RefusedRange::SharedAddressSpace => "a shared (carrier-grade NAT) address",
            RefusedRange::Reserved => "a reserved address",
        })
    }
}

/// The range `ip` falls in if a token call may not target it, `None` if it may.
///
/// IPv6 addresses that embed an IPv4 address (IPv4-mapped `::ffff:0:0/96`,
/// IPv4-compatible `::/96` and NAT64 `64:ff9b::/96`) are judged by the embedded
/// IPv4 address.
pub fn refused_range(ip: IpAddr) -> Option<RefusedRange> {
    match ip {
        IpAddr::V4(v4) => refused_range_v4(v4),
        IpAddr::V6(v6) => refused_range_v6(v6),
    }
}

/// The IPv4 ranges a token call may not target, checked in order (the broadcast address lies
/// inside `240.0.0.0/4` and is named first).
const REFUSED_V4: [(Ipv4Net, RefusedRange); 10] = [
    (v4_net([255, 255, 255, 255], 32), RefusedRange::Broadcast),
    (v4_net([0, 0, 0, 0], 8), RefusedRange::Unspecified),
    (v4_net([127, 0, 0, 0], 8), RefusedRange::Loopback),
    (v4_net([10, 0, 0, 0], 8), RefusedRange::Private),
    (v4_net([172, 16, 0, 0], 12), RefusedRange::Private),
    (v4_net([192, 168, 0, 0], 16), RefusedRange::Private),
    (v4_net([169, 254, 0, 0], 16), RefusedRange::LinkLocal),
    (
        v4_net([100, 64, 0, 0], 10),
        RefusedRange::SharedAddressSpace,
    ),
    (v4_net([224, 0, 0, 0], 4), RefusedRange::Multicast),
    (v4_net([240, 0, 0, 0], 4), RefusedRange::Reserved),
];

/// The IPv6 ranges a token call may not target, besides `::` and `::1` and after the forms
/// that embed an IPv4 address.
const REFUSED_V6: [(Ipv6Net, RefusedRange); 4] = [
    (
        v6_net([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7),
        RefusedRange::Private,
    ),
    (
        v6_net([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10),
        RefusedRange::Private,
    ),
    (
        v6_net([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10),
        RefusedRange::LinkLocal,
    ),
    (
        v6_net([0xff00, 0, 0, 0, 0, 0, 0, 0], 8),
        RefusedRange::Multicast,
    ),
];

/// IPv6 prefixes whose last 32 bits are an IPv4 address: IPv4-mapped, IPv4-compatible
/// (deprecated; `::` and `::1` are judged before) and NAT64's well-known prefix.
const EMBEDS_V4: [Ipv6Net; 3] = [
    v6_net([0, 0, 0, 0, 0, 0xffff, 0, 0], 96),
    v6_net([0, 0, 0, 0, 0, 0, 0, 0], 96),
    v6_net([0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96),
];

const fn v4_net(octets: [u8; 4], prefix: u8) -> Ipv4Net {
    let [a, b, c, d] = octets;
    Ipv4Net::new_assert(Ipv4Addr::new(a, b, c, d), prefix)
}

const fn v6_net(segments: [u16; 8], prefix: u8) -> Ipv6Net {
    let [a, b, c, d, e, f, g, h] = segments;
    Ipv6Net::new_assert(Ipv6Addr::new(a, b, c, d, e, f, g, h), prefix)
}

fn refused_range_v4(ip: Ipv4Addr) -> Option<RefusedRange> {
    REFUSED_V4
        .iter()
        .find(|(net, _)| net.contains(&ip))
        .map(|(_, range)| *range)
}

fn refused_range_v6(ip: Ipv6Addr) -> Option<RefusedRange> {
    if ip.is_unspecified() {
        Some(RefusedRange::Unspecified)
    } else if ip.is_loopback() {
        Some(RefusedRange::Loopback)
    } else if let Some(v4) = embedded_v4(&ip) {
        refused_range_v4(v4)
    } else {
        REFUSED_V6
            .iter()
            .find(|(net, _)| net.contains(&ip))
            .map(|(_, range)| *range)
    }
}

/// The IPv4 address embedded in an IPv4-mapped, IPv4-compatible or NAT64
/// (well-known prefix) IPv6 address.
fn embedded_v4(ip: &Ipv6Addr) -> Option<Ipv4Addr> {
    EMBEDS_V4
        .iter()
        .any(|net| net.contains(ip))
        .then(|| Ipv4Addr::from(u128::from(*ip) as u32))
}

/// A URL's host: a name, or an address literal.
enum Host<'a> {
    Domain(&'a str),
    Ip(IpAddr),
}

/// The host of `url` (`None` if it has none or an empty one). The parser has already
/// normalised address literals of special schemes (`http`, `https`).
fn host_of(url: &Url) -> Option<Host<'_>> {
    match url.host()? {
        url::Host::Domain("") => None,
        url::Host::Domain(name) => Some(Host::Domain(name)),
        url::Host::Ipv4(v4) => Some(Host::Ip(IpAddr::V4(v4))),
        url::Host::Ipv6(v6) => Some(Host::Ip(IpAddr::V6(v6))),
    }
}

/// The outbound HTTP policy for OAuth2 token calls.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EndpointPolicy {
    /// The development flag: allows `http` and loopback / private / link-local
    /// (any otherwise refused) targets, including `localhost`. Meant for local
    /// test providers only; never set it in production.
    pub allow_insecure: bool,
}

impl EndpointPolicy {
    /// The production policy: https only, public targets only.
    pub const fn strict() -> Self {
        EndpointPolicy {
            allow_insecure: false,
        }
    }

    /// The development policy: also http and local or private targets.
    pub const fn insecure_for_development() -> Self {
        EndpointPolicy {
            allow_insecure: true,
        }
    }

    /// Parses `url` and checks it against the policy, without resolving names:
    /// scheme, user information, host present, host not a local name, and an
    /// address-literal host not in a refused range.
    pub fn check_url(&self, url: &str) -> Result<Url, EndpointError> {
        let parsed = Url::parse(url).map_err(|e| EndpointError::InvalidUrl {
            reason: e.to_string(),
        })?;
        self.check_parsed(&parsed)?;
        Ok(parsed)
    }

    /// Checks an already parsed URL against the policy (see [`Self::check_url`]).
    pub fn check_parsed(&self, url: &Url) -> Result<(), EndpointError> {
        let (host, host_label) = match (host_of(url), url.host_str()) {
            (Some(host), Some(label)) => (host, label.to_owned()),
            _ => return Err(EndpointError::MissingHost),
        };
        match url.scheme() {
            "https" => {}
            "http" if self.allow_insecure => {}
            other => {
                return Err(EndpointError::SchemeNotAllowed {
                    host: host_label,
                    scheme: other.to_owned(),
                })
            }
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(EndpointError::UserInfo { host: host_label });
        }
        if self.allow_insecure {
            return Ok(());
        }
        match host {
            Host::Domain(name) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                if name == "localhost" || name.ends_with(".localhost") {
                    return Err(EndpointError::LocalHostName { host: host_label });
                }
                Ok(())
            }
            Host::Ip(ip) => self.check_addr(&host_label, ip),
        }
    }

    fn check_addr(&self, host: &str, addr: IpAddr) -> Result<(), EndpointError> {
        if self.allow_insecure {
            return Ok(());
        }
        match refused_range(addr) {
            Some(class) => Err(EndpointError::RefusedAddress {
                host: host.to_owned(),
                addr,
                class,
            }),
            None => Ok(()),
        }
    }

    /// Checks every resolved address of `host`: refused if ANY is in a refused
    /// range (unless the development flag is set) or if there is none.
    fn check_resolved(&self, host: &str, addrs: &[SocketAddr]) -> Result<(), EndpointError> {
        if addrs.is_empty() {
            return Err(EndpointError::NoAddress {
                host: host.to_owned(),
            });
        }
        addrs
            .iter()
            .try_for_each(|addr| self.check_addr(host, addr.ip()))
    }

    /// Checks `url` (as [`Self::check_parsed`]), resolves its host and checks
    /// every resolved address: refused if ANY is in a refused range (unless the
    /// development flag is set). The addresses carry the URL's port (or the
    /// scheme's default). An address-literal host is not looked up.
    ///
    /// Connect only to the returned addresses ([`Self::client_for`] pins its
    /// client to them), so a second, different DNS answer cannot redirect the
    /// call (DNS rebinding).
    pub async fn resolve_and_check(&self, url: &Url) -> Result<Vec<SocketAddr>, EndpointError> {
        self.check_parsed(url)?;
        let (host, label) = match (host_of(url), url.host_str()) {
            (Some(host), Some(label)) => (host, label.to_owned()),
            _ => return Err(EndpointError::MissingHost),
        };
        let port = url
            .port_or_known_default()
            .ok_or_else(|| EndpointError::MissingPort {
                host: label.clone(),
            })?;
        let addrs = match host {
            Host::Ip(ip) => vec![SocketAddr::new(ip, port)],
            Host::Domain(name) => lookup(name, port).await?,
        };
        self.check_resolved(&label, &addrs)?;
        Ok(addrs)
    }

    /// A client for one token call to `url`: the URL is checked and resolved
    /// ([`Self::resolve_and_check`]), and the client is pinned to the checked
    /// addresses, resolves no other host name, follows no redirects, uses no
    /// proxy, and has [`CONNECT_TIMEOUT`] and [`REQUEST_TIMEOUT`]. Without the
    /// development flag it also refuses any non-https request.
    ///
    /// Build a new client for every call; send the request to the same `url`.
    pub async fn client_for(&self, url: &Url) -> Result<reqwest::Client, EndpointError> {
        let addrs = self.resolve_and_check(url).await?;
        let label = url.host_str().unwrap_or_default().to_owned();
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .no_proxy()
            .referer(false)
            .https_only(!self.allow_insecure)
            .dns_resolver(std::sync::Arc::new(RefuseAllNames));
        if let Some(Host::Domain(name)) = host_of(url) {
            builder = builder.resolve_to_addrs(name, &addrs);
        }
        builder.build().map_err(|e| EndpointError::Client {
            host: label,
            reason: e.without_url().to_string(),
        })
    }
}

/// Resolves `name` with the system resolver, within [`RESOLVE_TIMEOUT`].
async fn lookup(name: &str, port: u16) -> Result<Vec<SocketAddr>, EndpointError> {
    let resolving = tokio::net::lookup_host((name, port));
    let found = tokio::time::timeout(RESOLVE_TIMEOUT, resolving)
        .await
        .map_err(|_| EndpointError::Resolve {
            host: name.to_owned(),
            reason: format!("no answer within {} s", RESOLVE_TIMEOUT.as_secs()),
        })?
        .map_err(|e| EndpointError::Resolve {
            host: name.to_owned(),
            reason: e.to_string(),
        })?;
    let mut addrs: Vec<SocketAddr> = Vec::new();
    for addr in found {
        if !addrs.contains(&addr) {
            addrs.push(addr);
        }
    }
    Ok(addrs)
}

/// The resolver behind the pinned overrides: any host name other than the
/// checked one is refused, so the client talks to the token URL's host only.
struct RefuseAllNames;

impl Resolve for RefuseAllNames {
    fn resolve(&self, name: Name) -> Resolving {
        let reason = format!(
            "host {} is not the checked token endpoint host",
            name.as_str()
        );
        Box::pin(async move { Err(reason.into()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT: EndpointPolicy = EndpointPolicy::strict();
    const DEV: EndpointPolicy = EndpointPolicy::insecure_for_development();

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn refused_class(policy: EndpointPolicy, url: &str) -> RefusedRange {
        match policy.check_url(url) {
            Err(EndpointError::RefusedAddress { class, .. }) => class,
            other => panic!("{url}: expected a refused address, got {other:?}"),
        }
    }

    #[test]
    fn refused_v4_ranges() {
        use RefusedRange::*;
        let cases = [
            ("127.0.0.1", Loopback),
            ("127.255.255.254", Loopback),
            ("10.0.0.1", Private),
            ("10.255.255.255", Private),
            ("172.16.0.1", Private),
            ("172.31.255.255", Private),
            ("192.168.0.1", Private),
            ("192.168.255.255", Private),
            ("169.254.0.1", LinkLocal),
            ("169.254.169.254", LinkLocal),
            ("0.0.0.0", Unspecified),
            ("0.1.2.3", Unspecified),
            ("224.0.0.1", Multicast),
            ("239.255.255.255", Multicast),
            ("255.255.255.255", Broadcast),
            ("100.64.0.1", SharedAddressSpace),
            ("100.127.255.255", SharedAddressSpace),
            ("240.0.0.1", Reserved),
        ];
        for (addr, class) in cases {
            assert_eq!(refused_range(ip(addr)), Some(class), "{addr}");
            let url = format!("https://{addr}/oauth/token");
            assert_eq!(refused_class(STRICT, &url), class, "{url}");
            assert!(DEV.check_url(&url).is_ok(), "{url} with the flag");
        }
    }

    #[test]
    fn v4_range_edges_are_allowed() {
        for addr in [
            "172.15.255.255",
            "172.32.0.0",
            "192.167.255.255",
            "192.169.0.0",
            "169.253.255.255",
            "100.63.255.255",
            "100.128.0.0",
            "9.255.255.255",
            "11.0.0.0",
            "126.255.255.255",
            "128.0.0.0",
            "223.255.255.255",
            "1.1.1.1",
            "8.8.8.8",
        ] {
            assert_eq!(refused_range(ip(addr)), None, "{addr}");
            let url = format!("https://{addr}/token");
            assert!(STRICT.check_url(&url).is_ok(), "{url}");
        }
    }

    #[test]
    fn refused_v6_ranges() {
        use RefusedRange::*;
        let cases = [
            ("::1", Loopback),
            ("::", Unspecified),
            ("fc00::1", Private),
            ("fd12:3456:789a::1", Private),
            ("fdff:ffff::1", Private),
            ("fec0::1", Private),
            ("fe80::1", LinkLocal),
            ("febf:ffff::1", LinkLocal),
            ("ff02::1", Multicast),
            ("ff0e::1", Multicast),
        ];
        for (addr, class) in cases {
            assert_eq!(refused_range(ip(addr)), Some(class), "{addr}");
            let url = format!("https://[{addr}]:8443/token");
            assert_eq!(refused_class(STRICT, &url), class, "{url}");
            assert!(DEV.check_url(&url).is_ok(), "{url} with the flag");
        }
    }

    #[test]
    fn refused_v4_mapped_compatible_and_nat64_forms() {
        use RefusedRange::*;
        let cases = [
            ("::ffff:127.0.0.1", Loopback),
            ("::ffff:10.1.2.3", Private),
            ("::ffff:172.16.0.1", Private),
            ("::ffff:192.168.1.1", Private),
            ("::ffff:169.254.169.254", LinkLocal),
            ("::ffff:0.0.0.0", Unspecified),
            ("::ffff:224.0.0.1", Multicast),
            ("::ffff:255.255.255.255", Broadcast),
            ("::ffff:100.64.0.1", SharedAddressSpace),
            ("::ffff:7f00:1", Loopback),
            ("::127.0.0.1", Loopback),
            ("::10.0.0.1", Private),
            ("64:ff9b::127.0.0.1", Loopback),
            ("64:ff9b::a9fe:a9fe", LinkLocal),
        ];
        for (addr, class) in cases {
            assert_eq!(refused_range(ip(addr)), Some(class), "{addr}");
            let url = format!("https://[{addr}]/token");
            assert_eq!(refused_class(STRICT, &url), class, "{url}");
            assert!(DEV.check_url(&url).is_ok(), "{url} with the flag");
        }
        // Mapped public addresses stay allowed.
        assert_eq!(refused_range(ip("::ffff:8.8.8.8")), None);
        assert!(STRICT.check_url("https://[::ffff:1.1.1.1]/token").is_ok());
    }

    #[test]
    fn public_v6_allowed() {
        for addr in ["2606:4700:4700::1111", "2001:4860:4860::8888"] {
            assert_eq!(refused_range(ip(addr)), None, "{addr}");
            assert!(STRICT.check_url(&format!("https://[{addr}]/t")).is_ok());
        }
    }

    #[test]
    fn odd_v4_spellings_are_normalised_and_refused() {
        // The URL parser normalises these to 127.0.0.1 / 10.0.0.1.
        for url in [
            "https://2130706433/token",
            "https://0x7f.0.0.1/token",
            "https://127.1/token",
            "https://012.0.0.1/token",
        ] {
            assert!(
                matches!(
                    STRICT.check_url(url),
                    Err(EndpointError::RefusedAddress { .. })
                ),
                "{url}"
            );
        }
    }

    #[test]
    fn public_ip_literal_allowed() {
        let url = STRICT
            .check_url("https://93.184.216.34/oauth/token")
            .unwrap();
        assert_eq!(url.host_str(), Some("93.184.216.34"));
        assert!(STRICT.check_url("https://8.8.8.8:8443/t?x=1").is_ok());
    }

    #[test]
    fn public_host_name_allowed_without_resolving() {
        assert!(STRICT.check_url("https://oauth2.example.com/token").is_ok());
        assert!(STRICT
            .check_url("https://login.tenant.example.org:8443/oauth/v2/token")
            .is_ok());
    }

    #[test]
    fn https_only_without_the_flag() {
        for url in ["http://auth.example.com/token", "http://8.8.8.8/token"] {
            match STRICT.check_url(url) {
                Err(EndpointError::SchemeNotAllowed { scheme, .. }) => assert_eq!(scheme, "http"),
                other => panic!("{url}: {other:?}"),
            }
            assert!(DEV.check_url(url).is_ok(), "{url} with the flag");
        }
        for url in [
            "ftp://auth.example.com/token",
            "file:///etc/passwd",
            "ws://auth.example.com/token",
            "gopher://auth.example.com/",
            "data:text/plain,hello",
        ] {
            for policy in [STRICT, DEV] {
                assert!(
                    matches!(
                        policy.check_url(url),
                        Err(EndpointError::SchemeNotAllowed { .. } | EndpointError::MissingHost)
                    ),
                    "{url} ({policy:?})"
                );
            }
        }
    }

    #[test]
    fn userinfo_refused_even_with_the_flag() {
        for url in [
            "https://alice-name:secret-token@auth.example.com/token",
            "https://alice-name@auth.example.com/token",
            "https://:secret-token@auth.example.com/token",
        ] {
            for policy in [STRICT, DEV] {
                let err = policy.check_url(url).unwrap_err();
                assert!(
                    matches!(err, EndpointError::UserInfo { .. }),
                    "{url}: {err:?}"
                );
                let msg = err.to_string();
                assert!(msg.contains("auth.example.com"), "{msg}");
                assert!(!msg.contains("secret-token"), "{msg}");
                assert!(!msg.contains("alice-name"), "{msg}");
            }
        }
    }

    #[test]
    fn missing_host_and_garbage_refused() {
        for url in ["not a url", "https://", "https://:443/token", "/token", ""] {
            assert!(
                matches!(
                    STRICT.check_url(url),
                    Err(EndpointError::InvalidUrl { .. } | EndpointError::MissingHost)
                ),
                "{url}"
            );
        }
    }

    #[test]
    fn localhost_names_refused_without_the_flag() {
        for url in [
            "https://localhost/token",
            "https://LOCALHOST:8443/token",
            "https://localhost./token",
            "https://auth.localhost/token",
            "https://a.b.localhost./token",
        ] {
            assert!(
                matches!(
                    STRICT.check_url(url),
                    Err(EndpointError::LocalHostName { .. })
                ),
                "{url}"
            );
            assert!(DEV.check_url(url).is_ok(), "{url} with the flag");
        }
        // Names that merely contain "localhost" are not local.
        assert!(STRICT.check_url("https://localhost.example.com/t").is_ok());
        assert!(STRICT.check_url("https://mylocalhost/t").is_ok());
    }

    #[test]
    fn allowed_with_the_flag() {
        for url in [
            "http://127.0.0.1:8080/token",
            "http://localhost:9999/oauth/token",
            "http://[::1]:8080/token",
            "https://10.0.0.5/token",
            "http://192.168.1.20/token",
            "https://[fe80::1]/token",
        ] {
            assert!(STRICT.check_url(url).is_err(), "{url} without the flag");
            assert!(DEV.check_url(url).is_ok(), "{url} with the flag");
        }
    }

    #[test]
    fn messages_name_the_host_and_reason_never_path_or_query() {
        let err = STRICT
            .check_url("https://10.1.2.3/token?access_token=tok-SECRET#frag")
            .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("10.1.2.3"), "{msg}");
        assert!(msg.contains("private"), "{msg}");
        assert!(!msg.contains("tok-SECRET"), "{msg}");
        assert!(!msg.contains("/token"), "{msg}");

        let err = STRICT
            .check_url("http://auth.example.com/cb?code=tok-SECRET")
            .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("auth.example.com") && msg.contains("https"),
            "{msg}"
        );
        assert!(!msg.contains("tok-SECRET"), "{msg}");

        let err = STRICT
            .check_url("https://[::1]/t?x=tok-SECRET")
            .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("[::1]") && msg.contains("loopback"), "{msg}");
        assert!(!msg.contains("tok-SECRET"), "{msg}");

        let err = STRICT.check_url("not a url tok-SECRET").unwrap_err();
        assert!(!err.to_string().contains("tok-SECRET"));
    }

    #[test]
    fn any_refused_resolved_address_refuses_the_host() {
        let public: SocketAddr = "93.184.216.34:443".parse().unwrap();
        let private: SocketAddr = "10.0.0.7:443".parse().unwrap();
        let mapped: SocketAddr = "[::ffff:127.0.0.1]:443".parse().unwrap();
        assert!(STRICT.check_resolved("h.example", &[public]).is_ok());
        for mixed in [vec![public, private], vec![mapped, public]] {
            assert!(matches!(
                STRICT.check_resolved("h.example", &mixed),
                Err(EndpointError::RefusedAddress { .. })
            ));
            assert!(DEV.check_resolved("h.example", &mixed).is_ok());
        }
        for policy in [STRICT, DEV] {
            assert!(matches!(
                policy.check_resolved("h.example", &[]),
                Err(EndpointError::NoAddress { .. })
            ));
        }
    }

    #[tokio::test]
    async fn resolving_localhost_refused_without_the_flag_allowed_with_it() {
        let url = Url::parse("http://localhost:8080/token").unwrap();
        assert!(STRICT.resolve_and_check(&url).await.is_err());
        let https = Url::parse("https://localhost:8443/token").unwrap();
        assert!(matches!(
            STRICT.resolve_and_check(&https).await,
            Err(EndpointError::LocalHostName { .. })
        ));

        // The DNS-rebinding check itself: what `localhost` really resolves to is refused.
        let resolved = lookup("localhost", 8443).await.unwrap();
        assert!(!resolved.is_empty());
        assert!(matches!(
            STRICT.check_resolved("localhost", &resolved),
            Err(EndpointError::RefusedAddress {
                class: RefusedRange::Loopback,
                ..
            })
        ));

        let addrs = DEV.resolve_and_check(&url).await.unwrap();
        assert!(!addrs.is_empty());
        assert!(addrs
            .iter()
            .all(|a| a.ip().is_loopback() && a.port() == 8080));
        assert!(DEV.client_for(&url).await.is_ok());
        assert!(STRICT.client_for(&url).await.is_err());
    }

    #[tokio::test]
    async fn literal_hosts_are_not_looked_up_and_carry_the_port() {
        let url = Url::parse("https://93.184.216.34/token").unwrap();
        let addrs = STRICT.resolve_and_check(&url).await.unwrap();
        assert_eq!(addrs, vec!["93.184.216.34:443".parse().unwrap()]);
        let url = Url::parse("https://[2606:4700:4700::1111]:8443/token").unwrap();
        let addrs = STRICT.resolve_and_check(&url).await.unwrap();
        assert_eq!(addrs, vec!["[2606:4700:4700::1111]:8443".parse().unwrap()]);
        // Building a client sends nothing.
        assert!(STRICT.client_for(&url).await.is_ok());
        let loopback = Url::parse("https://127.0.0.1/token").unwrap();
        assert!(STRICT.resolve_and_check(&loopback).await.is_err());
    }

    #[tokio::test]
    async fn pinned_client_does_not_follow_redirects_or_resolve_other_names() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        // A local test provider answering every request with a redirect.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 2048];
            let _ = sock.read(&mut buf).await.unwrap();
            sock.write_all(
                b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:1/elsewhere\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            )
            .await
            .unwrap();
        });
        let url = Url::parse(&format!("http://localhost:{port}/token")).unwrap();
        let client = DEV.client_for(&url).await.unwrap();
        let resp = client.post(url.clone()).send().await.unwrap();
        assert_eq!(resp.status(), reqwest::StatusCode::FOUND);
        server.await.unwrap();

        // Any name other than the checked one is refused before a lookup.
        let other = Url::parse(&format!("http://other.localhost:{port}/token")).unwrap();
        assert!(client.get(other).send().await.is_err());
    }
}
