//! The shape of `hack/versions.toml` and the checks that run while it is read.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde::Deserialize;

use crate::{PinError, Version, line_col};

/// Where the pin file lives, relative to the workspace root.
pub const PIN_FILE: &str = "hack/versions.toml";

/// Everything the pin file states.
#[derive(Debug, Clone)]
pub struct Pins {
    pub kind: ToolPin,
    /// The kubectl for [`Pins::node_image`]'s cluster; [`ToolPin::also`] holds the other
    /// pinned kubectl releases (see [`Pins::for_kubernetes`]).
    pub kubectl: ToolPin,
    pub helm: ToolPin,
    /// The node image a cluster of this run gets: the pin file's default, the image
    /// `KIND_NODE_IMAGE` names, or the one [`Pins::for_kubernetes`] picked.
    pub node_image: NodeImage,
    /// Every node image the pin file holds (the default among them), newest Kubernetes first;
    /// just the one `KIND_NODE_IMAGE` names when that is set.
    pub node_images: Vec<NodeImage>,
    /// `Some("KIND_NODE_IMAGE")` when that variable replaced the pinned images.
    pub node_image_override: Option<String>,
    pub gateway_api: GatewayApi,
    pub images: Images,
    pub build: Build,
    pub docker: Docker,
}

/// The pin file as written; [`parse`] checks it and makes it a [`Pins`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPins {
    kind: ToolPin,
    kubectl: ToolPin,
    helm: ToolPin,
    node_image: RawNodeImages,
    gateway_api: GatewayApi,
    images: Images,
    build: Build,
    docker: Docker,
}

/// `[node_image]`: the default image and the others the pinned kind release publishes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNodeImages {
    image: toml::Spanned<String>,
    #[serde(default)]
    others: Vec<toml::Spanned<String>>,
}

/// The tools this workspace downloads and runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ToolName {
    Kind,
    Kubectl,
    Helm,
    Docker,
}

impl ToolName {
    pub const ALL: [ToolName; 4] = [
        ToolName::Kind,
        ToolName::Kubectl,
        ToolName::Helm,
        ToolName::Docker,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ToolName::Kind => "kind",
            ToolName::Kubectl => "kubectl",
            ToolName::Helm => "helm",
            ToolName::Docker => "docker",
        }
    }

    /// The variable naming a binary to use instead (`$KIND`).
    pub fn binary_env(self) -> &'static str {
        match self {
            ToolName::Kind => "KIND",
            ToolName::Kubectl => "KUBECTL",
            ToolName::Helm => "HELM",
            ToolName::Docker => "DOCKER",
        }
    }

    /// The variable overriding the pinned version (`KIND_VERSION`).
    pub fn version_env(self) -> &'static str {
        match self {
            ToolName::Kind => "KIND_VERSION",
            ToolName::Kubectl => "KUBECTL_VERSION",
            ToolName::Helm => "HELM_VERSION",
            ToolName::Docker => "DOCKER_VERSION",
        }
    }
}

impl fmt::Display for ToolName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ToolName {
    type Err = String;

    fn from_str(text: &str) -> Result<ToolName, String> {
        ToolName::ALL
            .into_iter()
            .find(|tool| tool.as_str() == text)
            .ok_or_else(|| {
                format!("unknown tool `{text}`: expected one of kind, kubectl, helm, docker")
            })
    }
}

/// An operating system and CPU pair as release URLs spell them (`linux-amd64`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Platform {
    pub os: String,
    pub arch: String,
}

impl Platform {
    /// The platform this binary was built for.
    pub fn current() -> Platform {
        let os = match std::env::consts::OS {
            "macos" => "darwin",
            other => other,
        };
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            other => other,
        };
        Platform {
            os: os.to_owned(),
            arch: arch.to_owned(),
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.os, self.arch)
    }
}

impl FromStr for Platform {
    type Err = String;

    fn from_str(text: &str) -> Result<Platform, String> {
        let valid = |part: &str| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        };
        match text.split_once('-') {
            Some((os, arch)) if valid(os) && valid(arch) => Ok(Platform {
                os: os.to_owned(),
                arch: arch.to_owned(),
            }),
            _ => Err(format!("`{text}` is not a platform like linux-amd64")),
        }
    }
}

impl<'de> Deserialize<'de> for Platform {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Platform, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// A sha256 digest: 64 lowercase hex characters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Sha256(String);

impl Sha256 {
    pub fn as_hex(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Sha256 {
    type Err = String;

    fn from_str(text: &str) -> Result<Sha256, String> {
        let hex = text.strip_prefix("sha256:").unwrap_or(text);
        if hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            Ok(Sha256(hex.to_owned()))
        } else {
            Err(format!(
                "`{text}` is not a sha256: expected 64 lowercase hex characters"
            ))
        }
    }
}

impl<'de> Deserialize<'de> for Sha256 {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Sha256, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// A downloadable tool: its version, where to get it for each platform, and the checksum of
/// what that URL serves.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolPin {
    #[serde(deserialize_with = "complete_version")]
    pub version: Version,
    /// URL template with `{version}`, `{os}` and `{arch}` placeholders.
    #[serde(deserialize_with = "url_template")]
    pub url: String,
    /// For archives (helm's tar.gz): the binary's path inside, same placeholders.
    #[serde(default)]
    pub archive_member: Option<String>,
    /// sha256 of what `url` serves, per platform (`linux-amd64 = "…"`).
    pub sha256: BTreeMap<Platform, Sha256>,
    /// Further releases of the same tool from the same URL, each with its own checksums
    /// (`[[kubectl.also]]`): kubectl only, so that every pinned node image has a kubectl within
    /// one minor version.
    #[serde(default)]
    pub also: Vec<ToolRelease>,
}

/// One more pinned release of a tool: its version and the checksums of what the tool's URL
/// serves at that version.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolRelease {
    #[serde(deserialize_with = "complete_version")]
    pub version: Version,
    pub sha256: BTreeMap<Platform, Sha256>,
}

impl ToolPin {
    /// The download URL for `platform` at `version` (normally the pinned one).
    pub fn url_for(&self, version: &Version, platform: &Platform) -> String {
        fill(&self.url, version, platform)
    }

    /// The path of the binary inside the archive, for archive downloads.
    pub fn archive_member_for(&self, version: &Version, platform: &Platform) -> Option<String> {
        self.archive_member
            .as_ref()
            .map(|member| fill(member, version, platform))
    }

    pub fn sha256_for(&self, platform: &Platform) -> Option<&Sha256> {
        self.sha256.get(platform)
    }
}

fn fill(template: &str, version: &Version, platform: &Platform) -> String {
    template
        .replace("{version}", &version.to_string())
        .replace("{version_no_v}", &version.without_v())
        .replace("{os}", &platform.os)
        .replace("{arch}", &platform.arch)
}

/// A pinned version names one release: `v0.33.0`, never the `0.33` line it belongs to, which
/// would let an override, a URL or a comparison mean any patch release.
fn complete_version<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Version, D::Error> {
    let version = Version::deserialize(deserializer)?;
    if version.patch.is_none() {
        let complete = Version {
            patch: Some(0),
            ..version.clone()
        };
        return Err(serde::de::Error::custom(format!(
            "`{version}` is not a complete version: a pin names one release with major, minor and patch, such as `{complete}`"
        )));
    }
    Ok(version)
}

fn url_template<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let url = String::deserialize(deserializer)?;
    if !url.starts_with("https://") {
        return Err(serde::de::Error::custom(format!(
            "`{url}` must be an https:// URL"
        )));
    }
    Ok(url)
}

/// The kind node image, pinned by tag and digest: `kindest/node:v1.34.0@sha256:…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeImage {
    /// The whole reference as written.
    pub reference: String,
    pub repository: String,
    /// The tag, which for kind node images is the Kubernetes version.
    pub kubernetes: Version,
    pub digest: Sha256,
}

impl FromStr for NodeImage {
    type Err = String;

    fn from_str(text: &str) -> Result<NodeImage, String> {
        let fix =
            "write it as kindest/node:vX.Y.Z@sha256:<64 hex>, copied from the kind release notes";
        let (name, digest) = text
            .split_once('@')
            .ok_or_else(|| format!("node image `{text}` has no @sha256 digest; {fix}"))?;
        let (repository, tag) = name
            .rsplit_once(':')
            .ok_or_else(|| format!("node image `{text}` has no tag; {fix}"))?;
        let kubernetes: Version = tag
            .parse()
            .map_err(|e| format!("node image tag: {e}; {fix}"))?;
        if kubernetes.patch.is_none() {
            return Err(format!(
                "node image tag `{tag}` is not a complete version; {fix}"
            ));
        }
        let digest = digest
            .strip_prefix("sha256:")
            .ok_or_else(|| format!("node image digest must start with sha256:; {fix}"))?
            .parse()?;
        Ok(NodeImage {
            reference: text.to_owned(),
            repository: repository.to_owned(),
            kubernetes,
            digest,
        })
    }
}

/// The Gateway API CRDs installed into every cluster.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayApi {
    #[serde(deserialize_with = "complete_version")]
    pub version: Version,
    pub channel: Channel,
    /// URL template with `{version}` and `{channel}`.
    #[serde(deserialize_with = "url_template")]
    pub crds_url: String,
    /// sha256 of the CRD bundle the URL serves.
    pub sha256: Sha256,
}

impl GatewayApi {
    pub fn crds_url(&self) -> String {
        self.crds_url
            .replace("{version}", &self.version.to_string())
            .replace("{channel}", self.channel.as_str())
    }
}

/// Gateway API release channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Standard,
    Experimental,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Standard => "standard",
            Channel::Experimental => "experimental",
        }
    }
}

/// Container images the test fixture uses.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Images {
    /// Our echo backend image, built from `hack/echo/Dockerfile` and loaded into kind.
    pub echo: String,
    /// The upstream echo-basic image whose contract ours follows, by tag and digest.
    pub echo_basic_upstream: String,
    /// cloud-provider-kind, the LoadBalancer provider that gives a Gateway on kind its
    /// address; run with docker by digest.
    pub cloud_provider_kind: DigestImage,
}

/// An image reference pinned by digest: `REPO:TAG@sha256:<64 hex>` (the tag is for people).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestImage {
    pub reference: String,
    pub digest: Sha256,
}

impl FromStr for DigestImage {
    type Err = String;

    fn from_str(text: &str) -> Result<DigestImage, String> {
        let fix = "write it as REGISTRY/NAME:TAG@sha256:<64 hex>";
        let (name, digest) = text
            .split_once('@')
            .ok_or_else(|| format!("image `{text}` has no @sha256 digest; {fix}"))?;
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(format!("image `{text}` has no name; {fix}"));
        }
        let digest = digest
            .strip_prefix("sha256:")
            .ok_or_else(|| format!("image digest must start with sha256:; {fix}"))?
            .parse()?;
        Ok(DigestImage {
            reference: text.to_owned(),
            digest,
        })
    }
}

impl<'de> Deserialize<'de> for DigestImage {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<DigestImage, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// Toolchain versions used inside container builds.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Build {
    #[serde(deserialize_with = "complete_version")]
    pub go: Version,
    #[serde(deserialize_with = "complete_version")]
    pub rust: Version,
}

/// The Docker engine floor, enforced even with host tools forced.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Docker {
    #[serde(deserialize_with = "complete_version")]
    pub minimum: Version,
}

/// A pin as a Dockerfile `ARG` or environment variable sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildArg {
    pub name: &'static str,
    pub value: String,
}

impl Pins {
    /// Every pin exposed as a build argument, by its conventional `NAME_VERSION` name. This is
    /// the only list of names `docker-build` passes and `versions check` looks for.
    pub fn build_args(&self) -> Vec<BuildArg> {
        let arg = |name, value: String| BuildArg { name, value };
        vec![
            arg("GO_VERSION", self.build.go.without_v()),
            arg("RUST_VERSION", self.build.rust.without_v()),
            arg("KIND_VERSION", self.kind.version.with_v()),
            arg("KUBECTL_VERSION", self.kubectl.version.with_v()),
            arg("HELM_VERSION", self.helm.version.with_v()),
            arg("GATEWAY_API_VERSION", self.gateway_api.version.with_v()),
            arg("KIND_NODE_IMAGE", self.node_image.reference.clone()),
            arg("ECHO_IMAGE", self.images.echo.clone()),
        ]
    }

    pub fn build_arg(&self, name: &str) -> Option<String> {
        self.build_args()
            .into_iter()
            .find(|arg| arg.name == name)
            .map(|arg| arg.value)
    }

    /// The pin of a downloadable tool (docker is not downloaded: it has only a floor).
    pub fn tool(&self, tool: ToolName) -> Option<&ToolPin> {
        match tool {
            ToolName::Kind => Some(&self.kind),
            ToolName::Kubectl => Some(&self.kubectl),
            ToolName::Helm => Some(&self.helm),
            ToolName::Docker => None,
        }
    }
}

pub(crate) fn parse(path: &Path, text: &str) -> Result<Pins, PinError> {
    let raw: RawPins = toml::from_str(text).map_err(|error| PinError {
        path: path.to_owned(),
        line_col: error.span().map(|span| line_col(text, span.start)),
        message: format!(
            "{}; fix this entry (the comments at the top of {PIN_FILE} show every key and its format)",
            error.message().trim_end_matches('.')
        ),
    })?;
    let pins = crate::kubernetes::assemble(path, text, raw.node_image.image, raw.node_image.others)
        .map(|(node_image, node_images)| Pins {
            kind: raw.kind,
            kubectl: raw.kubectl,
            helm: raw.helm,
            node_image,
            node_images,
            node_image_override: None,
            gateway_api: raw.gateway_api,
            images: raw.images,
            build: raw.build,
            docker: raw.docker,
        })?;
    for tool in [ToolName::Kind, ToolName::Helm] {
        if !pins.tool(tool).expect("downloadable tool").also.is_empty() {
            return Err(PinError {
                path: path.to_owned(),
                line_col: find_line(text, &format!("[[{tool}.also]]")),
                message: format!(
                    "[[{tool}.also]]: only kubectl pins further releases (one per node image's skew window); pin one {tool} release"
                ),
            });
        }
    }
    for tool in [ToolName::Kind, ToolName::Kubectl, ToolName::Helm] {
        let pin = pins.tool(tool).expect("downloadable tool");
        if !pin.url.contains("{version}") {
            return Err(PinError {
                path: path.to_owned(),
                line_col: find_line(text, &format!("[{tool}]")),
                message: format!(
                    "[{tool}] url has no {{version}} placeholder, so a version override could not change it; write the release URL with {{version}}, {{os}} and {{arch}}"
                ),
            });
        }
        if pin.sha256.is_empty() {
            return Err(PinError {
                path: path.to_owned(),
                line_col: find_line(text, &format!("[{tool}")),
                message: format!(
                    "[{tool}] has no sha256 entries; add `[{tool}.sha256]` with one `os-arch = \"<hex>\"` line per platform from the release's checksum files"
                ),
            });
        }
    }
    crate::kubernetes::check_kubectl_skew(path, text, &pins)?;
    Ok(pins)
}

/// The first line that starts with `needle`, skipping comments (the header mentions every table).
pub(crate) fn find_line(text: &str, needle: &str) -> Option<(usize, usize)> {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if line.starts_with(needle) {
            return Some(line_col(text, offset));
        }
        offset += line.len();
    }
    None
}
