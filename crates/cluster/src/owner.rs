//! Owner records: every throwaway cluster carries a recognisable name ([`CLUSTER_PREFIX`]) and
//! a record, written before `kind create cluster` runs, naming the process that owns it. A run
//! killed outright (SIGKILL, a runner crash) cannot clean up; the next run (or
//! `kind-down --stale`) deletes the clusters whose owning process is gone. A cluster without a
//! record, or whose owner still runs, is never touched.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use exec::{Cmd, Shell};
use serde::{Deserialize, Serialize};

use crate::kind::{self, Kind};
use crate::stages::{self, RunDir};
use crate::{ClusterError, Event};

/// Every throwaway cluster's name starts with this.
pub const CLUSTER_PREFIX: &str = "release-gate-run-";

/// Who created a cluster, and where its run keeps its files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Owner {
    pub cluster: String,
    pub pid: u32,
    /// The owner's start time as the OS reports it, so a reused pid is not mistaken for it.
    pub process_start: Option<String>,
    pub created_unix_seconds: u64,
    /// The run's folder (kubeconfig, logs).
    pub run_dir: PathBuf,
}

/// A fresh throwaway cluster name: the prefix and 8 hex digits from the pid and the clock.
pub fn new_cluster_name() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let mixed = (nanos as u64) ^ (u64::from(std::process::id()) << 32);
    // A multiplicative hash spreads the bits; 8 hex digits keep the name short for kind.
    let hashed = mixed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
    format!("{CLUSTER_PREFIX}{hashed:08x}")
}

/// The owner of `cluster` as this process, created now.
pub fn this_process(cluster: &str, run_dir: &Path) -> Owner {
    let pid = std::process::id();
    Owner {
        cluster: cluster.to_owned(),
        pid,
        process_start: process_start(pid),
        created_unix_seconds: stdx::time::unix_seconds(SystemTime::now()),
        run_dir: run_dir.to_owned(),
    }
}

/// `/proc/PID/stat`'s start time (field 22, clock ticks since boot): None where there is no
/// /proc or no such process.
pub fn process_start(pid: u32) -> Option<String> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name (which may contain spaces).
    let (_, rest) = stat.rsplit_once(')')?;
    // rest starts with field 3 (state); field 22 is the 20th after it.
    rest.split_whitespace().nth(19).map(str::to_owned)
}

fn record_path(dir: &Path, cluster: &str) -> PathBuf {
    dir.join(format!("{cluster}.json"))
}

/// Writes the record atomically, before the cluster exists.
pub fn write(dir: &Path, owner: &Owner) -> io::Result<PathBuf> {
    fs::create_dir_all(dir)?;
    let path = record_path(dir, &owner.cluster);
    let text = serde_json::to_string_pretty(owner).map_err(io::Error::other)? + "\n";
    stdx::fs::write_atomic(&path, text.as_bytes())?;
    Ok(path)
}

/// Removes the record once its cluster is gone (absent is fine).
pub fn remove(dir: &Path, cluster: &str) -> io::Result<()> {
    match fs::remove_file(record_path(dir, cluster)) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
        _ => Ok(()),
    }
}

/// Every readable record in `dir`; unreadable files are skipped (they name no cluster we can
/// trust).
pub fn read_all(dir: &Path) -> Vec<Owner> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut owners: Vec<Owner> = entries
        .filter_map(Result::ok)
        .filter(|entry| entry.path().extension().is_some_and(|ext| ext == "json"))
        .filter_map(|entry| fs::read_to_string(entry.path()).ok())
        .filter_map(|text| serde_json::from_str(&text).ok())
        .collect();
    owners.sort_by(|a, b| a.cluster.cmp(&b.cluster));
    owners
}

/// Whether the owning process still runs: the same pid with the same start time. Without
/// /proc (macOS), `ps -p PID` decides, through the shell.
pub fn owner_alive(sh: &Shell, owner: &Owner) -> bool {
    if Path::new("/proc/self/stat").exists() {
        return match (&owner.process_start, process_start(owner.pid)) {
            (_, None) => false,
            (Some(recorded), Some(now)) => *recorded == now,
            (None, Some(_)) => true,
        };
    }
    let probe = Cmd::new("ps", format!("check whether process {} runs", owner.pid))
        .args(["-p", &owner.pid.to_string()])
        .timeout(std::time::Duration::from_secs(10));
    sh.for_cleanup()
        .run(&probe)
        .is_ok_and(|output| output.status.success())
}

/// Deletes every cluster recorded in `dir` whose owner is gone (logs exported first, into the
/// run's own folder), and drops records whose cluster no longer exists. Never touches a
/// cluster without a record, one whose owner runs, or one without the throwaway prefix.
/// Returns the clusters deleted.
pub fn sweep(
    sh: &Shell,
    kind: &Kind,
    dir: &Path,
    events: &mut dyn FnMut(Event),
) -> Result<Vec<String>, ClusterError> {
    let owners = read_all(dir);
    if owners.is_empty() {
        return Ok(Vec::new());
    }
    // Listing is a read: even a dry run asks kind, so its plan shows exactly what would go.
    let clusters = stages::list_clusters(&sh.for_cleanup().with_dry_run(false), kind)?;
    let mut deleted = Vec::new();
    for owner in owners {
        if owner_alive(sh, &owner) || !owner.cluster.starts_with(CLUSTER_PREFIX) {
            continue;
        }
        if kind::has_cluster(&clusters, &owner.cluster) {
            events(Event::Step(format!(
                "delete stale cluster {} (its run, pid {}, is gone)",
                owner.cluster, owner.pid
            )));
            let run_dir = RunDir(owner.run_dir.clone());
            stages::teardown(
                sh,
                kind,
                &owner.cluster,
                &run_dir.kubeconfig(),
                &run_dir.logs(),
                events,
            )?;
            deleted.push(owner.cluster.clone());
        }
        if !sh.is_dry_run() {
            remove(dir, &owner.cluster).map_err(ClusterError::io(format!(
                "remove the owner record of {}",
                owner.cluster
            )))?;
        }
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_recognisable_and_valid_for_kind() {
        let name = new_cluster_name();
        assert!(name.starts_with(CLUSTER_PREFIX), "{name}");
        assert!(kind::validate_cluster_name(&name).is_ok(), "{name}");
    }

    #[test]
    fn this_process_is_alive_and_a_changed_start_time_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let me = this_process("release-gate-run-00000001", dir.path());
        assert!(me.process_start.is_some(), "no /proc on this machine?");
        let sh = Shell::new();
        assert!(owner_alive(&sh, &me));
        let reused = Owner {
            process_start: Some("1".to_owned()),
            ..me.clone()
        };
        assert!(
            !owner_alive(&sh, &reused),
            "a reused pid counted as the owner"
        );
    }

    #[test]
    fn records_round_trip_and_go_away() {
        let dir = tempfile::tempdir().unwrap();
        let owner = this_process("release-gate-run-0000000a", Path::new("/runs/a"));
        write(dir.path(), &owner).unwrap();
        assert_eq!(read_all(dir.path()), std::slice::from_ref(&owner));
        remove(dir.path(), &owner.cluster).unwrap();
        remove(dir.path(), &owner.cluster).unwrap();
        assert!(read_all(dir.path()).is_empty());
    }
}
