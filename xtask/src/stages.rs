//! Numbered stages with a loud header each, so a long log shows at a glance which stage ran, which passed and
//! which one failed.

use std::time::{Duration, Instant};

use crate::context::{Failure, human_duration};

#[derive(Debug)]
pub struct Stages {
    total: usize,
    done: Vec<(String, Result<Duration, String>)>,
}

impl Stages {
    pub fn new(total: usize) -> Self {
        Self {
            total,
            done: Vec::new(),
        }
    }

    /// Runs one stage under its header. A failure becomes `stage N/M "name" failed: …`.
    pub fn run<T>(&mut self, name: &str, body: impl FnOnce() -> Result<T, Failure>) -> Result<T, Failure> {
        let label = self.header(name);
        let started = Instant::now();
        match body() {
            Ok(value) => {
                let elapsed = started.elapsed();
                println!("== {label} passed ({})\n", human_duration(elapsed));
                self.done.push((name.to_owned(), Ok(elapsed)));
                Ok(value)
            }
            Err(failure) => {
                println!("== {label} FAILED\n");
                Err(Failure::new(
                    label,
                    format!("{}: {}", failure.what, failure.detail),
                    failure.hint,
                ))
            }
        }
    }

    /// Records a stage that had nothing to do, with the reason, so the summary does not hide it.
    pub fn skip(&mut self, name: &str, reason: &str) {
        let label = self.header(name);
        println!("== {label} skipped: {reason}\n");
        self.done.push((name.to_owned(), Err(format!("skipped: {reason}"))));
    }

    pub fn print_summary(&self) {
        println!("== summary");
        for (number, (name, outcome)) in self.done.iter().enumerate() {
            let outcome = match outcome {
                Ok(elapsed) => format!("passed in {}", human_duration(*elapsed)),
                Err(reason) => reason.clone(),
            };
            println!("   {}/{} {name}: {outcome}", number + 1, self.total);
        }
    }

    fn header(&self, name: &str) -> String {
        let label = format!("stage {}/{} \"{name}\"", self.done.len() + 1, self.total);
        println!("{}", "=".repeat(78));
        println!("== {label}");
        println!("{}", "=".repeat(78));
        label
    }
}
