//! The loader's rules: every folder and the API from one snapshot, the same for every command.

use std::path::{Path, PathBuf};

use super::*;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("crates/settings is two below the root")
        .to_path_buf()
}

fn load(vars: &[(&str, &str)]) -> Result<Settings, BadInput> {
    Settings::load(
        &Request {
            root: root(),
            config: None,
        },
        Env::new(vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))),
    )
}

#[test]
fn folders_default_under_the_workspace_and_each_variable_moves_its_own() {
    let settings = load(&[]).unwrap();
    assert_eq!(settings.artifact_cache, root().join(ARTIFACT_CACHE));
    assert_eq!(settings.runs_dir, root().join(RUNS_DIR));
    assert_eq!(settings.owners_dir(), root().join(RUNS_DIR).join("owners"));
    assert_eq!(settings.tools.cache_root, root().join(TOOLS_DIR));
    assert_eq!(settings.github.api_base, DEFAULT_API);
    assert!(settings.github.token.is_none());
    assert!(settings.notices.is_empty(), "{:?}", settings.notices);

    let moved = load(&[
        ("XTASK_ARTIFACT_CACHE", "/elsewhere/cache"),
        ("XTASK_VERIFY_DIR", " /elsewhere/runs "),
        ("XTASK_TOOLS_DIR", "/elsewhere/tools"),
        ("GITHUB_API_URL", "https://ghe.example/api/v3/"),
        ("GITHUB_TOKEN", "t0ken"),
    ])
    .unwrap();
    assert_eq!(moved.artifact_cache, PathBuf::from("/elsewhere/cache"));
    assert_eq!(moved.runs_dir, PathBuf::from("/elsewhere/runs"));
    assert_eq!(moved.tools.cache_root, PathBuf::from("/elsewhere/tools"));
    assert_eq!(moved.github.api_base, "https://ghe.example/api/v3");
    assert_eq!(moved.github.token.as_ref().unwrap().expose(), "t0ken");
    assert_eq!(format!("{:?}", moved.github.token), "Some(***)");
    // The download options every command uses carry the same cache.
    let options = moved.download_options(&cancel::Token::new());
    assert_eq!(options.cache_dir, Some(PathBuf::from("/elsewhere/cache")));
    assert_eq!(
        moved.artifact_env(&cancel::Token::new()).download.cache_dir,
        Some(PathBuf::from("/elsewhere/cache"))
    );
}

#[test]
fn overrides_and_a_mirror_come_back_as_notices() {
    let settings = load(&[
        ("KUBECTL_VERSION", "v1.30.9"),
        ("XTASK_TOOLS_MIRROR", "http://127.0.0.1:9/mirror/"),
    ])
    .unwrap();
    assert!(settings.notices.iter().any(
        |notice| matches!(notice, Notice::Override(used) if used.variable == "KUBECTL_VERSION")
    ));
    assert!(settings.notices.contains(&Notice::ToolsMirror(
        "http://127.0.0.1:9/mirror/".to_owned()
    )));
    assert_eq!(
        settings.tools.mirror.as_deref(),
        Some("http://127.0.0.1:9/mirror")
    );
}

#[test]
fn bad_values_are_bad_input_naming_the_variable_or_file() {
    let error = load(&[("XTASK_TOOLS_MIRROR", "http://mirror.example")]).unwrap_err();
    assert!(
        error.message().starts_with("XTASK_TOOLS_MIRROR="),
        "{error}"
    );
    let error = load(&[("GITHUB_API_URL", "http://api.example")]).unwrap_err();
    assert!(error.message().starts_with("GITHUB_API_URL="), "{error}");
    let error = load(&[("KIND_VERSION", "latest")]).unwrap_err();
    assert!(error.message().contains("KIND_VERSION=latest"), "{error}");
    let error = Settings::load(
        &Request {
            root: root(),
            config: Some(PathBuf::from("/no/such/target.toml")),
        },
        Env::default(),
    )
    .unwrap_err();
    assert!(error.message().contains("/no/such/target.toml"), "{error}");
}

#[test]
fn docker_is_the_variable_else_the_path_entry() {
    let dir = tempfile::tempdir().unwrap();
    let settings = load(&[("DOCKER", "/opt/docker")]).unwrap();
    assert_eq!(settings.docker, Some(PathBuf::from("/opt/docker")));
    let none = load(&[("PATH", dir.path().to_str().unwrap())]).unwrap();
    assert_eq!(none.docker, None);
}

#[test]
fn available_memory_is_read_from_meminfo_in_bytes() {
    let meminfo =
        "MemTotal:       24608264 kB\nMemFree:         1234 kB\nMemAvailable:   21874532 kB\n";
    assert_eq!(super::mem_available(meminfo), Some(21_874_532 * 1024));
    assert_eq!(super::mem_available("MemTotal: 1 kB\n"), None);
    assert_eq!(super::mem_available("MemAvailable: lots\n"), None);
}
