//! docker: the docker CLI's invocations as [`exec::Cmd`] values, and typed parsers for the
//! JSON it prints (`docker version`, `docker image inspect`).
//!
//! Builders here only build: they never run anything. Callers run them through an
//! [`exec::Shell`]. This crate never pulls, builds or deletes on its own initiative and never
//! parses stderr as data.

pub mod dockerfile;
pub mod reference;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use exec::Cmd;
use serde::Deserialize;

/// The docker CLI at a resolved path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Docker {
    program: PathBuf,
}

impl Docker {
    pub fn new(program: impl Into<PathBuf>) -> Docker {
        Docker {
            program: program.into(),
        }
    }

    pub fn program(&self) -> &Path {
        &self.program
    }

    fn cmd(&self, purpose: impl Into<String>) -> Cmd {
        Cmd::new(&self.program, purpose)
    }

    /// `docker version --format '{{json .}}'`: client and server versions as JSON.
    pub fn version(&self) -> Cmd {
        self.cmd("read the docker client and engine versions")
            .args(["version", "--format", "{{json .}}"])
    }

    /// `docker build` with the given build args (in order), tag and context.
    pub fn build(
        &self,
        dockerfile: &Path,
        tag: &str,
        context: &Path,
        build_args: &[(String, String)],
    ) -> Cmd {
        let mut cmd = self
            .cmd(format!("build image {tag}"))
            .arg("build")
            .arg("--file")
            .arg(dockerfile)
            .arg("--tag")
            .arg(tag);
        for (name, value) in build_args {
            cmd = cmd.arg("--build-arg").arg(format!("{name}={value}"));
        }
        cmd.arg(context)
    }

    /// `docker image inspect REF`: prints a JSON array with one object.
    pub fn image_inspect(&self, reference: &str) -> Cmd {
        self.cmd(format!("inspect image {reference}")).args([
            "image",
            "inspect",
            "--format",
            "{{json .}}",
            reference,
        ])
    }

    pub fn pull(&self, reference: &str) -> Cmd {
        self.cmd(format!("pull image {reference}"))
            .args(["pull", "--quiet", reference])
    }

    /// `docker save --output FILE REF…`
    pub fn save(&self, output: &Path, references: &[&str]) -> Cmd {
        self.cmd(format!(
            "save {} to {}",
            references.join(", "),
            output.display()
        ))
        .arg("save")
        .arg("--output")
        .arg(output)
        .args(references)
    }

    /// `docker load --input FILE`; prints `Loaded image: REF` or `Loaded image ID: sha256:…`.
    pub fn load(&self, input: &Path) -> Cmd {
        self.cmd(format!("load images from {}", input.display()))
            .arg("load")
            .arg("--input")
            .arg(input)
    }

    pub fn tag(&self, source: &str, target: &str) -> Cmd {
        self.cmd(format!("tag {source} as {target}"))
            .args(["tag", source, target])
    }

    /// `docker info --format '{{json .}}'`: the engine's OS and architecture, among others.
    pub fn info(&self) -> Cmd {
        self.cmd("ask the docker engine its platform")
            .args(["info", "--format", "{{json .}}"])
    }

    /// `docker create --entrypoint /never-started IMAGE`: a container that only exists so its
    /// filesystem can be exported. The entrypoint makes images without a command acceptable; the
    /// container is never started.
    pub fn create_stopped(&self, image: &str) -> Cmd {
        self.cmd(format!(
            "create a stopped container of {image} to read its files"
        ))
        .args(["create", "--entrypoint", "/never-started", image])
    }

    /// `docker export --output FILE CONTAINER`: the container's filesystem as a tar file.
    pub fn export(&self, container: &str, output: &Path) -> Cmd {
        self.cmd(format!("export the filesystem of container {container}"))
            .arg("export")
            .arg("--output")
            .arg(output)
            .arg(container)
    }

    /// `docker ps --all --filter label=LABEL --format '{{.Label "LABEL"}}'`: the value of
    /// `label` on every container that carries it, running or stopped, one per line.
    pub fn containers_labelled(&self, label: &str) -> Cmd {
        self.cmd(format!("list the containers labelled {label}"))
            .args(["ps", "--all", "--filter"])
            .arg(format!("label={label}"))
            .arg("--format")
            .arg(format!("{{{{.Label \"{label}\"}}}}"))
    }

    /// `docker rm --force CONTAINER`.
    pub fn container_remove(&self, container: &str) -> Cmd {
        self.cmd(format!("remove container {container}"))
            .args(["rm", "--force", container])
    }

    /// `docker image rm --force --no-prune REF`: takes the tag off an image that failed its
    /// checks. Its untagged parents stay: with the legacy builder they are the build cache, and
    /// a concurrent build of a Dockerfile with the same first steps may be building on them.
    pub fn image_untag(&self, reference: &str) -> Cmd {
        self.cmd(format!(
            "remove image {reference}, keeping its parent layers"
        ))
        .args(["image", "rm", "--force", "--no-prune", reference])
    }

    /// `docker image rm --force REF`, for cleaning up test images.
    pub fn image_remove(&self, reference: &str) -> Cmd {
        self.cmd(format!("remove image {reference}"))
            .args(["image", "rm", "--force", reference])
    }
}

/// The parts of `docker version --format '{{json .}}'` we use.
#[derive(Debug, Clone, Deserialize)]
pub struct VersionInfo {
    #[serde(rename = "Client")]
    pub client: ComponentVersion,
    /// Absent (null) when the engine is not reachable.
    #[serde(rename = "Server")]
    pub server: Option<ComponentVersion>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ComponentVersion {
    #[serde(rename = "Version")]
    pub version: String,
    #[serde(rename = "ApiVersion", default)]
    pub api_version: String,
}

/// Parses `docker version --format '{{json .}}'` output. The CLI prints the JSON even when the
/// engine is down (with `"Server": null`), and exits non-zero; pass stdout either way.
pub fn parse_version(stdout: &str) -> Result<VersionInfo, String> {
    let line = stdout
        .lines()
        .find(|line| line.trim_start().starts_with('{'))
        .ok_or_else(|| {
            format!(
                "docker version printed no JSON object; it printed: {}",
                stdout.trim()
            )
        })?;
    serde_json::from_str(line).map_err(|error| format!("cannot parse docker version JSON: {error}"))
}

/// The parts of `docker info --format '{{json .}}'` we use.
#[derive(Debug, Clone, Deserialize)]
pub struct EngineInfo {
    /// `linux` (also on Docker Desktop for macOS and Windows with Linux containers).
    #[serde(rename = "OSType")]
    pub os_type: String,
    /// As the engine's kernel names it: `x86_64`, `aarch64`.
    #[serde(rename = "Architecture")]
    pub architecture: String,
}

/// Parses `docker info --format '{{json .}}'` output.
pub fn parse_info(stdout: &str) -> Result<EngineInfo, String> {
    let line = stdout
        .lines()
        .find(|line| line.trim_start().starts_with('{'))
        .ok_or_else(|| {
            format!(
                "docker info printed no JSON object; it printed: {}",
                stdout.trim()
            )
        })?;
    serde_json::from_str(line).map_err(|error| format!("cannot parse docker info JSON: {error}"))
}

/// The parts of `docker image inspect` we use.
#[derive(Debug, Clone, Deserialize)]
pub struct ImageInfo {
    /// The image ID, `sha256:…`.
    #[serde(rename = "Id")]
    pub id: String,
    /// `repo@sha256:…` for images pulled from or pushed to a registry; empty for local builds.
    #[serde(rename = "RepoDigests", default)]
    pub repo_digests: Vec<String>,
    #[serde(rename = "RepoTags", default)]
    pub repo_tags: Vec<String>,
    #[serde(rename = "Config", default)]
    pub config: ImageConfig,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ImageConfig {
    #[serde(rename = "Labels", default)]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(rename = "Env", default)]
    pub env: Option<Vec<String>>,
}

impl ImageInfo {
    pub fn label(&self, name: &str) -> Option<&str> {
        self.config.labels.as_ref()?.get(name).map(String::as_str)
    }

    pub fn env_var(&self, name: &str) -> Option<&str> {
        self.config
            .env
            .as_ref()?
            .iter()
            .find_map(|entry| entry.strip_prefix(name)?.strip_prefix('='))
    }
}

/// Parses `docker image inspect --format '{{json .}}'` (one object) or the default array form.
pub fn parse_image_inspect(stdout: &str) -> Result<ImageInfo, String> {
    let text = stdout.trim();
    let parsed = if text.starts_with('[') {
        serde_json::from_str::<Vec<ImageInfo>>(text).map(|mut images| images.drain(..).next())
    } else {
        serde_json::from_str::<ImageInfo>(text).map(Some)
    };
    match parsed {
        Ok(Some(image)) => Ok(image),
        Ok(None) => Err("docker image inspect printed an empty list".to_owned()),
        Err(error) => Err(format!("cannot parse docker image inspect JSON: {error}")),
    }
}

/// What `docker load` reported: image references (`Loaded image: REF`) and bare IDs
/// (`Loaded image ID: sha256:…`).
pub fn parse_load(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter_map(|line| {
            line.strip_prefix("Loaded image: ")
                .or_else(|| line.strip_prefix("Loaded image ID: "))
                .map(|reference| reference.trim().to_owned())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_passes_each_arg_as_one_argv_element() {
        let docker = Docker::new("docker");
        let cmd = docker.build(
            Path::new("hack/echo/Dockerfile"),
            "release-gate/echo:v0.1.0",
            Path::new("."),
            &[
                ("GO_VERSION".into(), "1.25.1".into()),
                ("RUST_VERSION".into(), "1.90.0".into()),
            ],
        );
        assert_eq!(
            cmd.arg_strings(),
            [
                "build",
                "--file",
                "hack/echo/Dockerfile",
                "--tag",
                "release-gate/echo:v0.1.0",
                "--build-arg",
                "GO_VERSION=1.25.1",
                "--build-arg",
                "RUST_VERSION=1.90.0",
                "."
            ]
        );
    }

    #[test]
    fn parses_version_with_and_without_engine() {
        let with = r#"{"Client":{"Version":"28.2.2","ApiVersion":"1.41"},"Server":{"Version":"20.10.24+dfsg1","ApiVersion":"1.41"}}"#;
        let info = parse_version(with).unwrap();
        assert_eq!(info.server.unwrap().version, "20.10.24+dfsg1");
        let without =
            "{\"Client\":{\"Version\":\"28.2.2\",\"ApiVersion\":\"1.50\"},\"Server\":null}\n";
        assert!(parse_version(without).unwrap().server.is_none());
        assert!(parse_version("Cannot connect").is_err());
    }

    #[test]
    fn parses_info_and_builds_the_export_commands() {
        let info = parse_info(
            r#"{"ID":"x","OSType":"linux","Architecture":"aarch64","ServerVersion":"20.10.24"}"#,
        )
        .unwrap();
        assert_eq!(
            (info.os_type.as_str(), info.architecture.as_str()),
            ("linux", "aarch64")
        );
        assert!(parse_info("Cannot connect to the Docker daemon").is_err());
        let docker = Docker::new("docker");
        assert_eq!(
            docker.create_stopped("x:1").arg_strings(),
            ["create", "--entrypoint", "/never-started", "x:1"]
        );
        assert_eq!(
            docker.export("abc", Path::new("/tmp/fs.tar")).arg_strings(),
            ["export", "--output", "/tmp/fs.tar", "abc"]
        );
    }

    #[test]
    fn parses_inspect_and_load() {
        let json = r#"[{"Id":"sha256:abc","RepoTags":["x:1"],"RepoDigests":[],"Config":{"Labels":{"go.version":"1.25.1"},"Env":["PATH=/bin","GO_VERSION=1.25.1"]}}]"#;
        let image = parse_image_inspect(json).unwrap();
        assert_eq!(image.id, "sha256:abc");
        assert_eq!(image.label("go.version"), Some("1.25.1"));
        assert_eq!(image.env_var("GO_VERSION"), Some("1.25.1"));
        assert_eq!(image.env_var("GO"), None);
        let loaded = parse_load("Loaded image: x:1\nLoaded image ID: sha256:def\n");
        assert_eq!(loaded, ["x:1", "sha256:def"]);
    }
}
