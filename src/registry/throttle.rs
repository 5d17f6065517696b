//! Throttling of failed proofs of possession: after [`MAX_FAILURES`] wrong verification
//! codes for one identifier within [`WINDOW`], every attempt for that identifier is
//! refused until the window has passed — the right code included, or the refusal itself
//! would tell a guesser when they had hit it. Identifiers that do not exist are counted
//! the same way, so the throttle reveals nothing about existence. Presenting the QR
//! payload is not throttled: its signature cannot be guessed.
//!
//! The table is in memory and bounded: past [`MAX_TRACKED`] identifiers, expired entries
//! are dropped, and if all are live the oldest half goes (an attacker spraying failures
//! over many identifiers then gains a few extra guesses on old ones, at the per-address
//! rate limit: with 50 bits per code this stays far from a useful search).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use time::OffsetDateTime;

pub const MAX_FAILURES: u32 = 5;
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
pub const MAX_TRACKED: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    since: OffsetDateTime,
}

#[derive(Debug, Default)]
pub struct Throttle {
    failures: Mutex<HashMap<String, Failures>>,
}

impl Throttle {
    /// `Err(seconds to wait)` when attempts for `identifier` are refused now.
    pub fn check(&self, identifier: &str, now: OffsetDateTime) -> Result<(), u64> {
        let map = self.failures.lock().expect("throttle lock");
        match map.get(identifier) {
            Some(f) if f.count >= MAX_FAILURES && now < f.since + WINDOW => {
                Err((f.since + WINDOW - now).whole_seconds().max(1) as u64)
            }
            _ => Ok(()),
        }
    }

    /// Counts one failed attempt.
    pub fn failed(&self, identifier: &str, now: OffsetDateTime) {
        let mut map = self.failures.lock().expect("throttle lock");
        if map.len() >= MAX_TRACKED && !map.contains_key(identifier) {
            map.retain(|_, f| now < f.since + WINDOW);
            if map.len() >= MAX_TRACKED {
                let mut since: Vec<OffsetDateTime> = map.values().map(|f| f.since).collect();
                since.sort_unstable();
                let cut = since[since.len() / 2];
                map.retain(|_, f| f.since > cut);
            }
        }
        let entry = map
            .entry(identifier.to_string())
            .or_insert(Failures { count: 0, since: now });
        if now >= entry.since + WINDOW {
            *entry = Failures { count: 0, since: now };
        }
        entry.count += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn locks_after_max_failures_until_the_window_passes() {
        let t = Throttle::default();
        let t0 = datetime!(2026-12-01 10:00 UTC);
        for _ in 0..MAX_FAILURES {
            t.check("a", t0).unwrap();
            t.failed("a", t0);
        }
        let wait = t.check("a", t0 + Duration::from_secs(60)).unwrap_err();
        assert_eq!(wait, WINDOW.as_secs() - 60);
        t.check("b", t0).unwrap();
        t.check("a", t0 + WINDOW).unwrap();
        t.failed("a", t0 + WINDOW);
        t.check("a", t0 + WINDOW).unwrap();
    }

    #[test]
    fn the_table_stays_bounded() {
        let t = Throttle::default();
        let t0 = datetime!(2026-12-01 10:00 UTC);
        for i in 0..MAX_TRACKED + 10 {
            t.failed(&format!("id{i}"), t0 + Duration::from_millis(i as u64));
        }
        assert!(t.failures.lock().unwrap().len() <= MAX_TRACKED);
    }
}
