//! What a store can fail with: [`StoreError`], which keeps the error that caused it.

use std::error::Error;
use std::fmt;

/// The error beneath a [`StoreError`]: a driver's error, or a plain message where there is
/// none (`"...".into()`).
pub type Cause = Box<dyn Error + Send + Sync>;

/// What a store can fail with.
///
/// `Unavailable` and `Other` keep the error that caused them as their
/// [`source`](Error::source). Their `Display` spells out that cause and the causes beneath it on
/// one line as well, since logs and the command line print errors with `Display`.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was broken (an email already registered).
    #[error("conflict")]
    Conflict,
    /// The store cannot be reached or is busy; worth retrying.
    #[error("unavailable: {}", chain(.0))]
    Unavailable(#[source] Cause),
    /// Anything else.
    #[error("{}", chain(.0))]
    Other(#[source] Cause),
}

impl StoreError {
    /// [`Unavailable`](Self::Unavailable), caused by `cause` (an error, or a message).
    pub fn unavailable(cause: impl Into<Cause>) -> Self {
        Self::Unavailable(cause.into())
    }

    /// [`Other`](Self::Other), caused by `cause` (an error, or a message).
    pub fn other(cause: impl Into<Cause>) -> Self {
        Self::Other(cause.into())
    }

    /// [`Unavailable`](Self::Unavailable): `what` failed because of `source`, which stays
    /// reachable as the cause's own source.
    pub fn unavailable_because(what: impl Into<String>, source: impl Into<Cause>) -> Self {
        Self::Unavailable(Box::new(Context::new(what, source)))
    }

    /// [`Other`](Self::Other): `what` failed because of `source`, which stays reachable as the
    /// cause's own source.
    pub fn other_because(what: impl Into<String>, source: impl Into<Cause>) -> Self {
        Self::Other(Box::new(Context::new(what, source)))
    }
}

/// A message saying what failed, over the error that made it fail.
#[derive(Debug)]
struct Context {
    what: String,
    source: Cause,
}

impl Context {
    fn new(what: impl Into<String>, source: impl Into<Cause>) -> Self {
        Self {
            what: what.into(),
            source: source.into(),
        }
    }
}

impl fmt::Display for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.what)
    }
}

impl Error for Context {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&*self.source)
    }
}

/// Shows `cause` followed by each of its sources, separated by `": "` (the way drivers such as
/// tokio-postgres put the server's message in a source). A source whose message already ends
/// the text, as with errors that print their source themselves, is not repeated.
fn chain(cause: &Cause) -> Chain<'_> {
    Chain(&**cause)
}

/// The [`Display`](fmt::Display) of an error and its sources; see [`chain`].
struct Chain<'a>(&'a (dyn Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = self.0.to_string();
        let mut next = self.0.source();
        while let Some(e) = next {
            let message = e.to_string();
            if !text.ends_with(&message) {
                text.push_str(": ");
                text.push_str(&message);
            }
            next = e.source();
        }
        f.write_str(&text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_names_the_cause_and_what_lies_beneath_it() {
        let io = std::io::Error::other("connection refused");
        let e = StoreError::unavailable_because("cannot connect to PostgreSQL", io);
        assert_eq!(
            e.to_string(),
            "unavailable: cannot connect to PostgreSQL: connection refused"
        );
        let cause = e.source().map(ToString::to_string);
        assert_eq!(cause.as_deref(), Some("cannot connect to PostgreSQL"));
        let beneath = e.source().and_then(Error::source).map(ToString::to_string);
        assert_eq!(beneath.as_deref(), Some("connection refused"));
        assert_eq!(
            StoreError::other("negative count -1").to_string(),
            "negative count -1"
        );
    }

    #[test]
    fn a_source_that_its_error_already_prints_is_not_repeated() {
        let inner = std::io::Error::other("disk full");
        let e = StoreError::other_because("write failed: disk full", inner);
        assert_eq!(e.to_string(), "write failed: disk full");
    }
}
