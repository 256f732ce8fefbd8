//! The client's address: the peer's, or the one a trusted proxy appended to `X-Forwarded-For`.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};

use crate::config::Settings;
use crate::routes::state::AppState;

/// The client's address: the peer's, or with `TRUST_X_FORWARDED_FOR` the last entry of the
/// last `X-Forwarded-For` header (the one the trusted proxy appended).
pub fn client_ip_of(parts: &axum::http::request::Parts, settings: &Settings) -> Option<IpAddr> {
    if settings.trust_x_forwarded_for
        && let Some(ip) = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .next_back()
            .and_then(|v| v.as_bytes().rsplit(|&b| b == b',').next())
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(|v| v.trim().parse().ok())
    {
        return Some(ip);
    }
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(a)| a.ip())
}

/// The client's address (see `TRUST_X_FORWARDED_FOR`), for throttling and the session list.
pub struct ClientIp(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(client_ip_of(parts, &state.settings)))
    }
}

#[cfg(test)]
mod properties {

    use axum::http::request::Parts;
    use proptest::prelude::*;

    use super::*;
    use crate::config::RawConfig;
    use axum::http::HeaderValue;

    /// Bytes a header value may hold (visible ASCII, space, tab, obs-text).
    fn header_byte() -> impl Strategy<Value = u8> {
        prop_oneof![0x20u8..=0x7e, 0x80u8..=0xff, Just(b'\t')]
    }

    // ---- X-Forwarded-For ----

    /// One entry of an `X-Forwarded-For` list.
    #[derive(Debug, Clone)]
    enum Entry {
        /// An address, written with some blanks around it.
        Ip(IpAddr, &'static str, &'static str),
        /// Anything that is not an address (never a `,`).
        Junk(Vec<u8>),
    }

    fn blank() -> impl Strategy<Value = &'static str> {
        proptest::sample::select(vec!["", " ", "  ", "\t", " \t "])
    }

    fn not_an_address(bytes: &[u8]) -> bool {
        std::str::from_utf8(bytes).map_or(true, |s| s.trim().parse::<IpAddr>().is_err())
    }

    fn entry() -> impl Strategy<Value = Entry> {
        let fixed = proptest::sample::select(vec![
            "",
            " ",
            "unknown",
            "1.2.3",
            "1.2.3.4.5",
            "256.1.1.1",
            "01.2.3.4",
            "::g",
            "[::1]",
            "1.2.3.4:80",
            "[2001:db8::1]:443",
            "fe80::1%eth0",
            "_hidden",
            "10.0.0.1é",
            "ünknown",
        ])
        .prop_map(|s| s.as_bytes().to_vec());
        let random =
            proptest::collection::vec(header_byte().prop_filter("no ,", |&b| b != b','), 0..16);
        prop_oneof![
            2 => (any::<IpAddr>(), blank(), blank()).prop_map(|(ip, l, r)| Entry::Ip(ip, l, r)),
            1 => prop_oneof![fixed, random]
                .prop_filter("not an address", |b| not_an_address(b))
                .prop_map(Entry::Junk),
        ]
    }

    fn render(entries: &[Entry], sep: &str) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            if i > 0 {
                out.extend(sep.as_bytes());
            }
            match e {
                Entry::Ip(ip, l, r) => out.extend(format!("{l}{ip}{r}").as_bytes()),
                Entry::Junk(b) => out.extend(b),
            }
        }
        out
    }

    fn settings(trust_x_forwarded_for: bool) -> Settings {
        let raw = RawConfig {
            trust_x_forwarded_for: trust_x_forwarded_for.to_string(),
            ..RawConfig::default()
        };
        let settings = Settings::from_raw(&raw).unwrap();
        assert_eq!(settings.trust_x_forwarded_for, trust_x_forwarded_for);
        settings
    }

    fn parts_with(headers: &[Vec<u8>], peer: Option<SocketAddr>) -> Parts {
        let mut builder = axum::http::Request::builder().uri("/api/v1/users/me");
        for h in headers {
            builder = builder.header("x-forwarded-for", HeaderValue::from_bytes(h).unwrap());
        }
        let (mut parts, ()) = builder.body(()).unwrap().into_parts();
        if let Some(peer) = peer {
            parts.extensions.insert(ConnectInfo(peer));
        }
        parts
    }

    #[test]
    fn non_ascii_bytes_in_a_trusted_forwarded_for_do_not_hide_the_appended_address() {
        let peer: SocketAddr = "192.0.2.1:4000".parse().unwrap();
        let parts = parts_with(&[b"10.0.0.1\xc3\xa9, 203.0.113.7".to_vec()], Some(peer));
        assert_eq!(
            client_ip_of(&parts, &settings(true)),
            Some("203.0.113.7".parse().unwrap())
        );
        let parts = parts_with(&[b"\xff, 203.0.113.7 \xff".to_vec()], Some(peer));
        assert_eq!(client_ip_of(&parts, &settings(true)), Some(peer.ip()));
    }

    proptest! {
        // ---- X-Forwarded-For ----

        #[test]
        fn a_trusted_forwarded_for_gives_its_last_address_else_the_peer(
            lists in proptest::collection::vec(proptest::collection::vec(entry(), 0..5), 0..4),
            sep in proptest::sample::select(vec![",", ", ", " , ", ",\t"]),
            peer in proptest::option::weighted(0.9, any::<SocketAddr>()),
        ) {
            let headers: Vec<Vec<u8>> = lists.iter().map(|l| render(l, sep)).collect();
            let parts = parts_with(&headers, peer);
            let expected = match lists.last().and_then(|l| l.last()) {
                Some(Entry::Ip(ip, _, _)) => Some(*ip),
                _ => peer.map(|p| p.ip()),
            };
            prop_assert_eq!(client_ip_of(&parts, &settings(true)), expected);
        }

        #[test]
        fn an_untrusted_forwarded_for_is_ignored_for_the_peer(
            lists in proptest::collection::vec(proptest::collection::vec(entry(), 0..5), 0..4),
            peer in proptest::option::weighted(0.9, any::<SocketAddr>()),
        ) {
            let headers: Vec<Vec<u8>> = lists.iter().map(|l| render(l, ", ")).collect();
            let parts = parts_with(&headers, peer);
            prop_assert_eq!(client_ip_of(&parts, &settings(false)), peer.map(|p| p.ip()));
        }
    }
}
