//! Sorting for the short lists of this crate (a class's students, a day's registers, a batch's
//! registers) by binary insertion instead of std's sorts.
//!
//! Why: every element type std's `sort_unstable` is used with brings its own copy of quicksort,
//! heapsort and the small-sort networks, 3–6 KB of wasm each, and tablets download every byte.
//! Binary insertion is a few lines over `binary_search_by`, and these lists hold at most a few
//! hundred items.

use std::cmp::Ordering;

/// `items` in the order `compare` gives, keeping only the first of items that compare equal.
pub fn sorted_unique_by<T>(items: impl IntoIterator<Item = T>, compare: impl Fn(&T, &T) -> Ordering) -> Vec<T> {
    let mut sorted: Vec<T> = Vec::new();
    for item in items {
        if let Err(position) = sorted.binary_search_by(|probe| compare(probe, &item)) {
            sorted.insert(position, item);
        }
    }
    sorted
}

/// `items` in their natural order, without repeats.
pub fn sorted_unique<T: Ord>(items: impl IntoIterator<Item = T>) -> Vec<T> {
    sorted_unique_by(items, T::cmp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_and_drops_repeats() {
        assert_eq!(sorted_unique([3, 1, 2, 3, 1]), vec![1, 2, 3]);
        assert_eq!(sorted_unique(Vec::<u8>::new()), Vec::<u8>::new());
        let by_length = sorted_unique_by(["ccc", "a", "bb", "dd"], |a, b| a.len().cmp(&b.len()));
        assert_eq!(by_length, vec!["a", "bb", "ccc"]);
    }
}
