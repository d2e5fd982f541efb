//! The fake `helm`: installs and upgrades recorded, releases listed.

use std::path::Path;

use crate::{flag_value, positionals, version_of};

pub(crate) fn helm(state: &Path, args: &[String]) -> i32 {
    let positional = positionals(args);
    let words: Vec<&str> = positional.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["version", ..] => {
            let version = version_of(state, "helm", "v4.3.0");
            if flag_value(args, &["--template"]).is_some() {
                // `helm version --template '{{.Version}}'` prints the bare version, no newline.
                print!("{version}");
            } else {
                println!(
                    "version.BuildInfo{{Version:\"{version}\", GitCommit:\"\", GoVersion:\"go1.25.5\"}}"
                );
            }
            0
        }
        ["upgrade", release, _chart] => {
            let namespace =
                flag_value(args, &["--namespace", "-n"]).unwrap_or_else(|| "default".to_owned());
            println!("Release \"{release}\" does not exist. Installing it now.");
            println!("NAME: {release}");
            println!("NAMESPACE: {namespace}");
            println!("STATUS: deployed");
            println!("REVISION: 1");
            0
        }
        ["list", ..] => {
            println!("[]");
            0
        }
        _ => {
            eprintln!("Error: unknown command {words:?} for \"helm\"");
            1
        }
    }
}
