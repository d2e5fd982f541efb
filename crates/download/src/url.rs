//! The little URL handling downloads need: origins (who may receive a token), the loopback
//! rule for plain `http://`, and resolving a redirect's `Location`.

use crate::DownloadError;

/// scheme, host and port: the unit a bearer token is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub scheme: String,
    pub host: String,
    pub port: u16,
}

impl Origin {
    /// Parses the origin of an absolute `http://` or `https://` URL.
    pub fn of(url: &str) -> Result<Origin, DownloadError> {
        let bad = |reason: &str| DownloadError::BadUrl {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| bad("not an absolute URL"))?;
        let scheme = scheme.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "https" => 443,
            "http" => 80,
            _ => return Err(bad("only http and https URLs can be downloaded")),
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        if authority.contains('@') {
            return Err(bad("credentials in URLs are not accepted"));
        }
        let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
            let (host, after) = bracketed
                .split_once(']')
                .ok_or_else(|| bad("unterminated IPv6 address"))?;
            (host.to_owned(), after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((host, port)) => (host.to_owned(), Some(port)),
                None => (authority.to_owned(), None),
            }
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let port = match port {
            Some(port) => port.parse().map_err(|_| bad("bad port"))?,
            None => default_port,
        };
        Ok(Origin {
            scheme,
            host: host.to_ascii_lowercase(),
            port,
        })
    }

    /// 127.0.0.0/8, ::1 and `localhost`: the only hosts plain http may reach.
    pub fn is_loopback(&self) -> bool {
        if self.host == "localhost" {
            return true;
        }
        match self.host.parse::<std::net::IpAddr>() {
            Ok(ip) => ip.is_loopback(),
            Err(_) => false,
        }
    }
}

/// Refuses plain http to anything but loopback: a release fetched in clear text proves nothing.
pub fn check_transport(url: &str) -> Result<Origin, DownloadError> {
    let origin = Origin::of(url)?;
    if origin.scheme == "http" && !origin.is_loopback() {
        return Err(DownloadError::InsecureUrl {
            url: url.to_owned(),
        });
    }
    Ok(origin)
}

/// Resolves a redirect's `Location` against the URL that answered it.
pub fn resolve(base: &str, location: &str) -> String {
    if location.contains("://") {
        return location.to_owned();
    }
    let (scheme, rest) = base.split_once("://").unwrap_or(("https", base));
    if let Some(authority_relative) = location.strip_prefix("//") {
        return format!("{scheme}://{authority_relative}");
    }
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    if location.starts_with('/') {
        return format!("{scheme}://{authority}{location}");
    }
    let path = rest[authority_end..].split(['?', '#']).next().unwrap_or("");
    let directory = match path.rfind('/') {
        Some(slash) => &path[..=slash],
        None => "/",
    };
    format!("{scheme}://{authority}{directory}{location}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_compare_scheme_host_and_port() {
        let api = Origin::of("https://api.github.com/repos/a/b").unwrap();
        assert_eq!(api.port, 443);
        assert_ne!(api, Origin::of("https://github.com/a/b").unwrap());
        assert_ne!(api, Origin::of("http://api.github.com/").unwrap());
        let local = Origin::of("http://127.0.0.1:8080/x").unwrap();
        assert_eq!(local.port, 8080);
        assert!(local.is_loopback());
        assert!(Origin::of("http://[::1]:9/").unwrap().is_loopback());
        assert!(Origin::of("https://user:pw@example.com/").is_err());
        assert!(Origin::of("ftp://example.com/").is_err());
    }

    #[test]
    fn plain_http_only_to_loopback() {
        assert!(check_transport("http://127.0.0.2:1/a").is_ok());
        assert!(check_transport("http://localhost/a").is_ok());
        assert!(matches!(
            check_transport("http://example.com/a"),
            Err(DownloadError::InsecureUrl { .. })
        ));
        assert!(check_transport("https://example.com/a").is_ok());
    }

    #[test]
    fn resolves_locations() {
        let base = "https://github.com/o/r/releases/download/v1/a.tgz?x=1";
        assert_eq!(
            resolve(base, "https://objects.example/b"),
            "https://objects.example/b"
        );
        assert_eq!(resolve(base, "//cdn.example/c"), "https://cdn.example/c");
        assert_eq!(resolve(base, "/d"), "https://github.com/d");
        assert_eq!(
            resolve(base, "e.tgz"),
            "https://github.com/o/r/releases/download/v1/e.tgz"
        );
    }
}
