//! HTTP Basic credentials (`Authorization: Basic base64(email:password)`): the one parser.
//! The password may contain `:`; the pair is split on the first one.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::domain::Secret;

/// The email and password of a `Basic` header, or `None` when the header is another scheme or
/// malformed (not base64, not UTF-8, no `:`).
pub fn parse_basic(header: &[u8]) -> Option<(String, Secret)> {
    let header = std::str::from_utf8(header).ok()?;
    let (scheme, encoded) = header.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(encoded.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (email, password) = decoded.split_once(':')?;
    Some((email.to_owned(), Secret::new(password)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_split_on_the_first_colon() {
        let h = format!("Basic {}", STANDARD.encode("bob@x.io:pa:ss"));
        let (email, pw) = parse_basic(h.as_bytes()).unwrap();
        assert_eq!(email, "bob@x.io");
        assert_eq!(pw.expose(), "pa:ss");
        assert!(parse_basic(b"Basic test").is_none());
        assert!(parse_basic(b"Bearer abc").is_none());
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    /// `basic` with each letter's case chosen by `upper`.
    fn scheme_in_case(upper: &[bool]) -> String {
        "basic"
            .chars()
            .zip(upper)
            .map(|(c, &u)| if u { c.to_ascii_uppercase() } else { c })
            .collect()
    }

    /// Header bytes that sometimes look like Basic credentials, mostly not.
    fn header_bytes() -> impl Strategy<Value = Vec<u8>> {
        let prefix = prop_oneof![
            Just(Vec::new()),
            Just(b"Basic ".to_vec()),
            Just(b"bAsIc  ".to_vec()),
            proptest::collection::vec(any::<u8>(), 0..8),
        ];
        let rest = prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..64),
            proptest::collection::vec(any::<u8>(), 0..48)
                .prop_map(|b| STANDARD.encode(b).into_bytes()),
            "[A-Za-z0-9+/=: \t]{0,40}".prop_map(String::into_bytes),
            (any::<String>(), any::<String>(), "[ \t]{0,2}").prop_map(|(a, b, pad)| format!(
                "{}{pad}",
                STANDARD.encode(format!("{a}:{b}"))
            )
            .into_bytes()),
        ];
        (prefix, rest).prop_map(|(mut p, r)| {
            p.extend(r);
            p
        })
    }

    proptest! {
        #[test]
        fn arbitrary_header_bytes_never_panic_and_only_a_canonical_basic_header_gives_credentials(
            header in header_bytes(),
        ) {
            if let Some((email, password)) = parse_basic(&header) {
                // What came out must be exactly what the header encodes: the scheme is `basic`
                // in some case, and the rest is the canonical base64 of `email:password`.
                let text = std::str::from_utf8(&header).unwrap();
                let (scheme, encoded) = text.split_once(' ').unwrap();
                prop_assert!(scheme.eq_ignore_ascii_case("basic"));
                prop_assert!(!email.contains(':'));
                prop_assert_eq!(
                    encoded.trim(),
                    STANDARD.encode(format!("{email}:{}", password.expose()))
                );
            }
        }

        #[test]
        fn a_basic_header_with_any_email_without_a_colon_and_any_password_round_trips(
            email in "[^:]*",
            password in prop_oneof![any::<String>(), "(:|\\PC){0,20}"],
            upper in proptest::collection::vec(any::<bool>(), 5),
            spaces in 0usize..3,
        ) {
            let header = format!(
                "{} {}{}",
                scheme_in_case(&upper),
                " ".repeat(spaces),
                STANDARD.encode(format!("{email}:{password}"))
            );
            let (got_email, got_password) = parse_basic(header.as_bytes()).unwrap();
            prop_assert_eq!(got_email, email);
            prop_assert_eq!(got_password.expose(), password);
        }

        #[test]
        fn a_header_with_another_scheme_gives_no_credentials(
            scheme in prop_oneof![
                "[A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]{0,12}",
                Just("Basic1".to_owned()),
                Just("basi".to_owned()),
                Just("Bearer".to_owned()),
                Just("Digest".to_owned()),
                Just("xbasic".to_owned()),
            ]
            .prop_filter("not basic", |s| !s.eq_ignore_ascii_case("basic")),
            email in "[^:]*",
            password in any::<String>(),
        ) {
            let header = format!("{scheme} {}", STANDARD.encode(format!("{email}:{password}")));
            prop_assert!(parse_basic(header.as_bytes()).is_none());
        }

        #[test]
        fn decoded_credentials_without_a_colon_give_none(
            text in "[^:]*",
            upper in proptest::collection::vec(any::<bool>(), 5),
        ) {
            let header = format!("{} {}", scheme_in_case(&upper), STANDARD.encode(&text));
            prop_assert!(parse_basic(header.as_bytes()).is_none());
        }
    }
}
