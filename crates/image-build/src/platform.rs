//! The platform of the Docker engine that runs kind: Linux containers on amd64 or arm64, read
//! from `docker info` or given as `linux/ARCH`. Images for kind are built for it, never for the
//! host that happens to run the build.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::BuildError;

/// A CPU architecture Linux containers of kind nodes run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    Amd64,
    Arm64,
}

impl Arch {
    /// As Rust target triples spell it.
    pub fn rust_arch(self) -> &'static str {
        match self {
            Arch::Amd64 => "x86_64",
            Arch::Arm64 => "aarch64",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Arch::Amd64 => "amd64",
            Arch::Arm64 => "arm64",
        }
    }

    /// Reads an architecture as a kernel (`uname -m`, `docker info`), Go or Rust names it.
    pub fn parse(name: &str) -> Option<Arch> {
        match name {
            "x86_64" | "amd64" | "x86-64" => Some(Arch::Amd64),
            "aarch64" | "arm64" | "arm64/v8" => Some(Arch::Arm64),
            _ => None,
        }
    }
}

/// The platform an engine runs containers for: `linux/amd64` or `linux/arm64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct EnginePlatform {
    pub arch: Arch,
}

impl fmt::Display for EnginePlatform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "linux/{}", self.arch.as_str())
    }
}

impl FromStr for EnginePlatform {
    type Err = String;

    fn from_str(text: &str) -> Result<EnginePlatform, String> {
        text.strip_prefix("linux/")
            .and_then(Arch::parse)
            .map(|arch| EnginePlatform { arch })
            .ok_or_else(|| {
                format!("`{text}` is not a platform kind runs on: use linux/amd64 or linux/arm64")
            })
    }
}

/// The engine's platform from `docker info`: Linux containers on amd64 or arm64.
pub fn engine_platform(info: &docker::EngineInfo) -> Result<EnginePlatform, String> {
    if info.os_type != "linux" {
        return Err(format!(
            "the docker engine runs {} containers; kind needs Linux containers (switch Docker Desktop to Linux containers)",
            info.os_type
        ));
    }
    Arch::parse(&info.architecture)
        .map(|arch| EnginePlatform { arch })
        .ok_or_else(|| {
            format!(
                "the docker engine runs on {}, and kind node images exist for amd64 and arm64 only",
                info.architecture
            )
        })
}

/// Asks the engine its platform (`docker info`).
pub fn query_engine_platform(
    sh: &exec::Shell,
    docker: &docker::Docker,
) -> Result<EnginePlatform, BuildError> {
    let doing = "asking the docker engine its platform (start it, or pass the platform: linux/amd64 or linux/arm64)";
    let output = sh
        .run(&docker.info())
        .map_err(|error| BuildError::failed(doing, error))?;
    let info = docker::parse_info(&output.stdout_str())
        .map_err(|error| BuildError::failed(doing, error))?;
    engine_platform(&info).map_err(|error| BuildError::failed(doing, error))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amd64() -> EnginePlatform {
        EnginePlatform { arch: Arch::Amd64 }
    }

    fn arm64() -> EnginePlatform {
        EnginePlatform { arch: Arch::Arm64 }
    }

    #[test]
    fn engine_platforms_are_read_from_docker_info_and_flags() {
        let info = |os: &str, arch: &str| docker::EngineInfo {
            os_type: os.to_owned(),
            architecture: arch.to_owned(),
        };
        assert_eq!(engine_platform(&info("linux", "x86_64")), Ok(amd64()));
        assert_eq!(engine_platform(&info("linux", "aarch64")), Ok(arm64()));
        assert!(
            engine_platform(&info("windows", "x86_64"))
                .unwrap_err()
                .contains("Linux containers")
        );
        assert!(
            engine_platform(&info("linux", "s390x"))
                .unwrap_err()
                .contains("amd64 and arm64")
        );
        assert_eq!("linux/arm64".parse(), Ok(arm64()));
        assert_eq!(arm64().to_string(), "linux/arm64");
        assert!("darwin/arm64".parse::<EnginePlatform>().is_err());
    }
}
