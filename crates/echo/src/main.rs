//! The echo binary, as deployed in the fixture's pods: configured from the environment the way
//! echo-basic is (`HTTP_PORT`, `POD_NAME`, `NAMESPACE`, `INGRESS_NAME`, `SERVICE_NAME`), logs each
//! echoed request to stdout, and serves until killed.
#![allow(clippy::print_stdout, clippy::print_stderr)] // a server binary's log is its stdout

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;

fn main() -> ExitCode {
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    let port_text = std::env::var("HTTP_PORT").unwrap_or_else(|_| "3000".to_owned());
    let Ok(port) = port_text.parse::<u16>() else {
        eprintln!("error: HTTP_PORT={port_text} is not a port number; set it to e.g. 3000");
        return ExitCode::from(2);
    };
    // ECHO_BIND_ADDRESS lets local runs stay on loopback; in a pod every interface is wanted.
    let bind_text = std::env::var("ECHO_BIND_ADDRESS").unwrap_or_default();
    let ip = if bind_text.is_empty() {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    } else {
        match bind_text.parse() {
            Ok(ip) => ip,
            Err(_) => {
                eprintln!(
                    "error: ECHO_BIND_ADDRESS={bind_text} is not an IP address; use e.g. 127.0.0.1"
                );
                return ExitCode::from(2);
            }
        }
    };
    let identity = echo::Identity {
        pod: var("POD_NAME"),
        namespace: var("NAMESPACE"),
        ingress: var("INGRESS_NAME"),
        service: var("SERVICE_NAME"),
        http_port: port_text.clone(),
    };
    let log: echo::RequestLog = Arc::new(|line: &str| {
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{line}");
    });
    let server = match echo::Server::start(SocketAddr::new(ip, port), identity, Some(log)) {
        Ok(server) => server,
        Err(error) => {
            eprintln!("error: cannot listen on {ip}:{port}: {error}");
            return ExitCode::from(1);
        }
    };
    println!(
        "Starting server, listening on port {}",
        server.local_addr().port()
    );
    let _ = std::io::stdout().flush();
    server.wait();
    ExitCode::SUCCESS
}
