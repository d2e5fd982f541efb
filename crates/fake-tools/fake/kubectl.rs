//! The fake `kubectl`: versions, the answers tests script, and port-forwards that relay to a
//! local address.

use std::fs;
use std::io::{self, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::thread;

use crate::{flag_value, flag_values, note_pid, positionals, version_of};

pub(crate) fn kubectl(state: &Path, args: &[String], relay: Option<String>) -> i32 {
    let positional = positionals(args);
    let words: Vec<&str> = positional.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["version"] => {
            let client = format!(
                "\"clientVersion\":{{\"gitVersion\":\"{}\"}},\"kustomizeVersion\":\"v5.7.1\"",
                version_of(state, "kubectl", "v1.37.1")
            );
            if args.iter().any(|arg| arg == "--client") {
                println!("{{{client}}}");
                return 0;
            }
            // Without --client, kubectl asks the API server too: the fake's server runs
            // `versions` key `kubernetes` (default the default node image's); `unreachable`
            // answers as real kubectl does when the server refuses the connection.
            match version_of(state, "kubernetes", "v1.37.0").as_str() {
                "unreachable" => {
                    println!("{{{client}}}");
                    eprintln!(
                        "The connection to the server 127.0.0.1:6443 was refused - did you specify the right host or port?"
                    );
                    1
                }
                server => {
                    println!("{{{client},\"serverVersion\":{{\"gitVersion\":\"{server}\"}}}}");
                    0
                }
            }
        }
        ["apply", ..] => {
            for file in flag_values(args, "-f")
                .into_iter()
                .chain(flag_values(args, "--filename"))
            {
                let remote = file.starts_with("https://") || file.starts_with("http://");
                if !remote && !Path::new(&file).exists() {
                    eprintln!("error: the path \"{file}\" does not exist");
                    return 1;
                }
                println!("applied {file} serverside-applied");
            }
            0
        }
        ["port-forward", _target, ports @ ..] => port_forward(state, ports, relay),
        ["get", _resource, _name, ..] => {
            eprintln!(
                "Error from server (NotFound): the fake has no recorded answer for {words:?}"
            );
            1
        }
        ["get", ..] => {
            if flag_value(args, &["-o", "--output"]).as_deref() == Some("json") {
                println!(
                    "{{\"apiVersion\":\"v1\",\"items\":[],\"kind\":\"List\",\"metadata\":{{\"resourceVersion\":\"\"}}}}"
                );
            } else {
                eprintln!("No resources found");
            }
            0
        }
        ["wait", ..] => {
            println!("condition met");
            0
        }
        ["rollout", "status", target] => {
            println!("{target} successfully rolled out");
            0
        }
        ["logs", ..] | ["describe", ..] => 0,
        _ => 0,
    }
}

/// Prints kubectl's ready line and relays every connection to the relay address.
fn port_forward(state: &Path, ports: &[&str], relay: Option<String>) -> i32 {
    let Some(spec) = ports.first() else {
        eprintln!("error: TYPE/NAME and list of ports are required for port-forward");
        return 1;
    };
    let (local, remote) = match spec.split_once(':') {
        Some((local, remote)) => (local.to_owned(), remote.to_owned()),
        None => (spec.to_string(), spec.to_string()),
    };
    let relay = relay
        .or_else(|| fs::read_to_string(state.join("relay")).ok())
        .map(|text| text.trim().to_owned());
    let local_port: u16 = if local.is_empty() {
        0
    } else {
        local.parse().unwrap_or(0)
    };
    let listener = match TcpListener::bind(("127.0.0.1", local_port)) {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("Unable to listen on port {local_port}: {error}");
            eprintln!(
                "error: unable to listen on any of the requested ports: [{{{local_port} {remote}}}]"
            );
            return 1;
        }
    };
    let port = listener.local_addr().map(|addr| addr.port()).unwrap_or(0);
    note_pid(state);
    println!("Forwarding from 127.0.0.1:{port} -> {remote}");
    let _ = io::stdout().flush();
    for stream in listener.incoming() {
        let Ok(client) = stream else { continue };
        // Like kubectl, but never dying of a closed stdout: the relay matters more.
        let _ = writeln!(io::stdout(), "Handling connection for {port}");
        let _ = io::stdout().flush();
        let Some(target) = relay.clone() else {
            eprintln!("E fake port-forward: no relay address recorded");
            continue;
        };
        thread::spawn(move || relay_connection(client, &target));
    }
    0
}

fn relay_connection(client: TcpStream, target: &str) {
    let Ok(upstream) = TcpStream::connect(target) else {
        eprintln!("E an error occurred forwarding: dial tcp {target}: connect: connection refused");
        return;
    };
    let (Ok(mut client_read), Ok(mut upstream_write)) = (client.try_clone(), upstream.try_clone())
    else {
        return;
    };
    let forward = thread::spawn(move || {
        let _ = io::copy(&mut client_read, &mut upstream_write);
        let _ = upstream_write.shutdown(std::net::Shutdown::Write);
    });
    let (mut upstream_read, mut client_write) = (upstream, client);
    let _ = io::copy(&mut upstream_read, &mut client_write);
    let _ = client_write.shutdown(std::net::Shutdown::Write);
    let _ = forward.join();
}
