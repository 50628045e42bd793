//! Content-defined page boundaries for long sorted lists (what uses a version): the one rule by
//! which both the index's `usedby/` pages and the site's used-by pages are cut.
//!
//! A page ends right after an entry whose hash says so (the first 8 bytes of its SHA-256, as a
//! big-endian number, are 0 modulo `every`), or when it holds `max` entries. Where a list is cut
//! therefore depends only on the entries around the cut, not on their positions: the pages are a
//! function of the set alone (whatever order versions were added in), and adding or removing one
//! entry changes the page it falls in (or splits it in two, or merges it with the next) and
//! leaves every other page as it was — as prolly trees and rsync's rolling chunks do. A run of
//! more than `max` entries none of which ends a page (unlikely: `(1 - 1/every)^max` per page,
//! or chosen names) is cut every `max` entries from its start, so an entry added to such a run
//! moves the cuts after it up to the run's end; pages never exceed `max` either way.

use sha2::{Digest, Sha256};

/// Whether a page ends right after `entry`, for pages of `every` entries on average.
pub fn ends_page(entry: &str, every: u64) -> bool {
    let digest = Sha256::digest(entry.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first).is_multiple_of(every.max(1))
}

/// `entries` (sorted, so that neighbours stay neighbours) cut into pages of `every` entries on
/// average and at most `max`, in order; no page is empty, and none at all for no entries.
pub fn pages<T: AsRef<str>>(entries: &[T], every: u64, max: usize) -> Vec<&[T]> {
    let max = max.max(1);
    let mut pages = Vec::new();
    let mut start = 0;
    for (i, entry) in entries.iter().enumerate() {
        if i + 1 - start == max || ends_page(entry.as_ref(), every) {
            pages.push(&entries[start..=i]);
            start = i + 1;
        }
    }
    if start < entries.len() {
        pages.push(&entries[start..]);
    }
    pages
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// The (average, most) pairs the index and the site use.
    const SIZES: [(u64, usize); 2] = [(1_000, 5_000), (200, 1_000)];

    /// `n` distinct sorted entries shaped like the real ones, every other name left out so
    /// that there are names to insert between them.
    fn list(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| format!("models/m{:07}@{}", 2 * i, i % 3 + 1))
            .collect()
    }

    #[test]
    fn pages_concatenate_to_the_list_and_stay_within_their_bound() {
        for (every, max) in SIZES {
            for n in [0, 1, 2, 99, 1_000, 5_001, 100_000] {
                let entries = list(n);
                let pages = pages(&entries, every, max);
                assert_eq!(pages.concat(), entries, "{n}");
                assert!(pages.iter().all(|p| !p.is_empty() && p.len() <= max));
                // Every page but the last ends at a boundary or at its bound.
                for p in &pages[..pages.len().saturating_sub(1)] {
                    assert!(p.len() == max || ends_page(p.last().unwrap(), every));
                }
            }
        }
        assert!(pages::<&str>(&[], 10, 10).is_empty());
        // Degenerate settings still cut: every entry a page of its own.
        let two = ["a", "b"];
        assert_eq!(pages(&two, 0, 0), [&two[..1], &two[1..]]);
    }

    /// On 100,000 entries the pages average about `every`: few enough references, small
    /// enough pages, and hardly any cut forced by the bound.
    #[test]
    fn pages_average_their_expected_size() {
        let entries = list(100_000);
        for (every, max) in SIZES {
            let pages = pages(&entries, every, max);
            let mean = entries.len() / pages.len();
            assert!(
                (every as usize / 2..every as usize * 2).contains(&mean),
                "{every}: {mean}"
            );
            let forced = pages.iter().filter(|p| p.len() == max).count();
            assert!(forced <= 2 + pages.len() / 50, "{every}: {forced} forced");
        }
    }

    #[test]
    fn pages_are_a_function_of_the_entries() {
        let entries = list(20_000);
        let mut shuffled = entries.clone();
        shuffled.reverse();
        shuffled.sort();
        for (every, max) in SIZES {
            assert_eq!(pages(&entries, every, max), pages(&shuffled, every, max));
        }
        // The rule itself is fixed: published pages must not move with a new mlreg.
        let ends: Vec<usize> = (0..2_000)
            .filter(|i| ends_page(&entries[*i], 200))
            .collect();
        assert_eq!(ends, ENDS_IN_THE_FIRST_2000);
    }

    /// Where pages of 200 end in the first 2,000 entries of [`list`] (computed apart from
    /// mlreg, with Python's hashlib).
    const ENDS_IN_THE_FIRST_2000: [usize; 8] = [187, 898, 959, 1562, 1602, 1767, 1867, 1930];

    /// Adding one entry anywhere in a list of 100,000 (or removing one) leaves all but at most
    /// three pages as they were, and adds at most three: at positions across the list, and
    /// inside every page the bound cut.
    #[test]
    fn one_entry_more_or_less_changes_a_few_pages() {
        let names = list(100_000);
        let entries: Vec<&str> = names.iter().map(String::as_str).collect();
        for (every, max) in SIZES {
            let cut = pages(&entries, every, max);
            let before: BTreeSet<&[&str]> = cut.iter().copied().collect();
            let mut forced = 0;
            let mut at = 0;
            let mut positions = vec![0, entries.len() - 1];
            for p in &cut {
                if p.len() == max {
                    positions.extend([at, at + max / 2, at + max - 1]);
                    forced += 1;
                }
                at += p.len();
            }
            positions.extend((0..entries.len()).step_by(9_973));
            assert!(every > 200 || forced > 0, "no forced cut to test");
            for at in positions {
                // Sorts right before `entries[at]`: same name, version 0.
                let added = format!("{}@0", entries[at].split_once('@').unwrap().0);
                let mut more = entries.clone();
                more.insert(at, &added);
                assert!(more.is_sorted() && more[at] != more[at + 1], "{at}");
                let mut fewer = entries.clone();
                fewer.remove(at);
                for (what, list) in [("+", more), ("-", fewer)] {
                    let after: BTreeSet<&[&str]> = pages(&list, every, max).into_iter().collect();
                    let gone = before.difference(&after).count();
                    let new = after.difference(&before).count();
                    assert!(
                        (1..=3).contains(&gone) && (1..=3).contains(&new),
                        "{every}: {what}{at}: {gone} gone, {new} new"
                    );
                }
            }
        }
    }

    /// Names chosen so that none ends a page still give pages of at most `max`, cut every
    /// `max` entries.
    #[test]
    fn a_run_without_boundaries_is_cut_at_the_bound() {
        let chosen: Vec<String> = (0..10_000)
            .map(|i| format!("x{i:05}"))
            .filter(|e| !ends_page(e, 2))
            .take(2_500)
            .collect();
        let pages = pages(&chosen, 2, 1_000);
        let sizes: Vec<usize> = pages.iter().map(|p| p.len()).collect();
        assert_eq!(sizes, [1_000, 1_000, 500]);
        assert_eq!(pages.concat(), chosen);
    }
}
