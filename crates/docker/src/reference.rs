//! Docker image references (`registry:5000/team/name:tag@sha256:…`) checked against the
//! grammar of the distribution project, so a bad `--tag` is refused before any build starts
//! instead of reaching docker (or a shell) as something else.

/// The longest name (registry and path) docker accepts.
const MAX_NAME: usize = 255;
/// The longest tag docker accepts.
const MAX_TAG: usize = 128;

/// Checks `reference` as `[registry[:port]/]path[:tag][@sha256:<64 hex>]`, with lowercase path
/// components. The error says what is wrong and shows a valid example.
pub fn validate(reference: &str) -> Result<(), String> {
    let fix = "write NAME:TAG such as release-gate/echo:v0.1.0 (lowercase letters, digits and . _ - in the name; letters, digits and . _ - in the tag)";
    let bad = |why: &str| {
        Err(format!(
            "`{reference}` is not an image reference: {why}; {fix}"
        ))
    };
    if reference.is_empty() {
        return bad("it is empty");
    }
    let (rest, digest) = match reference.split_once('@') {
        Some((rest, digest)) => (rest, Some(digest)),
        None => (reference, None),
    };
    if let Some(digest) = digest {
        let hex = digest.strip_prefix("sha256:").unwrap_or("");
        if hex.len() != 64
            || !hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return bad("the digest after @ must be sha256: and 64 lowercase hex characters");
        }
    }
    // A tag is what follows the last `:` after the last `/` (a `:` before it is a port).
    let last_slash = rest.rfind('/').map_or(0, |at| at + 1);
    let (name, tag) = match rest[last_slash..].rfind(':') {
        Some(at) => (&rest[..last_slash + at], Some(&rest[last_slash + at + 1..])),
        None => (rest, None),
    };
    if let Some(tag) = tag {
        let valid_start = tag
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_');
        let valid_rest = tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
        if !valid_start || !valid_rest || tag.len() > MAX_TAG {
            return bad(&format!(
                "the tag `{tag}` must start with a letter, digit or _ and hold at most {MAX_TAG} letters, digits, _ . -"
            ));
        }
    }
    if name.is_empty() {
        return bad("the name before the tag is empty");
    }
    if name.len() > MAX_NAME {
        return bad(&format!("the name is longer than {MAX_NAME} characters"));
    }
    let mut components: Vec<&str> = name.split('/').collect();
    // The first component is a registry when it looks like a host (a dot, a port or localhost).
    if components.len() > 1 && (components[0].contains(['.', ':']) || components[0] == "localhost")
    {
        let domain = components.remove(0);
        validate_domain(domain).or_else(|why| bad(&why))?;
    }
    for component in components {
        if !valid_path_component(component) {
            return bad(&format!(
                "`{component}` must be lowercase letters and digits, separated by one . or _, two _, or dashes"
            ));
        }
    }
    Ok(())
}

/// `host[:port]`: dot-separated labels of letters, digits and inner dashes.
fn validate_domain(domain: &str) -> Result<(), String> {
    let (host, port) = match domain.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (domain, None),
    };
    if let Some(port) = port
        && (port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(format!("the registry port `{port}` must be a number"));
    }
    let valid_label = |label: &str| {
        !label.is_empty()
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    if host.split('.').all(valid_label) {
        Ok(())
    } else {
        Err(format!("the registry `{host}` is not a host name"))
    }
}

/// `[a-z0-9]+` runs joined by `.`, `_`, `__` or any number of `-`.
fn valid_path_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut index = 0;
    while index < bytes.len() {
        if alnum(bytes[index]) {
            index += 1;
            continue;
        }
        let start = index;
        while index < bytes.len() && !alnum(bytes[index]) {
            index += 1;
        }
        let separator = &component[start..index];
        let valid = matches!(separator, "." | "_" | "__") || separator.bytes().all(|b| b == b'-');
        if !valid {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::validate;

    #[test]
    fn accepts_what_docker_accepts() {
        for good in [
            "echo",
            "release-gate/echo:v0.1.0",
            "release-gate/echo:test-123-0",
            "localhost:5000/a/b:latest",
            "cr.kgateway.dev/kgateway-dev/kgateway:v2.1.0",
            "gcr.io/k8s-staging-gateway-api/echo-basic:v20260204-monthly-2026.01-60-g28382302",
            "a__b/c-d--e.f:_x",
            "kindest/node:v1.37.0@sha256:a1ed56cfb0e7b93589bdf97c8cd566405a265939e3620fc4f5de89adff580ae5",
        ] {
            assert_eq!(validate(good), Ok(()), "{good}");
        }
    }

    #[test]
    fn refuses_shell_words_and_malformed_references() {
        for bad in [
            "",
            "v1;rm -rf",
            "release-gate/echo:v1;rm -rf /",
            "Release-Gate/echo:v1",
            "echo:",
            "echo:-x",
            "echo:v1 v2",
            ":v1",
            "a//b",
            "a/-b",
            "a/b.",
            "a/b@sha256:abc",
            "host:port/x:1",
            "$(id)",
            "echo:v1\n",
        ] {
            let error = validate(bad).expect_err(bad);
            assert!(error.contains("is not an image reference"), "{error}");
        }
    }
}
