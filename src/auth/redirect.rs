//! Where a browser may be sent back to after signing in: the one rule against open redirects,
//! shared by forward authentication (`/api/v1/auth/verify`) and the web front's `rd`.
//!
//! A target is accepted only if it is
//! - a path of this origin: it starts with one `/`, and neither it nor its percent-decoded form
//!   starts with `//` or `/\` (which browsers read as another host); or
//! - an absolute `http` or `https` URL, with no user name or password in it (`https://good@evil`
//!   and `https://evil@good` both are refused: one of them is always a lie), whose host is named
//!   by `FORWARD_AUTH_ALLOWED_HOSTS`: exactly (`app.example.com`), or as a `.suffix`
//!   (`.example.com` admits `example.com` and every subdomain of it, never `example.com.evil`
//!   or `evilexample.com`).
//!
//! Before any parsing, a target holding a backslash, a control character or white space is
//! refused outright: browsers drop or reinterpret those (`\` is `/` in special URLs, tabs and
//! newlines are stripped), so no reading of such a string can be trusted to be the browser's.
//! Absolute targets are parsed with the WHATWG URL parser that browsers implement (the `url`
//! crate), so the host compared is the host the browser will go to, after percent-decoding and
//! IDNA; what is returned is that parser's serialization, not the input.

use std::fmt;

use url::{Host, Url};

/// Longest redirect target considered (longer ones are refused).
const MAX_TARGET: usize = 4096;

/// The hosts that may be redirect targets (`FORWARD_AUTH_ALLOWED_HOSTS`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedHosts {
    exact: Vec<String>,
    suffixes: Vec<String>,
}

/// A `FORWARD_AUTH_ALLOWED_HOSTS` entry that is not a host name or `.suffix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadHost(pub String);

impl fmt::Display for BadHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is not a host name (app.example.com) or a .suffix (.example.com)",
            self.0
        )
    }
}

impl AllowedHosts {
    /// Parses a comma-separated list of host names and `.suffix` domains (empty: none).
    pub fn parse(list: &str) -> Result<Self, BadHost> {
        let mut hosts = Self::default();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (suffix, name) = match entry.strip_prefix('.') {
                Some(rest) => (true, rest),
                None => (false, entry),
            };
            let host = normalize_host(name).ok_or_else(|| BadHost(entry.to_owned()))?;
            if suffix {
                hosts.suffixes.push(host);
            } else {
                hosts.exact.push(host);
            }
        }
        Ok(hosts)
    }

    /// Whether no host is allowed.
    pub fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.suffixes.is_empty()
    }

    /// Whether `host` (already normalized by the URL parser) is allowed.
    pub fn allows(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.');
        self.exact.iter().any(|h| h == host)
            || self.suffixes.iter().any(|s| {
                host == s
                    || host
                        .strip_suffix(s.as_str())
                        .is_some_and(|rest| rest.ends_with('.') && rest.len() > 1)
            })
    }
}

/// A host name as the URL parser writes it (lower case, IDNA), or `None` if it is not one.
fn normalize_host(name: &str) -> Option<String> {
    if name.is_empty() || name.contains(['/', '\\', '@', ':', '?', '#', ' ']) {
        return None;
    }
    match Host::parse(name).ok()? {
        Host::Domain(d) => Some(d.trim_end_matches('.').to_owned()),
        Host::Ipv4(ip) => Some(ip.to_string()),
        Host::Ipv6(_) => None,
    }
}

/// A redirect target that passed [`check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A path (with query and fragment) of this origin.
    Local(String),
    /// An absolute URL on an allowed host.
    Absolute(Url),
}

impl Target {
    /// The target as it goes into a `Location` header or an `rd` parameter.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Local(p) => p,
            Self::Absolute(u) => u.as_str(),
        }
    }
}

/// Checks `target` against the rule in the module docs; `None`: refused.
pub fn check(target: &str, allowed: &AllowedHosts) -> Option<Target> {
    if target.is_empty()
        || target.len() > MAX_TARGET
        || target
            .chars()
            .any(|c| c == '\\' || c.is_control() || c.is_whitespace())
    {
        return None;
    }
    if target.starts_with('/') {
        return local(target).map(|p| Target::Local(p.to_owned()));
    }
    let url = Url::parse(target).ok()?;
    if !matches!(url.scheme(), "http" | "https")
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return None;
    }
    let host = match url.host()? {
        Host::Domain(d) => d.to_owned(),
        Host::Ipv4(ip) => ip.to_string(),
        Host::Ipv6(_) => return None,
    };
    allowed.allows(&host).then_some(Target::Absolute(url))
}

/// A path of this origin, or `None` when a browser could read it as another host.
fn local(path: &str) -> Option<&str> {
    let decoded: Vec<u8> = percent_decode(path.as_bytes());
    let second = decoded.get(1).copied();
    if matches!(second, Some(b'/' | b'\\')) {
        return None;
    }
    // Decoding may reveal what the raw check could not see.
    if decoded.iter().any(|b| *b == b'\\' || b.is_ascii_control()) {
        return None;
    }
    Some(path)
}

/// Percent-decoding, repeated until nothing changes (so `%252F` cannot hide a `/`); bytes
/// that are not valid escapes are kept as they are.
fn percent_decode(bytes: &[u8]) -> Vec<u8> {
    let mut current = bytes.to_vec();
    for _ in 0..4 {
        let next = decode_once(&current);
        if next == current {
            break;
        }
        current = next;
    }
    current
}

fn decode_once(bytes: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            )
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed() -> AllowedHosts {
        AllowedHosts::parse("app.example.com, .good.test").unwrap()
    }

    #[test]
    fn allowed_hosts_parse_names_and_suffixes_and_refuse_the_rest() {
        let a = AllowedHosts::parse(" App.Example.COM ,.good.test,").unwrap();
        assert!(a.allows("app.example.com"));
        assert!(a.allows("good.test") && a.allows("x.good.test") && a.allows("a.b.good.test"));
        assert!(!a.allows("example.com") && !a.allows("evilgood.test"));
        assert!(!a.allows("good.test.evil.com") && !a.allows("app.example.com.evil.com"));
        assert!(AllowedHosts::parse("").unwrap().is_empty());
        for bad in ["http://x.com", "x.com/path", "a@b.com", "x.com:8080", "."] {
            assert!(AllowedHosts::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn local_paths_pass_and_look_alikes_of_another_host_do_not() {
        let a = allowed();
        for ok in ["/", "/account", "/a/b?c=d#e", "/%20x", "/a//b"] {
            assert_eq!(check(ok, &a), Some(Target::Local(ok.to_owned())), "{ok}");
        }
        for bad in [
            "//evil.com",
            "///evil.com",
            "/\\evil.com",
            "\\\\evil.com",
            "/%2Fevil.com",
            "/%2fevil.com",
            "/%5Cevil.com",
            "/%252Fevil.com",
            "/\tevil.com",
            "/ /evil.com",
            "/%09/evil.com",
        ] {
            assert_eq!(check(bad, &a), None, "{bad}");
        }
    }

    #[test]
    fn absolute_urls_pass_only_to_allowed_hosts() {
        let a = allowed();
        for ok in [
            "https://app.example.com/",
            "http://app.example.com:8080/x?y=1",
            "https://APP.example.com/path",
            "https://good.test",
            "https://deep.sub.good.test/a",
            "https://app.example.com./",
        ] {
            assert!(check(ok, &a).is_some(), "{ok}");
        }
        for bad in [
            "https://evil.com",
            "https://evil.com@app.example.com",
            "https://app.example.com@evil.com",
            "https://app.example.com:pw@evil.com",
            "https://app.example.com.evil.com",
            "https://good.test.evil.com",
            "https://evilgood.test",
            "https://app.example.com\\@evil.com",
            "https://evil.com\\.app.example.com",
            "https://evil.com%2F@app.example.com",
            "https://evil.com%40app.example.com",
            "https://evil%2Ecom",
            "javascript:alert(1)",
            "JavaScript://app.example.com/%0aalert(1)",
            "data:text/html,<script>alert(1)</script>",
            "ftp://app.example.com/",
            "app.example.com/x",
            "https://[::1]/",
            "",
            " https://app.example.com",
        ] {
            assert_eq!(check(bad, &a), None, "{bad}");
        }
        // Without any allowed host, only local paths pass.
        let none = AllowedHosts::default();
        assert_eq!(check("https://app.example.com/", &none), None);
        assert!(check("/account", &none).is_some());
    }

    #[test]
    fn a_percent_encoded_host_is_compared_as_the_browser_decodes_it() {
        // The parser decodes the host: `%61pp` is `app`.
        let a = allowed();
        let t = check("https://%61pp.example.com/x", &a).unwrap();
        assert_eq!(t.as_str(), "https://app.example.com/x");
    }

    proptest::proptest! {
        #[test]
        fn nothing_accepted_leads_off_the_allowed_hosts(s in "\\PC{0,60}") {
            let a = allowed();
            match check(&s, &a) {
                None => {}
                Some(Target::Local(p)) => {
                    // As a browser resolves it against this origin, it stays here.
                    let base = Url::parse("https://auth.internal/").unwrap();
                    let joined = base.join(&p).unwrap();
                    proptest::prop_assert_eq!(joined.host_str(), Some("auth.internal"));
                }
                Some(Target::Absolute(u)) => {
                    let host = u.host_str().unwrap_or_default().to_owned();
                    proptest::prop_assert!(a.allows(&host), "{} -> {}", s, host);
                }
            }
        }
    }
}
