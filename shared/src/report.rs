//! The arithmetic every report shares, so that the office screen, the CSV export and the
//! tablet never disagree on a percentage.

use crate::effective::EffectiveStatus;
use serde::{Deserialize, Serialize};

/// Counts of effective statuses over any set of registers (a student's term, a class's day…).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct Tally {
    pub present: u32,
    pub late: u32,
    pub absent: u32,
    pub excused: u32,
    pub unmarked: u32,
}

impl Tally {
    /// Counts one effective status.
    pub fn add(&mut self, status: EffectiveStatus) {
        let slot = match status {
            EffectiveStatus::Present => &mut self.present,
            EffectiveStatus::Late => &mut self.late,
            EffectiveStatus::Absent => &mut self.absent,
            EffectiveStatus::Excused => &mut self.excused,
            EffectiveStatus::Unmarked => &mut self.unmarked,
        };
        *slot += 1;
    }

    /// Adds another tally.
    pub fn merge(&mut self, other: &Tally) {
        self.present += other.present;
        self.late += other.late;
        self.absent += other.absent;
        self.excused += other.excused;
        self.unmarked += other.unmarked;
    }

    /// Registers where a status was taken (unmarked ones do not count).
    pub fn marked(&self) -> u32 {
        self.present + self.late + self.absent + self.excused
    }

    /// Attendance rate = (present + late) / (present + late + absent). Excused absences are
    /// left out of the denominator. `None` when there is nothing to divide by.
    pub fn attendance_rate(&self) -> Option<f64> {
        let attended = self.present + self.late;
        let denominator = attended + self.absent;
        (denominator > 0).then(|| f64::from(attended) / f64::from(denominator))
    }

    /// The share of marked registers missed for any reason (absent or excused).
    pub fn missed_share(&self) -> Option<f64> {
        let marked = self.marked();
        (marked > 0).then(|| f64::from(self.absent + self.excused) / f64::from(marked))
    }

    /// Chronic absence: missed at least `threshold` of marked registers, for any reason.
    pub fn is_chronically_absent(&self, threshold: ChronicThreshold) -> bool {
        // Compared in whole numbers so that exactly 10% counts, with no float rounding.
        let missed = u64::from(self.absent + self.excused);
        let marked = u64::from(self.marked());
        marked > 0 && missed * 10_000 >= marked * u64::from(threshold.basis_points())
    }
}

/// The chronic-absence threshold, in basis points of marked registers (1000 = 10%).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ChronicThreshold(u16);

impl ChronicThreshold {
    /// The usual definition: missing 10% or more.
    pub const DEFAULT: ChronicThreshold = ChronicThreshold(1000);

    /// A threshold in percent, e.g. 10.0; `None` outside 0–100.
    pub fn from_percent(percent: f64) -> Option<ChronicThreshold> {
        (0.0..=100.0)
            .contains(&percent)
            .then(|| ChronicThreshold((percent * 100.0).round() as u16))
    }

    pub fn basis_points(self) -> u16 {
        self.0
    }
}

impl Default for ChronicThreshold {
    fn default() -> Self {
        Self::DEFAULT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tally(present: u32, late: u32, absent: u32, excused: u32) -> Tally {
        Tally {
            present,
            late,
            absent,
            excused,
            unmarked: 7,
        }
    }

    #[test]
    fn attendance_rate_leaves_excused_out_of_the_denominator() {
        assert_eq!(tally(6, 2, 2, 5).attendance_rate(), Some(0.8));
        assert_eq!(tally(0, 0, 0, 3).attendance_rate(), None);
    }

    #[test]
    fn chronic_absence_counts_every_missed_register_at_the_threshold() {
        // 1 absent + 1 excused of 20 marked = exactly 10%.
        assert!(tally(17, 1, 1, 1).is_chronically_absent(ChronicThreshold::DEFAULT));
        assert!(!tally(18, 1, 1, 0).is_chronically_absent(ChronicThreshold::DEFAULT));
        let five = ChronicThreshold::from_percent(5.0).expect("5% is a valid threshold");
        assert!(tally(18, 1, 1, 0).is_chronically_absent(five));
        assert!(!Tally::default().is_chronically_absent(five));
    }
}
