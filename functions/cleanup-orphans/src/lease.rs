//! One sweep at a time across instances: every instance's cron fires every
//! 10 s, and a run slowed by an outage must not have others pile up behind
//! it. The run that takes the lease works; a run that finds it held returns
//! at once. Rows are still claimed step by step (`FOR UPDATE SKIP LOCKED`,
//! claim columns), so a run that outlives its lease never doubles work.

use component_kit::db::{Connection, ParameterValue};
use component_kit::{db, Failure};
use uuid::Uuid;

const LEASE: &str = "cleanup-orphans";

/// Takes the lease for `seconds` unless another run holds it.
pub async fn take(connection: &Connection, holder: Uuid, seconds: u64) -> Result<bool, Failure> {
    let rows = db::query(
        connection,
        "INSERT INTO sweep_leases AS l (name, holder, lease_until) VALUES ($1, $2, now() + make_interval(secs => $3))
         ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, lease_until = EXCLUDED.lease_until
         WHERE l.lease_until <= now()
         RETURNING l.holder",
        vec![ParameterValue::Str(LEASE.to_owned()), db::uuid(holder), ParameterValue::Floating64(seconds as f64)],
    )
    .await?;
    Ok(!rows.is_empty())
}

/// Gives the lease back, if this run still holds it.
pub async fn release(connection: &Connection, holder: Uuid) -> Result<(), Failure> {
    db::execute(
        connection,
        "UPDATE sweep_leases SET lease_until = now() WHERE name = $1 AND holder = $2",
        vec![ParameterValue::Str(LEASE.to_owned()), db::uuid(holder)],
    )
    .await?;
    Ok(())
}
