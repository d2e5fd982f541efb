//! Every kubectl command this crate builds, run through a real kubectl client against an address
//! where nothing listens: kubectl must get as far as dialling the API server, which proves it
//! parsed every flag and subcommand we pass (an unknown flag fails before any network access).

use std::time::Duration;

use cluster::kubectl::{Get, Kubectl, Target};
use exec::{Cmd, Shell};

const FLAG_ERRORS: [&str; 6] = [
    "unknown flag",
    "unknown shorthand flag",
    "unknown command",
    "flag needs an argument",
    "invalid argument",
    "required flag",
];

fn a_real_kubectl_parses_every_command_we_build() {
    let Some(program) = testkit::find_program("kubectl", "KUBECTL") else {
        testkit::require("a kubectl client", || {
            Err("kubectl is not on PATH".to_owned())
        });
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    // A token user: kubectl must not stop to prompt for a username.
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    server: https://127.0.0.1:1\n  name: nowhere\ncontexts:\n- context:\n    cluster: nowhere\n    user: nowhere\n  name: nowhere\ncurrent-context: nowhere\nusers:\n- name: nowhere\n  user:\n    token: not-a-secret\n",
    )
    .unwrap();
    let manifest = dir.path().join("namespace.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: x\n",
    )
    .unwrap();

    let kubectl = Kubectl::new(&program, &kubeconfig);
    let target = Target {
        object: "deployment/infra-backend-v1",
        namespace: "gateway-conformance-infra",
    };
    let commands: Vec<Cmd> = vec![
        kubectl.apply_server_side(&manifest.to_string_lossy()),
        kubectl.wait_condition(
            &[
                "crd/gateways.gateway.networking.k8s.io",
                "crd/httproutes.gateway.networking.k8s.io",
            ],
            None,
            "Established",
            Duration::from_secs(5),
        ),
        kubectl.wait_condition(
            &["gateway/g"],
            Some("ns"),
            "Programmed",
            Duration::from_secs(5),
        ),
        kubectl.rollout_status(&target, Duration::from_secs(5)),
        kubectl.get_json(&Get {
            resource: "gateways.gateway.networking.k8s.io",
            name: Some("conformance-gateway"),
            namespace: Some("gateway-conformance-infra"),
            selector: None,
        }),
        kubectl.get_json(&Get {
            resource: "services",
            name: None,
            namespace: Some("gateway-conformance-infra"),
            selector: Some("gateway.networking.k8s.io/gateway-name=conformance-gateway"),
        }),
        kubectl
            .port_forward(&target, 3000)
            .timeout(Duration::from_secs(30)),
        kubectl.logs(&target, 200),
        kubectl.events(),
        kubectl.describe("gateways", None),
        kubectl.describe("pods", Some("gateway-conformance-infra")),
    ];
    let sh = Shell::new();
    for cmd in commands {
        let output = sh
            .run_unchecked(&cmd)
            .unwrap_or_else(|error| panic!("{error}"));
        let stderr = output.stderr_str();
        assert!(!output.status.success(), "{cmd} succeeded against nothing");
        for flag_error in FLAG_ERRORS {
            assert!(
                !stderr.contains(flag_error),
                "kubectl rejected `{cmd}`: {stderr}"
            );
        }
        assert!(
            stderr.contains("127.0.0.1:1") || stderr.contains("connection refused"),
            "kubectl stopped before dialling the server for `{cmd}`: {stderr}"
        );
    }

    // The check has teeth: a flag kubectl does not know fails before dialling.
    let bogus = Cmd::new(&program, "kubectl with a made-up flag")
        .args(["--kubeconfig"])
        .arg(&kubeconfig)
        .args(["apply", "--server-side-please", "-f"])
        .arg(&manifest);
    let stderr = sh.run_unchecked(&bogus).unwrap().stderr_str();
    assert!(stderr.contains("unknown flag"), "{stderr}");
}

pub(crate) fn tests() -> Vec<test_harness::Test> {
    test_harness::tests![a_real_kubectl_parses_every_command_we_build,]
}
