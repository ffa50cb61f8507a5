//! Purges rows past their retention (`domain::retention`), a batch at a
//! time, while the run has time left.

use std::time::Instant;

use component_kit::db::{Connection, ParameterValue};
use component_kit::{db, Failure};
use domain::retention;
use domain::sweep::{SweepLimits, SweepSummary};

/// Batches per table and run: a backlog (a first deploy on an old database)
/// drains over several runs instead of holding one.
const MAX_BATCHES_PER_RUN: u32 = 4;

pub async fn purge(connection: &Connection, limits: &SweepLimits, deadline: Instant, summary: &mut SweepSummary) -> Result<(), Failure> {
    let batch = limits.sweep_batch_size;
    for purge in retention::purges() {
        let params = || vec![ParameterValue::Floating64(purge.kept.seconds(limits) as f64), ParameterValue::Int64(i64::try_from(batch).unwrap_or(i64::MAX))];
        let mut purged = 0;
        for _ in 0..MAX_BATCHES_PER_RUN {
            if Instant::now() >= deadline {
                summary.deadline_reached = true;
                break;
            }
            let deleted = db::execute(connection, &purge.statement, params()).await?;
            purged += deleted;
            if deleted < batch {
                break;
            }
        }
        summary.add(purge.step, purged);
    }
    Ok(())
}
