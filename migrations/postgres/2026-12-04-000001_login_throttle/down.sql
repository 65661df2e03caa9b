DROP TABLE login_trust;
DROP TABLE login_failures;
