-- Rollcall's first schema, SQLite flavour. Its twin in migrations/postgres must stay column for
-- column the same: server/src/schema.rs describes both. Never edit a released migration; add one.
--
-- Ids are UUID text, register dates `YYYY-MM-DD` text (sorts like the calendar), HLCs their
-- canonical text form (sorts like the clock), times integer milliseconds since the epoch (UTC).

CREATE TABLE schools (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE users (
    id TEXT PRIMARY KEY NOT NULL,
    school_id TEXT NOT NULL REFERENCES schools (id),
    username TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'teacher')),
    password_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    disabled_at BIGINT
);

CREATE TABLE students (
    id TEXT PRIMARY KEY NOT NULL,
    school_id TEXT NOT NULL REFERENCES schools (id),
    external_id TEXT NOT NULL,
    given_name TEXT NOT NULL,
    family_name TEXT NOT NULL,
    UNIQUE (school_id, external_id)
);

CREATE TABLE classes (
    id TEXT PRIMARY KEY NOT NULL,
    school_id TEXT NOT NULL REFERENCES schools (id),
    name TEXT NOT NULL,
    UNIQUE (school_id, name)
);

CREATE TABLE class_teachers (
    school_id TEXT NOT NULL REFERENCES schools (id),
    class_id TEXT NOT NULL REFERENCES classes (id),
    teacher_id TEXT NOT NULL REFERENCES users (id),
    PRIMARY KEY (class_id, teacher_id)
);
CREATE INDEX class_teachers_by_teacher ON class_teachers (teacher_id);

-- until_date is inclusive; NULL while the enrolment lasts.
CREATE TABLE enrolments (
    school_id TEXT NOT NULL REFERENCES schools (id),
    class_id TEXT NOT NULL REFERENCES classes (id),
    student_id TEXT NOT NULL REFERENCES students (id),
    from_date TEXT NOT NULL,
    until_date TEXT,
    PRIMARY KEY (class_id, student_id, from_date),
    CHECK (until_date IS NULL OR until_date >= from_date)
);
CREATE INDEX enrolments_by_student ON enrolments (student_id);

CREATE TABLE periods (
    school_id TEXT NOT NULL REFERENCES schools (id),
    period INTEGER NOT NULL CHECK (period BETWEEN 1 AND 16),
    label TEXT NOT NULL,
    starts TEXT NOT NULL,
    ends TEXT NOT NULL,
    PRIMARY KEY (school_id, period)
);

-- The merged state of every mark: each field is its own last-write-wins register, so each
-- has its value and the HLC of the write that set it. A NULL HLC means nobody wrote the field;
-- minutes_late may be NULL with an HLC set (a teacher cleared it).
-- No foreign keys here or on register_submissions, on purpose: the push writer only stores a
-- mark after checking, inside the same transaction, that the class exists and the student is
-- enrolled in it; two extra index lookups per mark would cost a good part of its throughput.
CREATE TABLE marks (
    school_id TEXT NOT NULL,
    class_id TEXT NOT NULL,
    date TEXT NOT NULL,
    period INTEGER NOT NULL,
    student_id TEXT NOT NULL,
    status TEXT,
    status_hlc TEXT,
    minutes_late INTEGER,
    minutes_late_hlc TEXT,
    note TEXT,
    note_hlc TEXT,
    PRIMARY KEY (class_id, date, period, student_id)
) WITHOUT ROWID;

-- "Attendance taken" per register, also last-write-wins. submitted is 0 or 1.
CREATE TABLE register_submissions (
    school_id TEXT NOT NULL,
    class_id TEXT NOT NULL,
    date TEXT NOT NULL,
    period INTEGER NOT NULL,
    submitted INTEGER NOT NULL CHECK (submitted IN (0, 1)),
    submitted_hlc TEXT NOT NULL,
    PRIMARY KEY (class_id, date, period)
) WITHOUT ROWID;

-- Every op ever received, rejected and duplicate ones included; rows are never updated or
-- deleted. The fields are stored as the device sent them (a rejected op may carry a bad date
-- or value); hlc is the HLC the op was merged under (the device's, or the server's when the
-- device clock ran ahead: clock_skewed = 1). seq is the plain rowid: SQLite has one writer at a
-- time, so seq order is commit order, and rows are never deleted, so a seq is never reused.
CREATE TABLE op_log (
    seq INTEGER PRIMARY KEY NOT NULL,
    op_id TEXT NOT NULL,
    school_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    device_time BIGINT NOT NULL,
    device_hlc TEXT NOT NULL,
    hlc TEXT,
    received_at BIGINT NOT NULL,
    class_id TEXT NOT NULL,
    date TEXT NOT NULL,
    period BIGINT NOT NULL,
    student_id TEXT,
    field TEXT NOT NULL,
    value TEXT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('applied', 'superseded', 'duplicate', 'rejected')),
    code TEXT,
    detail TEXT,
    message TEXT,
    clock_skewed INTEGER NOT NULL CHECK (clock_skewed IN (0, 1))
);
-- An op is received once; later receipts are logged as 'duplicate' rows beside it. An op is
-- its op_id, sent with the HLC the device stamped it with; a retry carries both unchanged. The
-- index leads with that HLC on purpose: HLCs of new ops are all close to "now", so new entries
-- land on the index's last pages, while random UUIDs first would dirty one page per op at every
-- commit (the write volume of a year-old op log would cap pushes at a few thousand per second).
CREATE UNIQUE INDEX op_log_first_receipt ON op_log (device_hlc, op_id) WHERE outcome <> 'duplicate';

-- What pull reads: every applied change, in commit order.
CREATE VIEW change_feed AS
    SELECT seq, school_id, class_id, date, period, student_id, field, value, hlc
    FROM op_log
    WHERE outcome = 'applied';

-- The office seals a date range (inclusive) for the school or one class. locked_hlc is the
-- server's HLC at the moment of locking. A reopened lock no longer applies.
CREATE TABLE locks (
    id TEXT PRIMARY KEY NOT NULL,
    school_id TEXT NOT NULL REFERENCES schools (id),
    class_id TEXT REFERENCES classes (id),
    from_date TEXT NOT NULL,
    until_date TEXT NOT NULL,
    reason TEXT NOT NULL,
    locked_hlc TEXT NOT NULL,
    created_by TEXT NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL,
    reopened_at BIGINT,
    reopened_by TEXT REFERENCES users (id),
    reopen_reason TEXT,
    CHECK (until_date >= from_date)
);
CREATE INDEX locks_by_school ON locks (school_id, from_date);

CREATE TABLE excused_absences (
    id TEXT PRIMARY KEY NOT NULL,
    school_id TEXT NOT NULL REFERENCES schools (id),
    student_id TEXT NOT NULL REFERENCES students (id),
    from_date TEXT NOT NULL,
    until_date TEXT NOT NULL,
    reason TEXT NOT NULL,
    evidence_note TEXT NOT NULL,
    created_by TEXT NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL,
    CHECK (until_date >= from_date)
);
CREATE INDEX excused_absences_by_student ON excused_absences (student_id, from_date);

-- Only a hash of each refresh token is kept. A token is used once (used_at); a second use
-- means it was stolen, and the whole family (one sign-in) is revoked.
CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    family_id TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id),
    issued_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX refresh_tokens_by_family ON refresh_tokens (family_id);

-- The push writer keeps who-may-write-what in memory (users, classes, teachers, enrolments,
-- locks). Any change to those tables bumps this one counter in the same transaction, and the
-- writer reloads its copy when the counter moved, so the copy is never stale, whoever wrote.
CREATE TABLE authz_version (
    id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO authz_version (id, version) VALUES (1, 0);

CREATE TRIGGER users_ins AFTER INSERT ON users BEGIN UPDATE authz_version SET version = version + 1; END;
CREATE TRIGGER users_upd AFTER UPDATE ON users BEGIN UPDATE authz_version SET version = version + 1; END;
CREATE TRIGGER users_del AFTER DELETE ON users BEGIN UPDATE authz_version SET version = version + 1; END;
CREATE TRIGGER classes_ins AFTER INSERT ON classes BEGIN UPDATE authz_version SET version = version + 1; END;
CREATE TRIGGER classes_upd AFTER UPDATE ON classes BEGIN UPDATE authz_version SET version = version + 1; END;
CREATE TRIGGER classes_del AFTER DELETE ON classes BEGIN UPDATE authz_version SET version = version + 1; END;
CREATE TRIGGER class_teachers_ins AFTER INSERT ON class_teachers BEGIN UPDATE authz_version SET version = version + 1; END;
CREATE TRIGGER class_teachers_upd AFTER UPDATE ON class_teachers BEGIN UPDATE authz_version SET version = version + 1; END;
CREATE TRIGGER class_teachers_del AFTER DELETE ON class_teachers BEGIN UPDATE authz_version SET version = version + 1; END;
CREATE TRIGGER enrolments_ins AFTER INSERT ON enrolments BEGIN UPDATE authz_version SET version = version + 1; END;
CREATE TRIGGER enrolments_upd AFTER UPDATE ON enrolments BEGIN UPDATE authz_version SET version = version + 1; END;
CREATE TRIGGER enrolments_del AFTER DELETE ON enrolments BEGIN UPDATE authz_version SET version = version + 1; END;
CREATE TRIGGER locks_ins AFTER INSERT ON locks BEGIN UPDATE authz_version SET version = version + 1; END;
CREATE TRIGGER locks_upd AFTER UPDATE ON locks BEGIN UPDATE authz_version SET version = version + 1; END;
CREATE TRIGGER locks_del AFTER DELETE ON locks BEGIN UPDATE authz_version SET version = version + 1; END;
