//! How the suite reaches a gateway on a cluster: straight at the Gateway's address where the
//! host routes to it, through port-forwards to the gateway's Service otherwise (one per
//! listener port the Service exposes), and a port-forward to one v1 replica for the health
//! toggle the eviction case flips. The forwards live in a [`Forwards`] holder that the
//! cluster's owner stops at the end.

use std::time::Duration;

use exec::Shell;

use crate::ClusterError;
use crate::fixture::{self, Backend, ObjectRef};
use crate::kubectl::{Kubectl, Target};
use crate::load_balancer::{self, Route};
use crate::port_forward::{self, PortForward};

/// The port the echo backend serves on in the fixture's pods.
pub const ECHO_PORT: u16 = 3000;

/// How long a port-forward may take to say it is ready.
const FORWARD_READY: Duration = Duration::from_secs(60);

/// Running port-forwards, kept until their owner stops them (or is dropped).
#[derive(Debug, Default)]
pub struct Forwards(std::sync::Mutex<Vec<PortForward>>);

impl Forwards {
    pub fn keep(&self, forward: PortForward) {
        stdx::lock(&self.0).push(forward);
    }

    /// Stops every forward (kills and reaps kubectl); returns how many there were.
    pub fn stop_all(&self) -> usize {
        let forwards: Vec<PortForward> = stdx::lock(&self.0).drain(..).collect();
        forwards.len()
    }
}

/// Whether to look for the Gateway's address first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddressLookup {
    /// Wait this long for the LoadBalancer provider to give the Gateway an address (a
    /// throwaway cluster with cloud-provider-kind): not getting one is a failure.
    Wait(Duration),
    /// One look, no waiting (the user's cluster: its own LoadBalancer decides); no address
    /// means a port-forward.
    Look,
    /// No provider: a port-forward, for this reason.
    Skip(String),
}

/// What to reach.
#[derive(Debug, Clone)]
pub struct AccessRequest<'a> {
    pub gateway: &'a ObjectRef,
    /// The listener the suite talks to (the config's `gateway_port`).
    pub main_port: u16,
    /// Another listener port of the Gateway with a route of its own, when it has one.
    pub second_port: Option<u16>,
    pub lookup: AddressLookup,
    pub poll: Duration,
    /// The backend whose first ready replica gets a health-toggle forward; None when the
    /// fixture's image has no toggle.
    pub health_toggle: Option<&'a Backend>,
}

/// How the suite reaches the gateway, as decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayAccess {
    /// The Gateway's address, when it reported one.
    pub address: Option<String>,
    /// Direct, or through a port-forward and why.
    pub route: Route,
    pub url: String,
    /// The second listener's URL; None when there is none or the Service does not expose it
    /// (then `second_missing` says why).
    pub second_listener: Option<String>,
    pub second_missing: Option<String>,
    /// `(pod, url)` of the replica whose health the eviction case flips.
    pub health_toggle: Option<(String, String)>,
}

/// `http://host:port`, with an IPv6 address in brackets.
pub fn http_url(address: &str, port: u16) -> String {
    if address.contains(':') && !address.starts_with('[') {
        format!("http://[{address}]:{port}")
    } else {
        format!("http://{address}:{port}")
    }
}

/// Decides the route and starts the forwards it needs, kept in `forwards`.
pub fn reach(
    sh: &Shell,
    kubectl: &Kubectl,
    request: &AccessRequest<'_>,
    forwards: &Forwards,
) -> Result<GatewayAccess, ClusterError> {
    let gateway = request.gateway;
    let address = match &request.lookup {
        AddressLookup::Wait(deadline) => Some(load_balancer::wait_for_address(
            sh,
            kubectl,
            gateway,
            *deadline,
            request.poll,
        )?),
        AddressLookup::Look => {
            match load_balancer::wait_for_address(
                sh,
                kubectl,
                gateway,
                Duration::ZERO,
                request.poll,
            ) {
                Ok(address) => Some(address),
                Err(error) if error.cancelled().is_some() => return Err(error),
                Err(_) => None,
            }
        }
        AddressLookup::Skip(_) => None,
    };
    let route = match (&request.lookup, &address) {
        (AddressLookup::Skip(why), _) => Route::PortForward { why: why.clone() },
        (_, None) => Route::PortForward {
            why: format!("{gateway} reports no address"),
        },
        (_, Some(_)) if sh.is_dry_run() => Route::PortForward {
            why: "a dry run cannot know whether the address is routable".to_owned(),
        },
        (_, Some(address)) => {
            load_balancer::route_to(address, request.main_port, Duration::from_secs(3))
        }
    };
    let (url, second_listener, second_missing) = match (&route, &address) {
        (Route::Direct { .. }, Some(address)) => (
            http_url(address, request.main_port),
            request.second_port.map(|port| http_url(address, port)),
            None,
        ),
        _ => {
            let (url, _) =
                forward_listener(sh, kubectl, gateway, request.main_port, true, forwards)?;
            let (second, missing) = match request.second_port {
                Some(port) => forward_listener(sh, kubectl, gateway, port, false, forwards)?,
                None => (String::new(), None),
            };
            let second = (!second.is_empty()).then_some(second);
            (url, second, missing)
        }
    };
    let health_toggle = match request.health_toggle {
        Some(backend) => toggle_forward(sh, kubectl, backend, forwards)?,
        None => None,
    };
    Ok(GatewayAccess {
        address,
        route,
        url,
        second_listener,
        second_missing,
        health_toggle,
    })
}

/// A port-forward to the gateway Service's `listener_port`. The main listener may fall back to
/// the Service's only port; another listener must be exposed by that exact port, or there is
/// nothing to forward to: an empty URL and why.
fn forward_listener(
    sh: &Shell,
    kubectl: &Kubectl,
    gateway: &ObjectRef,
    listener_port: u16,
    main: bool,
    forwards: &Forwards,
) -> Result<(String, Option<String>), ClusterError> {
    let (service, port) = port_forward::find_gateway_service(
        sh,
        kubectl,
        &gateway.namespace,
        &gateway.name,
        listener_port,
    )?;
    if !main && port != listener_port && !sh.is_dry_run() {
        return Ok((
            String::new(),
            Some(format!(
                "the gateway Service {service} exposes no port {listener_port}"
            )),
        ));
    }
    let object = format!("service/{service}");
    let forward = PortForward::start(
        sh,
        kubectl,
        &Target {
            object: &object,
            namespace: &gateway.namespace,
        },
        port,
        FORWARD_READY,
    )?;
    let url = forward.url();
    forwards.keep(forward);
    Ok((url, None))
}

/// A port-forward straight to the first ready replica of `backend`, never through the gateway.
fn toggle_forward(
    sh: &Shell,
    kubectl: &Kubectl,
    backend: &Backend,
    forwards: &Forwards,
) -> Result<Option<(String, String)>, ClusterError> {
    let pods = fixture::ready_pods(sh, kubectl, backend)?;
    let Some(pod) = pods.first() else {
        return Ok(None);
    };
    let object = format!("pod/{pod}");
    let forward = PortForward::start(
        sh,
        kubectl,
        &Target {
            object: &object,
            namespace: &backend.deployment.namespace,
        },
        ECHO_PORT,
        FORWARD_READY,
    )?;
    let url = forward.url();
    forwards.keep(forward);
    Ok(Some((pod.clone(), url)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_bracket_ipv6_addresses() {
        assert_eq!(http_url("172.18.0.5", 80), "http://172.18.0.5:80");
        assert_eq!(http_url("fc00::5", 8080), "http://[fc00::5]:8080");
        assert_eq!(http_url("[fc00::5]", 80), "http://[fc00::5]:80");
        assert_eq!(
            http_url("gw.example", 8080),
            "http://gw.example:8080",
            "a hostname address keeps its name"
        );
    }
}
