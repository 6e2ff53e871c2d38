//! Property tests that a CI failure can reproduce and a developer can run longer.
//!
//! proptest picks a fresh random seed on every run unless told otherwise, so a failure in
//! CI could not be replayed; and a case count written into the test could not be raised.
//! [`run_property`] starts from a fixed seed and takes each test's case count as a default
//! only. proptest's own environment variables override both: `PROPTEST_CASES=2000` runs
//! more cases, `PROPTEST_RNG_SEED=N` another fixed seed.

use std::fmt::Debug;

use proptest::strategy::Strategy;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestRunner, contextualize_config};

/// The seed every property test starts from unless `PROPTEST_RNG_SEED` says otherwise.
pub const DEFAULT_SEED: u64 = 0x0072_6f77_7069_7065; // "rowpipe"

/// The runner's configuration: `default_cases` cases from [`DEFAULT_SEED`], few shrink
/// steps (each case is a server round trip), no regression files; then proptest's
/// `PROPTEST_*` environment variables on top.
pub fn config(default_cases: u32) -> Config {
    contextualize_config(Config {
        cases: default_cases,
        max_shrink_iters: 256,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(DEFAULT_SEED),
        ..Config::default()
    })
}

/// Runs `test` on values of `strategy` (see [`config`]), panicking with proptest's
/// minimal failure and the seed and case count that found it.
#[track_caller]
pub fn run_property<S: Strategy>(
    default_cases: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) where
    S::Value: Debug,
{
    let config = config(default_cases);
    let (seed, cases) = (config.rng_seed, config.cases);
    if let Err(failure) = TestRunner::new(config).run(&strategy, test) {
        panic!("{failure}\n(seed {seed}, {cases} cases; rerun with PROPTEST_RNG_SEED={seed})");
    }
}
