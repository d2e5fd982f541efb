//! cells: a run over several Kubernetes minors holds a cluster per minor, each running its own
//! chain (cluster → CRDs → images → charts → fixture → gateway → suite → diagnostics → cleanup)
//! in its own folder, under its own cluster name, kubeconfig and owner record, so that cells
//! never collide with each other or with another run. A run over one minor is one cell whose
//! folder is the run folder and whose names are the run's, as before there were cells.
//!
//! How many cells hold a cluster at once comes from `--parallel`, else from the machine: a
//! kind cluster and the release's pods are budgeted [`MEMORY_PER_CELL`] of available memory,
//! and a cell a core.

use std::path::{Path, PathBuf};

use cluster::stages::RunDir;

use crate::event::Cell;
use crate::kubernetes::CellChoice;
use stdx::BadInput;

/// A kind cluster (about 2 GiB) and the release's own pods (half a GiB).
pub const MEMORY_PER_CELL: u64 = 5 * 512 * 1024 * 1024;

/// One cluster's chain of the run.
#[derive(Debug, Clone)]
pub struct CellInputs {
    /// None in a run over one cluster: its steps' ids carry no cell, its names are the run's.
    pub cell: Option<Cell>,
    /// `1.36`: what reports call the cell.
    pub label: String,
    /// The Kubernetes minor (None on the user's cluster).
    pub minor: Option<String>,
    /// The settings narrowed to this cell's minor: its node image and kubectl.
    pub settings: settings::Settings,
    pub cluster_name: String,
    /// The kubeconfig this cell's kubectl and helm calls name.
    pub kubeconfig: PathBuf,
    /// The cell's folder: its conformance reports, diagnostics, logs and image archives.
    pub dir: PathBuf,
}

impl CellInputs {
    pub fn run_dir(&self) -> RunDir {
        RunDir(self.dir.clone())
    }
}

/// The cells of a throwaway-cluster run: one per chosen minor. `cluster_name` and `run_dir` are
/// the run's; several cells get `<cluster_name>-k<major><minor>` and `<run_dir>/cells/<minor>`.
pub fn throwaway(choices: Vec<CellChoice>, cluster_name: &str, run_dir: &Path) -> Vec<CellInputs> {
    let several = choices.len() > 1;
    choices
        .into_iter()
        .enumerate()
        .map(|(index, choice)| {
            let label = choice.minor.clone().unwrap_or_else(|| "default".to_owned());
            let (cell, name, dir) = if several {
                let cell = Cell::new(u8::try_from(index).unwrap_or(u8::MAX), &label);
                let suffix: String = label.chars().filter(char::is_ascii_digit).collect();
                (
                    Some(cell),
                    format!("{cluster_name}-k{suffix}"),
                    run_dir.join("cells").join(&label),
                )
            } else {
                (None, cluster_name.to_owned(), run_dir.to_owned())
            };
            CellInputs {
                cell,
                kubeconfig: RunDir(dir.clone()).kubeconfig(),
                label,
                minor: choice.minor,
                settings: choice.settings,
                cluster_name: name,
                dir,
            }
        })
        .collect()
}

/// How many cells hold a cluster at once, and why (for the plan).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parallelism {
    pub cells: usize,
    pub why: String,
}

/// `--parallel N` (N ≥ 1), else what the machine fits: available memory over
/// [`MEMORY_PER_CELL`], one cell a core, never more than the cells, at least one.
pub fn parallelism(
    requested: Option<usize>,
    cells: usize,
    host: &settings::Host,
) -> Result<Parallelism, BadInput> {
    if let Some(wanted) = requested {
        if wanted == 0 {
            return Err(BadInput::new(
                "--parallel 0: at least one cell must run; give a number from 1 up",
            ));
        }
        let fits = wanted.min(cells);
        return Ok(Parallelism {
            cells: fits,
            why: format!("{fits} of {cells} cell(s) at once: --parallel {wanted}"),
        });
    }
    let gib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0 * 1024.0);
    let by_memory = host
        .memory_available
        .map(|bytes| usize::try_from(bytes / MEMORY_PER_CELL).unwrap_or(usize::MAX));
    let fits = by_memory
        .unwrap_or(usize::MAX)
        .min(host.cores)
        .min(cells)
        .max(1);
    let memory = match host.memory_available {
        Some(bytes) => format!(
            "{:.1} GiB of memory available ({:.1} GiB a cell: a kind cluster and the release's pods)",
            gib(bytes),
            gib(MEMORY_PER_CELL)
        ),
        None => "available memory unknown".to_owned(),
    };
    Ok(Parallelism {
        cells: fits,
        why: format!(
            "{fits} of {cells} cell(s) at once: {} core(s), a cell each; {memory}; --parallel N overrides",
            host.cores
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(memory_gib: Option<u64>, cores: usize) -> settings::Host {
        settings::Host {
            os: "linux".to_owned(),
            arch: "x86_64".to_owned(),
            proc_sys: PathBuf::from("/nowhere"),
            memory_available: memory_gib.map(|gib| gib * 1024 * 1024 * 1024),
            cores,
        }
    }

    #[test]
    fn the_machine_decides_how_many_cells_run_at_once_unless_told() {
        // 24 GiB and 2 cores: the cores decide.
        let two = parallelism(None, 3, &host(Some(24), 2)).unwrap();
        assert_eq!(two.cells, 2);
        assert!(
            two.why.contains("2 core(s)") && two.why.contains("24.0 GiB"),
            "{}",
            two.why
        );
        // 4 GiB and 8 cores: one cell's budget fits once.
        assert_eq!(parallel(None, 3, host(Some(4), 8)), 1);
        // Too little memory still runs one; never more than the cells.
        assert_eq!(parallel(None, 3, host(Some(1), 8)), 1);
        assert_eq!(parallel(None, 2, host(Some(64), 16)), 2);
        assert_eq!(parallel(None, 3, host(None, 4)), 3);
        // Told: at most the cells; zero is bad input.
        assert_eq!(parallel(Some(5), 3, host(Some(1), 1)), 3);
        let error = parallelism(Some(0), 3, &host(Some(8), 2)).unwrap_err();
        assert!(error.to_string().contains("--parallel 0"), "{error}");
    }

    fn parallel(requested: Option<usize>, cells: usize, host: settings::Host) -> usize {
        parallelism(requested, cells, &host).unwrap().cells
    }

    #[test]
    fn several_cells_get_names_and_folders_of_their_own_and_one_keeps_the_runs() {
        let settings = || {
            settings::Settings::load(
                &settings::Request {
                    root: testkit::workspace_root(),
                    config: None,
                },
                settings::Env::new(std::iter::empty::<(String, String)>()),
            )
            .unwrap()
        };
        let choice = |minor: &str| CellChoice {
            minor: Some(minor.to_owned()),
            settings: settings(),
        };
        let run = Path::new("/runs/v2.1.0-x");
        let one = throwaway(vec![choice("1.36")], "release-gate-run-ab12", run);
        assert_eq!(one[0].cell, None);
        assert_eq!(one[0].cluster_name, "release-gate-run-ab12");
        assert_eq!(one[0].dir, run);
        let three = throwaway(
            vec![choice("1.36"), choice("1.35"), choice("1.34")],
            "release-gate-run-ab12",
            run,
        );
        let names: Vec<&str> = three
            .iter()
            .map(|cell| cell.cluster_name.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "release-gate-run-ab12-k136",
                "release-gate-run-ab12-k135",
                "release-gate-run-ab12-k134"
            ]
        );
        assert_eq!(three[1].dir, run.join("cells/1.35"));
        assert_eq!(three[1].kubeconfig, run.join("cells/1.35/kubeconfig"));
        assert_eq!(
            three[2].cell.map(|cell| (cell.index, cell.label)),
            Some((2, "1.34"))
        );
        for cell in &three {
            cluster::kind::validate_cluster_name(&cell.cluster_name).unwrap();
        }
    }
}
