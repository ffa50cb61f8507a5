-- Stop a ring that may have reached a device, also when the call never got
-- to `ringing`: the ring push leaves before `ringing` is recorded, so an
-- instance that dies in between, or a push that times out, leaves the call
-- `initiated` while a device rings. Its end (cancelled by the caller, failed
-- by the push or the sweep's initiate timeout) queues the same stop-ringing
-- rows as the end of a ringing call. Not no_push_token: it rang nobody.
-- The states and reasons match crates/domain's `call::stops_ringing`
-- (drift test in tests/tests/e2e/migrate.rs). The enqueue function is
-- unchanged: it copies NEW.status and the rung devices, ON CONFLICT once.
DROP TRIGGER calls_stop_ringing ON calls;
CREATE TRIGGER calls_stop_ringing
    AFTER UPDATE OF status ON calls
    FOR EACH ROW
    WHEN ((OLD.status = 'ringing' AND NEW.status IN ('accepted', 'rejected', 'cancelled', 'missed'))
       OR (OLD.status = 'initiated' AND NEW.end_reason IN ('push_failed', 'push_timeout', 'cancelled')))
    EXECUTE FUNCTION push_outbox_enqueue_stop_ringing();
