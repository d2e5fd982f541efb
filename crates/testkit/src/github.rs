//! A release as GitHub's REST API shows it, served by the local [`Server`]: what the artifact,
//! verify-release and benchmark tests fetch instead of github.com.

use crate::http::{Reply, Server};

/// Serves release `tag` of `repo` (`OWNER/NAME`) at `repos/{repo}/releases/tags/{tag}`, each
/// asset at `download/{tag}/{name}` with `Range` support, the JSON listing each asset's name,
/// size and download URL.
pub fn serve_release(server: &Server, repo: &str, tag: &str, assets: &[(String, Vec<u8>)]) {
    let listed: Vec<serde_json::Value> = assets
        .iter()
        .map(|(name, body)| {
            serde_json::json!({
                "name": name,
                "size": body.len(),
                "browser_download_url": server.url(&format!("download/{tag}/{name}")),
            })
        })
        .collect();
    let release = serde_json::json!({
        "tag_name": tag, "draft": false, "prerelease": false,
        "html_url": format!("https://github.com/{repo}/releases/tag/{tag}"), "assets": listed,
    });
    server.route(
        &format!("repos/{repo}/releases/tags/{tag}"),
        Reply::json(release.to_string()),
    );
    for (name, body) in assets {
        server.route(
            &format!("download/{tag}/{name}"),
            Reply::ok(body.clone()).ranges(),
        );
    }
}
