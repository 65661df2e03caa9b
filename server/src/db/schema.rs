//! The database schema, the same on SQLite and PostgreSQL (see the migrations). Only column types
//! that diesel's `MultiConnection` carries on every backend are used: text, integers.
//! Changing a table here without a migration breaks every existing school's database.

diesel::table! {
    schools (id) {
        id -> Text,
        name -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        school_id -> Text,
        username -> Text,
        display_name -> Text,
        role -> Text,
        password_hash -> Text,
        created_at -> BigInt,
        disabled_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    students (id) {
        id -> Text,
        school_id -> Text,
        external_id -> Text,
        given_name -> Text,
        family_name -> Text,
    }
}

diesel::table! {
    classes (id) {
        id -> Text,
        school_id -> Text,
        name -> Text,
    }
}

diesel::table! {
    class_teachers (class_id, teacher_id) {
        school_id -> Text,
        class_id -> Text,
        teacher_id -> Text,
    }
}

diesel::table! {
    enrolments (class_id, student_id, from_date) {
        school_id -> Text,
        class_id -> Text,
        student_id -> Text,
        from_date -> Text,
        until_date -> Nullable<Text>,
    }
}

diesel::table! {
    periods (school_id, period) {
        school_id -> Text,
        period -> Integer,
        label -> Text,
        starts -> Text,
        ends -> Text,
    }
}

diesel::table! {
    marks (class_id, date, period, student_id) {
        school_id -> Text,
        class_id -> Text,
        date -> Text,
        period -> Integer,
        student_id -> Text,
        status -> Nullable<Text>,
        status_hlc -> Nullable<Text>,
        minutes_late -> Nullable<Integer>,
        minutes_late_hlc -> Nullable<Text>,
        note -> Nullable<Text>,
        note_hlc -> Nullable<Text>,
    }
}

diesel::table! {
    register_submissions (class_id, date, period) {
        school_id -> Text,
        class_id -> Text,
        date -> Text,
        period -> Integer,
        submitted -> Integer,
        submitted_hlc -> Text,
    }
}

diesel::table! {
    op_log (seq) {
        seq -> BigInt,
        op_id -> Text,
        school_id -> Text,
        user_id -> Text,
        device_id -> Text,
        device_time -> BigInt,
        device_hlc -> Text,
        hlc -> Nullable<Text>,
        received_at -> BigInt,
        class_id -> Text,
        date -> Text,
        period -> BigInt,
        student_id -> Nullable<Text>,
        field -> Text,
        value -> Text,
        outcome -> Text,
        code -> Nullable<Text>,
        detail -> Nullable<Text>,
        message -> Nullable<Text>,
        clock_skewed -> Integer,
    }
}

diesel::table! {
    /// A view: the applied rows of `op_log`, which is what pull reads.
    change_feed (seq) {
        seq -> BigInt,
        school_id -> Text,
        class_id -> Text,
        date -> Text,
        period -> BigInt,
        student_id -> Nullable<Text>,
        field -> Text,
        value -> Text,
        hlc -> Nullable<Text>,
    }
}

diesel::table! {
    locks (id) {
        id -> Text,
        school_id -> Text,
        class_id -> Nullable<Text>,
        from_date -> Text,
        until_date -> Text,
        reason -> Text,
        locked_hlc -> Text,
        created_by -> Text,
        created_at -> BigInt,
        reopened_at -> Nullable<BigInt>,
        reopened_by -> Nullable<Text>,
        reopen_reason -> Nullable<Text>,
    }
}

diesel::table! {
    excused_absences (id) {
        id -> Text,
        school_id -> Text,
        student_id -> Text,
        from_date -> Text,
        until_date -> Text,
        reason -> Text,
        evidence_note -> Text,
        created_by -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    refresh_tokens (token_hash) {
        token_hash -> Text,
        family_id -> Text,
        user_id -> Text,
        issued_at -> BigInt,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
        revoked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    authz_version (id) {
        id -> Integer,
        version -> BigInt,
    }
}

diesel::table! {
    /// Failed logins counted per account or per address (`db::login_throttle`).
    login_failures (kind, subject) {
        kind -> Text,
        subject -> Text,
        failures -> BigInt,
        window_start -> Nullable<BigInt>,
        wait_until -> Nullable<BigInt>,
    }
}

diesel::table! {
    /// Which addresses signed in to which accounts, and when (`db::login_throttle`).
    login_trust (username, address) {
        username -> Text,
        address -> Text,
        trusted_at -> BigInt,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    schools,
    users,
    students,
    classes,
    class_teachers,
    enrolments,
    periods,
    marks,
    register_submissions,
    op_log,
    change_feed,
    locks,
    excused_absences,
    refresh_tokens,
    authz_version,
    login_failures,
    login_trust,
);
