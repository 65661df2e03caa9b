//! Unit tests that pin the rules a school would notice if they drifted: every validation error
//! code of an op, effective status (excuses and locks), and the report arithmetic.
//!
//! Like the property tests, this file runs natively and in headless Chromium (wasm32), so the
//! tablet refuses exactly what the server refuses.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;
#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

use chrono::NaiveDate;
use rollcall_shared::{
    ChronicThreshold, EffectiveStatus, ExcuseRange, FieldChange, Hlc, Lww, MarkState, MarkValue, NodeId, Op, RawOp,
    Status, Tally, ValidationCode, ValidationError, WireValue, effective_status,
};
use serde_json::{Map, Value, json};

const STUDENT: &str = "57d00000-0000-4000-8000-000000000001";

/// A valid op as a tablet pushes it; each test breaks one thing in it.
fn valid_op() -> Map<String, Value> {
    let op = json!({
        "op_id": "0b000000-0000-4000-8000-000000000001",
        "hlc": "1763719200000-0000-9f2c4a1b7d3e5f60",
        "device_time": "2025-11-21T10:00:00Z",
        "class_id": "5b000000-0000-4000-8000-000000000001",
        "date": "2026-01-05",
        "period": 3,
        "student_id": STUDENT,
        "field": "status",
        "value": "present",
    });
    match op {
        Value::Object(map) => map,
        _ => unreachable!("the literal above is an object"),
    }
}

/// Validates `valid_op()` with `edits` applied: each is a key and its new value, or `None` to
/// leave the key out.
fn validate(edits: &[(&str, Option<Value>)]) -> Result<Op, ValidationError> {
    let mut op = valid_op();
    for (key, value) in edits {
        match value {
            Some(value) => op.insert((*key).to_owned(), value.clone()),
            None => op.remove(*key),
        };
    }
    let raw: RawOp = serde_json::from_value(Value::Object(op)).expect("the op is well-formed JSON of the right shape");
    raw.validate()
}

/// Asserts the op is rejected with `code`, and that the code travels with its stable name.
#[track_caller]
fn assert_rejected(edits: &[(&str, Option<Value>)], code: ValidationCode, wire_name: &str) {
    let error = validate(edits).expect_err("this op breaks a rule and must be rejected");
    assert_eq!(error.code, code, "{edits:?}: {}", error.message);
    assert_eq!(
        serde_json::to_value(&error).expect("errors serialize")["code"],
        wire_name
    );
    assert_eq!(code.as_str(), wire_name);
    assert!(!error.message.is_empty());
}

#[track_caller]
fn assert_accepted(edits: &[(&str, Option<Value>)]) -> Op {
    validate(edits).unwrap_or_else(|e| panic!("{edits:?} should be valid: {e}"))
}

fn field(name: &str, value: Value) -> [(&'static str, Option<Value>); 2] {
    [("field", Some(Value::from(name))), ("value", Some(value))]
}

#[test]
fn the_base_op_is_valid() {
    let op = assert_accepted(&[]);
    assert_eq!(op.change.change.field().as_str(), "status");
    assert_eq!(op.change.register.period, 3);
}

#[test]
fn unknown_field_is_rejected() {
    assert_rejected(
        &field("mood", json!("happy")),
        ValidationCode::UnknownField,
        "UNKNOWN_FIELD",
    );
    // Field names are exact: no case folding.
    assert_rejected(
        &field("Status", json!("present")),
        ValidationCode::UnknownField,
        "UNKNOWN_FIELD",
    );
}

#[test]
fn wrong_value_type_is_rejected_for_every_field() {
    for (name, value) in [
        ("status", json!(1)),
        ("status", json!(null)),
        ("minutes_late", json!("5")),
        ("minutes_late", json!(5.5)),
        ("minutes_late", json!(true)),
        ("note", json!(5)),
        ("note", json!(null)),
    ] {
        assert_rejected(&field(name, value), ValidationCode::WrongValueType, "WRONG_VALUE_TYPE");
    }
    let submitted_as_text = [field("submitted", json!("yes")).as_slice(), &[("student_id", None)]].concat();
    assert_rejected(&submitted_as_text, ValidationCode::WrongValueType, "WRONG_VALUE_TYPE");
}

#[test]
fn a_wrong_value_is_named_in_the_message() {
    for (name, value, named) in [
        ("status", json!(1), "not 1"),
        ("minutes_late", json!("5"), r#"not "5""#),
        ("minutes_late", json!(5.5), "not a fraction"),
        ("minutes_late", json!(-3), "not -3"),
        ("minutes_late", json!(u64::MAX), "not 18446744073709551615"),
        ("note", json!(true), "not true"),
        ("note", json!(null), "not null"),
    ] {
        let error = validate(&field(name, value)).expect_err("a wrong value is rejected");
        assert!(error.message.ends_with(named), "{name}: {}", error.message);
    }
}

#[test]
fn a_value_is_a_json_scalar_and_travels_unchanged() {
    for value in [
        json!(null),
        json!(true),
        json!(7),
        json!(-3),
        json!(u64::MAX),
        json!(5.5),
        json!("late"),
    ] {
        let read: WireValue = serde_json::from_value(value.clone()).expect("a scalar reads");
        assert_eq!(serde_json::to_value(&read).expect("a scalar writes"), value);
    }
    // A list or an object is no value of any field: the op, and with it the push, is malformed.
    for value in [json!(["present"]), json!({"status": "present"})] {
        let mut op = valid_op();
        op.insert("value".into(), value);
        assert!(serde_json::from_value::<RawOp>(Value::Object(op)).is_err());
    }
}

#[test]
fn unknown_status_is_rejected() {
    for status in ["sick", "Present", "", "PRESENT"] {
        assert_rejected(
            &field("status", json!(status)),
            ValidationCode::UnknownStatus,
            "UNKNOWN_STATUS",
        );
    }
    for status in ["present", "late", "absent", "excused"] {
        assert_accepted(&field("status", json!(status)));
    }
}

#[test]
fn minutes_late_must_be_0_to_600() {
    for minutes in [json!(-1), json!(601), json!(65_536), json!(u64::MAX), json!(i64::MIN)] {
        assert_rejected(
            &field("minutes_late", minutes),
            ValidationCode::MinutesLateOutOfRange,
            "MINUTES_LATE_OUT_OF_RANGE",
        );
    }
    for (minutes, expected) in [(json!(0), Some(0)), (json!(600), Some(600)), (json!(null), None)] {
        let op = assert_accepted(&field("minutes_late", minutes));
        assert!(matches!(
            op.change.change,
            FieldChange::Mark { value: MarkValue::MinutesLate(m), .. } if m == expected
        ));
    }
}

#[test]
fn note_holds_at_most_500_characters_not_bytes() {
    // 500 characters of two to four bytes each: 1,500 bytes, still a valid note.
    let multibyte: String = "é✓字".chars().cycle().take(500).collect();
    assert_eq!(multibyte.chars().count(), 500);
    assert!(multibyte.len() > 1000);
    assert_accepted(&field("note", json!(multibyte)));
    assert_accepted(&field("note", json!("a".repeat(500))));
    assert_accepted(&field("note", json!("")));

    assert_rejected(
        &field("note", json!("a".repeat(501))),
        ValidationCode::NoteTooLong,
        "NOTE_TOO_LONG",
    );
    let too_long = format!("{multibyte}é");
    assert_rejected(
        &field("note", json!(too_long)),
        ValidationCode::NoteTooLong,
        "NOTE_TOO_LONG",
    );
}

#[test]
fn malformed_hlc_is_rejected() {
    for hlc in [
        "",
        "1763719200000-0000",
        "176371920000-0000-9f2c4a1b7d3e5f60",
        "1763719200000-000-9f2c4a1b7d3e5f60",
        "1763719200000-0000-9F2C4A1B7D3E5F60",
        "1763719200000-0000-9f2c4a1b7d3e5f60-0",
        "2025-11-21T10:00:00Z",
    ] {
        assert_rejected(
            &[("hlc", Some(json!(hlc)))],
            ValidationCode::MalformedHlc,
            "MALFORMED_HLC",
        );
    }
}

#[test]
fn a_date_that_does_not_exist_is_rejected() {
    for date in [
        "2026-02-30",
        "2026-13-01",
        "2026-1-05",
        "2026-01-5",
        "2026-00-10",
        "2025-02-29",
        " 2026-1-05",
        "2026- 1-05",
        "+2026-1-05",
        "05/01/2026",
        "",
    ] {
        assert_rejected(
            &[("date", Some(json!(date)))],
            ValidationCode::InvalidDate,
            "INVALID_DATE",
        );
    }
    let leap_day = assert_accepted(&[("date", Some(json!("2024-02-29")))]);
    assert_eq!(
        leap_day.change.register.date,
        NaiveDate::from_ymd_opt(2024, 2, 29).expect("a leap day")
    );
}

#[test]
fn a_date_outside_the_school_years_is_rejected() {
    for date in ["-0001-01-01", "+10000-01-01", "-001-01-01"] {
        assert_rejected(
            &[("date", Some(json!(date)))],
            ValidationCode::InvalidDate,
            "INVALID_DATE",
        );
    }
    for date in ["0000-01-01", "1969-12-31", "2200-01-01", "9999-12-31"] {
        assert_rejected(
            &[("date", Some(json!(date)))],
            ValidationCode::DateOutOfRange,
            "DATE_OUT_OF_RANGE",
        );
    }
    assert_accepted(&[("date", Some(json!("1970-01-01")))]);
    assert_accepted(&[("date", Some(json!("2199-12-31")))]);
    // A date read by something other than parse_date (chrono's serde, a CSV reader) goes
    // through the same rule.
    let year_minus_one = NaiveDate::from_ymd_opt(-1, 1, 1).expect("chrono has year -1");
    let error = rollcall_shared::op::check_school_date(year_minus_one).expect_err("not a school date");
    assert_eq!(error.code, ValidationCode::DateOutOfRange);
}

#[test]
fn free_text_may_hold_line_breaks_and_tabs_but_no_other_control_characters() {
    assert_accepted(&field("note", json!("left early\n\tcollected by dad")));
    for bad in ["a\u{0}b", "bell\u{7}", "\u{1b}[31mred", "cr\r\nlf", "\u{85}next line"] {
        assert_rejected(
            &field("note", json!(bad)),
            ValidationCode::ControlCharacter,
            "CONTROL_CHARACTER",
        );
    }
}

#[test]
fn a_message_repeats_at_most_a_short_excerpt_of_a_bad_value() {
    let huge = "x".repeat(100_000);
    let error = validate(&field("status", json!(huge))).expect_err("not a status");
    assert!(error.message.len() < 200, "{} bytes", error.message.len());
    assert!(error.message.contains("xxxx…"), "{}", error.message);
    let error = validate(&[("date", Some(json!(format!("2026-01-01\nINFO forged {huge}"))))]).expect_err("bad date");
    assert!(error.message.len() < 200, "{} bytes", error.message.len());
    assert!(!error.message.contains('\n'), "{}", error.message);
}

#[test]
fn a_period_written_as_a_whole_float_is_that_period() {
    let op = assert_accepted(&[("period", Some(json!(3.0)))]);
    assert_eq!(op.change.register.period, 3);
    assert_rejected(
        &[("period", Some(json!(8802.0)))],
        ValidationCode::PeriodOutOfRange,
        "PERIOD_OUT_OF_RANGE",
    );
    // Any whole number within 64 bits (the document's int64), float or not, rejects only its op;
    // the rest of its push stands.
    for large in [
        json!(9.0e18),
        json!(-9.2e18),
        json!(4_263_754_595_670_322.0),
        json!(i64::MAX),
    ] {
        assert_rejected(
            &[("period", Some(large))],
            ValidationCode::PeriodOutOfRange,
            "PERIOD_OUT_OF_RANGE",
        );
    }
    // Beyond 64 bits it is not an int64: the push is malformed, as the document says.
    for beyond in [json!(9.3e18), json!(-4.2e22), json!(u64::MAX)] {
        let mut op = valid_op();
        op.insert("period".into(), beyond);
        assert!(serde_json::from_value::<RawOp>(Value::Object(op)).is_err());
    }
    // As JSON text, one below i64::MIN reads as the float -2^63: still beyond 64 bits, still
    // malformed; i64::MIN itself is an int64 and rejects only its op.
    let mut op = valid_op();
    op.insert("period".into(), json!(424_242));
    let text = serde_json::to_string(&Value::Object(op)).expect("an op serializes");
    let below_min = text.replace("424242", "-9223372036854775809");
    assert!(serde_json::from_str::<RawOp>(&below_min).is_err(), "{below_min}");
    let at_min = text.replace("424242", &i64::MIN.to_string());
    let raw = serde_json::from_str::<RawOp>(&at_min).expect("i64::MIN is an int64");
    assert_eq!(
        raw.validate().expect_err("out of range").code,
        ValidationCode::PeriodOutOfRange
    );
    let mut fraction = valid_op();
    fraction.insert("period".into(), json!(2.5));
    assert!(
        serde_json::from_value::<RawOp>(Value::Object(fraction)).is_err(),
        "a fraction is malformed"
    );
}

#[test]
fn period_must_be_1_to_16() {
    for period in [0, 17, -1, 256] {
        assert_rejected(
            &[("period", Some(json!(period)))],
            ValidationCode::PeriodOutOfRange,
            "PERIOD_OUT_OF_RANGE",
        );
    }
    for period in [1, 16] {
        assert_eq!(
            assert_accepted(&[("period", Some(json!(period)))])
                .change
                .register
                .period,
            period
        );
    }
}

#[test]
fn mark_fields_need_a_student_and_submitted_must_not_have_one() {
    for (name, value) in [
        ("status", json!("late")),
        ("minutes_late", json!(5)),
        ("note", json!("bus")),
    ] {
        let without_student = [field(name, value).as_slice(), &[("student_id", None)]].concat();
        assert_rejected(&without_student, ValidationCode::StudentRequired, "STUDENT_REQUIRED");
    }
    assert_rejected(
        &field("submitted", json!(true)),
        ValidationCode::StudentNotAllowed,
        "STUDENT_NOT_ALLOWED",
    );
    let register_level = [field("submitted", json!(true)).as_slice(), &[("student_id", None)]].concat();
    assert_eq!(
        assert_accepted(&register_level).change.change,
        FieldChange::Submitted(true)
    );
}

#[test]
fn a_pull_with_an_invalid_change_does_not_parse() {
    let mut change = valid_op();
    change.remove("op_id");
    change.remove("device_time");
    assert!(serde_json::from_value::<rollcall_shared::Change>(Value::Object(change.clone())).is_ok());
    change.insert("period".to_owned(), json!(0));
    let error = serde_json::from_value::<rollcall_shared::Change>(Value::Object(change)).expect_err("period 0");
    assert!(error.to_string().contains("PERIOD_OUT_OF_RANGE"), "{error}");
}

// Effective status.

const NODE: NodeId = NodeId(0x9f2c_4a1b_7d3e_5f60);

fn at(wall_ms: u64) -> Hlc {
    Hlc {
        wall_ms,
        counter: 0,
        node: NODE,
    }
}

fn marked(status: Status, wall_ms: u64) -> MarkState {
    MarkState {
        status: Some(Lww {
            value: status,
            hlc: at(wall_ms),
        }),
        ..MarkState::default()
    }
}

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 1, d).expect("a January day")
}

fn excuse(from: u32, until: u32) -> ExcuseRange {
    ExcuseRange {
        from: day(from),
        until: day(until),
    }
}

#[test]
fn absent_with_a_covering_excuse_is_excused() {
    let absent = marked(Status::Absent, 1000);
    for covering in [excuse(5, 5), excuse(1, 5), excuse(5, 9), excuse(1, 31)] {
        assert_eq!(
            effective_status(&absent, day(5), &[excuse(20, 21), covering], None),
            EffectiveStatus::Excused
        );
    }
    for not_covering in [excuse(6, 9), excuse(1, 4)] {
        assert_eq!(
            effective_status(&absent, day(5), &[not_covering], None),
            EffectiveStatus::Absent
        );
    }
}

#[test]
fn an_excuse_does_not_change_a_student_who_came() {
    for status in [Status::Present, Status::Late] {
        assert_eq!(
            effective_status(&marked(status, 1000), day(5), &[excuse(1, 31)], None),
            EffectiveStatus::from(status)
        );
    }
    assert_eq!(
        effective_status(&marked(Status::Excused, 1000), day(5), &[], None),
        EffectiveStatus::Excused
    );
}

#[test]
fn a_lock_ignores_a_status_stamped_after_it() {
    let lock = Some(at(2000));
    assert_eq!(
        effective_status(&marked(Status::Absent, 1999), day(5), &[], lock),
        EffectiveStatus::Absent
    );
    assert_eq!(
        effective_status(&marked(Status::Absent, 2000), day(5), &[], lock),
        EffectiveStatus::Absent
    );
    assert_eq!(
        effective_status(&marked(Status::Present, 2001), day(5), &[], lock),
        EffectiveStatus::Unmarked
    );
    // The excuse still applies to a status taken before the lock.
    assert_eq!(
        effective_status(&marked(Status::Absent, 1000), day(5), &[excuse(5, 5)], lock),
        EffectiveStatus::Excused
    );
}

#[test]
fn no_status_is_unmarked_even_with_other_fields_set() {
    let note_only = MarkState {
        note: Some(Lww {
            value: "left early".to_owned(),
            hlc: at(1000),
        }),
        ..MarkState::default()
    };
    assert_eq!(
        effective_status(&MarkState::default(), day(5), &[excuse(5, 5)], None),
        EffectiveStatus::Unmarked
    );
    assert_eq!(
        effective_status(&note_only, day(5), &[], None),
        EffectiveStatus::Unmarked
    );
}

// Report arithmetic.

fn tally_of(statuses: &[EffectiveStatus]) -> Tally {
    let mut tally = Tally::default();
    for status in statuses {
        tally.add(*status);
    }
    tally
}

#[test]
fn attendance_rate_counts_late_as_attended_and_leaves_excused_out() {
    use EffectiveStatus::*;
    // 3 present + 1 late attended, 1 absent: 4 / 5. The excused and unmarked ones do not count.
    let tally = tally_of(&[Present, Present, Present, Late, Absent, Excused, Excused, Unmarked]);
    assert_eq!(
        (tally.present, tally.late, tally.absent, tally.excused, tally.unmarked),
        (3, 1, 1, 2, 1)
    );
    assert_eq!(tally.marked(), 7);
    assert_eq!(tally.attendance_rate(), Some(0.8));
    assert_eq!(tally_of(&[Excused, Unmarked]).attendance_rate(), None);
    assert_eq!(tally_of(&[Absent]).attendance_rate(), Some(0.0));
    assert_eq!(tally_of(&[Late]).attendance_rate(), Some(1.0));
}

#[test]
fn tallies_add_up() {
    use EffectiveStatus::*;
    let mut monday = tally_of(&[Present, Absent]);
    monday.merge(&tally_of(&[Late, Excused, Unmarked, Present]));
    assert_eq!(monday, tally_of(&[Present, Present, Late, Absent, Excused, Unmarked]));
}

#[test]
fn chronic_absence_is_missing_at_least_the_threshold_for_any_reason() {
    use EffectiveStatus::*;
    let term = |present: usize, absent: usize, excused: usize| {
        let statuses: Vec<EffectiveStatus> = [(Present, present), (Absent, absent), (Excused, excused), (Unmarked, 5)]
            .into_iter()
            .flat_map(|(status, n)| std::iter::repeat_n(status, n))
            .collect();
        tally_of(&statuses)
    };
    let ten_percent = ChronicThreshold::DEFAULT;
    assert_eq!(ten_percent.basis_points(), 1000);
    assert_eq!(ChronicThreshold::default(), ten_percent);
    // 1 absent + 1 excused of 20 marked is exactly 10%: chronic. Unmarked registers do not count.
    assert!(term(18, 1, 1).is_chronically_absent(ten_percent));
    assert_eq!(term(18, 1, 1).missed_share(), Some(0.1));
    assert!(term(0, 0, 2).is_chronically_absent(ten_percent));
    assert!(!term(19, 1, 0).is_chronically_absent(ten_percent));
    assert!(!term(0, 0, 0).is_chronically_absent(ten_percent));
    assert_eq!(term(0, 0, 0).missed_share(), None);

    let five_percent = ChronicThreshold::from_percent(5.0).expect("5% is a valid threshold");
    assert!(term(19, 1, 0).is_chronically_absent(five_percent));
    assert!(!term(39, 1, 0).is_chronically_absent(ChronicThreshold::from_percent(2.6).expect("valid")));
    assert!(term(39, 1, 0).is_chronically_absent(ChronicThreshold::from_percent(2.5).expect("valid")));
    for invalid in [-0.1, 100.1, f64::NAN] {
        assert_eq!(ChronicThreshold::from_percent(invalid), None, "{invalid}");
    }
}
