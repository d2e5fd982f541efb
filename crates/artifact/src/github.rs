//! The GitHub releases API: `OWNER/NAME` checking, and resolving a tag (or `latest`) to the
//! release JSON with its assets. Only the fields we use are modelled.

use serde::Deserialize;

use crate::ArtifactError;

/// `OWNER/NAME`, checked against GitHub's rules for both parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repo {
    pub owner: String,
    pub name: String,
}

impl Repo {
    pub fn parse(text: &str) -> Result<Repo, ArtifactError> {
        let bad = |why: &str| ArtifactError::BadRepo {
            repo: text.to_owned(),
            why: why.to_owned(),
        };
        let (owner, name) = text.split_once('/').ok_or_else(|| bad("it has no '/'"))?;
        let allowed = |part: &str| {
            !part.is_empty()
                && part.len() <= 100
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
                && part != "."
                && part != ".."
        };
        if !allowed(owner) || !allowed(name) {
            return Err(bad(
                "each part may only hold letters, digits, '-', '_' and '.'",
            ));
        }
        Ok(Repo {
            owner: owner.to_owned(),
            name: name.to_owned(),
        })
    }
}

impl std::fmt::Display for Repo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)
    }
}

/// A release as `GET /repos/{owner}/{repo}/releases/...` returns it.
#[derive(Debug, Clone, Deserialize)]
pub struct Release {
    pub tag_name: String,
    #[serde(default)]
    pub draft: bool,
    #[serde(default)]
    pub prerelease: bool,
    #[serde(default)]
    pub html_url: String,
    #[serde(default)]
    pub assets: Vec<Asset>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Asset {
    pub name: String,
    pub size: u64,
    pub browser_download_url: String,
    /// The API's endpoint for this asset (`…/releases/assets/{id}`); with
    /// `Accept: application/octet-stream` it redirects to the file.
    #[serde(default)]
    pub url: Option<String>,
    /// `sha256:<hex>`, computed by GitHub at upload (assets uploaded since mid-2025).
    #[serde(default)]
    pub digest: Option<String>,
}

impl Asset {
    /// The hex sha256 from GitHub's `digest`, when it is a sha256.
    pub fn github_sha256(&self) -> Option<String> {
        let hex = self.digest.as_deref()?.strip_prefix("sha256:")?;
        let hex = hex.to_ascii_lowercase();
        download::is_sha256_hex(&hex).then_some(hex)
    }
}

/// A tag usable in a URL path and a file name: the one rule for release tags
/// (`config::install::validate_release_tag`), which refuses `/`, `..`, whitespace and control
/// characters among others.
pub fn check_tag(tag: &str) -> Result<(), ArtifactError> {
    config::install::validate_release_tag(tag).map_err(|why| ArtifactError::BadTag {
        tag: tag.to_owned(),
        why,
    })
}

/// The API URL for a tag, or for the latest release when `tag` is `latest`.
pub fn release_url(api_base: &str, repo: &Repo, tag: &str) -> String {
    let base = api_base.trim_end_matches('/');
    if tag == "latest" {
        format!("{base}/repos/{repo}/releases/latest")
    } else {
        format!("{base}/repos/{repo}/releases/tags/{tag}")
    }
}

/// Fetches and checks the release: a missing release, a draft, or an answer that is not a
/// release are errors, never an empty download.
pub fn resolve(
    client: &download::Client,
    api_base: &str,
    token: Option<&str>,
    repo: &Repo,
    tag: &str,
) -> Result<Release, ArtifactError> {
    if tag != "latest" {
        check_tag(tag)?;
    }
    let url = release_url(api_base, repo, tag);
    let bearer =
        match token {
            Some(token) => Some(download::Bearer::new(token, api_base).map_err(|error| {
                ArtifactError::Api {
                    url: url.clone(),
                    error,
                }
            })?),
            None => None,
        };
    let request = download::Request::new(&url)
        .bearer(bearer)
        .header("Accept", "application/vnd.github+json")
        .header("X-GitHub-Api-Version", "2022-11-28");
    let page = client
        .get(&request, &mut |_| {})
        .map_err(|error| match error {
            download::DownloadError::Http { status: 404, .. } => ArtifactError::ReleaseNotFound {
                repo: repo.to_string(),
                tag: tag.to_owned(),
            },
            download::DownloadError::RateLimited { .. } => ArtifactError::RateLimited {
                error,
                token_set: token.is_some(),
            },
            error => ArtifactError::Api {
                url: url.clone(),
                error,
            },
        })?;
    let release: Release =
        serde_json::from_slice(&page.body).map_err(|error| ArtifactError::BadReleaseJson {
            url: url.clone(),
            why: error.to_string(),
        })?;
    if release.draft {
        return Err(ArtifactError::Draft {
            repo: repo.to_string(),
            tag: release.tag_name,
        });
    }
    if tag != "latest" && release.tag_name != tag {
        return Err(ArtifactError::BadReleaseJson {
            url,
            why: format!("asked for tag {tag} but got {}", release.tag_name),
        });
    }
    Ok(release)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_parsing() {
        assert_eq!(
            Repo::parse("kgateway-dev/kgateway").unwrap().to_string(),
            "kgateway-dev/kgateway"
        );
        for bad in ["kgateway", "a/b/c", "/b", "a/", "a b/c", "../x", "a/.."] {
            assert!(Repo::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tags() {
        for good in ["v1.2.3", "v2.1.0-rc.1", "1.0+build"] {
            check_tag(good).unwrap();
        }
        for bad in ["", "v1 2", "../v1", "a/b", "-x", "v1..2", "v1?x"] {
            assert!(check_tag(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn urls() {
        let repo = Repo::parse("o/r").unwrap();
        assert_eq!(
            release_url("https://api.github.com/", &repo, "latest"),
            "https://api.github.com/repos/o/r/releases/latest"
        );
        assert_eq!(
            release_url("http://127.0.0.1:9", &repo, "v1"),
            "http://127.0.0.1:9/repos/o/r/releases/tags/v1"
        );
    }

    #[test]
    fn github_digest() {
        let asset: Asset = serde_json::from_str(
            r#"{"name":"a","size":1,"browser_download_url":"https://x/a","digest":"sha256:ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789"}"#,
        )
        .unwrap();
        assert_eq!(
            asset.github_sha256().unwrap(),
            "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789"
        );
    }
}
