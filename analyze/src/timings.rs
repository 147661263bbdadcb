//! `TFOSCOPE_TIMINGS=1`: how long each phase of a run took, on stderr (for benchmarks).

use std::time::Instant;

pub struct Phases {
    last: Option<Instant>,
}

impl Phases {
    pub fn from_env() -> Self {
        let on = std::env::var_os("TFOSCOPE_TIMINGS").is_some_and(|v| v != "0");
        Phases { last: on.then(Instant::now) }
    }

    pub fn mark(&mut self, phase: &str) {
        if let Some(last) = self.last {
            let now = Instant::now();
            eprintln!("timing: {phase}: {:.3} s", (now - last).as_secs_f64());
            self.last = Some(now);
        }
    }
}
