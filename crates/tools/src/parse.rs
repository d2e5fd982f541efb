//! Reading versions from what the tools really print. Each parser takes stdout only: kubectl
//! writes its version-skew warning to stderr, and merging the two would corrupt the JSON.

use pins::Version;
use serde::Deserialize;

/// `kind version` prints `kind v0.30.0 go1.24.6 linux/amd64`.
pub fn kind_version(stdout: &str) -> Result<Version, String> {
    let line = stdout
        .lines()
        .find(|line| !line.trim().is_empty())
        .unwrap_or("");
    let mut words = line.split_whitespace();
    match (words.next(), words.next()) {
        (Some("kind"), Some(version)) => Version::parse_lenient(version).ok_or_else(|| {
            format!("`kind version` printed `{line}`: `{version}` is not a version")
        }),
        _ => Err(format!(
            "`kind version` printed `{}`, expected `kind vX.Y.Z go… os/arch`",
            stdout.trim()
        )),
    }
}

#[derive(Deserialize)]
struct KubectlVersion {
    #[serde(rename = "clientVersion")]
    client_version: KubectlClient,
}

#[derive(Deserialize)]
struct KubectlServer {
    #[serde(rename = "serverVersion")]
    server_version: Option<KubectlClient>,
}

#[derive(Deserialize)]
struct KubectlClient {
    #[serde(rename = "gitVersion")]
    git_version: String,
}

/// `kubectl version --client -o json`: `clientVersion.gitVersion` (`v1.32.4-dispatcher`).
pub fn kubectl_version(stdout: &str) -> Result<Version, String> {
    let parsed: KubectlVersion = serde_json::from_str(stdout.trim()).map_err(|error| {
        format!(
            "`kubectl version --client -o json` did not print the expected JSON ({error}); it printed: {}",
            first_line(stdout)
        )
    })?;
    let git_version = parsed.client_version.git_version;
    Version::parse_lenient(&git_version)
        .ok_or_else(|| format!("kubectl clientVersion.gitVersion `{git_version}` is not a version"))
}

/// `kubectl version -o json` against a cluster: `serverVersion.gitVersion` (`v1.31.4`,
/// `v1.30.2-eks-1552ad0`). A server kubectl could not reach leaves `serverVersion` out (kubectl
/// then exits 1 and says why on stderr, which `stderr` passes in for the error).
pub fn kubectl_server_version(stdout: &str, stderr: &str) -> Result<Version, String> {
    let why = || match stderr.lines().rev().find(|line| !line.trim().is_empty()) {
        Some(line) => format!("kubectl said: {}", line.trim()),
        None => format!("it printed: {}", first_line(stdout)),
    };
    let parsed: KubectlServer = serde_json::from_str(stdout.trim()).map_err(|error| {
        format!(
            "`kubectl version -o json` did not print the expected JSON ({error}); {}",
            why()
        )
    })?;
    let Some(server) = parsed.server_version else {
        return Err(format!("the API server did not answer; {}", why()));
    };
    Version::parse_lenient(&server.git_version).ok_or_else(|| {
        format!(
            "serverVersion.gitVersion `{}` is not a version",
            server.git_version
        )
    })
}

/// `helm version --template '{{.Version}}'` prints just the version (`v3.19.0`), no newline.
pub fn helm_version(stdout: &str) -> Result<Version, String> {
    let text = stdout.trim();
    if text.contains(char::is_whitespace) || text.is_empty() {
        return Err(format!(
            "`helm version --template {{{{.Version}}}}` printed `{}`, expected one version like v3.19.0",
            first_line(stdout)
        ));
    }
    Version::parse_lenient(text).ok_or_else(|| format!("helm printed `{text}`, not a version"))
}

/// What `docker version --format '{{json .}}'` says about the client and the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerVersions {
    pub client: Version,
    /// None when the engine cannot be reached (the CLI still prints the client part).
    pub server: Option<Version>,
}

pub fn docker_versions(stdout: &str) -> Result<DockerVersions, String> {
    let info = docker::parse_version(stdout)?;
    let client = Version::parse_lenient(&info.client.version).ok_or_else(|| {
        format!(
            "docker client version `{}` is not a version",
            info.client.version
        )
    })?;
    let server = match info.server {
        Some(server) => Some(Version::parse_lenient(&server.version).ok_or_else(|| {
            format!(
                "docker engine version `{}` is not a version",
                server.version
            )
        })?),
        None => None,
    };
    Ok(DockerVersions { client, server })
}

fn first_line(text: &str) -> &str {
    text.lines()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .unwrap_or("(nothing)")
}

#[cfg(test)]
mod tests {
    use super::*;

    // Recorded from the real tools (kind and helm cannot be installed on the CI machines).
    const KIND_0_30: &str = "kind v0.30.0 go1.24.6 linux/amd64\n";
    const KIND_PRERELEASE: &str = "kind v0.31.0-alpha+6d2ab5ba2b5e90 go1.25.1 darwin/arm64\n";
    const HELM_3: &str = "v3.19.0";
    const HELM_4: &str = "v4.3.0";

    #[test]
    fn kind_output() {
        assert_eq!(kind_version(KIND_0_30).unwrap().to_string(), "v0.30.0");
        let pre = kind_version(KIND_PRERELEASE).unwrap();
        assert_eq!(pre.pre.as_deref(), Some("alpha"));
        assert!(kind_version("").is_err());
        assert!(kind_version("kind: command not found").is_err());
        assert!(kind_version("minikube v1.2.3").is_err());
    }

    #[test]
    fn helm_output() {
        assert_eq!(helm_version(HELM_3).unwrap().to_string(), "v3.19.0");
        assert_eq!(helm_version(HELM_4).unwrap().to_string(), "v4.3.0");
        // `helm version` without the template prints a Go struct; that is not what we asked for.
        let error =
            helm_version(r#"version.BuildInfo{Version:"v3.19.0", GitCommit:"x"}"#).unwrap_err();
        assert!(error.contains("expected one version"), "{error}");
        assert!(helm_version("").is_err());
    }

    #[test]
    fn kubectl_output_is_json_only() {
        let json = r#"{"clientVersion":{"major":"1","minor":"37","gitVersion":"v1.37.1"},"kustomizeVersion":"v5.7.1"}"#;
        assert_eq!(kubectl_version(json).unwrap().to_string(), "v1.37.1");
        let with_warning = format!("WARNING: version difference between client and server\n{json}");
        assert!(kubectl_version(&with_warning).is_err());
    }

    // Recorded from the real kubectl v1.32.4 against a kubeconfig whose server refuses
    // connections (exit 1): the client half on stdout, the reason on stderr.
    const KUBECTL_UNREACHABLE: &str = r#"{
  "clientVersion": {
    "major": "1",
    "minor": "32+",
    "gitVersion": "v1.32.4-dispatcher",
    "platform": "linux/amd64"
  },
  "kustomizeVersion": "v5.5.0"
}"#;

    #[test]
    fn the_server_version_comes_from_server_version_and_its_absence_says_why() {
        let reachable = r#"{"clientVersion":{"major":"1","minor":"37","gitVersion":"v1.37.1"},"kustomizeVersion":"v5.7.1","serverVersion":{"major":"1","minor":"30","gitVersion":"v1.30.2-eks-1552ad0","platform":"linux/amd64"}}"#;
        let server = kubectl_server_version(reachable, "").unwrap();
        assert_eq!((server.major, server.minor), (1, 30));
        let refused = "The connection to the server 127.0.0.1:1 was refused - did you specify the right host or port?\n";
        let error = kubectl_server_version(KUBECTL_UNREACHABLE, refused).unwrap_err();
        assert!(error.contains("did not answer"), "{error}");
        assert!(error.contains("127.0.0.1:1 was refused"), "{error}");
        let error = kubectl_server_version("error: no context", "").unwrap_err();
        assert!(error.contains("expected JSON"), "{error}");
    }

    #[test]
    fn docker_without_engine() {
        let down = r#"{"Client":{"Version":"28.2.2","ApiVersion":"1.50"},"Server":null}"#;
        let versions = docker_versions(down).unwrap();
        assert_eq!(versions.client.to_string(), "28.2.2");
        assert_eq!(versions.server, None);
        let up = r#"{"Client":{"Version":"28.2.2"},"Server":{"Version":"20.10.24+dfsg1"}}"#;
        assert_eq!(
            docker_versions(up).unwrap().server.unwrap().to_string(),
            "20.10.24"
        );
    }
}
