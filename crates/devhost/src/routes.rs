//! Spin's HTTP route syntax: exact paths, `:name` segments and a trailing
//! `/...` wildcard. The most specific route wins: an exact route beats a
//! parameterised one, which beats a wildcard; among wildcards the longest
//! prefix wins.

use anyhow::bail;

/// One route of the router, bound to the component that serves it.
#[derive(Debug, Clone)]
pub struct Route {
    /// The route exactly as written in the manifest, e.g. `/api/...`.
    pub raw: String,
    pub component: String,
    segments: Vec<Segment>,
    wildcard: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Literal(String),
    Param(String),
}

/// The outcome of routing one path.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteMatch<'a> {
    pub component: &'a str,
    /// The route as written (`spin-raw-component-route`, `spin-matched-route`).
    pub raw_route: &'a str,
    /// The route without its trailing wildcard (`spin-component-route`).
    pub component_route: String,
    /// What the wildcard matched, with a leading `/`, or empty (`spin-path-info`).
    pub path_info: String,
    /// Named segments, for `spin-path-match-<name>` headers.
    pub params: Vec<(String, String)>,
}

/// All HTTP routes of an application.
#[derive(Debug, Clone, Default)]
pub struct Router {
    // Invariant: sorted most specific first, so the first match wins.
    routes: Vec<Route>,
}

impl Router {
    /// Builds a router from `(route, component)` pairs. Fails on a malformed
    /// or duplicated route.
    pub fn build<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> anyhow::Result<Self> {
        let mut routes = Vec::new();
        for (raw, component) in pairs {
            let route = parse(raw, component)?;
            if routes
                .iter()
                .any(|r: &Route| r.segments == route.segments && r.wildcard == route.wildcard)
            {
                bail!("duplicate route {raw:?}");
            }
            routes.push(route);
        }
        routes.sort_by_key(|route| std::cmp::Reverse(specificity(route)));
        Ok(Self { routes })
    }

    /// Finds the route serving `path` (no query string).
    pub fn route(&self, path: &str) -> Option<RouteMatch<'_>> {
        let parts: Vec<&str> = split(path);
        self.routes.iter().find_map(|route| matches(route, &parts))
    }
}

fn parse(raw: &str, component: &str) -> anyhow::Result<Route> {
    if !raw.starts_with('/') {
        bail!("route {raw:?} must start with '/'");
    }
    let (body, wildcard) = match raw.strip_suffix("/...") {
        Some(prefix) => (prefix, true),
        None if raw == "/..." => ("", true),
        None => (raw, false),
    };
    let mut segments = Vec::new();
    for part in split(body) {
        if part == "..." {
            bail!("route {raw:?}: '...' is only allowed at the end");
        }
        segments.push(match part.strip_prefix(':') {
            Some("") => bail!("route {raw:?}: empty parameter name"),
            Some(name) => Segment::Param(name.to_owned()),
            None => Segment::Literal(part.to_owned()),
        });
    }
    Ok(Route {
        raw: raw.to_owned(),
        component: component.to_owned(),
        segments,
        wildcard,
    })
}

/// Higher is more specific: exact routes first, then by literal segments.
fn specificity(route: &Route) -> (bool, usize, usize) {
    let literals = route
        .segments
        .iter()
        .filter(|s| matches!(s, Segment::Literal(_)))
        .count();
    (!route.wildcard, route.segments.len(), literals)
}

fn split(path: &str) -> Vec<&str> {
    path.split('/').filter(|part| !part.is_empty()).collect()
}

fn matches<'a>(route: &'a Route, parts: &[&str]) -> Option<RouteMatch<'a>> {
    if parts.len() < route.segments.len() || (!route.wildcard && parts.len() != route.segments.len()) {
        return None;
    }
    let mut params = Vec::new();
    for (segment, part) in route.segments.iter().zip(parts) {
        match segment {
            Segment::Literal(literal) if literal == part => {}
            Segment::Literal(_) => return None,
            Segment::Param(name) => params.push((name.clone(), (*part).to_owned())),
        }
    }
    let rest = &parts[route.segments.len()..];
    let path_info = if rest.is_empty() {
        String::new()
    } else {
        format!("/{}", rest.join("/"))
    };
    let component_route = route
        .raw
        .strip_suffix("/...")
        .map(str::to_owned)
        .unwrap_or_else(|| route.raw.clone());
    Some(RouteMatch {
        component: &route.component,
        raw_route: &route.raw,
        component_route,
        path_info,
        params,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router() -> Router {
        Router::build([
            ("/health", "health"),
            ("/api/...", "api"),
            ("/api/special", "special"),
            ("/api/users/:id", "user"),
            ("/api/users/:id/...", "user-tree"),
            ("/...", "fallback"),
        ])
        .unwrap()
    }

    fn check(path: &str, component: &str, path_info: &str, component_route: &str) {
        let router = router();
        let found = router.route(path).unwrap_or_else(|| panic!("{path} did not route"));
        assert_eq!(found.component, component, "{path}");
        assert_eq!(found.path_info, path_info, "{path}");
        assert_eq!(found.component_route, component_route, "{path}");
    }

    #[test]
    fn most_specific_route_wins() {
        check("/health", "health", "", "/health");
        check("/api", "api", "", "/api");
        check("/api/other/x", "api", "/other/x", "/api");
        check("/api/special", "special", "", "/api/special");
        check("/api/users/42", "user", "", "/api/users/:id");
        check("/api/users/42/photos", "user-tree", "/photos", "/api/users/:id");
        check("/healthz", "fallback", "/healthz", "");
        check("/", "fallback", "", "");
    }

    #[test]
    fn named_segments_are_captured() {
        let router = router();
        let found = router.route("/api/users/42").unwrap();
        assert_eq!(found.params, vec![("id".to_owned(), "42".to_owned())]);
    }

    #[test]
    fn no_route_without_fallback() {
        let router = Router::build([("/health", "h"), ("/a/...", "a")]).unwrap();
        assert!(router.route("/nope").is_none());
        assert!(router.route("/health/x").is_none());
        assert!(router.route("/ab").is_none());
    }

    #[test]
    fn rejects_bad_routes() {
        assert!(Router::build([("health", "h")]).is_err());
        assert!(Router::build([("/a/.../b", "h")]).is_err());
        assert!(Router::build([("/a", "h"), ("/a", "i")]).is_err());
    }
}
