//! Node images per Kubernetes minor, the kubectl within skew of each, and narrowing the pins
//! to one minor.

use super::{env, error_for, linux_amd64, real_pins, real_text};

#[test]
fn every_pinned_minor_has_an_image_and_the_default_is_among_them() {
    let pins = real_pins();
    assert_eq!(pins.kubernetes_minors(), ["1.37", "1.36", "1.35", "1.34"]);
    assert!(pins.node_images.contains(&pins.node_image));
    assert_eq!(pins.node_image.kubernetes.to_string(), "v1.37.0");
    for image in &pins.node_images {
        assert!(image.reference.starts_with("kindest/node:v1."), "{image:?}");
        assert!(
            pins.kubectl_for(&image.kubernetes).is_some(),
            "{} has no kubectl within skew",
            image.reference
        );
    }
}

#[test]
fn narrowing_picks_the_image_and_the_closest_kubectl() {
    let pins = real_pins();
    for (minor, image, kubectl) in [
        ("1.37", "v1.37.0", "v1.37.1"),
        ("v1.36", "v1.36.4", "v1.37.1"), // both pins are one minor away: the newer one
        ("1.35", "v1.35.8", "v1.35.8"),
        ("1.34", "v1.34.11", "v1.35.8"),
    ] {
        let narrowed = pins.for_kubernetes(minor).unwrap();
        assert_eq!(narrowed.node_image.kubernetes.to_string(), image, "{minor}");
        assert_eq!(narrowed.kubectl.version.to_string(), kubectl, "{minor}");
        assert!(narrowed.kubectl.also.is_empty());
        // The checksums travel with the release: v1.35.8's are not v1.37.1's.
        let checksum = narrowed.kubectl.sha256_for(&linux_amd64()).unwrap();
        let expected = if kubectl == "v1.35.8" {
            "874d5e72dbb819f43cff16bcd1e4f8bac5b7f2361fe1e55049b0a6c676fb0cbf"
        } else {
            "65691ff77eb6fa44c908b77a1082c9f092c3b9733b5cefabec0d1104890e21a8"
        };
        assert_eq!(checksum.as_hex(), expected, "{minor}");
        // Everything else stays.
        assert_eq!(narrowed.node_images, pins.node_images);
        assert_eq!(narrowed.kind.version, pins.kind.version);
    }
}

#[test]
fn a_minor_without_an_image_or_not_a_minor_is_refused_with_the_choices() {
    let pins = real_pins();
    let error = pins.for_kubernetes("1.32").unwrap_err();
    assert!(
        error.contains("no node image for Kubernetes 1.32")
            && error.contains("1.37, 1.36, 1.35, 1.34"),
        "{error}"
    );
    let error = pins.for_kubernetes("1.35.8").unwrap_err();
    assert!(error.contains("such as 1.35"), "{error}");
}

#[test]
fn kind_node_image_names_the_only_image() {
    let image = "kindest/node:v1.36.1@sha256:3489c7674813ba5d8b1a9977baea8a6e553784dab7b84759d1014dbd78f7ebd5";
    let (pins, used) = real_pins()
        .with_overrides(&env(&[("KIND_NODE_IMAGE", image)]), &linux_amd64())
        .unwrap();
    assert_eq!(used.len(), 1);
    assert_eq!(pins.node_images.len(), 1);
    assert_eq!(pins.node_image.reference, image);
    // Its own minor is the one it can name; any other is refused with both ways out.
    assert_eq!(
        pins.for_kubernetes("1.36").unwrap().node_image.reference,
        image
    );
    let error = pins.for_kubernetes("1.35").unwrap_err();
    assert!(
        error.contains("KIND_NODE_IMAGE names one image")
            && error.contains("unset KIND_NODE_IMAGE, or pass --kubernetes 1.36 alone"),
        "{error}"
    );
}

#[test]
fn a_kubectl_override_naming_the_default_pin_still_names_every_cluster_s_kubectl() {
    let default = real_pins().kubectl.version.with_v();
    let (pins, used) = real_pins()
        .with_overrides(&env(&[("KUBECTL_VERSION", &default)]), &linux_amd64())
        .unwrap();
    // Nothing replaced, so nothing announced; but no other pinned kubectl is chosen either.
    assert!(used.is_empty());
    assert!(pins.kubectl.also.is_empty());
    assert!(pins.kubectl.sha256_for(&linux_amd64()).is_some());
    assert!(pins.for_kubernetes("1.34").is_err());
}

#[test]
fn a_kubectl_override_is_every_cluster_s_kubectl_and_must_be_within_skew() {
    let (pins, used) = real_pins()
        .with_overrides(&env(&[("KUBECTL_VERSION", "v1.36.2")]), &linux_amd64())
        .unwrap();
    assert_eq!(used.len(), 1);
    assert!(pins.kubectl.also.is_empty());
    // Unpinned release: no checksum until KUBECTL_SHA256 gives one.
    assert!(pins.kubectl.sha256_for(&linux_amd64()).is_none());
    for minor in ["1.37", "1.36", "1.35"] {
        assert_eq!(
            pins.for_kubernetes(minor)
                .unwrap()
                .kubectl
                .version
                .to_string(),
            "v1.36.2"
        );
    }
    let error = pins.for_kubernetes("1.34").unwrap_err();
    assert!(
        error.contains(
            "kubectl v1.36.2 is more than one minor version away from Kubernetes v1.34.11"
        ) && error.contains("KUBECTL_VERSION"),
        "{error}"
    );
}

#[test]
fn overriding_kubectl_with_a_pinned_release_keeps_its_checksums() {
    let (pins, _) = real_pins()
        .with_overrides(&env(&[("KUBECTL_VERSION", "v1.35.8")]), &linux_amd64())
        .unwrap();
    assert_eq!(
        pins.kubectl.sha256_for(&linux_amd64()).unwrap().as_hex(),
        "874d5e72dbb819f43cff16bcd1e4f8bac5b7f2361fe1e55049b0a6c676fb0cbf"
    );
}

#[test]
fn two_images_of_one_minor_are_refused_at_the_second() {
    let real = real_text();
    let pinned = "    \"kindest/node:v1.35.8@sha256:07b2536e30b803ed61d1677a79df6115f798ce64c80f9e22f6ed45afd09323c0\",\n";
    assert!(real.contains(pinned));
    let second = "    \"kindest/node:v1.35.5@sha256:ce977ae6d65918d0b58a5f8b5e940429c2ce42fa3a5619ec2bbc60b949c0ac95\",\n";
    let text = real.replace(pinned, &format!("{pinned}{second}"));
    let error = error_for(&text);
    assert!(
        error.message.contains("second image for Kubernetes 1.35"),
        "{error}"
    );
    let line = text.lines().position(|l| l.contains("v1.35.5@")).unwrap() + 1;
    assert_eq!(error.line_col.map(|(l, _)| l), Some(line), "{error}");
}

#[test]
fn an_undigested_other_image_is_refused_at_its_line() {
    let real = real_text();
    let pinned = "\"kindest/node:v1.34.11@sha256:44e222ee2132dab25ff87301682f89eb82c7880ea3a1bf543bfe9708fd08d67d\"";
    let text = real.replace(pinned, "\"kindest/node:v1.34.11\"");
    let error = error_for(&text);
    assert!(error.message.contains("no @sha256 digest"), "{error}");
    let line = text
        .lines()
        .position(|l| l.contains("\"kindest/node:v1.34.11\""))
        .unwrap()
        + 1;
    assert_eq!(error.line_col.map(|(l, _)| l), Some(line), "{error}");
}

#[test]
fn only_kubectl_pins_further_releases() {
    let real = real_text();
    let text = real.replace(
        "[helm.sha256]",
        "[[helm.also]]\nversion = \"v4.2.0\"\n[helm.also.sha256]\n\n[helm.sha256]",
    );
    let error = error_for(&text);
    assert!(
        error.message.contains("only kubectl pins further releases"),
        "{error}"
    );
}
