-- The reopened locks stay reopened: their dates were never readable.
DROP INDEX op_log_first_receipt;
CREATE UNIQUE INDEX op_log_first_receipt ON op_log (device_hlc, op_id) WHERE outcome <> 'duplicate';
