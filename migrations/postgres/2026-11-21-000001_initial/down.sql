DROP VIEW change_feed;
DROP TABLE authz_version;

DROP TABLE refresh_tokens;
DROP TABLE excused_absences;
DROP TABLE locks;
DROP TABLE op_log;
DROP TABLE register_submissions;
DROP TABLE marks;
DROP TABLE periods;
DROP TABLE enrolments;
DROP TABLE class_teachers;
DROP TABLE classes;
DROP TABLE students;
DROP TABLE users;
DROP TABLE schools;
DROP FUNCTION bump_authz_version();
