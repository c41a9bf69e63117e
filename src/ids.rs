//! Random, non-zero trace and span ids from a fast per-thread generator.
//!
//! Each thread runs wyrand (a 64-bit state, one multiply per id), seeded once from the
//! operating system's randomness through `rand`. Ids need to be unique and unguessable
//! enough to never collide across services, not secret.

use std::cell::Cell;

thread_local! {
    /// The generator's state; 0 until the thread's first id.
    static STATE: Cell<u64> = const { Cell::new(0) };
}

/// A random non-zero 64-bit id.
#[inline]
pub(crate) fn next_id() -> u64 {
    STATE
        .try_with(|state| {
            let mut current = state.get();
            if current == 0 {
                current = seed();
            }
            loop {
                current = current.wrapping_add(0xa076_1d64_78bd_642f);
                let product = u128::from(current) * u128::from(current ^ 0xe703_7ed1_a0b4_28db);
                let id = (product >> 64) as u64 ^ product as u64;
                if id != 0 {
                    state.set(current);
                    return id;
                }
            }
        })
        .unwrap_or_else(|_| seed())
}

/// A fresh non-zero seed from the operating system's randomness.
#[cold]
fn seed() -> u64 {
    loop {
        let seed: u64 = rand::random();
        if seed != 0 {
            return seed;
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_non_zero_and_vary() {
        let ids: std::collections::HashSet<u64> = (0..100_000).map(|_| super::next_id()).collect();
        assert_eq!(ids.len(), 100_000);
        assert!(!ids.contains(&0));
    }

    #[test]
    fn threads_draw_different_ids() {
        let other: Vec<u64> = std::thread::spawn(|| (0..100).map(|_| super::next_id()).collect())
            .join()
            .expect("thread");
        let here: Vec<u64> = (0..100).map(|_| super::next_id()).collect();
        assert!(other.iter().all(|id| !here.contains(id)));
    }
}
