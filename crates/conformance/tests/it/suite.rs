//! The suite against the echo replicas alone (no gateway): hermetic checks that failures name
//! the broken behaviour and that skips are reported as skips.
