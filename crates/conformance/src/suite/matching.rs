//! Whether a response meets a case's expectation, and if not, what happened instead.

use crate::cases::Expect;
use crate::client::{Request, Response};
use crate::fixture;

pub(super) fn attributed_pod(response: &Response) -> Option<String> {
    if response.status != 200 {
        return None;
    }
    response.echo().map(|body| body.pod)
}

/// Whether a response meets an expectation, and if not, what happened instead.
pub fn check(request: &Request, response: &Response, expect: &Expect) -> Result<(), String> {
    let answered = match response.echo() {
        Some(body) => format!(
            "{} from {} (pod {})",
            response.status,
            fixture::backend_of(&body.pod).unwrap_or("an unknown backend"),
            body.pod
        ),
        None => match response.header("Location") {
            Some(location) => format!("{} with Location {location}", response.status),
            None => format!("{} without an echo body", response.status),
        },
    };
    let from_backend = |backend: &str| {
        attributed_pod(response).is_some_and(|pod| fixture::backend_of(&pod) == Some(backend))
    };
    let ok = match expect {
        Expect::Backend(backend) => from_backend(backend),
        Expect::Status(status) => response.status == *status,
        Expect::EchoHeaders(backend, headers) => {
            if !from_backend(backend) {
                false
            } else {
                let body = response
                    .echo()
                    .expect("attributed responses have an echo body");
                for (name, want) in headers {
                    let seen = echoed_header(&body, name);
                    if seen.as_deref() != *want {
                        return Err(format!(
                            "{} reached {backend}, which saw {}, want {}",
                            request.describe(),
                            seen.map_or(format!("no {name} header"), |value| format!(
                                "{name}: {value}"
                            )),
                            want.map_or(format!("no {name} header"), |value| format!(
                                "{name}: {value}"
                            ))
                        ));
                    }
                }
                true
            }
        }
        Expect::Redirect(status, host) => {
            response.status == *status
                && response
                    .header("Location")
                    .and_then(location_host_and_path)
                    .is_some_and(|(location_host, path)| {
                        location_host.eq_ignore_ascii_case(host) && path == request.target
                    })
        }
    };
    if ok {
        return Ok(());
    }
    let want = match expect {
        Expect::Backend(backend) | Expect::EchoHeaders(backend, _) => {
            format!("200 from {backend}")
        }
        Expect::Status(status) => status.to_string(),
        Expect::Redirect(status, host) => format!(
            "{status} with Location http://{host}{} (any port)",
            request.target
        ),
    };
    Err(format!(
        "{} answered {answered}, want {want}",
        request.describe()
    ))
}

/// The values an echo replica saw for one request header, joined with `,` (one header sent
/// twice and one header with two comma-separated values read the same), or None.
fn echoed_header(body: &echo::EchoBody, name: &str) -> Option<String> {
    body.headers
        .iter()
        .find(|(known, _)| known.eq_ignore_ascii_case(name))
        .map(|(_, values)| values.join(","))
}

/// `http://host:port/path?q` → (`host`, `/path?q`); a relative Location has no host.
pub(super) fn location_host_and_path(location: &str) -> Option<(&str, &str)> {
    let rest = location
        .strip_prefix("http://")
        .or_else(|| location.strip_prefix("https://"))?;
    let (authority, path) = match rest.find('/') {
        Some(slash) => (&rest[..slash], &rest[slash..]),
        None => (rest, "/"),
    };
    let host = authority
        .rsplit_once(':')
        .filter(|(_, port)| port.bytes().all(|byte| byte.is_ascii_digit()))
        .map_or(authority, |(host, _)| host);
    Some((host, path))
}
