//! Random, non-zero trace and span ids from a fast per-thread generator.

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use std::cell::RefCell;

thread_local! {
    static RNG: RefCell<SmallRng> = RefCell::new(SmallRng::from_rng(&mut rand::rng()));
}

/// A random non-zero 64-bit id.
pub(crate) fn next_id() -> u64 {
    RNG.with(|rng| loop {
        let id: u64 = rng.borrow_mut().random();
        if id != 0 {
            return id;
        }
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_non_zero_and_vary() {
        let ids: std::collections::HashSet<u64> = (0..1000).map(|_| super::next_id()).collect();
        assert_eq!(ids.len(), 1000);
        assert!(!ids.contains(&0));
    }
}
