//! The demo school for trying Rollcall out: 1 admin, 4 teachers, 8 classes of 25–32 students,
//! 6 periods. The logins are fixed and documented (README): `admin`, `teacher1` … `teacher4`,
//! all with the password [`DEMO_PASSWORD`]. Demo data only: never seed it into a real school.
//!
//! Names come from a fixed-seed generator, so every demo database holds the same people.

use super::open_db;
use crate::db::schema::{periods, schools};
use crate::db::users::{self, UserRow};
use crate::db::{DbConnection, now_ms, roster, write_transaction};
use crate::error::AppError;
use crate::security::passwords;
use crate::settings::Storage;
use chrono::{Datelike, NaiveDate};
use diesel::prelude::*;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rollcall_shared::protocol::{ClassInfo, EnrolmentInfo, Role, SchoolInfo, StudentInfo};
use rollcall_shared::{ClassId, SchoolId, StudentId, UserId};
use uuid::Uuid;

pub const DEMO_SCHOOL_NAME: &str = "Riverside Academy (demo)";
pub const DEMO_PASSWORD: &str = "rollcall-demo";
pub const DEMO_ADMIN: &str = "admin";

/// (username, display name) of the four teachers; teacher N teaches classes 2N-1 and 2N.
pub const DEMO_TEACHERS: [(&str, &str); 4] = [
    ("teacher1", "Amira Haddad"),
    ("teacher2", "Tomasz Nowak"),
    ("teacher3", "Grace Okafor"),
    ("teacher4", "Daniel Fischer"),
];

const CLASSES: [&str; 8] = [
    "7A English",
    "7B English",
    "8A Maths",
    "8B Maths",
    "9A Science",
    "9B Science",
    "10A History",
    "10B History",
];

/// (period, label, starts, ends)
const PERIODS: [(i32, &str, &str, &str); 6] = [
    (1, "Period 1", "08:50:00", "09:45:00"),
    (2, "Period 2", "09:45:00", "10:40:00"),
    (3, "Period 3", "11:00:00", "11:55:00"),
    (4, "Period 4", "11:55:00", "12:50:00"),
    (5, "Period 5", "13:40:00", "14:35:00"),
    (6, "Period 6", "14:35:00", "15:30:00"),
];

const GIVEN_NAMES: &[&str] = &[
    "Aaliyah",
    "Aarav",
    "Abdullah",
    "Ada",
    "Adebayo",
    "Aiko",
    "Alejandro",
    "Alice",
    "Amara",
    "Amelia",
    "Ana",
    "Aryan",
    "Ayesha",
    "Ben",
    "Bianca",
    "Caleb",
    "Carmen",
    "Chen",
    "Chloe",
    "Dalia",
    "Daniel",
    "Dmitri",
    "Elif",
    "Elijah",
    "Ella",
    "Emeka",
    "Emily",
    "Ethan",
    "Fatima",
    "Finn",
    "Freya",
    "Gabriel",
    "Grace",
    "Hana",
    "Hannah",
    "Harry",
    "Hugo",
    "Ibrahim",
    "Imani",
    "Isabel",
    "Isla",
    "Jack",
    "Jamal",
    "Jasmine",
    "Javier",
    "Ji-woo",
    "Joshua",
    "Kai",
    "Kavya",
    "Layla",
    "Leila",
    "Leo",
    "Liam",
    "Lily",
    "Lucas",
    "Luca",
    "Maya",
    "Mei",
    "Mia",
    "Mohammed",
    "Nadia",
    "Naomi",
    "Nia",
    "Noah",
    "Nour",
    "Oliver",
    "Olivia",
    "Omar",
    "Oscar",
    "Priya",
    "Rafael",
    "Rania",
    "Riya",
    "Rosa",
    "Ruby",
    "Samuel",
    "Santiago",
    "Sara",
    "Sofia",
    "Sophie",
    "Tariq",
    "Thomas",
    "Valentina",
    "Wei",
    "Yara",
    "Yusuf",
    "Zainab",
    "Zara",
    "Zoe",
];

const FAMILY_NAMES: &[&str] = &[
    "Abara",
    "Ahmed",
    "Ali",
    "Andersen",
    "Baker",
    "Banerjee",
    "Bianchi",
    "Brown",
    "Campbell",
    "Chen",
    "Clarke",
    "Costa",
    "Davies",
    "Dubois",
    "Evans",
    "Fernandes",
    "Fischer",
    "Garcia",
    "Green",
    "Gupta",
    "Hall",
    "Hassan",
    "Hughes",
    "Ibrahim",
    "Ivanova",
    "Jackson",
    "Jensen",
    "Johnson",
    "Kaur",
    "Khan",
    "Kim",
    "Kowalski",
    "Lee",
    "Lewis",
    "Lopez",
    "Martin",
    "Mensah",
    "Moreau",
    "Morris",
    "Müller",
    "Murphy",
    "Nakamura",
    "Nguyen",
    "Novak",
    "O'Brien",
    "Okafor",
    "Olsen",
    "Osei",
    "Patel",
    "Pereira",
    "Petrov",
    "Popescu",
    "Rahman",
    "Reid",
    "Roberts",
    "Rossi",
    "Santos",
    "Schmidt",
    "Silva",
    "Singh",
    "Smith",
    "Suzuki",
    "Taylor",
    "Thompson",
    "Turner",
    "Walker",
    "Wang",
    "Ward",
    "Williams",
    "Wilson",
    "Wright",
    "Yilmaz",
    "Young",
    "Zhang",
];

/// What seeding did.
#[derive(Debug, PartialEq, Eq)]
pub enum Seeded {
    Created {
        students: usize,
    },
    /// The demo school is already there; nothing was changed.
    AlreadyPresent,
    /// The database holds another school: the demo only goes into an empty database.
    OtherSchoolPresent(String),
}

/// The first day of the school year that contains `today` (years start on 1 September; the
/// summer belongs to the year before, so demo marks can be taken any day).
pub fn school_year_start(today: NaiveDate) -> NaiveDate {
    let year = if today.month() >= 9 {
        today.year()
    } else {
        today.year() - 1
    };
    NaiveDate::from_ymd_opt(year, 9, 1).unwrap_or(today)
}

/// Seeds the demo school into an empty database.
pub fn seed(conn: &mut DbConnection, today: NaiveDate) -> Result<Seeded, AppError> {
    // Hash outside the transaction: argon2 is slow on purpose and the write lock should not wait.
    let mut hashes = Vec::new();
    for _ in 0..=DEMO_TEACHERS.len() {
        hashes.push(passwords::hash(DEMO_PASSWORD).map_err(|e| AppError::Internal(format!("hashing failed: {e}")))?);
    }
    write_transaction(conn, |conn| {
        let existing = schools::table.select(schools::name).first::<String>(conn).optional()?;
        match existing {
            Some(name) if name == DEMO_SCHOOL_NAME => return Ok(Seeded::AlreadyPresent),
            Some(name) => return Ok(Seeded::OtherSchoolPresent(name)),
            None => {}
        }
        insert_demo(conn, today, hashes)
    })
}

fn insert_demo(conn: &mut DbConnection, today: NaiveDate, mut hashes: Vec<String>) -> Result<Seeded, AppError> {
    let mut rng = StdRng::seed_from_u64(20_260_901);
    let now = now_ms();
    let school_id = SchoolId::from(Uuid::new_v4());
    let school = SchoolInfo {
        id: school_id,
        name: DEMO_SCHOOL_NAME.to_owned(),
    };
    roster::insert_school(conn, &school, now)?;
    for (period, label, starts, ends) in PERIODS {
        diesel::insert_into(periods::table)
            .values((
                periods::school_id.eq(school_id),
                periods::period.eq(period),
                periods::label.eq(label),
                periods::starts.eq(starts),
                periods::ends.eq(ends),
            ))
            .execute(conn)?;
    }
    let mut add_user = |conn: &mut DbConnection, username: &str, display_name: &str, role: Role| {
        let user = UserRow {
            id: UserId::from(Uuid::new_v4()),
            school_id,
            username: username.to_owned(),
            display_name: display_name.to_owned(),
            role,
            password_hash: hashes.pop().unwrap_or_default(),
            created_at: now,
            disabled_at: None,
        };
        users::insert_user(conn, &user).map(|()| user.id)
    };
    add_user(conn, DEMO_ADMIN, "School Office", Role::Admin)?;
    let mut teacher_ids = Vec::new();
    for (username, display_name) in DEMO_TEACHERS {
        teacher_ids.push(add_user(conn, username, display_name, Role::Teacher)?);
    }

    let from = school_year_start(today);
    let mut student_count = 0usize;
    for (index, class_name) in CLASSES.iter().enumerate() {
        let class = ClassInfo {
            id: ClassId::from(Uuid::new_v4()),
            name: (*class_name).to_owned(),
            teacher_ids: vec![teacher_ids[index / 2]],
        };
        roster::insert_class(conn, school_id, &class)?;
        let size = rng.random_range(25..=32);
        let mut names = std::collections::BTreeSet::new();
        while names.len() < size {
            let given = GIVEN_NAMES.choose(&mut rng).copied().unwrap_or("Alex");
            let family = FAMILY_NAMES.choose(&mut rng).copied().unwrap_or("Smith");
            names.insert((family, given));
        }
        for (family, given) in names {
            student_count += 1;
            let student = StudentInfo {
                id: StudentId::from(Uuid::new_v4()),
                external_id: format!("RA{student_count:04}"),
                given_name: given.to_owned(),
                family_name: family.to_owned(),
            };
            roster::insert_student(conn, school_id, &student)?;
            let enrolment = EnrolmentInfo {
                class_id: class.id,
                student_id: student.id,
                from,
                until: None,
            };
            roster::insert_enrolment(conn, school_id, &enrolment)?;
        }
    }
    Ok(Seeded::Created {
        students: student_count,
    })
}

/// `rollcall demo`: seeds the demo school into an empty database and says what it did.
pub(super) fn run(storage: Storage) -> Result<(), String> {
    crate::logging::init("warn", crate::logging::LogFormat::Text);
    let mut conn = open_db(&storage)?;
    match seed(&mut conn, chrono::Local::now().date_naive()).map_err(|e| e.to_string())? {
        Seeded::Created { students } => {
            println!("Seeded {} with {students} students.", DEMO_SCHOOL_NAME);
            println!(
                "Demo logins (demo data only): {} and {}, all with the password {}",
                DEMO_ADMIN,
                DEMO_TEACHERS.map(|(username, _)| username).join(", "),
                DEMO_PASSWORD
            );
        }
        Seeded::AlreadyPresent => println!("demo school already present"),
        Seeded::OtherSchoolPresent(name) => {
            println!("the database already holds the school {name:?}; the demo is only seeded into an empty database")
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_school_year_starts_on_the_last_first_of_september() {
        let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        assert_eq!(school_year_start(date(2026, 11, 21)), date(2026, 9, 1));
        assert_eq!(school_year_start(date(2027, 3, 2)), date(2026, 9, 1));
        assert_eq!(school_year_start(date(2026, 8, 20)), date(2025, 9, 1));
        assert_eq!(school_year_start(date(2026, 9, 1)), date(2026, 9, 1));
    }
}
