//! Steps on a cluster the user brings (`--cluster existing`): check that the installed release
//! is ready (its controller Deployment Available, its GatewayClass Accepted) before anything is
//! deployed, and clean up only what this run created: the objects carrying its label in its
//! own namespace, then that namespace, and only if it carries the label too.

use cluster::kubectl::Get;
use cluster::status::{self, Conditioned};

use super::{Run, exec_failure};
use crate::event::Note;
use crate::graph::{Failure, StepContext};
use crate::inputs::{RUN_LABEL, Target};

fn read(
    run: &Run<'_>,
    context: &StepContext<'_>,
    query: &Get<'_>,
    what: &str,
) -> Result<Option<Conditioned>, Failure> {
    let sh = run.shell(context);
    let output = sh
        .run_unchecked(&run.kubectl(context)?.get_json(query))
        .map_err(|error| exec_failure(&format!("reading {what}"), &error, false))?;
    if sh.is_dry_run() {
        return Ok(None);
    }
    if !output.status.success() {
        return Err(Failure::release(format!(
            "{what} is not there: kubectl said {}",
            output.stderr_str().trim()
        )));
    }
    status::parse::<Conditioned>(what, &output.stdout_str())
        .map(Some)
        .map_err(Failure::infra)
}

/// The installed release must be ready before the run deploys anything on someone's cluster.
pub fn preflight(run: &Run<'_>, context: &StepContext<'_>) -> Result<(), Failure> {
    let emit = run.emit(context);
    let install = &run.inputs.settings.target.install;
    let controller = install
        .controller
        .as_ref()
        .ok_or_else(|| Failure::infra("[install] controller is not configured"))?;
    let what = format!(
        "Deployment {}/{}",
        controller.namespace, controller.deployment
    );
    if let Some(deployment) = read(
        run,
        context,
        &Get {
            resource: "deployments",
            name: Some(&controller.deployment),
            namespace: Some(&controller.namespace),
            selector: None,
        },
        &what,
    )? {
        deployment.has(&["Available"]).map_err(|why| {
            Failure::release(format!(
                "the release's controller {what} is not Available: {why}"
            ))
        })?;
        emit.note(Note::Ready {
            object: what,
            condition: "Available",
        });
    }
    let class = &install.gateway_class;
    let what = format!("GatewayClass {class}");
    if let Some(gateway_class) = read(
        run,
        context,
        &Get {
            resource: "gatewayclasses.gateway.networking.k8s.io",
            name: Some(class),
            namespace: None,
            selector: None,
        },
        &what,
    )? {
        gateway_class
            .has(&["Accepted"])
            .map_err(|why| Failure::release(format!("{what} is not Accepted: {why}")))?;
        emit.note(Note::Ready {
            object: what,
            condition: "Accepted",
        });
    }
    if let Target::Existing {
        namespace, run_id, ..
    } = &run.inputs.target_cluster
    {
        emit.note(Note::WillCreate {
            namespace: namespace.clone(),
            label: format!("{RUN_LABEL}={run_id}"),
            objects: run.inputs.fixture.objects(),
        });
    }
    Ok(())
}

/// The resource names (for `kubectl delete`) of the kinds the fixture creates, namespaces aside.
fn fixture_resources(run: &Run<'_>) -> String {
    let mut kinds: Vec<String> = run
        .inputs
        .fixture
        .objects()
        .iter()
        .filter_map(|object| object.split_once(' ').map(|(kind, _)| kind.to_owned()))
        .filter(|kind| kind != "Namespace")
        .map(|kind| match kind.as_str() {
            "Gateway" => "gateways.gateway.networking.k8s.io".to_owned(),
            "HTTPRoute" => "httproutes.gateway.networking.k8s.io".to_owned(),
            other => format!("{}s", other.to_ascii_lowercase()),
        })
        .collect();
    kinds.sort();
    kinds.dedup();
    kinds.join(",")
}

/// Port-forwards stopped, then the run's labelled objects deleted in its namespace, then the
/// namespace, only if it carries the run's label. Nothing else is ever deleted.
pub fn cleanup(run: &Run<'_>, context: &StepContext<'_>) -> Result<(), Failure> {
    let emit = run.emit(context);
    let sh = run.shell(context);
    let Target::Existing {
        namespace, run_id, ..
    } = &run.inputs.target_cluster
    else {
        return Ok(());
    };
    let stopped = run.cell(context).1.forwards.stop_all();
    if stopped > 0 {
        emit.note(Note::ForwardsStopped(stopped));
    }
    let Ok(kubectl) = run.kubectl(context) else {
        return Ok(());
    };
    let selector = format!("{RUN_LABEL}={run_id}");
    emit.note(Note::DeletingLabelled {
        namespace: namespace.clone(),
        selector: selector.clone(),
    });
    sh.run(&kubectl.delete_selected(&fixture_resources(run), namespace, &selector))
        .map_err(|error| {
            exec_failure(
                &format!("deleting the run's objects in {namespace}"),
                &error,
                false,
            )
        })?;
    let output = sh
        .run_unchecked(&kubectl.get_json(&Get {
            resource: "namespaces",
            name: Some(namespace),
            ..Get::default()
        }))
        .map_err(|error| exec_failure(&format!("reading namespace {namespace}"), &error, false))?;
    let ours = sh.is_dry_run()
        || (output.status.success()
            && status::parse::<status::Object>("a Namespace", &output.stdout_str())
                .is_ok_and(|object| object.metadata.labels.get(RUN_LABEL) == Some(run_id)));
    if !output.status.success() && !sh.is_dry_run() {
        emit.note(Note::NamespaceAbsent(namespace.clone()));
        return Ok(());
    }
    if !ours {
        emit.note(Note::NamespaceNotOurs {
            namespace: namespace.clone(),
            selector,
        });
        return Ok(());
    }
    sh.run(&kubectl.delete_namespace(namespace))
        .map_err(|error| exec_failure(&format!("deleting namespace {namespace}"), &error, false))?;
    Ok(())
}
