//! Port-forwards against the fake kubectl, which prints kubectl's ready line and relays TCP to a
//! local server: the gateway URL, the health toggle, and that no child outlives its guard.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use cluster::kubectl::{Kubectl, Target};
use cluster::port_forward::{self, PortForward};
use fake_tools::{Rule, process_alive};

use crate::support::{Setup, data};

/// A tiny HTTP server on a free loopback port that records request lines and answers 200.
fn http_server() -> (std::net::SocketAddr, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            let _ = reader.read_line(&mut request_line);
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
                    break;
                }
            }
            log.lock().unwrap().push(request_line.trim().to_owned());
            let body = r#"{"pod":"infra-backend-v1-6b8f9c7d5-abcde"}"#;
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (address, seen)
}

fn gateway_url_reaches_the_gateway_service_through_kubectl() {
    let (backend, _) = http_server();
    let setup = Setup::new();
    setup.fakes.set_relay(backend).unwrap();
    setup
        .fakes
        .rule(Rule::new("kubectl", &["get", "services"]).stdout_file(data("services-gateway.json")))
        .unwrap();
    let sh = setup.fakes.shell();
    let kubectl = Kubectl::new("kubectl", setup.run.path().join("kubeconfig"));
    let forward = port_forward::gateway_port_forward(
        &sh,
        &kubectl,
        "gateway-conformance-infra",
        "same-namespace",
        80,
        Duration::from_secs(30),
    )
    .unwrap();
    assert_ne!(forward.local_port(), 0);

    let mut stream = std::net::TcpStream::connect(("127.0.0.1", forward.local_port())).unwrap();
    write!(
        stream,
        "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(
        response.starts_with("HTTP/1.1 200") && response.contains("infra-backend-v1"),
        "{response}"
    );

    let calls = setup.fakes.calls_of("kubectl");
    let get = &calls[0];
    assert_eq!(
        get.flag("--selector"),
        Some("gateway.networking.k8s.io/gateway-name=same-namespace")
    );
    let forward_call = calls
        .iter()
        .find(|call| call.has(&["port-forward"]))
        .unwrap();
    assert!(
        forward_call.has(&["port-forward", "service/same-namespace", ":80"]),
        "{}",
        forward_call.line()
    );
}

fn no_service_with_the_label_is_a_clear_error() {
    let setup = Setup::new();
    let sh = setup.fakes.shell();
    let kubectl = Kubectl::new("kubectl", setup.run.path().join("kubeconfig"));
    let error = port_forward::gateway_port_forward(
        &sh,
        &kubectl,
        "infra",
        "gw",
        80,
        Duration::from_secs(5),
    )
    .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("find the Service of gateway infra/gw"),
        "{error}"
    );
    assert!(
        format!("{error:?}").contains("gateway.networking.k8s.io/gateway-name=gw"),
        "{error:?}"
    );
}

fn health_toggle_posts_to_the_pod_not_the_gateway() {
    let (backend, seen) = http_server();
    let setup = Setup::new();
    setup.fakes.set_relay(backend).unwrap();
    let sh = setup.fakes.shell();
    let kubectl = Kubectl::new("kubectl", setup.run.path().join("kubeconfig"));
    port_forward::set_replica_health(&sh, &kubectl, "infra", "infra-backend-v1-abc", 3000, false)
        .unwrap();
    port_forward::set_replica_health(&sh, &kubectl, "infra", "infra-backend-v1-abc", 3000, true)
        .unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        [
            "POST /_echo/health/fail HTTP/1.1",
            "POST /_echo/health/ok HTTP/1.1"
        ]
    );
    let forwards: Vec<_> = setup
        .fakes
        .calls_of("kubectl")
        .into_iter()
        .filter(|call| call.has(&["port-forward"]))
        .collect();
    assert_eq!(forwards.len(), 2);
    assert!(
        forwards
            .iter()
            .all(|call| call.has(&["pod/infra-backend-v1-abc", ":3000"]))
    );
    // Each toggle's forward ended with it.
    for pid in setup.fakes.pids() {
        assert!(
            !process_alive(pid),
            "port-forward {pid} outlived its toggle"
        );
    }
}

fn a_port_forward_child_never_outlives_its_guard() {
    let (backend, _) = http_server();
    let setup = Setup::new();
    setup.fakes.set_relay(backend).unwrap();
    let sh = setup.fakes.shell();
    let kubectl = Kubectl::new("kubectl", setup.run.path().join("kubeconfig"));
    let target = Target {
        object: "service/gw",
        namespace: "infra",
    };
    let forward = PortForward::start(&sh, &kubectl, &target, 80, Duration::from_secs(30)).unwrap();
    let pid = forward.pid().unwrap();
    assert!(process_alive(pid));
    drop(forward);
    assert!(
        !process_alive(pid),
        "kubectl port-forward {pid} survived its guard"
    );
}

fn a_port_forward_that_never_gets_ready_is_killed() {
    let setup = Setup::new();
    setup
        .fakes
        .rule(Rule::new("kubectl", &["port-forward"]).hang())
        .unwrap();
    let sh = setup.fakes.shell();
    let kubectl = Kubectl::new("kubectl", setup.run.path().join("kubeconfig"));
    let target = Target {
        object: "service/gw",
        namespace: "infra",
    };
    let error = PortForward::start(&sh, &kubectl, &target, 80, Duration::from_secs(2)).unwrap_err();
    assert!(
        matches!(
            &error,
            cluster::ClusterError::Infra {
                source: exec::ExecError::TimedOut { .. },
                ..
            }
        ),
        "{error:?}"
    );
    let pids = setup.fakes.pids();
    assert_eq!(pids.len(), 1);
    assert!(!process_alive(pids[0]), "the stuck kubectl survived");
}

fn a_port_forward_that_exits_reports_kubectls_stderr() {
    let setup = Setup::new();
    setup
        .fakes
        .rule(
            Rule::new("kubectl", &["port-forward"])
                .stderr("error: error upgrading connection: pods \"x\" not found\n")
                .exit(1),
        )
        .unwrap();
    let sh = setup.fakes.shell();
    let kubectl = Kubectl::new("kubectl", setup.run.path().join("kubeconfig"));
    let target = Target {
        object: "pod/x",
        namespace: "infra",
    };
    let error =
        PortForward::start(&sh, &kubectl, &target, 80, Duration::from_secs(30)).unwrap_err();
    // kubectl exited without its ready line: a failure with its exit code, not a timeout.
    assert!(
        matches!(&error, cluster::ClusterError::Infra { source, .. } if source.exit_code() == Some(1)),
        "{error:?}"
    );
}

pub(crate) fn tests() -> Vec<test_harness::Test> {
    test_harness::tests![
        gateway_url_reaches_the_gateway_service_through_kubectl,
        no_service_with_the_label_is_a_clear_error,
        health_toggle_posts_to_the_pod_not_the_gateway,
        a_port_forward_child_never_outlives_its_guard,
        a_port_forward_that_never_gets_ready_is_killed,
        a_port_forward_that_exits_reports_kubectls_stderr,
    ]
}
