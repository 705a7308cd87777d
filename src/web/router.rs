//! Routing a request's path to the process that handles it: a small, documented subset of Go's
//! `http.ServeMux` patterns (which Ergo's Web meta uses). Pure data; no I/O.

use super::{WebRequest, WebResponse};
use crate::message::To;
use std::collections::HashMap;

/// Why a route was refused by [`Router::handle`] (Go's `ServeMux` panics instead).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RouterError {
    /// The pattern does not start with `/`.
    #[error("pattern {0:?} does not start with '/'")]
    BadPattern(String),
    /// The pattern is already routed.
    #[error("pattern {0:?} is already routed")]
    Duplicate(String),
}

/// Maps request paths to handler processes, as Go's `ServeMux` does for paths:
///
/// - a pattern ending in `/` (`/static/`, and `/` itself) matches every path under it;
/// - any other pattern (`/health`) matches that path only;
/// - `/{$}` matches `/` only (Go 1.22's spelling), and `/a/{$}` matches `/a/` only;
/// - an exact pattern wins over every subtree, and the longest matching subtree over shorter ones;
/// - nothing matches: [`dispatch`](Self::dispatch) answers 404.
///
/// Not supported (D136): methods and hosts in patterns, `{name}` wildcards, the redirect of
/// `/dir` to `/dir/`, and path cleaning: the path is matched as sent, and a path with a `.` or
/// `..` segment or an empty segment matches nothing (404), so a subtree route cannot be escaped.
///
/// # Examples
/// ```
/// use ergors::web::{Router, WebRequest};
/// use ergors::To;
///
/// let mut router = Router::new();
/// router.handle("/", "site")?.handle("/api/", "api")?.handle("/api/health", "health")?;
/// let to = |path: &str| router.lookup(path).cloned();
/// assert_eq!(to("/api/health"), Some(To::from("health")));
/// assert_eq!(to("/api/users/7"), Some(To::from("api")));
/// assert_eq!(to("/about"), Some(To::from("site")));
/// assert_eq!(router.dispatch(&WebRequest::new("GET", "/api/../x")).unwrap_err().status, 404);
/// # Ok::<(), ergors::web::RouterError>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct Router {
    exact: HashMap<String, To>,
    /// Subtree patterns, longest first.
    prefixes: Vec<(String, To)>,
}

impl Router {
    /// An empty router (every path is 404).
    pub fn new() -> Self {
        Self::default()
    }

    /// Routes `pattern` (see the type's rules) to `to`.
    ///
    /// # Errors
    /// [`RouterError::BadPattern`] when it does not start with `/`, [`RouterError::Duplicate`]
    /// when it is routed already.
    pub fn handle(&mut self, pattern: &str, to: impl Into<To>) -> Result<&mut Self, RouterError> {
        if !pattern.starts_with('/') {
            return Err(RouterError::BadPattern(pattern.to_owned()));
        }
        let to = to.into();
        if let Some(exact) = pattern.strip_suffix("{$}") {
            return self.insert_exact(pattern, exact, to);
        }
        if pattern.ends_with('/') {
            if self.prefixes.iter().any(|(p, _)| p == pattern) {
                return Err(RouterError::Duplicate(pattern.to_owned()));
            }
            let at = self.prefixes.partition_point(|(p, _)| p.len() >= pattern.len());
            self.prefixes.insert(at, (pattern.to_owned(), to));
            return Ok(self);
        }
        self.insert_exact(pattern, pattern, to)
    }

    fn insert_exact(&mut self, pattern: &str, path: &str, to: To) -> Result<&mut Self, RouterError> {
        if self.exact.contains_key(path) {
            return Err(RouterError::Duplicate(pattern.to_owned()));
        }
        self.exact.insert(path.to_owned(), to);
        Ok(self)
    }

    /// The handler for `path`, if a pattern matches it.
    pub fn lookup(&self, path: &str) -> Option<&To> {
        let unclean = path.split('/').skip(1).enumerate().any(|(i, seg)| {
            // An empty last segment is a trailing slash, which is fine.
            seg == "." || seg == ".." || (seg.is_empty() && i + 1 < path.split('/').skip(1).count())
        });
        if !path.starts_with('/') || unclean {
            return None;
        }
        if let Some(to) = self.exact.get(path) {
            return Some(to);
        }
        self.prefixes.iter().find(|(p, _)| path.starts_with(p.as_str())).map(|(_, to)| to)
    }

    /// The handler for `request`, or the 404 response to send when nothing matches.
    ///
    /// # Errors
    /// The 404 [`WebResponse`] when no pattern matches the request's path.
    pub fn dispatch(&self, request: &WebRequest) -> Result<&To, WebResponse> {
        self.lookup(&request.path).ok_or_else(|| WebResponse::text(404, "404 page not found"))
    }
}
