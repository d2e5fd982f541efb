//! Images through a fake docker CLI (a script): pulls are recorded with their registry
//! digest, and a published digest list is enforced.

use std::path::{Path, PathBuf};

use artifact::ArtifactError;
use artifact::record::ImageSource;
use testkit::http::Server;

use crate::{asset, checksums_txt, env, plan, publish, run_with};

const SERVED: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

/// A docker that "pulls" anything and reports every image with the digest `SERVED`.
fn fake_docker(dir: &Path) -> PathBuf {
    testkit::fake_docker(dir, SERVED)
}

fn release_with_manifest_and_list(server: &Server, listed_digest: &str) {
    let manifest = asset(
        "install.yaml",
        "kind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n      - name: c\n        image: cr.example/controller:v1.2.3\n",
    );
    let list = asset(
        "images.txt",
        format!("cr.example/controller:v1.2.3@sha256:{listed_digest}\n"),
    );
    let sums = checksums_txt(&[&manifest, &list]);
    publish(server, "v1.2.3", &[manifest, list, sums], false);
}

fn config_and_manifest_images_are_pulled_and_match_the_digest_list() {
    let server = Server::start();
    release_with_manifest_and_list(&server, SERVED);
    let tools = tempfile::tempdir().unwrap();
    let dest = tempfile::tempdir().unwrap();
    let mut plan = plan(dest.path());
    plan.images = vec!["cr.example/proxy:{version}".into()];
    plan.digest_list = Some("images.txt".into());
    let mut env = env(&server);
    env.docker = Some(docker::Docker::new(fake_docker(tools.path())));
    let record = run_with(&plan, &env, &exec::Shell::new())
        .result
        .unwrap()
        .record;
    let references: Vec<&str> = record.images.iter().map(|i| i.reference.as_str()).collect();
    assert_eq!(
        references,
        ["cr.example/proxy:v1.2.3", "cr.example/controller:v1.2.3"]
    );
    let controller = &record.images[1];
    assert_eq!(
        controller.source,
        ImageSource::Manifest {
            asset: "install.yaml".into()
        }
    );
    assert_eq!(
        controller.digest.as_deref(),
        Some(format!("cr.example/controller@sha256:{SERVED}").as_str())
    );
    assert_eq!(
        controller.published_digest.as_deref(),
        Some(format!("sha256:{SERVED}").as_str())
    );
    assert_eq!(
        record.images[0].published_digest, None,
        "proxy is not in the list"
    );
    let log = std::fs::read_to_string(tools.path().join("docker.log")).unwrap();
    assert!(
        log.contains("pull --quiet cr.example/controller:v1.2.3"),
        "{log}"
    );
}

fn a_digest_that_differs_from_the_published_list_fails() {
    let server = Server::start();
    release_with_manifest_and_list(&server, &"b".repeat(64));
    let tools = tempfile::tempdir().unwrap();
    let dest = tempfile::tempdir().unwrap();
    let mut plan = plan(dest.path());
    plan.digest_list = Some("images.txt".into());
    let mut env = env(&server);
    env.docker = Some(docker::Docker::new(fake_docker(tools.path())));
    let result = run_with(&plan, &env, &exec::Shell::new()).result;
    match result {
        Err(ArtifactError::ImageDigestMismatch {
            reference,
            published,
            ..
        }) => {
            assert_eq!(reference, "cr.example/controller:v1.2.3");
            assert_eq!(published, format!("sha256:{}", "b".repeat(64)));
        }
        other => panic!("{other:?}"),
    }
    assert!(!dest.path().join("artifacts.json").exists());
}

fn images_without_docker_are_a_clear_error() {
    let server = Server::start();
    release_with_manifest_and_list(&server, SERVED);
    let dest = tempfile::tempdir().unwrap();
    let result = run_with(&plan(dest.path()), &env(&server), &exec::Shell::new()).result;
    let error = result.unwrap_err();
    assert!(
        matches!(error, ArtifactError::DockerMissing { .. }),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("cr.example/controller:v1.2.3"),
        "{error}"
    );
}

pub(crate) fn tests() -> Vec<test_harness::Test> {
    test_harness::tests![
        config_and_manifest_images_are_pulled_and_match_the_digest_list,
        a_digest_that_differs_from_the_published_list_fails,
        images_without_docker_are_a_clear_error,
    ]
}
