//! A small software WebAuthn authenticator for the integration tests: ES256 (P-256) keys, "none"
//! attestation, discoverable (resident) credentials, user presence and user verification always
//! asserted. It speaks the JSON that `webauthn-rs` sends to and expects from a browser, so tests
//! can register passkeys and sign in against the real server without a browser.

#![allow(dead_code)] // not every helper is used by every test yet

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use ciborium::value::Value as Cbor;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

/// Authenticator data flag: user present.
pub const FLAG_UP: u8 = 0x01;
/// Authenticator data flag: user verified.
pub const FLAG_UV: u8 = 0x04;
/// Authenticator data flag: attested credential data included.
pub const FLAG_AT: u8 = 0x40;

/// One credential the authenticator holds.
#[derive(Clone, Debug)]
pub struct Credential {
    /// The credential id.
    pub id: Vec<u8>,
    /// The private key.
    pub key: SigningKey,
    /// The user handle (`user.id`) given at registration.
    pub user_handle: Vec<u8>,
    /// The relying party id the credential is scoped to.
    pub rp_id: String,
    /// The signature counter; 0 right after registration, incremented before each assertion.
    pub counter: u32,
}

impl Credential {
    /// The public key, for checking signatures.
    pub fn verifying_key(&self) -> VerifyingKey {
        *self.key.verifying_key()
    }
}

/// A software authenticator holding any number of discoverable credentials.
#[derive(Clone, Debug, Default)]
pub struct Authenticator {
    credentials: Vec<Credential>,
}

impl Authenticator {
    /// An authenticator holding no credentials.
    pub fn new() -> Self {
        Self::default()
    }

    /// Answers `navigator.credentials.create()` options as the server sent them (with or without
    /// the outer `publicKey`), creating and remembering a new credential. Returns the
    /// `RegisterPublicKeyCredential` JSON a browser would send back.
    ///
    /// Like a browser, it refuses (panics) when it already holds a credential listed in
    /// `excludeCredentials`; a second passkey for one user needs a second `Authenticator`.
    pub fn register(&mut self, options: &Value, origin: &str) -> Value {
        let options = inner(options);
        let challenge = b64_decode(
            options["challenge"]
                .as_str()
                .expect("creation options without a challenge"),
        );
        let rp_id = options["rp"]["id"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| host_of(origin));
        let user_handle = b64_decode(
            options["user"]["id"]
                .as_str()
                .expect("creation options without user.id"),
        );
        let excluded: Vec<Vec<u8>> = credential_ids(&options["excludeCredentials"]);
        assert!(
            !self
                .credentials
                .iter()
                .any(|c| c.rp_id == rp_id && excluded.contains(&c.id)),
            "the authenticator already holds a credential in excludeCredentials (a browser's \
             InvalidStateError); use a second Authenticator for a second passkey of one user"
        );

        let id_len = 16 + usize::from(random_bytes::<1>()[0] % 17);
        let mut id = vec![0u8; id_len];
        getrandom::fill(&mut id).unwrap();
        let key = random_key();

        let credential = Credential {
            id: id.clone(),
            key,
            user_handle,
            rp_id: rp_id.clone(),
            counter: 0,
        };

        let mut auth_data = auth_data_prefix(&rp_id, FLAG_UP | FLAG_UV | FLAG_AT, 0);
        auth_data.extend_from_slice(&[0u8; 16]); // AAGUID
        auth_data.extend_from_slice(&u16::try_from(id.len()).unwrap().to_be_bytes());
        auth_data.extend_from_slice(&id);
        auth_data.extend_from_slice(&cose_key(credential.key.verifying_key()));

        let attestation_object = cbor_bytes(&Cbor::Map(vec![
            (Cbor::Text("fmt".into()), Cbor::Text("none".into())),
            (Cbor::Text("attStmt".into()), Cbor::Map(Vec::new())),
            (Cbor::Text("authData".into()), Cbor::Bytes(auth_data)),
        ]));
        let client_data = client_data_json("webauthn.create", &challenge, origin);

        self.credentials.push(credential);
        let id = URL_SAFE_NO_PAD.encode(&id);
        json!({
            "id": id,
            "rawId": id,
            "type": "public-key",
            "response": {
                "attestationObject": URL_SAFE_NO_PAD.encode(attestation_object),
                "clientDataJSON": URL_SAFE_NO_PAD.encode(client_data),
            },
            "extensions": {},
        })
    }

    /// Answers `navigator.credentials.get()` options as the server sent them (with or without the
    /// outer `publicKey`): picks a credential for the rp id (one in `allowCredentials` if that is
    /// non-empty, else any for the rp), increments its counter and signs. Returns the
    /// `PublicKeyCredential` JSON a browser would send back, with `userHandle` set.
    pub fn assert(&mut self, options: &Value, origin: &str) -> Value {
        let options = inner(options);
        let challenge = b64_decode(
            options["challenge"]
                .as_str()
                .expect("request options without a challenge"),
        );
        let rp_id = options["rpId"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| host_of(origin));
        let allowed = credential_ids(&options["allowCredentials"]);
        let credential = self
            .credentials
            .iter_mut()
            .rev()
            .find(|c| c.rp_id == rp_id && (allowed.is_empty() || allowed.contains(&c.id)))
            .unwrap_or_else(|| panic!("no credential for rp {rp_id:?} (NotAllowedError)"));

        credential.counter = credential.counter.wrapping_add(1);
        let auth_data = auth_data_prefix(&rp_id, FLAG_UP | FLAG_UV, credential.counter);
        let client_data = client_data_json("webauthn.get", &challenge, origin);
        let mut message = auth_data.clone();
        message.extend_from_slice(&Sha256::digest(&client_data));
        let signature: Signature = credential.key.sign(&message);

        let id = URL_SAFE_NO_PAD.encode(&credential.id);
        json!({
            "id": id,
            "rawId": id,
            "type": "public-key",
            "response": {
                "authenticatorData": URL_SAFE_NO_PAD.encode(&auth_data),
                "clientDataJSON": URL_SAFE_NO_PAD.encode(&client_data),
                "signature": URL_SAFE_NO_PAD.encode(signature.to_der().as_bytes()),
                "userHandle": URL_SAFE_NO_PAD.encode(&credential.user_handle),
            },
            "extensions": {},
        })
    }

    /// Sets the stored sign counter of every credential (to simulate a cloned authenticator).
    pub fn set_counter(&mut self, counter: u32) {
        for credential in &mut self.credentials {
            credential.counter = counter;
        }
    }

    /// How many credentials it holds.
    pub fn len(&self) -> usize {
        self.credentials.len()
    }

    /// Whether it holds no credentials.
    pub fn is_empty(&self) -> bool {
        self.credentials.is_empty()
    }

    /// The credentials it holds, oldest first.
    pub fn credentials(&self) -> &[Credential] {
        &self.credentials
    }

    /// Forgets every credential (a wiped authenticator).
    pub fn clear(&mut self) {
        self.credentials.clear();
    }
}

/// The options object itself, whether or not it is wrapped in `{"publicKey": ...}`.
fn inner(options: &Value) -> &Value {
    options.get("publicKey").unwrap_or(options)
}

/// Decodes base64url or standard base64, padded or not.
pub fn b64_decode(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD
        .decode(text)
        .or_else(|_| URL_SAFE.decode(text))
        .or_else(|_| STANDARD_NO_PAD.decode(text))
        .or_else(|_| STANDARD.decode(text))
        .unwrap_or_else(|e| panic!("not base64: {text:?}: {e}"))
}

/// The ids listed in `allowCredentials` / `excludeCredentials` (absent or null means none).
fn credential_ids(list: &Value) -> Vec<Vec<u8>> {
    list.as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|item| item["id"].as_str())
                .map(b64_decode)
                .collect()
        })
        .unwrap_or_default()
}

/// The host of an origin such as `http://localhost:8080`, the default rp id.
fn host_of(origin: &str) -> String {
    let rest = origin.split_once("://").map_or(origin, |(_, rest)| rest);
    let authority = rest.split('/').next().unwrap_or(rest);
    authority
        .rsplit_once(':')
        .map_or(authority, |(host, _)| host)
        .to_owned()
}

/// The clientDataJSON bytes a browser would produce.
pub fn client_data_json(kind: &str, challenge: &[u8], origin: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "type": kind,
        "challenge": URL_SAFE_NO_PAD.encode(challenge),
        "origin": origin,
        "crossOrigin": false,
    }))
    .unwrap()
}

/// rpIdHash | flags | signCount.
fn auth_data_prefix(rp_id: &str, flags: u8, counter: u32) -> Vec<u8> {
    let mut data = Sha256::digest(rp_id.as_bytes()).to_vec();
    data.push(flags);
    data.extend_from_slice(&counter.to_be_bytes());
    data
}

/// The COSE_Key encoding of an EC2 P-256 ES256 public key.
fn cose_key(key: &VerifyingKey) -> Vec<u8> {
    let point = key.to_encoded_point(false);
    cbor_bytes(&Cbor::Map(vec![
        (Cbor::Integer(1.into()), Cbor::Integer(2.into())),
        (Cbor::Integer(3.into()), Cbor::Integer((-7).into())),
        (Cbor::Integer((-1).into()), Cbor::Integer(1.into())),
        (
            Cbor::Integer((-2).into()),
            Cbor::Bytes(point.x().unwrap().to_vec()),
        ),
        (
            Cbor::Integer((-3).into()),
            Cbor::Bytes(point.y().unwrap().to_vec()),
        ),
    ]))
}

fn cbor_bytes(value: &Cbor) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::into_writer(value, &mut out).unwrap();
    out
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).unwrap();
    bytes
}

/// A fresh P-256 private key from the operating system's randomness.
fn random_key() -> SigningKey {
    loop {
        if let Ok(key) = SigningKey::from_bytes(&random_bytes::<32>().into()) {
            return key;
        }
    }
}

// ---- self-checks --------------------------------------------------------------------------------

#[cfg(test)]
fn creation_options(rp_id: &str, user_id: &[u8], challenge: &[u8]) -> Value {
    json!({"publicKey": {
        "rp": {"id": rp_id, "name": rp_id},
        "user": {"id": URL_SAFE_NO_PAD.encode(user_id), "name": "a@b.c", "displayName": "a@b.c"},
        "challenge": URL_SAFE_NO_PAD.encode(challenge),
        "pubKeyCredParams": [{"type": "public-key", "alg": -7}],
        "excludeCredentials": [],
        "authenticatorSelection": {"residentKey": "required", "userVerification": "required"},
    }})
}

#[cfg(test)]
fn cbor_get<'a>(map: &'a Cbor, key: &str) -> &'a Cbor {
    map.as_map()
        .unwrap()
        .iter()
        .find(|(k, _)| k.as_text() == Some(key))
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no {key:?} in {map:?}"))
}

#[test]
fn authenticator_attestation_object_is_none_format_with_attested_credential_data() {
    let mut authenticator = Authenticator::new();
    let credential = authenticator.register(
        &creation_options("localhost", b"user-1", b"challenge-1"),
        "http://localhost:8080",
    );
    assert_eq!(authenticator.len(), 1);
    assert_eq!(credential["type"], "public-key");
    assert_eq!(credential["id"], credential["rawId"]);

    let object = b64_decode(
        credential["response"]["attestationObject"]
            .as_str()
            .unwrap(),
    );
    let object: Cbor = ciborium::from_reader(object.as_slice()).unwrap();
    assert_eq!(cbor_get(&object, "fmt").as_text(), Some("none"));
    assert!(cbor_get(&object, "attStmt").as_map().unwrap().is_empty());
    let auth_data = cbor_get(&object, "authData").as_bytes().unwrap();
    assert_eq!(&auth_data[..32], Sha256::digest(b"localhost").as_slice());
    let flags = auth_data[32];
    assert_eq!(
        flags & (FLAG_UP | FLAG_UV | FLAG_AT),
        FLAG_UP | FLAG_UV | FLAG_AT
    );
    assert_eq!(&auth_data[33..37], &[0, 0, 0, 0]);
    assert_eq!(&auth_data[37..53], &[0u8; 16]);
    let id_len = usize::from(u16::from_be_bytes([auth_data[53], auth_data[54]]));
    assert!((16..=32).contains(&id_len));
    let id = &auth_data[55..55 + id_len];
    assert_eq!(
        id,
        b64_decode(credential["id"].as_str().unwrap()).as_slice()
    );
    let cose: Cbor = ciborium::from_reader(&auth_data[55 + id_len..]).unwrap();
    let cose = cose.as_map().unwrap();
    let keys: Vec<i128> = cose
        .iter()
        .map(|(k, _)| k.as_integer().unwrap().into())
        .collect();
    assert_eq!(keys, [1, 3, -1, -2, -3]);

    let client_data: Value = serde_json::from_slice(&b64_decode(
        credential["response"]["clientDataJSON"].as_str().unwrap(),
    ))
    .unwrap();
    assert_eq!(client_data["type"], "webauthn.create");
    assert_eq!(
        client_data["challenge"],
        URL_SAFE_NO_PAD.encode(b"challenge-1")
    );
    assert_eq!(client_data["origin"], "http://localhost:8080");
}

#[test]
fn authenticator_assertion_signature_verifies_and_counter_moves() {
    use p256::ecdsa::signature::Verifier as _;

    let mut authenticator = Authenticator::new();
    authenticator.register(
        &creation_options("localhost", b"user-2", b"challenge-2"),
        "http://localhost:8080",
    );
    let public = authenticator.credentials()[0].verifying_key();
    let request = |challenge: &[u8]| {
        // The inner object, no "publicKey" wrapper, padded standard base64 challenge.
        json!({"challenge": STANDARD.encode(challenge), "rpId": "localhost",
               "allowCredentials": [], "userVerification": "required"})
    };

    for expected in 1..=2u32 {
        let assertion = authenticator.assert(&request(b"get-challenge??"), "http://localhost:8080");
        let response = &assertion["response"];
        let auth_data = b64_decode(response["authenticatorData"].as_str().unwrap());
        let client_data = b64_decode(response["clientDataJSON"].as_str().unwrap());
        let signature =
            Signature::from_der(&b64_decode(response["signature"].as_str().unwrap())).unwrap();
        let mut message = auth_data.clone();
        message.extend_from_slice(&Sha256::digest(&client_data));
        public.verify(&message, &signature).unwrap();

        assert_eq!(&auth_data[..32], Sha256::digest(b"localhost").as_slice());
        assert_eq!(auth_data[32], FLAG_UP | FLAG_UV);
        assert_eq!(auth_data.len(), 37);
        assert_eq!(
            u32::from_be_bytes(auth_data[33..37].try_into().unwrap()),
            expected
        );
        assert_eq!(
            b64_decode(response["userHandle"].as_str().unwrap()),
            b"user-2"
        );
        let client_data: Value = serde_json::from_slice(&client_data).unwrap();
        assert_eq!(client_data["type"], "webauthn.get");
        assert_eq!(
            client_data["challenge"],
            URL_SAFE_NO_PAD.encode(b"get-challenge??")
        );
    }

    authenticator.set_counter(100);
    assert_eq!(authenticator.credentials()[0].counter, 100);
    let assertion = authenticator.assert(
        &json!({"publicKey": request(b"again")}),
        "http://localhost:8080",
    );
    let auth_data = b64_decode(assertion["response"]["authenticatorData"].as_str().unwrap());
    assert_eq!(&auth_data[33..37], &101u32.to_be_bytes());
}

#[test]
fn authenticator_honours_allow_credentials() {
    let mut authenticator = Authenticator::new();
    let first = authenticator.register(
        &creation_options("localhost", b"user-a", b"c1"),
        "http://localhost:8080",
    );
    authenticator.register(
        &creation_options("localhost", b"user-b", b"c2"),
        "http://localhost:8080",
    );
    assert_eq!(authenticator.len(), 2);
    let assertion = authenticator.assert(
        &json!({"publicKey": {"challenge": "AAAA", "rpId": "localhost",
            "allowCredentials": [{"type": "public-key", "id": first["id"]}]}}),
        "http://localhost:8080",
    );
    assert_eq!(assertion["id"], first["id"]);
    assert_eq!(
        b64_decode(assertion["response"]["userHandle"].as_str().unwrap()),
        b"user-a"
    );
}
