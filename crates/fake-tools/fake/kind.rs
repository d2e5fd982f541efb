//! The fake `kind`: clusters created, listed, exported and deleted in the state folder.

use std::env;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::{flag_value, positionals, read_clusters, update_clusters, version_of};

pub(crate) fn kind(state: &Path, args: &[String]) -> i32 {
    let positional = positionals(args);
    let words: Vec<&str> = positional.iter().map(String::as_str).collect();
    let name = flag_value(args, &["--name", "-n"]).unwrap_or_else(|| "kind".to_owned());
    let mut clusters = read_clusters(state);
    match words.as_slice() {
        ["version"] => {
            println!(
                "kind {} go1.25.5 linux/amd64",
                version_of(state, "kind", "v0.33.0")
            );
            0
        }
        ["get", "clusters"] => {
            if clusters.is_empty() {
                eprintln!("No kind clusters found.");
            }
            for cluster in &clusters {
                println!("{cluster}");
            }
            0
        }
        ["create", "cluster"] => {
            if clusters.contains(&name) {
                eprintln!(
                    "ERROR: failed to create cluster: node(s) already exist for a cluster with the name \"{name}\""
                );
                return 1;
            }
            if let Some(config) = flag_value(args, &["--config"])
                && config != "-"
                && !Path::new(&config).is_file()
            {
                eprintln!(
                    "ERROR: failed to create cluster: error reading file: open {config}: no such file or directory"
                );
                return 1;
            }
            let image = flag_value(args, &["--image"]).unwrap_or_else(|| "kindest/node".to_owned());
            eprintln!("Creating cluster \"{name}\" ...");
            eprintln!(" ✓ Ensuring node image ({image}) 🖼");
            eprintln!(" ✓ Preparing nodes 📦");
            let taken = update_clusters(state, |clusters| {
                let taken = clusters.contains(&name);
                if !taken {
                    clusters.push(name.clone());
                }
                taken
            });
            if taken {
                eprintln!(
                    "ERROR: failed to create cluster: node(s) already exist for a cluster with the name \"{name}\""
                );
                return 1;
            }
            if let Err(error) = write_kubeconfig(args, &name) {
                eprintln!("ERROR: failed to create cluster: failed to write kubeconfig: {error}");
                return 1;
            }
            eprintln!("Set kubectl context to \"kind-{name}\"");
            0
        }
        ["export", "kubeconfig"] => {
            if !clusters.contains(&name) {
                eprintln!(
                    "ERROR: could not locate any control plane nodes for cluster named '{name}'. Use the --name option to select a different cluster"
                );
                return 1;
            }
            if let Err(error) = write_kubeconfig(args, &name) {
                eprintln!("ERROR: failed to write kubeconfig: {error}");
                return 1;
            }
            eprintln!("Set kubectl context to \"kind-{name}\"");
            0
        }
        ["delete", "cluster"] => {
            eprintln!("Deleting cluster \"{name}\" ...");
            update_clusters(state, |clusters| clusters.retain(|cluster| cluster != &name));
            0
        }
        ["export", "logs", rest @ ..] => {
            if !clusters.contains(&name) {
                eprintln!("ERROR: unknown cluster \"{name}\"");
                return 1;
            }
            let dir = rest
                .first()
                .map_or_else(|| state.join("kind-logs"), PathBuf::from);
            let _ = fs::create_dir_all(dir.join(format!("{name}-control-plane")));
            let _ = fs::write(dir.join("kind-version.txt"), "kind v0.33.0\n");
            eprintln!("Exported logs for cluster \"{name}\" to:");
            println!("{}", dir.display());
            0
        }
        ["load", "docker-image", images @ ..] if !images.is_empty() => {
            if !clusters.contains(&name) {
                eprintln!("ERROR: no nodes found for cluster \"{name}\"");
                return 1;
            }
            for image in images {
                eprintln!(
                    "Image: \"{image}\" with ID \"sha256:0000\" not yet present on node \"{name}-control-plane\", loading..."
                );
            }
            0
        }
        ["load", "image-archive", archive] => {
            if !Path::new(archive).is_file() {
                eprintln!("ERROR: stat {archive}: no such file or directory");
                return 1;
            }
            if !clusters.contains(&name) {
                eprintln!("ERROR: no nodes found for cluster \"{name}\"");
                return 1;
            }
            0
        }
        _ => {
            eprintln!("ERROR: unknown command {words:?} for \"kind\"");
            1
        }
    }
}

/// Writes a kubeconfig for cluster `name` where kind would: `--kubeconfig`, else `$KUBECONFIG`,
/// else `$HOME/.kube/config` (so a test notices when the user's file would be touched).
fn write_kubeconfig(args: &[String], name: &str) -> io::Result<()> {
    let kubeconfig = flag_value(args, &["--kubeconfig"])
        .or_else(|| env::var("KUBECONFIG").ok())
        .unwrap_or_else(|| format!("{}/.kube/config", env::var("HOME").unwrap_or_default()));
    let path = Path::new(&kubeconfig);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    let contents = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    server: https://127.0.0.1:6443\n  name: kind-{name}\ncontexts:\n- context:\n    cluster: kind-{name}\n    user: kind-{name}\n  name: kind-{name}\ncurrent-context: kind-{name}\nusers:\n- name: kind-{name}\n  user: {{}}\n"
    );
    fs::write(path, contents)
}
