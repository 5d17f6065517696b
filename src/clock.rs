//! The time source. The domain never reads the clock itself: the registry asks a
//! [`Clock`], which tests replace with a fixed one to exercise expiry.

use std::sync::Mutex;

use time::{Date, OffsetDateTime, UtcOffset};

/// Licences are dated in China Standard Time (UTC+8).
pub const LOCAL_OFFSET: UtcOffset = match UtcOffset::from_hms(8, 0, 0) {
    Ok(o) => o,
    Err(_) => panic!("valid offset"),
};

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> OffsetDateTime;

    /// Today's date in China Standard Time.
    fn today(&self) -> Date {
        self.now().to_offset(LOCAL_OFFSET).date()
    }
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that stays where it is set (tests).
pub struct FixedClock(Mutex<OffsetDateTime>);

impl FixedClock {
    pub fn new(t: OffsetDateTime) -> FixedClock {
        FixedClock(Mutex::new(t))
    }

    pub fn set(&self, t: OffsetDateTime) {
        *self.0.lock().expect("clock lock") = t;
    }
}

impl Clock for FixedClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().expect("clock lock")
    }
}
