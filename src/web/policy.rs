//! The security policy of every HTML page and asset the server sends: the web front's pages and
//! assets, and the API reference page (`/api/docs`) with its assets. One constant, so that the
//! pages cannot drift apart.

/// The `Content-Security-Policy` of every page and asset: scripts, styles, images and `fetch`
/// only from this origin (so no inline script or style, no `data:` URL, no `eval`), no framing,
/// no `<base>` rewriting, forms posting only here.
pub const CSP: &str =
    "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";
