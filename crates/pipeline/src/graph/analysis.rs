//! The graph read as a plan, without running it: [`validate`] (every need names a step, no
//! cycle), [`waves`] (which steps may start together) and [`critical_path`] (the least wall
//! time any scheduler could take over measured step durations).

use std::collections::BTreeMap;
use std::time::Duration;

use super::{Step, When};
use crate::event::StepId;

/// Checks the graph: unique names, needs that exist and come from normal steps, no cycles.
pub fn validate(steps: &[Step<'_>]) -> Result<(), String> {
    let mut seen = BTreeMap::new();
    for (index, step) in steps.iter().enumerate() {
        if seen.insert(step.id, index).is_some() {
            return Err(format!("step {} is defined twice", step.id));
        }
    }
    for step in steps {
        for need in &step.needs {
            let Some(&index) = seen.get(need) else {
                return Err(format!(
                    "step {} needs {need}, which does not exist",
                    step.id
                ));
            };
            if steps[index].when != When::Normal {
                return Err(format!(
                    "step {} needs {need}, which only runs at the end",
                    step.id
                ));
            }
        }
    }
    for step in steps {
        if let Some(missing) = step.after.iter().find(|id| !seen.contains_key(id)) {
            return Err(format!(
                "step {} waits for {missing}, which does not exist",
                step.id
            ));
        }
    }
    waves(steps).map(|_| ())
}

/// The normal steps grouped by depth: every step of a wave can run beside the others of its
/// wave once the earlier waves are done. What the dry-run plan shows as overlap.
pub fn waves(steps: &[Step<'_>]) -> Result<Vec<Vec<StepId>>, String> {
    let mut depth: BTreeMap<StepId, usize> = BTreeMap::new();
    let normal: Vec<&Step<'_>> = steps.iter().filter(|s| s.when == When::Normal).collect();
    while depth.len() < normal.len() {
        let before = depth.len();
        for step in &normal {
            if depth.contains_key(&step.id) {
                continue;
            }
            let needs: Option<Vec<usize>> = step
                .needs
                .iter()
                .map(|need| depth.get(need).copied())
                .collect();
            if let Some(needs) = needs {
                depth.insert(step.id, needs.into_iter().max().map_or(0, |d| d + 1));
            }
        }
        if depth.len() == before {
            let stuck: Vec<String> = normal
                .iter()
                .map(|s| s.id)
                .filter(|id| !depth.contains_key(id))
                .map(|id| id.to_string())
                .collect();
            return Err(format!("the steps {stuck:?} need each other in a cycle"));
        }
    }
    let mut waves: Vec<Vec<StepId>> = Vec::new();
    for step in &normal {
        let d = depth[&step.id];
        if waves.len() <= d {
            waves.resize(d + 1, Vec::new());
        }
        waves[d].push(step.id);
    }
    Ok(waves)
}

/// A step as the lower bound sees it: what it needs, when it runs, how long it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span<'a> {
    pub name: &'a str,
    pub needs: Vec<&'a str>,
    pub when: When,
    pub duration: Duration,
}

/// The least wall time any scheduler could take with these durations: the longest chain of
/// normal steps along their needs; a cell's end steps (its diagnostics and cleanup, named
/// `stage@cell`) one after another once that cell's normal steps are done; then the run's own
/// end steps one after another. Spans come in graph order (every need before its dependents),
/// as [`run`] and run.json list them.
pub fn critical_path(spans: &[Span<'_>]) -> Duration {
    let cell_of = |name: &str| name.split_once('@').map(|(_, cell)| cell.to_owned());
    let mut finish: BTreeMap<&str, Duration> = BTreeMap::new();
    // Per cell: when its normal steps are done, and how long its end steps take in a row.
    let mut cells: BTreeMap<String, (Duration, Duration)> = BTreeMap::new();
    let mut tail = Duration::ZERO;
    for span in spans {
        if span.when != When::Normal {
            match cell_of(span.name) {
                Some(cell) => cells.entry(cell).or_default().1 += span.duration,
                None => tail += span.duration,
            }
            continue;
        }
        let start = span
            .needs
            .iter()
            .filter_map(|need| finish.get(need).copied())
            .max()
            .unwrap_or_default();
        let end = start + span.duration;
        finish.insert(span.name, end);
        if let Some(cell) = cell_of(span.name) {
            let done = &mut cells.entry(cell).or_default().0;
            *done = (*done).max(end);
        }
    }
    let normal = finish.values().copied().max().unwrap_or_default();
    let cells_done = cells
        .values()
        .map(|(done, ends)| *done + *ends)
        .max()
        .unwrap_or_default();
    normal.max(cells_done) + tail
}
