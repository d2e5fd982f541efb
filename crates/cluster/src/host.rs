//! host: the kernel limits kind clusters share on one machine. Each kind node runs systemd,
//! kubelet and containerd, which take inotify instances and watches from the limits of the
//! user the engine runs containers as; several clusters on one host exhaust the defaults, and
//! pods then fail with "too many open files" (kind's known issue "Pod errors due to too many
//! open files", which recommends `fs.inotify.max_user_watches=524288` and
//! `fs.inotify.max_user_instances=512`).
//!
//! The budget per cluster is a quarter of kind's recommendation (128 instances, 131072
//! watches): one cluster fits the kernel's default of 128 instances, four reach kind's figures.

use std::path::Path;

/// What one kind cluster is budgeted.
pub const PER_CLUSTER: Inotify = Inotify {
    max_user_instances: 128,
    max_user_watches: 131_072,
};

/// kind's recommendation, the least the fix ever suggests.
pub const KIND_RECOMMENDS: Inotify = Inotify {
    max_user_instances: 512,
    max_user_watches: 524_288,
};

/// `fs.inotify.max_user_instances` and `fs.inotify.max_user_watches`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inotify {
    pub max_user_instances: u64,
    pub max_user_watches: u64,
}

/// A limit below what the run's clusters need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shortfall {
    /// `fs.inotify.max_user_instances`
    pub setting: &'static str,
    pub value: u64,
    pub needed: u64,
    /// What the fix sets it to: the need, and at least kind's recommendation.
    pub raise_to: u64,
}

/// The limits under `proc_sys` (`/proc/sys` on Linux). None where there is no such file (a
/// macOS host, whose engine runs in a VM with limits of its own) or it does not parse.
pub fn read_inotify(proc_sys: &Path) -> Option<Inotify> {
    let read = |name: &str| {
        std::fs::read_to_string(proc_sys.join("fs/inotify").join(name))
            .ok()?
            .trim()
            .parse::<u64>()
            .ok()
    };
    Some(Inotify {
        max_user_instances: read("max_user_instances")?,
        max_user_watches: read("max_user_watches")?,
    })
}

/// Which of `limits` are below the budget of `clusters` kind clusters at once.
pub fn shortfalls(limits: Inotify, clusters: usize) -> Vec<Shortfall> {
    let clusters = u64::try_from(clusters.max(1)).unwrap_or(u64::MAX);
    [
        (
            "fs.inotify.max_user_instances",
            limits.max_user_instances,
            PER_CLUSTER.max_user_instances,
            KIND_RECOMMENDS.max_user_instances,
        ),
        (
            "fs.inotify.max_user_watches",
            limits.max_user_watches,
            PER_CLUSTER.max_user_watches,
            KIND_RECOMMENDS.max_user_watches,
        ),
    ]
    .into_iter()
    .filter_map(|(setting, value, per_cluster, recommended)| {
        let needed = per_cluster.saturating_mul(clusters);
        (value < needed).then_some(Shortfall {
            setting,
            value,
            needed,
            raise_to: needed.max(recommended),
        })
    })
    .collect()
}

/// The warning, if any, for the kind clusters named `ours` on this host: the limits under
/// `proc_sys` against those and the other clusters `kind` lists (none asked in a dry run).
/// Unknown limits or an unreadable cluster list leave it at what is known.
pub fn check(
    sh: &exec::Shell,
    kind: &crate::kind::Kind,
    proc_sys: &Path,
    ours: &[String],
) -> Option<crate::Event> {
    let limits = read_inotify(proc_sys)?;
    let others = if sh.is_dry_run() {
        0
    } else {
        sh.run_unchecked(&kind.get_clusters())
            .ok()
            .filter(|output| output.status.success())
            .map_or(0, |output| {
                crate::kind::parse_clusters(&output.stdout_str())
                    .iter()
                    .filter(|name| !ours.contains(name))
                    .count()
            })
    };
    let clusters = ours.len() + others;
    let shortfalls = shortfalls(limits, clusters);
    (!shortfalls.is_empty()).then_some(crate::Event::InotifyLow {
        clusters,
        shortfalls,
    })
}

/// The command that raises every shortfall until the next boot (as data, for the renderer).
pub fn raise_command(shortfalls: &[Shortfall]) -> Vec<String> {
    ["sudo", "sysctl", "-w"]
        .into_iter()
        .map(str::to_owned)
        .chain(
            shortfalls
                .iter()
                .map(|short| format!("{}={}", short.setting, short.raise_to)),
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proc_sys(instances: &str, watches: &str) -> stdx::temp::TempDir {
        let dir = stdx::temp::TempDir::new("inotify").unwrap();
        let inotify = dir.path().join("fs/inotify");
        std::fs::create_dir_all(&inotify).unwrap();
        std::fs::write(inotify.join("max_user_instances"), instances).unwrap();
        std::fs::write(inotify.join("max_user_watches"), watches).unwrap();
        dir
    }

    #[test]
    fn limits_are_read_from_proc_sys_and_absent_files_mean_unknown() {
        let dir = proc_sys("128\n", "192540\n");
        assert_eq!(
            read_inotify(dir.path()),
            Some(Inotify {
                max_user_instances: 128,
                max_user_watches: 192_540
            })
        );
        assert_eq!(read_inotify(&dir.path().join("nowhere")), None);
        let broken = proc_sys("many", "1");
        assert_eq!(read_inotify(broken.path()), None);
    }

    #[test]
    fn the_kernel_defaults_fit_one_cluster_and_not_two() {
        let defaults = Inotify {
            max_user_instances: 128,
            max_user_watches: 192_540,
        };
        assert!(shortfalls(defaults, 1).is_empty());
        let two = shortfalls(defaults, 2);
        assert_eq!(two.len(), 2, "{two:?}");
        assert_eq!(two[0].setting, "fs.inotify.max_user_instances");
        assert_eq!(
            (two[0].value, two[0].needed, two[0].raise_to),
            (128, 256, 512)
        );
        assert_eq!(two[1].needed, 262_144);
        assert_eq!(
            raise_command(&two).join(" "),
            "sudo sysctl -w fs.inotify.max_user_instances=512 fs.inotify.max_user_watches=524288"
        );
        // Beyond kind's figures the fix asks for what the clusters need.
        let six = shortfalls(KIND_RECOMMENDS, 6);
        assert_eq!(six[0].raise_to, 768);
        assert!(shortfalls(KIND_RECOMMENDS, 4).is_empty());
    }
}
