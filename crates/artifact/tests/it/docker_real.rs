//! With the real Docker engine: a FROM scratch image saved with `docker save` is served as a
//! release asset, fetched, verified and loaded, and its image ID lands in artifacts.json.

use std::time::{SystemTime, UNIX_EPOCH};

use artifact::record::{ImageSource, Role, Verification};
use docker::Docker;
use exec::Shell;
use testkit::http::Server;

use crate::{asset, checksums_txt, env, plan, publish, run_with};

fn docker_works() -> Result<(), String> {
    let sh = Shell::new();
    let output = sh
        .run(
            &Docker::new("docker")
                .version()
                .timeout(std::time::Duration::from_secs(20)),
        )
        .map_err(|error| error.to_string())?;
    let info = docker::parse_version(&output.stdout_str())?;
    info.server
        .map(|_| ())
        .ok_or_else(|| "the docker engine is not reachable".to_owned())
}

/// Removes the test image however the test ends.
struct ImageGuard<'a> {
    sh: &'a Shell,
    docker: &'a Docker,
    reference: String,
}

impl Drop for ImageGuard<'_> {
    fn drop(&mut self) {
        let _ = self.sh.run(&self.docker.image_remove(&self.reference));
    }
}

fn image_tarball_asset_is_fetched_verified_and_loaded() {
    if !testkit::require("dockerd", docker_works) {
        return;
    }
    let sh = Shell::new();
    let docker = Docker::new("docker");
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let reference = format!("release-gate-test/artifact:{}-{nanos}", std::process::id());
    let guard = ImageGuard {
        sh: &sh,
        docker: &docker,
        reference: reference.clone(),
    };

    let context = tempfile::tempdir().unwrap();
    std::fs::write(context.path().join("hello.txt"), format!("hello {nanos}\n")).unwrap();
    std::fs::write(
        context.path().join("Dockerfile"),
        "FROM scratch\nCOPY hello.txt /hello.txt\n",
    )
    .unwrap();
    sh.run(&docker.build(
        &context.path().join("Dockerfile"),
        &reference,
        context.path(),
        &[],
    ))
    .unwrap();
    let built = docker::parse_image_inspect(
        &sh.run(&docker.image_inspect(&reference))
            .unwrap()
            .stdout_str(),
    )
    .unwrap();
    let tarball = context.path().join("image.tar");
    sh.run(&docker.save(&tarball, &[&reference])).unwrap();
    // Gone from the engine: only the fetched asset can bring it back.
    sh.run(&docker.image_remove(&reference)).unwrap();

    let server = Server::start();
    let image = asset("image.tar", std::fs::read(&tarball).unwrap());
    let sums = checksums_txt(&[&image]);
    publish(&server, "v1.2.3", &[image, sums], false);
    let dest = tempfile::tempdir().unwrap();
    let mut plan = plan(dest.path());
    // No patterns: every asset is taken, and the one matching image_archives is loaded.
    plan.image_archives = vec!["*.tar".into()];
    let mut env = env(&server);
    env.docker = Some(docker.clone());
    let record = run_with(&plan, &env, &sh).result.unwrap().record;

    let tar = record
        .assets
        .iter()
        .find(|a| a.name == "image.tar")
        .unwrap();
    assert_eq!(tar.role, Role::ImageArchive);
    assert_eq!(
        tar.verification,
        Verification::ChecksumFile {
            file: "checksums.txt".into()
        }
    );
    assert_eq!(record.images.len(), 1, "{:?}", record.images);
    let loaded = &record.images[0];
    assert_eq!(loaded.id, built.id);
    assert_eq!(loaded.reference, reference);
    assert_eq!(
        loaded.source,
        ImageSource::Archive {
            asset: "image.tar".into()
        }
    );
    let written = std::fs::read_to_string(dest.path().join("artifacts.json")).unwrap();
    assert!(written.contains(&built.id), "{written}");
    drop(guard);
}

pub(crate) fn tests() -> Vec<test_harness::Test> {
    test_harness::tests![image_tarball_asset_is_fetched_verified_and_loaded,]
}
