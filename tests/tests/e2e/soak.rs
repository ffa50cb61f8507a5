//! The short soak (`e2e::soak`): users placing, answering, rejecting,
//! cancelling and ending calls with LiveKit's webhooks, an instance killed
//! and restarted in the middle; the checks of the full soak
//! (`cargo xtask scale`) must pass.

use std::time::Duration;

use e2e::fleet::{FleetOptions, Runtime};
use e2e::soak::fleet_target::FleetTarget;
use e2e::soak::{self, SoakOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_soak_loses_nothing_and_applies_nothing_twice() {
    let runtime = Runtime::from_env().expect("a usable E2E_RUNTIME");
    let mut target = FleetTarget::start(FleetOptions { runtime, ..FleetOptions::default() }).await.expect("the fleet starts");
    // Three instances, PgBouncer in session mode; instance 1 down from 8 s to 12 s.
    let options = SoakOptions::short();
    let report = soak::run(&mut target, &options).await.expect("the soak runs");
    target.stop().await;
    println!("{report}");
    // Every check, the stop-ringing push sent once included: a component's
    // work after its answer runs in an instance that lives until `handle`
    // returns (wasi:http@0.2), so only the kill can cost a sender its
    // verdict, and the check allows a resend only for a push that arrived
    // at the kill.
    let failed: Vec<&str> = report.failures().iter().map(|check| check.name).collect();
    assert!(failed.is_empty(), "{failed:?}\n{report}");
    let stops = &report.stop_ringing;
    assert_eq!((stops.missing, stops.doubled, stops.stray, stops.resent_after_lost_verdict), (0, 0, 0, 0), "{report}");
    assert_eq!(report.rings.wrong, 0, "{report}");
    assert!(report.calls >= 50, "too few calls to mean anything: {report}");
    assert!(report.elapsed < options.duration + Duration::from_secs(20), "{report}");
}
