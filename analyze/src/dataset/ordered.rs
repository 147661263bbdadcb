//! Work done on several threads, its results taken in order on the caller's: `judge` decodes
//! row groups in parallel while one thread adds their rows to the targets, in the order the
//! dataset holds them (the order of a target's connections, and the run's output, do not
//! depend on which thread was quicker).

use std::collections::BTreeMap;
use std::sync::{Condvar, Mutex};

struct State<R> {
    /// The next job a worker takes.
    next: usize,
    /// Jobs whose results the caller has taken.
    taken: usize,
    /// Results waiting for the caller, by job.
    done: BTreeMap<usize, R>,
    /// The caller gave up (an error): workers stop taking jobs.
    stop: bool,
    /// A worker's panic, raised again on the caller's thread (which would otherwise wait for
    /// its result for ever).
    panic: Option<Box<dyn std::any::Any + Send>>,
}

/// Runs `work` on each of `jobs` on up to `threads` threads and hands the results to `take` in
/// the jobs' order, on the calling thread. At most `ahead` results wait (memory stays bounded
/// when `take` is the slower side). The first error of either side ends the run and is returned.
pub fn map_in_order<J, R, E>(
    jobs: &[J],
    threads: usize,
    ahead: usize,
    work: impl Fn(&J) -> Result<R, E> + Sync,
    mut take: impl FnMut(R) -> Result<(), E>,
) -> Result<(), E>
where
    J: Sync,
    R: Send,
    E: Send,
{
    if threads <= 1 || jobs.len() <= 1 {
        return jobs.iter().try_for_each(|job| take(work(job)?));
    }
    let ahead = ahead.max(1);
    let state = Mutex::new(State { next: 0, taken: 0, done: BTreeMap::new(), stop: false, panic: None });
    // Workers wait on `room` for the caller to take results; the caller waits on `ready`.
    let (room, ready) = (Condvar::new(), Condvar::new());
    let lock = || state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    std::thread::scope(|scope| {
        for _ in 0..threads.min(jobs.len()) {
            scope.spawn(|| loop {
                let i = {
                    let mut s = lock();
                    while !s.stop && s.next < jobs.len() && s.next >= s.taken + ahead {
                        s = room.wait(s).unwrap_or_else(std::sync::PoisonError::into_inner);
                    }
                    if s.stop || s.next >= jobs.len() {
                        return;
                    }
                    s.next += 1;
                    s.next - 1
                };
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(&jobs[i])));
                let mut s = lock();
                match result {
                    Ok(result) => {
                        // An error ends the run: no more jobs are worth starting.
                        s.stop |= result.is_err();
                        s.done.insert(i, result);
                    }
                    Err(panic) => {
                        s.stop = true;
                        s.panic = Some(panic);
                    }
                }
                ready.notify_all();
                if s.stop {
                    // The other workers may be waiting for room that will never come.
                    room.notify_all();
                }
            });
        }
        let mut outcome = Ok(());
        for i in 0..jobs.len() {
            let result = {
                let mut s = lock();
                loop {
                    if let Some(r) = s.done.remove(&i) {
                        s.taken = i + 1;
                        room.notify_all();
                        break r;
                    }
                    if let Some(panic) = s.panic.take() {
                        drop(s);
                        room.notify_all();
                        std::panic::resume_unwind(panic);
                    }
                    s = ready.wait(s).unwrap_or_else(std::sync::PoisonError::into_inner);
                }
            };
            // A panic of `take` must not leave the workers waiting for room for ever (the scope
            // joins them before the panic goes on).
            let taken = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| result.and_then(&mut take)));
            outcome = match taken {
                Ok(outcome) => outcome,
                Err(panic) => {
                    lock().stop = true;
                    room.notify_all();
                    std::panic::resume_unwind(panic);
                }
            };
            if outcome.is_err() {
                break;
            }
        }
        if outcome.is_err() {
            lock().stop = true;
            room.notify_all();
        }
        outcome
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[test]
    fn results_come_in_the_jobs_order_whatever_thread_finishes_first() {
        let jobs: Vec<u64> = (0..200).collect();
        for threads in [1, 2, 3, 8] {
            let mut seen = Vec::new();
            let finished = Mutex::new(Vec::new());
            map_in_order(
                &jobs,
                threads,
                4,
                |&j| {
                    // The first job is the slowest: later ones finish first on other threads.
                    if j == 0 {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    finished.lock().unwrap().push(j);
                    Ok::<_, ()>(j * 2)
                },
                |r| {
                    seen.push(r);
                    Ok(())
                },
            )
            .unwrap();
            assert_eq!(seen, jobs.iter().map(|j| j * 2).collect::<Vec<_>>(), "{threads} threads");
            let finished = finished.into_inner().unwrap();
            if threads > 1 {
                assert_ne!(finished[0], 0, "{threads} threads: job 0 finished first, the test shows nothing");
            }
        }
    }

    #[test]
    fn no_more_than_ahead_results_wait() {
        let jobs: Vec<usize> = (0..100).collect();
        let (started, taken) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let mut most = 0;
        map_in_order(
            &jobs,
            4,
            3,
            |_| {
                started.fetch_add(1, Ordering::SeqCst);
                Ok::<_, ()>(())
            },
            |()| {
                std::thread::sleep(Duration::from_micros(200));
                let t = taken.fetch_add(1, Ordering::SeqCst);
                most = most.max(started.load(Ordering::SeqCst) - (t + 1));
                Ok(())
            },
        )
        .unwrap();
        assert!(most <= 3, "{most} jobs started beyond the taken ones (ahead 3)");
        assert!(most > 0, "the workers never ran ahead of the caller");
        assert_eq!(taken.into_inner(), 100);
    }

    #[test]
    fn nothing_to_do_and_no_room_ahead_still_work() {
        let none: Vec<u8> = Vec::new();
        map_in_order(
            &none,
            4,
            4,
            |_| Ok::<_, ()>(()),
            |()| -> Result<(), ()> { panic!("no job, no result") },
        )
        .unwrap();
        let jobs: Vec<usize> = (0..20).collect();
        let mut seen = Vec::new();
        map_in_order(
            &jobs,
            3,
            0,
            |&j| Ok::<_, ()>(j),
            |j| {
                seen.push(j);
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(seen, jobs);
    }

    #[test]
    fn an_error_on_either_side_stops_the_run_and_is_returned() {
        let jobs: Vec<usize> = (0..1000).collect();
        let started = AtomicUsize::new(0);
        let mut taken = Vec::new();
        let failed = map_in_order(
            &jobs,
            2,
            4,
            |&j| {
                started.fetch_add(1, Ordering::SeqCst);
                // Two failures: the earlier job's error is the one returned.
                if j == 10 || j == 11 {
                    Err(format!("job {j}"))
                } else {
                    Ok(j)
                }
            },
            |j| {
                taken.push(j);
                Ok(())
            },
        );
        assert_eq!(failed, Err("job 10".to_string()));
        assert_eq!(taken, (0..10).collect::<Vec<_>>(), "results after the failed job were taken");
        // Jobs up to 10 plus at most 4 ahead of the caller, and one per worker in flight.
        assert!(started.load(Ordering::SeqCst) <= 16, "jobs went on after the error");

        let started = AtomicUsize::new(0);
        let mut taken = 0;
        let refused = map_in_order(
            &jobs,
            2,
            4,
            |&j| {
                started.fetch_add(1, Ordering::SeqCst);
                Ok(j)
            },
            |j| {
                taken += 1;
                if j == 5 {
                    Err(format!("take {j}"))
                } else {
                    Ok(())
                }
            },
        );
        assert_eq!(refused, Err("take 5".to_string()));
        assert_eq!(taken, 6);
        assert!(started.load(Ordering::SeqCst) <= 6 + 4, "jobs went on after the caller's error");
    }

    fn panic_text(run: std::thread::Result<Result<(), ()>>) -> String {
        let payload = run.expect_err("the panic reached the caller");
        payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    }

    #[test]
    fn a_workers_panic_reaches_the_caller_instead_of_a_wait_for_ever() {
        let jobs: Vec<usize> = (0..50).collect();
        let run = std::panic::catch_unwind(|| {
            map_in_order(
                &jobs,
                2,
                4,
                |&j| {
                    assert_ne!(j, 7, "job seven");
                    Ok::<_, ()>(j)
                },
                |_| Ok(()),
            )
        });
        assert!(panic_text(run).contains("job seven"));
    }

    #[test]
    fn a_panic_of_the_taker_ends_the_workers_instead_of_a_wait_for_ever() {
        let jobs: Vec<usize> = (0..50).collect();
        let run = std::panic::catch_unwind(|| {
            map_in_order(
                &jobs,
                2,
                2,
                |&j| Ok::<_, ()>(j),
                |j| {
                    assert_ne!(j, 2, "result two");
                    Ok(())
                },
            )
        });
        assert!(panic_text(run).contains("result two"));
    }
}
