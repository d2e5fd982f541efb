//! The docker driver against the real engine (skipped, or failing under CI=true, without one):
//! a FROM scratch image is built, inspected for its ID, saved and loaded back.

use docker::Docker;
use exec::Shell;

fn engine_usable(sh: &Shell, docker: &Docker) -> Result<(), String> {
    let output = sh
        .run_unchecked(&docker.version())
        .map_err(|error| error.to_string())?;
    let info = docker::parse_version(&output.stdout_str())?;
    info.server
        .map(|_| ())
        .ok_or_else(|| "the docker engine is not running".to_owned())
}

fn inspect_save_and_load_a_local_image() {
    let sh = Shell::new();
    let docker = Docker::new("docker");
    if !testkit::require("dockerd", || engine_usable(&sh, &docker)) {
        return;
    }
    let context = tempfile::tempdir().unwrap();
    std::fs::write(context.path().join("hello.txt"), b"cluster crate test\n").unwrap();
    std::fs::write(
        context.path().join("Dockerfile"),
        "FROM scratch\nCOPY hello.txt /hello.txt\nLABEL org.example.test=cluster\n",
    )
    .unwrap();
    // A unique tag per run: tests in parallel (or a previous run) never share an image.
    let tag = format!("release-gate-test/cluster:{}", std::process::id());
    sh.run(&docker.build(
        &context.path().join("Dockerfile"),
        &tag,
        context.path(),
        &[],
    ))
    .unwrap();

    let found = cluster::images::inspect(&sh, &docker, &tag)
        .unwrap()
        .expect("image exists");
    assert!(found.id.starts_with("sha256:"), "{found:?}");
    assert!(
        found.repo_digests.is_empty(),
        "a local build has no registry digest"
    );
    // The archive `kind load image-archive` gets, saved as the cluster stage saves it.
    let archive = context.path().join("image.tar");
    sh.run(&cluster::images::save_command(
        &docker, &tag, None, &archive,
    ))
    .unwrap();
    assert!(archive.metadata().unwrap().len() > 0);
    sh.run(&docker.image_remove(&tag)).unwrap();
    assert_eq!(cluster::images::inspect(&sh, &docker, &tag).unwrap(), None);

    let output = sh.run(&docker.load(&archive)).unwrap();
    assert_eq!(
        docker::parse_load(&output.stdout_str()),
        std::slice::from_ref(&tag)
    );
    let again = cluster::images::inspect(&sh, &docker, &tag)
        .unwrap()
        .expect("loaded back");
    assert_eq!(again.id, found.id, "save/load changed the image");
    let _ = sh.run(&docker.image_remove(&tag));
}

fn inspecting_a_missing_image_is_none_not_an_error() {
    let sh = Shell::new();
    let docker = Docker::new("docker");
    if !testkit::require("dockerd", || engine_usable(&sh, &docker)) {
        return;
    }
    let missing = format!("release-gate-test/missing:{}", std::process::id());
    assert_eq!(
        cluster::images::inspect(&sh, &docker, &missing).unwrap(),
        None
    );
}

pub(crate) fn tests() -> Vec<test_harness::Test> {
    test_harness::tests![
        inspect_save_and_load_a_local_image,
        inspecting_a_missing_image_is_none_not_an_error,
    ]
}
