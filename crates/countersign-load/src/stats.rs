//! Latency statistics: throughput and percentiles from raw per-operation durations.

use std::time::Duration;

pub struct Summary {
    name: String,
    pub(crate) ok: usize,
    errors: u64,
    per_sec: f64,
    p50: Duration,
    p90: Duration,
    p99: Duration,
    max: Duration,
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

impl Summary {
    pub fn new(name: &str, mut lat: Vec<Duration>, errors: u64, elapsed: Duration) -> Self {
        lat.sort_unstable();
        Self {
            name: name.to_string(),
            ok: lat.len(),
            errors,
            per_sec: lat.len() as f64 / elapsed.as_secs_f64().max(1e-9),
            p50: pct(&lat, 0.50),
            p90: pct(&lat, 0.90),
            p99: pct(&lat, 0.99),
            max: lat.last().copied().unwrap_or_default(),
        }
    }

    pub fn header() -> String {
        format!(
            "{:<16} {:>9} {:>7} {:>10} {:>9} {:>9} {:>9} {:>9}",
            "scenario", "ok", "errors", "per sec", "p50 ms", "p90 ms", "p99 ms", "max ms"
        )
    }

    pub fn line(&self) -> String {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        format!(
            "{:<16} {:>9} {:>7} {:>10.1} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
            self.name,
            self.ok,
            self.errors,
            self.per_sec,
            ms(self.p50),
            ms(self.p90),
            ms(self.p99),
            ms(self.max)
        )
    }
}
