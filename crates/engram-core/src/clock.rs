//! Time as a dependency: everything that stamps a time takes a `Clock`, so tests can fix it.

use chrono::{DateTime, SubsecRound, Utc};

/// A source of the current time. Timestamps are truncated to microseconds, the precision every backend stores.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now().trunc_subsecs(6)
    }
}
