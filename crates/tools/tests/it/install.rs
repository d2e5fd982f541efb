//! Installing into the cache from a local HTTP server: the right bytes install; a wrong
//! checksum, a truncated body or a 404 leave nothing behind and say why.

use std::path::Path;
use std::time::Duration;

use pins::ToolName;
use sha2::Digest;
use testkit::http::{Reply, Server};
use tools::Verdict;

use crate::fakes;

const KIND_SCRIPT: &[u8] = b"#!/bin/sh\necho 'kind v0.33.0 go1.26.3 linux/amd64'\n";
const HELM_SCRIPT: &[u8] = b"#!/bin/sh\nprintf v4.3.0\n";

fn sha256_hex(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn client() -> download::Client {
    download::Client::new(download::Options {
        request_timeout: Duration::from_secs(10),
        total_timeout: Duration::from_secs(60),
        retries: 1,
        backoff_base: Duration::from_millis(1),
        backoff_max: Duration::from_millis(5),
        ..download::Options::default()
    })
}

/// Installs through the real HTTP fetch, with the pinned https URL's path served by `server`
/// (tests never leave 127.0.0.1).
fn install(
    context: &tools::Context,
    tool: ToolName,
    server: &Server,
) -> Result<tools::Installed, tools::InstallError> {
    let client = client();
    let real = tools::http_fetch(&client);
    let local =
        |url: &str, sha: &pins::Sha256, dest: &Path, progress: &mut dyn FnMut(u64, Option<u64>)| {
            let path = url.split_once("://").unwrap().1.split_once('/').unwrap().1;
            real(&server.url(path), sha, dest, progress)
        };
    tools::install(context, tool, &local, &mut |_, _| {})
}

/// Every file and folder under `root`, to prove a failed install left nothing.
fn everything_under(root: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            found.push(path.strip_prefix(root).unwrap().display().to_string());
            if path.is_dir() {
                stack.push(path);
            }
        }
    }
    found
}

const KIND_PATH: &str = "/kubernetes-sigs/kind/releases/download/v0.33.0/kind-linux-amd64";

fn the_right_file_installs_once_and_resolves_from_the_cache() {
    let cache = tempfile::tempdir().unwrap();
    let server = Server::start();
    server.route(KIND_PATH, Reply::ok(KIND_SCRIPT));
    let sha = sha256_hex(KIND_SCRIPT);
    let context = fakes::context(&[("PATH", ""), ("KIND_SHA256", &sha)], cache.path());

    let installed = install(&context, ToolName::Kind, &server).unwrap();
    assert!(installed.downloaded);
    assert_eq!(installed.path, cache.path().join("kind/v0.33.0/kind"));
    let mode = {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(&installed.path)
            .unwrap()
            .permissions()
            .mode()
    };
    assert_eq!(mode & 0o777, 0o755);
    assert_eq!(std::fs::read(&installed.path).unwrap(), KIND_SCRIPT);
    // Only the binary: no temporary files next to it.
    assert_eq!(
        everything_under(&cache.path().join("kind/v0.33.0")),
        ["kind"]
    );

    let again = install(&context, ToolName::Kind, &server).unwrap();
    assert!(!again.downloaded);
    assert_eq!(server.requests_for(KIND_PATH).len(), 1);

    let resolution = tools::resolve(&exec::Shell::new(), &context, ToolName::Kind);
    assert_eq!(resolution.verdict, Verdict::Ok, "{}", resolution.describe());
    assert_eq!(resolution.source, Some(tools::Source::Cache));
}

fn a_wrong_checksum_leaves_nothing_and_says_so() {
    let cache = tempfile::tempdir().unwrap();
    let server = Server::start();
    server.route(KIND_PATH, Reply::ok(&b"#!/bin/sh\necho tampered\n"[..]));
    let sha = sha256_hex(KIND_SCRIPT);
    let context = fakes::context(&[("PATH", ""), ("KIND_SHA256", &sha)], cache.path());
    let error = install(&context, ToolName::Kind, &server).unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("sha256") || message.contains("checksum"),
        "{message}"
    );
    assert!(message.contains(&sha), "{message}");
    assert_eq!(everything_under(cache.path()), Vec::<String>::new());
}

fn a_truncated_body_leaves_nothing_and_says_so() {
    let cache = tempfile::tempdir().unwrap();
    let server = Server::start();
    // Every attempt drops the connection halfway, honest Content-Length and all.
    server.route(KIND_PATH, Reply::ok(KIND_SCRIPT).drop_after(10));
    let sha = sha256_hex(KIND_SCRIPT);
    let context = fakes::context(&[("PATH", ""), ("KIND_SHA256", &sha)], cache.path());
    let error = install(&context, ToolName::Kind, &server).unwrap_err();
    assert!(
        matches!(error, tools::InstallError::Download { .. }),
        "{error}"
    );
    assert!(error.to_string().contains(KIND_PATH), "{error}");
    assert_eq!(everything_under(cache.path()), Vec::<String>::new());
}

fn a_404_leaves_nothing_and_says_so() {
    let cache = tempfile::tempdir().unwrap();
    let server = Server::start();
    let sha = sha256_hex(KIND_SCRIPT);
    let context = fakes::context(&[("PATH", ""), ("KIND_SHA256", &sha)], cache.path());
    let error = install(&context, ToolName::Kind, &server).unwrap_err();
    assert!(error.to_string().contains("404"), "{error}");
    assert_eq!(everything_under(cache.path()), Vec::<String>::new());
}

fn tarball(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    for (name, bytes) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, name, *bytes).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

const HELM_PATH: &str = "/helm-v4.3.0-linux-amd64.tar.gz";

fn helm_is_extracted_from_its_verified_tarball() {
    let cache = tempfile::tempdir().unwrap();
    let archive = tarball(&[
        ("linux-amd64/LICENSE", b"license"),
        ("linux-amd64/helm", HELM_SCRIPT),
        ("linux-amd64/README.md", b"readme"),
    ]);
    let server = Server::start();
    server.route(HELM_PATH, Reply::ok(archive.clone()));
    let context = fakes::context(
        &[("PATH", ""), ("HELM_SHA256", &sha256_hex(&archive))],
        cache.path(),
    );
    let installed = install(&context, ToolName::Helm, &server).unwrap();
    assert_eq!(std::fs::read(&installed.path).unwrap(), HELM_SCRIPT);
    // Only the binary comes out of the archive; the archive itself is gone.
    assert_eq!(
        everything_under(&cache.path().join("helm/v4.3.0")),
        ["helm"]
    );
    let helm = tools::resolve(&exec::Shell::new(), &context, ToolName::Helm);
    assert_eq!(helm.verdict, Verdict::Ok, "{}", helm.describe());
}

fn a_tarball_without_the_binary_leaves_nothing() {
    let cache = tempfile::tempdir().unwrap();
    let archive = tarball(&[("darwin-arm64/helm", HELM_SCRIPT)]);
    let server = Server::start();
    server.route(HELM_PATH, Reply::ok(archive.clone()));
    let context = fakes::context(
        &[("PATH", ""), ("HELM_SHA256", &sha256_hex(&archive))],
        cache.path(),
    );
    let error = install(&context, ToolName::Helm, &server).unwrap_err();
    assert!(
        error.to_string().contains("has no linux-amd64/helm"),
        "{error}"
    );
    assert_eq!(everything_under(cache.path()), Vec::<String>::new());
}

fn ensure_installed_fetches_a_missing_pinned_tool_and_says_so() {
    let cache = tempfile::tempdir().unwrap();
    let server = Server::start();
    server.route(KIND_PATH, Reply::ok(KIND_SCRIPT));
    let context = fakes::context(
        &[
            ("PATH", &fakes::path_of(&["kind-0.29"])),
            ("KIND_SHA256", &sha256_hex(KIND_SCRIPT)),
        ],
        cache.path(),
    );
    let client = client();
    let real = tools::http_fetch(&client);
    let local =
        |url: &str, sha: &pins::Sha256, dest: &Path, progress: &mut dyn FnMut(u64, Option<u64>)| {
            let path = url.split_once("://").unwrap().1.split_once('/').unwrap().1;
            real(&server.url(path), sha, dest, progress)
        };
    let sh = exec::Shell::new();
    let (resolution, installed) =
        tools::ensure_installed(&sh, &context, ToolName::Kind, &local, &mut |_, _| {}).unwrap();
    assert!(installed.unwrap().downloaded);
    assert_eq!(resolution.verdict, Verdict::Ok, "{}", resolution.describe());
    assert_eq!(resolution.source, Some(tools::Source::Cache));
    assert!(
        resolution
            .notices
            .iter()
            .any(|notice| notice.starts_with("installed the pinned kind v0.33.0")),
        "{:?}",
        resolution.notices
    );
    // Usable now: a second call installs nothing.
    let (_, installed) =
        tools::ensure_installed(&sh, &context, ToolName::Kind, &local, &mut |_, _| {}).unwrap();
    assert!(installed.is_none());
}

fn a_mirror_serves_host_and_path_of_the_pinned_url() {
    let cache = tempfile::tempdir().unwrap();
    let context = fakes::context(&[], cache.path()).with_mirror(Some("http://127.0.0.1:9/".into()));
    let pins = fakes::real_pins();
    assert_eq!(
        context.download_url(ToolName::Helm).unwrap(),
        format!(
            "http://127.0.0.1:9/get.helm.sh/helm-{}-linux-amd64.tar.gz",
            pins.helm.version
        )
    );
    assert_eq!(context.download_url(ToolName::Docker), None);
}

pub(crate) fn tests() -> Vec<test_harness::Test> {
    test_harness::tests![
        the_right_file_installs_once_and_resolves_from_the_cache,
        a_wrong_checksum_leaves_nothing_and_says_so,
        a_truncated_body_leaves_nothing_and_says_so,
        a_404_leaves_nothing_and_says_so,
        helm_is_extracted_from_its_verified_tarball,
        a_tarball_without_the_binary_leaves_nothing,
        ensure_installed_fetches_a_missing_pinned_tool_and_says_so,
        a_mirror_serves_host_and_path_of_the_pinned_url,
    ]
}
