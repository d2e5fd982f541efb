//! CPU time, for benchmarks that must say where the time went: this process's own (every
//! thread), and that of the children it has already reaped (every command [`crate::Shell`]
//! ran to its end). Take a reading before and after a step; the difference is the step's.

use std::time::Duration;

/// Whose CPU time [`cpu_time`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    /// This process, all of its threads, user and system time.
    ThisProcess,
    /// Every child process that has exited and been waited for, user and system time.
    ReapedChildren,
}

/// User plus system CPU time used so far by `who` (getrusage(2), microsecond resolution).
pub fn cpu_time(who: Usage) -> Duration {
    let selector = match who {
        Usage::ThisProcess => libc::RUSAGE_SELF,
        Usage::ReapedChildren => libc::RUSAGE_CHILDREN,
    };
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    #[allow(unsafe_code)]
    // SAFETY: getrusage writes one `rusage` through the pointer, which points at a zeroed value
    // of that type; with a valid selector it cannot fail (and a failure leaves the zeros).
    let usage = unsafe {
        libc::getrusage(selector, usage.as_mut_ptr());
        usage.assume_init()
    };
    timeval(usage.ru_utime) + timeval(usage.ru_stime)
}

fn timeval(value: libc::timeval) -> Duration {
    let seconds = u64::try_from(value.tv_sec).unwrap_or(0);
    let micros = u32::try_from(value.tv_usec).unwrap_or(0);
    Duration::from_secs(seconds) + Duration::from_micros(u64::from(micros))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Cmd, Shell};
    use std::time::Instant;

    /// Spins this thread for `wall` and returns something the optimiser cannot drop.
    fn spin(wall: Duration) -> u64 {
        let until = Instant::now() + wall;
        let mut acc = 0u64;
        while Instant::now() < until {
            acc = std::hint::black_box(acc.wrapping_mul(31).wrapping_add(7));
        }
        acc
    }

    /// Robust under load: other test threads of this process count in `ThisProcess` too, and a
    /// crowded machine gives this thread only part of a core. So the work runs until the reading
    /// grows (however long that takes), and sleeping is compared with spinning for the same wall
    /// time, round by round, on the median.
    #[test]
    fn own_cpu_time_grows_with_work_and_not_with_sleep() {
        let before = cpu_time(Usage::ThisProcess);
        let started = Instant::now();
        while cpu_time(Usage::ThisProcess) - before < Duration::from_millis(50) {
            spin(Duration::from_millis(10));
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "a minute of spinning never showed 50 ms of CPU"
            );
        }

        let mut busy = Vec::new();
        let mut idle = Vec::new();
        for _ in 0..5 {
            let before = cpu_time(Usage::ThisProcess);
            spin(Duration::from_millis(100));
            busy.push(cpu_time(Usage::ThisProcess) - before);
            let before = cpu_time(Usage::ThisProcess);
            std::thread::sleep(Duration::from_millis(100));
            idle.push(cpu_time(Usage::ThisProcess) - before);
        }
        busy.sort();
        idle.sort();
        assert!(
            busy[2] > idle[2] + Duration::from_millis(20),
            "spinning ({busy:?}) must cost clearly more than sleeping ({idle:?})"
        );
    }

    #[test]
    fn reaped_children_count_once_the_command_has_finished() {
        // The shell's CPU is the child's: this process only polls for its exit.
        let own_before = cpu_time(Usage::ThisProcess);
        let before = cpu_time(Usage::ReapedChildren);
        // A busy shell loop of about 300 ms of CPU, run through the Shell like any command.
        let cmd = Cmd::new("sh", "burn CPU in a child").args([
            "-c",
            "end=$(( $(date +%s%N) + 300000000 )); while [ $(date +%s%N) -lt $end ]; do :; done",
        ]);
        Shell::new().run(&cmd).expect("sh runs");
        let used = cpu_time(Usage::ReapedChildren) - before;
        assert!(
            used >= Duration::from_millis(100),
            "the child used only {used:?}"
        );
        let own = cpu_time(Usage::ThisProcess) - own_before;
        assert!(
            own < used,
            "the parent ({own:?}) was charged like the child ({used:?})"
        );
    }
}
