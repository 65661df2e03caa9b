-- Two repairs after a hostile-input probe. Its twin in migrations/sqlite must do the same.
--
-- 1. An op id reused for a different op (another user, another device, other content) is now
--    logged as `rejected` with code OP_ID_REUSED, beside the first receipt of that id. Such a row
--    is not a receipt of the op, so the "received once" index leaves it out.
DROP INDEX op_log_first_receipt;
CREATE UNIQUE INDEX op_log_first_receipt ON op_log (device_hlc, op_id)
    WHERE outcome <> 'duplicate' AND (code IS NULL OR code <> 'OP_ID_REUSED');

-- 2. Earlier versions stored lock dates outside years 0-9999 (e.g. "-001-01-01"), which no
--    version could read back; every push then failed. Such a lock never took effect, so it is
--    reopened, with the reason on record. Every date is now checked against the school years
--    (1970 to 2199) before it is stored.
UPDATE locks
SET reopened_at = (extract(epoch FROM now()) * 1000)::bigint,
    reopened_by = created_by,
    reopen_reason = 'Reopened by the upgrade to a newer Rollcall: its dates were outside the years a school can have, so it never took effect'
WHERE reopened_at IS NULL
  AND (length(from_date) <> 10 OR length(until_date) <> 10
       OR from_date COLLATE "C" NOT BETWEEN '1970-01-01' AND '2199-12-31'
       OR until_date COLLATE "C" NOT BETWEEN '1970-01-01' AND '2199-12-31');
