//! A fixed-size latency histogram (log-linear buckets, ~1.6 % resolution), so a ten-minute
//! soak at thousands of requests a second keeps per-minute percentiles in a few KiB per
//! client thread instead of a vector of every sample.

use std::time::Duration;

/// Linear sub-buckets per power of two: the resolution is 1/64 of the value.
const SUB: u64 = 64;
/// Enough buckets for 2^40 µs (12 days), far past any read timeout.
const BUCKETS: usize = (SUB as usize) * 36;

/// Counts of latencies in microseconds.
#[derive(Clone)]
pub struct Hist {
    counts: Vec<u64>,
    total: u64,
}

impl Default for Hist {
    fn default() -> Self {
        Hist {
            counts: vec![0; BUCKETS],
            total: 0,
        }
    }
}

impl Hist {
    pub fn record(&mut self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        let i = index(us).min(BUCKETS - 1);
        self.counts[i] += 1;
        self.total += 1;
    }

    pub fn merge(&mut self, other: &Hist) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    /// The latency at quantile `q` (0..=1), as the middle of its bucket; zero when empty.
    pub fn quantile(&self, q: f64) -> Duration {
        if self.total == 0 {
            return Duration::ZERO;
        }
        let rank = ((self.total as f64 * q).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Duration::from_micros(middle(i));
            }
        }
        Duration::from_micros(middle(BUCKETS - 1))
    }
}

/// Values below 64 µs get their own bucket; above, each power of two is cut in 64.
fn index(us: u64) -> usize {
    if us < SUB {
        return us as usize;
    }
    let shift = u64::from(63 - us.leading_zeros()) - 6;
    (SUB * shift + (us >> shift)) as usize
}

fn middle(i: usize) -> u64 {
    let i = i as u64;
    if i < SUB {
        return i;
    }
    let shift = i / SUB - 1;
    let low = (i - SUB * shift) << shift;
    low + (1 << shift) / 2
}
