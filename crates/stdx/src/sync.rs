//! sync: locks and condition variables that tolerate poisoning. A thread that panicked while
//! holding a lock leaves the data as it was; the gate's shared state (logs, slots, flags) is
//! still meaningful then, and a second panic would only hide the first.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// Locks `mutex`, also when a panicking holder poisoned it.
pub fn lock<T: ?Sized>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The value inside `mutex`, also when it was poisoned.
pub fn into_inner<T>(mutex: Mutex<T>) -> T {
    mutex.into_inner().unwrap_or_else(PoisonError::into_inner)
}

/// [`Condvar::wait`], also when the mutex was poisoned.
pub fn wait<'a, T>(condvar: &Condvar, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
    condvar.wait(guard).unwrap_or_else(PoisonError::into_inner)
}

/// [`Condvar::wait_timeout`], also when the mutex was poisoned; the guard only (whoever waits
/// checks the clock and the condition again).
pub fn wait_timeout<'a, T>(
    condvar: &Condvar,
    guard: MutexGuard<'a, T>,
    timeout: Duration,
) -> MutexGuard<'a, T> {
    condvar
        .wait_timeout(guard, timeout)
        .unwrap_or_else(PoisonError::into_inner)
        .0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn poisoned() -> Arc<Mutex<u32>> {
        let mutex = Arc::new(Mutex::new(7));
        let holder = Arc::clone(&mutex);
        let _ = std::thread::spawn(move || {
            let _guard = holder.lock().unwrap();
            panic!("poisoning on purpose");
        })
        .join();
        assert!(mutex.is_poisoned());
        mutex
    }

    #[test]
    fn a_poisoned_lock_still_gives_its_value() {
        let mutex = poisoned();
        *lock(&mutex) += 1;
        assert_eq!(*lock(&mutex), 8);
        let mutex = Arc::try_unwrap(mutex).unwrap();
        assert_eq!(into_inner(mutex), 8);
    }

    #[test]
    fn waiting_on_a_poisoned_lock_returns_the_guard() {
        let mutex = poisoned();
        let condvar = Condvar::new();
        let guard = wait_timeout(&condvar, lock(&mutex), Duration::from_millis(1));
        assert_eq!(*guard, 7);
    }
}
