//! test-harness: the runner of the workspace's integration-test binaries (`harness = false`
//! in their `[[test]]` section), so that a test that did not run is never counted as passed.
//!
//! A test that needs a real component calls [`testkit::require`]. When the component works,
//! the test runs. When it does not, under `CI=true` the test fails loudly; elsewhere `require`
//! stops the test with a [`testkit::Skip`], which this runner reports as *ignored, with the
//! reason*: libtest's own summary line counts it, and the list of what did not run, and why,
//! is printed after the summary.
//!
//! Each test module lists its tests at its end with [`tests!`] (and the submodules that have
//! tests); the binary's `main` calls [`run`] with the root's list. A test function that is not
//! listed is dead code, which the workspace's `-D warnings` rejects, so none is forgotten.
//! Everything else is libtest's: names are `module::test_name`; filters, `--list`,
//! `--ignored`, `--exact`, `--skip`, `--test-threads` and `--nocapture` work.
#![allow(clippy::print_stderr)] // what did not run is said on stderr, beside libtest's summary

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::process::ExitCode;
use std::sync::{Mutex, Once};

use libtest_mimic::{Arguments, Completion, Failed, Trial};

/// One registered test: its libtest name and its body.
pub struct Test {
    name: String,
    body: fn(),
}

impl Test {
    /// The test `name` of the module `module_path` (as `module_path!()` gives it; the crate's
    /// own name is dropped, as libtest drops it).
    pub fn new(module_path: &str, name: &str, body: fn()) -> Test {
        let module = module_path.split_once("::").map_or("", |(_, rest)| rest);
        let name = if module.is_empty() {
            name.to_owned()
        } else {
            format!("{module}::{name}")
        };
        Test { name, body }
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

/// The tests of the module this is written in, then those of the submodules named after `;`
/// (each of which lists its own with `pub(crate) fn tests()`):
///
/// ```ignore
/// pub(crate) fn tests() -> Vec<test_harness::Test> {
///     test_harness::tests![renders_every_object, saves_and_loads_an_image; existing, notify]
/// }
/// ```
#[macro_export]
macro_rules! tests {
    ($($test:ident),* $(,)? $(; $($module:ident),+ $(,)?)?) => {{
        #[allow(unused_mut)]
        let mut tests: ::std::vec::Vec<$crate::Test> = ::std::vec![$(
            $crate::Test::new(::std::module_path!(), ::std::stringify!($test), $test)
        ),*];
        $($(tests.extend($module::tests());)+)?
        tests
    }};
}

/// Why each ignored test did not run, for the list after libtest's summary.
static SKIPPED: Mutex<BTreeMap<String, String>> = Mutex::new(BTreeMap::new());

/// Runs `tests` the way libtest would, reading the command line. Returns the exit code.
pub fn run(tests: Vec<Test>) -> ExitCode {
    let mut args = Arguments::from_args();
    if args.test_threads.is_none() {
        // libtest's variable; libtest-mimic reads only the flag.
        args.test_threads = std::env::var("RUST_TEST_THREADS")
            .ok()
            .and_then(|threads| threads.parse().ok());
    }
    let mut seen = std::collections::BTreeSet::new();
    let duplicates: Vec<&str> = tests
        .iter()
        .map(Test::name)
        .filter(|name| !seen.insert(*name))
        .collect();
    assert!(
        duplicates.is_empty(),
        "tests registered twice: {duplicates:?}"
    );
    quiet_skips();
    testkit::harnessed();
    let trials = tests.into_iter().map(trial).collect();
    let conclusion = libtest_mimic::run(&args, trials);
    let skipped = stdx_lock(&SKIPPED);
    if !skipped.is_empty() {
        eprintln!(
            "{} test(s) did not run (counted as ignored above; CI=true runs them or fails):",
            skipped.len()
        );
        for (name, why) in skipped.iter() {
            eprintln!("  {name}: {why}");
        }
    }
    conclusion.exit_code()
}

fn stdx_lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The panic hook stays silent for a [`testkit::Skip`]: it is not a failure.
fn quiet_skips() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<testkit::Skip>().is_none() {
                default(info);
            }
        }));
    });
}

fn trial(test: Test) -> Trial {
    let Test { name, body } = test;
    let thread_name = name.clone();
    Trial::ignorable_test(name, move || {
        run_body(thread_name, body).map(|skipped| match skipped {
            Some(reason) => Completion::ignored_with(reason),
            None => Completion::Completed,
        })
    })
}

/// Runs a test body on a thread named after the test, as libtest does, so a panic message
/// names the test it came from; a [`testkit::Skip`] makes it ignored with its reason.
fn run_body(name: String, body: fn()) -> Result<Option<String>, Failed> {
    let joined = std::thread::Builder::new()
        .name(name.clone())
        .spawn(move || std::panic::catch_unwind(AssertUnwindSafe(body)))
        .map_err(|error| Failed::from(format!("cannot start the test's thread: {error}")))?
        .join()
        .unwrap_or_else(Err);
    match joined {
        Ok(()) => Ok(None),
        Err(payload) => {
            if let Some(skip) = payload.downcast_ref::<testkit::Skip>() {
                stdx_lock(&SKIPPED).insert(name, skip.0.clone());
                return Ok(Some(skip.0.clone()));
            }
            let message = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied())
                .unwrap_or("a panic without a message");
            Err(Failed::from(format!("test panicked: {message}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_drop_the_crate_and_keep_the_module() {
        assert_eq!(Test::new("it", "a", || {}).name(), "a");
        assert_eq!(
            Test::new("it::verify_release::existing", "b", || {}).name(),
            "verify_release::existing::b"
        );
    }

    #[test]
    fn a_skip_is_ignored_with_its_reason_and_a_panic_fails() {
        quiet_skips();
        fn skips() {
            std::panic::panic_any(testkit::Skip("dockerd is not usable here".to_owned()));
        }
        fn fails() {
            panic!("a real failure");
        }
        assert_eq!(
            run_body("skips".to_owned(), skips).unwrap(),
            Some("dockerd is not usable here".to_owned())
        );
        let failed = run_body("fails".to_owned(), fails).unwrap_err();
        assert!(
            format!("{failed:?}").contains("a real failure"),
            "{failed:?}"
        );
        assert_eq!(run_body("passes".to_owned(), || {}).unwrap(), None);
    }
}
