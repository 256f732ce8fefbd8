//! The session cookie: the one parser of the `Cookie` header and the one writer of
//! `Set-Cookie`.

use axum::http::{HeaderMap, HeaderValue, header};

use crate::config::Settings;
use crate::service::ServiceError;

/// The value of the cookie `name` in the request's `Cookie` headers, if any.
pub fn session_cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    // Raw bytes: another cookie of the same site may hold non-ASCII bytes, which must not hide
    // the session cookie beside it.
    headers
        .get_all(header::COOKIE)
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b';'))
        .filter_map(|pair| {
            let pair = pair.trim_ascii();
            let eq = pair.iter().position(|&b| b == b'=')?;
            (&pair[..eq] == name.as_bytes()).then(|| &pair[eq + 1..])
        })
        .find_map(|v| std::str::from_utf8(v).ok())
        .map(|v| v.trim_matches('"'))
        .filter(|v| !v.is_empty())
}

/// A `Set-Cookie` value for the session cookie: a token, or `None` to expire it.
pub fn session_set_cookie(
    settings: &Settings,
    token: Option<&str>,
) -> Result<HeaderValue, ServiceError> {
    // The attributes after `SameSite`: `Secure`, then `Domain`, each when configured.
    let mut attrs = String::new();
    if settings.cookie_secure {
        attrs.push_str("; Secure");
    }
    if let Some(domain) = &settings.cookie_domain {
        attrs.push_str("; Domain=");
        attrs.push_str(domain);
    }
    let value = match token {
        Some(token) => {
            let max_age = settings
                .expiry()
                .absolute
                .map(|d| format!("; Max-Age={d}"))
                .unwrap_or_default();
            format!(
                "{}={token}; Path=/; HttpOnly; SameSite=Lax{attrs}{max_age}",
                settings.session_name
            )
        }
        None => format!(
            "{}=; Path=/; HttpOnly; SameSite=Lax{attrs}; Max-Age=0",
            settings.session_name
        ),
    };
    HeaderValue::from_str(&value).map_err(|e| ServiceError::Internal(format!("cookie header: {e}")))
}

#[cfg(test)]
mod properties {

    use proptest::prelude::*;

    use super::*;

    /// Bytes a header value may hold (visible ASCII, space, tab, obs-text).
    fn header_byte() -> impl Strategy<Value = u8> {
        prop_oneof![0x20u8..=0x7e, 0x80u8..=0xff, Just(b'\t')]
    }

    // ---- the Cookie header ----

    /// A cookie name (an RFC 7230 token, as `SESSION_NAME` must be).
    fn cookie_name() -> impl Strategy<Value = String> {
        r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,16}"
    }

    /// Our cookie's value: cookie-octets (any ASCII but controls, space, `"`, `,`, `;`, `\`)
    /// or non-ASCII characters; it may contain `=`.
    fn our_value() -> impl Strategy<Value = String> {
        r"[!#-+\--:<-\[\]-~\x{80}-\x{10FFFF}]{1,40}"
    }

    /// Another cookie's name: random, or a prefix, a suffix, an extension or another case of
    /// ours; never ours.
    fn other_name(ours: String) -> impl Strategy<Value = String> {
        let o = ours.clone();
        let prefixes = (1..=ours.len()).prop_map(move |n| o[..o.len() - n].to_owned());
        let o = ours.clone();
        let suffixes = (1..=ours.len()).prop_map(move |n| o[n..].to_owned());
        let o = ours.clone();
        let longer = (cookie_name(), any::<bool>()).prop_map(move |(x, before)| {
            if before {
                format!("{x}{o}")
            } else {
                format!("{o}{x}")
            }
        });
        let cases = [ours.to_ascii_uppercase(), ours.to_ascii_lowercase()];
        prop_oneof![
            cookie_name(),
            prefixes,
            suffixes,
            longer,
            proptest::sample::select(cases.to_vec()),
        ]
        .prop_filter("not our name", move |n| !n.is_empty() && *n != ours)
    }

    /// Another cookie's value: any header bytes but `;`, ASCII or not, possibly with `=`, `"`
    /// and spaces, possibly empty.
    fn other_value() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(header_byte().prop_filter("no ;", |&b| b != b';'), 0..24)
    }

    /// How one cookie is joined to the one before it: in the same header (with some spacing)
    /// or as the first of a new `Cookie` header.
    #[derive(Debug, Clone, Copy)]
    enum Join {
        Same(&'static str),
        NewHeader,
    }

    fn join() -> impl Strategy<Value = Join> {
        prop_oneof![
            Just(Join::Same("; ")),
            Just(Join::Same(";")),
            Just(Join::Same(";   ")),
            Just(Join::Same(" ; ")),
            Just(Join::NewHeader),
        ]
    }

    /// `Cookie` headers holding `pairs`, joined as `joins` says (`joins[i]` joins pair `i + 1`).
    fn cookie_headers(pairs: &[Vec<u8>], joins: &[Join], pad: bool) -> HeaderMap {
        let mut values: Vec<Vec<u8>> = vec![Vec::new()];
        for (i, pair) in pairs.iter().enumerate() {
            if i > 0 {
                match joins[(i - 1) % joins.len().max(1)] {
                    Join::Same(sep) => values.last_mut().unwrap().extend(sep.as_bytes()),
                    Join::NewHeader => values.push(Vec::new()),
                }
            }
            values.last_mut().unwrap().extend(pair);
        }
        let mut headers = HeaderMap::new();
        for v in values {
            let v = if pad {
                [b"  ".as_slice(), &v, b" "].concat()
            } else {
                v
            };
            headers.append(header::COOKIE, HeaderValue::from_bytes(&v).unwrap());
        }
        headers
    }

    fn pair(name: &str, value: &[u8]) -> Vec<u8> {
        [name.as_bytes(), b"=", value].concat()
    }

    /// Our name, our value, whether it is quoted, the other cookies, where ours goes among
    /// them, and how they are all joined.
    #[allow(clippy::type_complexity)]
    fn cookie_jar() -> impl Strategy<
        Value = (
            String,
            String,
            bool,
            Vec<(String, Vec<u8>)>,
            usize,
            Vec<Join>,
            bool,
        ),
    > {
        cookie_name().prop_flat_map(|name| {
            let others = proptest::collection::vec((other_name(name.clone()), other_value()), 0..8);
            (
                Just(name),
                our_value(),
                any::<bool>(),
                others,
                any::<prop::sample::Index>(),
                proptest::collection::vec(join(), 1..8),
                any::<bool>(),
            )
                .prop_map(|(n, v, q, o, at, j, pad)| {
                    let at = at.index(o.len() + 1);
                    (n, v, q, o, at, j, pad)
                })
        })
    }

    proptest! {
        // ---- the Cookie header ----

        #[test]
        fn arbitrary_cookie_headers_never_panic_and_a_found_value_is_one_of_ours(
            name in cookie_name(),
            headers in proptest::collection::vec(
                proptest::collection::vec(
                    prop_oneof![
                        proptest::collection::vec(header_byte(), 1..6),
                        Just(b"=".to_vec()),
                        Just(b";".to_vec()),
                        Just(b"\"".to_vec()),
                        Just(b" ".to_vec()),
                        Just(Vec::new()),
                    ],
                    0..12,
                ),
                0..4,
            ),
        ) {
            let mut map = HeaderMap::new();
            let mut raw = Vec::new();
            for (i, pieces) in headers.iter().enumerate() {
                // Put our name in front of some pieces so that the name does turn up.
                let mut v = Vec::new();
                for (j, p) in pieces.iter().enumerate() {
                    if (i + j) % 3 == 0 {
                        v.extend(name.as_bytes());
                    }
                    v.extend(p);
                }
                map.append(header::COOKIE, HeaderValue::from_bytes(&v).unwrap());
                raw.push(v);
            }
            if let Some(found) = session_cookie(&map, &name) {
                prop_assert!(!found.is_empty());
                prop_assert!(!found.contains(';'));
                prop_assert!(!found.starts_with('"') && !found.ends_with('"'));
                let contains = |h: &[u8], x: &[u8]| h.windows(x.len()).any(|w| w == x);
                let cookie = format!("{name}=");
                prop_assert!(
                    raw.iter().any(|h| contains(h, cookie.as_bytes())
                        && contains(h, found.as_bytes())),
                    "{found:?} is not the value of a {name} cookie in {raw:?}"
                );
            }
        }

        #[test]
        fn our_cookie_among_any_other_cookies_is_found_with_exactly_its_value(
            (name, value, quoted, others, at, joins, pad) in cookie_jar(),
        ) {
            let ours = if quoted { format!("\"{value}\"") } else { value.clone() };
            let mut pairs: Vec<Vec<u8>> = others.iter().map(|(n, v)| pair(n, v)).collect();
            pairs.insert(at, pair(&name, ours.as_bytes()));
            let headers = cookie_headers(&pairs, &joins, pad);
            prop_assert_eq!(session_cookie(&headers, &name), Some(value.as_str()));
        }

        #[test]
        fn without_our_cookie_no_session_cookie_is_found(
            (name, _, _, others, _, joins, pad) in cookie_jar(),
        ) {
            let pairs: Vec<Vec<u8>> = others.iter().map(|(n, v)| pair(n, v)).collect();
            let headers = cookie_headers(&pairs, &joins, pad);
            prop_assert_eq!(session_cookie(&headers, &name), None);
        }
    }
}
