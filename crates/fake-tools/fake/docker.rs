//! The fake `docker`, as far as the cluster flow needs: version, image inspect, pull, save,
//! build (registers its tag), run, container inspect and rm of named containers, and `ps` of
//! kind's node containers.

use std::fs;
use std::path::Path;

use crate::{flag_value, positionals, read_clusters, version_of};

/// Images the fake docker engine holds: one reference per line in the state's `images`.
fn read_images(state: &Path) -> Vec<String> {
    fs::read_to_string(state.join("images"))
        .unwrap_or_default()
        .lines()
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A stable fake image ID for a reference (not a real digest: the engine is a fake).
fn image_id(reference: &str) -> String {
    let mut hash: u64 = 0xcbf29ce484222325;
    for byte in reference.bytes() {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x100000001b3);
    }
    format!("sha256:{hash:016x}{hash:016x}{hash:016x}{hash:016x}")
}

/// Just enough of the docker CLI for the cluster flow: version, image inspect, pull, save,
/// build (registers its tag), run and rm (a container that does nothing), and `ps` of kind's
/// node containers (one per fake cluster).
pub(crate) fn docker(state: &Path, args: &[String]) -> i32 {
    let positional = positionals(args);
    let words: Vec<&str> = positional
        .iter()
        .filter(|arg| !arg.contains("{{"))
        .map(String::as_str)
        .collect();
    let mut images = read_images(state);
    match words.as_slice() {
        ["version", ..] => {
            println!(
                "{{\"Client\":{{\"Version\":\"28.2.2\",\"ApiVersion\":\"1.41\"}},\"Server\":{{\"Version\":\"{}\",\"ApiVersion\":\"1.41\"}}}}",
                version_of(state, "docker", "20.10.24")
            );
            0
        }
        ["image", "inspect", reference] => {
            if images.iter().any(|image| image == reference) {
                println!(
                    "{{\"Id\":\"{}\",\"RepoTags\":[\"{reference}\"],\"RepoDigests\":[],\"Config\":{{}}}}",
                    image_id(reference)
                );
                0
            } else {
                eprintln!("Error response from daemon: No such image: {reference}");
                1
            }
        }
        ["save", reference] => {
            // `docker save [--platform P] --output FILE REF`: an archive naming the image.
            if !images.iter().any(|image| image == reference) {
                eprintln!("Error response from daemon: reference does not exist");
                return 1;
            }
            let Some(output) = flag_value(args, &["--output", "-o"]) else {
                eprintln!("fake docker: save without --output is not scripted");
                return 1;
            };
            match fs::write(&output, format!("fake docker save of {reference}\n")) {
                Ok(()) => 0,
                Err(error) => {
                    eprintln!("Error: failed to save: open {output}: {error}");
                    1
                }
            }
        }
        ["build", ..] => {
            // `docker build --tag T …`: the engine now holds T.
            let Some(tag) = flag_value(args, &["--tag", "-t"]) else {
                eprintln!("fake docker: build without --tag is not scripted");
                return 1;
            };
            images.push(tag.clone());
            let _ = fs::write(state.join("images"), images.join("\n") + "\n");
            println!("Successfully built {}", &image_id(&tag)[7..19]);
            println!("Successfully tagged {tag}");
            0
        }
        ["run", ..] => {
            // A named container is a folder: created atomically, so two runs racing for one
            // name see the engine's conflict, as with the real one.
            if let Some(name) = flag_value(args, &["--name"]) {
                let _ = fs::create_dir_all(state.join("containers"));
                if fs::create_dir(state.join("containers").join(&name)).is_err() {
                    eprintln!(
                        "docker: Error response from daemon: Conflict. The container name \"/{name}\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.",
                        &image_id(&name)[7..]
                    );
                    return 125;
                }
            }
            println!("{}", &image_id(&args.join(" "))[7..]);
            0
        }
        ["container", "inspect", name] => {
            if state.join("containers").join(name).is_dir() {
                println!("true");
                0
            } else {
                eprintln!("Error: No such container: {name}");
                1
            }
        }
        ["ps", ..] if args.iter().any(|arg| arg == "label=io.x-k8s.kind.cluster") => {
            // kind's node containers carry the cluster's name: one control-plane node each.
            for cluster in read_clusters(state) {
                println!("{cluster}");
            }
            0
        }
        ["rm", ..] => {
            if let Some(name) = words.last() {
                let _ = fs::remove_dir(state.join("containers").join(name));
                println!("{name}");
            }
            0
        }
        ["pull", reference] => {
            images.push((*reference).to_owned());
            let _ = fs::write(state.join("images"), images.join("\n") + "\n");
            println!("{reference}");
            0
        }
        _ => {
            eprintln!("fake docker: {words:?} is not scripted; add a rule");
            1
        }
    }
}
