//! `cargo xtask artifacts fetch` end to end against a local server that speaks the GitHub
//! releases API: verified files and artifacts.json, clear failures, exit 2 for bad input.

use std::path::Path;

use sha2::{Digest, Sha256};
use testkit::http::{Reply, Server};

fn sha(bytes: &[u8]) -> String {
    download::hex(&Sha256::digest(bytes))
}

struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// xtask with `args`, its GitHub API pointed at `server`, no token and no docker.
fn xtask_cmd(server: &Server, args: &[&str]) -> exec::Cmd {
    crate::context::isolated("run xtask artifacts fetch")
        .args(args)
        .env("GITHUB_API_URL", server.base_url())
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_TOKEN")
        .env_remove("DOCKER")
        .timeout(std::time::Duration::from_secs(120))
}

fn xtask(server: &Server, args: &[&str], token: Option<&str>) -> Ran {
    let mut cmd = xtask_cmd(server, args);
    if let Some(token) = token {
        cmd = cmd.env("GITHUB_TOKEN", token);
    }
    ran(&cmd)
}

fn ran(cmd: &exec::Cmd) -> Ran {
    let output = exec::Shell::new().run_unchecked(cmd).unwrap();
    Ran {
        code: output.status.code(),
        stdout: output.stdout_str(),
        stderr: output.stderr_str(),
    }
}

/// A release o/r v1.2.3 with a manifest, a chart, a source archive and checksums.txt.
fn publish(server: &Server, sums_override: Option<String>) -> Vec<(String, Vec<u8>)> {
    let assets: Vec<(String, Vec<u8>)> = vec![
        (
            "install.yaml".into(),
            b"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: demo\n".to_vec(),
        ),
        (
            "chart-1.2.3.tgz".into(),
            (0..200_000u32).map(|i| (i % 249) as u8).collect(),
        ),
        ("source.zip".into(), b"zip".to_vec()),
    ];
    let sums = sums_override.unwrap_or_else(|| {
        assets
            .iter()
            .map(|(name, body)| format!("{}  {name}\n", sha(body)))
            .collect()
    });
    let mut all = assets.clone();
    all.push(("checksums.txt".into(), sums.into_bytes()));
    testkit::github::serve_release(server, "o/r", "v1.2.3", &all);
    assets
}

/// Serves published release `tag` of `repo` with `assets`: the API answer at
/// `repos/REPO/releases/tags/TAG` and each asset at `download/TAG/NAME`, with `Range`.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn fetch_writes_verified_files_and_the_record() {
    let server = Server::start();
    let assets = publish(&server, None);
    let dest = tempfile::tempdir().unwrap();
    let dest_arg = dest.path().to_str().unwrap();
    let ran = xtask(
        &server,
        &[
            "artifacts",
            "fetch",
            "--repo",
            "o/r",
            "--tag",
            "v1.2.3",
            "--dest",
            dest_arg,
            "--pattern",
            "*.yaml",
            "--pattern",
            "*.tgz",
            "--no-cache",
        ],
        Some("ghp_do_not_print_me"),
    );
    assert_eq!(ran.code, Some(0), "{}\n{}", ran.stdout, ran.stderr);
    assert_eq!(
        names(dest.path()),
        [
            "artifacts.json",
            "chart-1.2.3.tgz",
            "checksums.txt",
            "install.yaml"
        ]
    );
    let record = artifact::record::read(dest.path()).unwrap();
    assert_eq!(record.repo, "o/r");
    let chart = record
        .assets
        .iter()
        .find(|a| a.name == "chart-1.2.3.tgz")
        .unwrap();
    assert_eq!(chart.sha256, sha(&assets[1].1));
    assert!(ran.stdout.contains("chart-1.2.3.tgz"), "{}", ran.stdout);
    for text in [
        &ran.stdout,
        &ran.stderr,
        &std::fs::read_to_string(dest.path().join("artifacts.json")).unwrap(),
    ] {
        assert!(
            !text.contains("ghp_do_not_print_me"),
            "the token leaked: {text}"
        );
    }
    assert_eq!(
        server.requests_for("repos/o/r/releases/tags/v1.2.3")[0].header("authorization"),
        Some("Bearer ghp_do_not_print_me")
    );
}

/// A release shaped like kgateway's (its release workflow attaches goreleaser's default
/// archives and checksum list): `v2.1.0` of kgateway-dev/kgateway, with or without the arm64
/// archive.
fn publish_kgateway_shaped(server: &Server, with_arm64: bool) -> Vec<(String, Vec<u8>)> {
    let mut archives: Vec<(String, Vec<u8>)> = vec![(
        "kgateway_2.1.0_linux_amd64.tar.gz".into(),
        (0..150_000u32).map(|i| (i % 241) as u8).collect(),
    )];
    if with_arm64 {
        archives.push((
            "kgateway_2.1.0_linux_arm64.tar.gz".into(),
            (0..140_000u32).map(|i| (i % 239) as u8).collect(),
        ));
    }
    let sums: String = archives
        .iter()
        .map(|(name, body)| format!("{}  {name}\n", sha(body)))
        .collect();
    let mut all = archives.clone();
    all.push(("kgateway_2.1.0_checksums.txt".into(), sums.into_bytes()));
    testkit::github::serve_release(server, "kgateway-dev/kgateway", "v2.1.0", &all);
    archives
}

/// `artifacts fetch` of kgateway-dev/kgateway v2.1.0 into `dest` with the default target
/// config (no --config, no --pattern) and a fake docker in `tools`.
fn fetch_kgateway(server: &Server, dest: &Path, tools: &Path) -> Ran {
    let docker = testkit::fake_docker(tools, &"a".repeat(64));
    let cmd = xtask_cmd(
        server,
        &[
            "artifacts",
            "fetch",
            "--repo",
            "kgateway-dev/kgateway",
            "--tag",
            "v2.1.0",
            "--dest",
            dest.to_str().unwrap(),
            "--no-cache",
        ],
    )
    .env("DOCKER", &docker);
    ran(&cmd)
}

fn the_default_kgateway_config_verifies_a_kgateway_shaped_release() {
    let server = Server::start();
    let archives = publish_kgateway_shaped(&server, true);
    let tools = tempfile::tempdir().unwrap();
    let dest = tempfile::tempdir().unwrap();
    // hack/targets/kgateway.toml alone decides what is fetched.
    let ran = fetch_kgateway(&server, dest.path(), tools.path());
    assert_eq!(ran.code, Some(0), "{}\n{}", ran.stdout, ran.stderr);
    assert_eq!(
        names(dest.path()),
        [
            "artifacts.json",
            "kgateway_2.1.0_checksums.txt",
            "kgateway_2.1.0_linux_amd64.tar.gz",
            "kgateway_2.1.0_linux_arm64.tar.gz",
        ]
    );
    let record = artifact::record::read(dest.path()).unwrap();
    for (name, body) in &archives {
        let recorded = record.assets.iter().find(|a| &a.name == name).unwrap();
        assert_eq!(recorded.sha256, sha(body));
        assert_eq!(
            recorded.verification,
            artifact::record::Verification::ChecksumFile {
                file: "kgateway_2.1.0_checksums.txt".into()
            }
        );
    }
    let images: Vec<&str> = record.images.iter().map(|i| i.reference.as_str()).collect();
    assert_eq!(
        images,
        [
            "cr.kgateway.dev/kgateway-dev/kgateway:v2.1.0",
            "cr.kgateway.dev/kgateway-dev/sds:v2.1.0",
            "cr.kgateway.dev/kgateway-dev/envoy-wrapper:v2.1.0",
        ]
    );
    let log = std::fs::read_to_string(tools.path().join("docker.log")).unwrap();
    assert!(
        log.contains("pull --quiet cr.kgateway.dev/kgateway-dev/sds:v2.1.0"),
        "{log}"
    );
}

fn a_release_missing_an_archive_the_config_names_fails_naming_it() {
    let server = Server::start();
    publish_kgateway_shaped(&server, false);
    let tools = tempfile::tempdir().unwrap();
    let dest = tempfile::tempdir().unwrap();
    let ran = fetch_kgateway(&server, dest.path(), tools.path());
    assert_eq!(ran.code, Some(1), "{}\n{}", ran.stdout, ran.stderr);
    assert!(
        ran.stderr
            .contains("no asset matching \"kgateway_*_linux_arm64.tar.gz\""),
        "{}",
        ran.stderr
    );
    assert!(names(dest.path()).is_empty(), "{:?}", names(dest.path()));
    assert!(
        !tools.path().join("docker.log").exists(),
        "nothing may be pulled for a release that fails its asset check"
    );
}

fn wrong_checksum_exits_1_and_keeps_nothing_unverified() {
    let server = Server::start();
    let wrong = format!("{}  install.yaml\n", sha(b"not the manifest"));
    publish(&server, Some(wrong));
    let dest = tempfile::tempdir().unwrap();
    let ran = xtask(
        &server,
        &[
            "artifacts",
            "fetch",
            "--repo",
            "o/r",
            "--tag",
            "v1.2.3",
            "--dest",
            dest.path().to_str().unwrap(),
            "--pattern",
            "install.yaml",
            "--no-cache",
        ],
        None,
    );
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert!(ran.stderr.contains("sha256"), "{}", ran.stderr);
    assert_eq!(
        names(dest.path()),
        ["checksums.txt"],
        "only the checksum file may remain"
    );
}

fn bad_input_exits_2_with_a_fix() {
    let server = Server::start();
    publish(&server, None);
    let dest = tempfile::tempdir().unwrap();
    let dest_arg = dest.path().to_str().unwrap();
    let cases: [(&[&str], &str); 5] = [
        (&["--repo", "not-a-repo", "--tag", "v1.2.3"], "OWNER/NAME"),
        (
            &["--repo", "o/r", "--tag", "v9.9.9"],
            "no published release v9.9.9",
        ),
        (
            &[
                "--repo",
                "o/r",
                "--tag",
                "v1.2.3",
                "--config",
                "/nonexistent/target.toml",
            ],
            "cannot read the target config",
        ),
        (
            &["--repo", "o/r", "--tag", "v1.2.3", "--pattern", "a[b"],
            "not a glob",
        ),
        (
            &["--repo", "o/r", "--tag", "v1.2/3"],
            "--tag \"v1.2/3\": \"v1.2/3\" is not a release tag we can verify: it contains '/'",
        ),
    ];
    for (extra, expected) in cases {
        let mut args = vec!["artifacts", "fetch", "--dest", dest_arg, "--no-cache"];
        args.extend_from_slice(extra);
        let ran = xtask(&server, &args, None);
        assert_eq!(ran.code, Some(2), "{extra:?}: {}", ran.stderr);
        assert!(ran.stderr.contains(expected), "{extra:?}: {}", ran.stderr);
        assert!(
            names(dest.path()).is_empty(),
            "{extra:?} wrote {:?}",
            names(dest.path())
        );
    }

    // The target config is checked whole, the conformance crate's names included.
    let config_dir = tempfile::tempdir().unwrap();
    let config = config_dir.path().join("target.toml");
    std::fs::write(
        &config,
        "[release]\nrepo = \"o/r\"\n[install]\ngateway_class = \"k\"\n[conformance]\nskip = [\"route-hedaer\"]\n",
    )
    .unwrap();
    let ran = xtask(
        &server,
        &[
            "artifacts",
            "fetch",
            "--dest",
            dest_arg,
            "--no-cache",
            "--tag",
            "v1.2.3",
            "--config",
            config.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(ran.code, Some(2), "{}", ran.stderr);
    assert!(
        ran.stderr.contains(&format!(
            "{}:6:9: [conformance] skip: there is no case `route-hedaer`",
            config.display()
        )),
        "{}",
        ran.stderr
    );
    assert!(names(dest.path()).is_empty());
}

fn ctrl_c_mid_download_exits_130_and_keeps_nothing() {
    let server = Server::start();
    let assets = publish(&server, None);
    // The chart stalls after its first bytes, so the download is running when Ctrl-C comes.
    server.route(
        "download/v1.2.3/chart-1.2.3.tgz",
        Reply::ok(assets[1].1.clone()).stall_after(50_000, std::time::Duration::from_secs(2)),
    );
    let dest = tempfile::tempdir().unwrap();
    let cmd = crate::context::isolated("run xtask artifacts fetch")
        .args([
            "artifacts",
            "fetch",
            "--repo",
            "o/r",
            "--tag",
            "v1.2.3",
            "--dest",
            dest.path().to_str().unwrap(),
            "--pattern",
            "*.tgz",
            "--no-cache",
        ])
        .env("GITHUB_API_URL", server.base_url())
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_TOKEN");
    let mut xtask = exec::Shell::new().spawn(&cmd).unwrap();
    let (code, stderr) = crate::interrupt_when(
        &mut xtask,
        "the download",
        std::time::Duration::from_secs(120),
        |_| {
            !server
                .requests_for("download/v1.2.3/chart-1.2.3.tgz")
                .is_empty()
        },
    );
    assert_eq!(code, Some(130), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    let left = names(dest.path());
    assert!(
        !left
            .iter()
            .any(|name| name.starts_with("chart") || name == "artifacts.json"),
        "left behind: {left:?}"
    );
}

pub(crate) fn tests() -> Vec<test_harness::Test> {
    test_harness::tests![
        fetch_writes_verified_files_and_the_record,
        the_default_kgateway_config_verifies_a_kgateway_shaped_release,
        a_release_missing_an_archive_the_config_names_fails_naming_it,
        wrong_checksum_exits_1_and_keeps_nothing_unverified,
        bad_input_exits_2_with_a_fix,
        ctrl_c_mid_download_exits_130_and_keeps_nothing,
    ]
}
