//! A run's outputs written where readers do not look, and moved into place only when the run
//! has succeeded: a failed or interrupted run leaves the last good output whole, and a run
//! writes all its tables or none (one rename each, after every table is complete).

use std::path::{Path, PathBuf};

use super::TableError;

/// The prefix of staging folders: hidden, so polars, DuckDB, Spark and `judge` skip them.
const STAGING_PREFIX: &str = ".tfoscope-writing-";

/// An output folder being written: tables go to a hidden folder inside it, files outside it
/// (`--ooni FILE`) to a hidden name beside them.
#[derive(Debug)]
pub struct StagedOutput {
    out: PathBuf,
    staging: PathBuf,
    /// Files outside the folder: (written as, moved to).
    beside: Vec<(PathBuf, PathBuf)>,
    /// The output folder did not exist before: a failed run removes it again (if empty).
    created: bool,
    committed: bool,
}

impl StagedOutput {
    /// Creates `out` (if needed) and a staging folder in it named by `run`.
    pub fn begin(out: &Path, run: &str) -> Result<StagedOutput, TableError> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |error| TableError::Io { path, error }
        };
        let created = !out.exists();
        std::fs::create_dir_all(out).map_err(io(out))?;
        let staging = out.join(format!("{STAGING_PREFIX}{run}"));
        std::fs::create_dir(&staging).map_err(io(&staging))?;
        Ok(StagedOutput { out: out.to_owned(), staging, beside: Vec::new(), created, committed: false })
    }

    /// Where the tables are written until [`StagedOutput::commit`].
    pub fn dir(&self) -> &Path {
        &self.staging
    }

    /// A hidden name beside `path` to write it under until the commit.
    pub fn beside(&mut self, path: &Path) -> PathBuf {
        let name = path.file_name().map_or_else(|| "output".into(), |n| n.to_string_lossy().into_owned());
        let hidden = path.with_file_name(format!(".{name}.writing"));
        self.beside.push((hidden.clone(), path.to_owned()));
        hidden
    }

    /// Where a path written under the staging folder (or beside) ends up.
    pub fn final_path(&self, written: &Path) -> PathBuf {
        if let Ok(rest) = written.strip_prefix(&self.staging) {
            return self.out.join(rest);
        }
        self.beside
            .iter()
            .find(|(hidden, _)| hidden == written)
            .map_or_else(|| written.to_owned(), |(_, p)| p.clone())
    }

    /// Moves every file written into place (replacing the last run's), then removes the
    /// staging folder. Folders (partitions) are merged, not replaced.
    pub fn commit(mut self) -> Result<(), TableError> {
        move_tree(&self.staging, &self.out)?;
        for (hidden, path) in std::mem::take(&mut self.beside) {
            std::fs::rename(&hidden, &path).map_err(|error| TableError::Io { path: path.clone(), error })?;
        }
        let _ = std::fs::remove_dir_all(&self.staging);
        self.committed = true;
        Ok(())
    }
}

impl Drop for StagedOutput {
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        let _ = std::fs::remove_dir_all(&self.staging);
        for (hidden, _) in &self.beside {
            let _ = std::fs::remove_file(hidden);
        }
        if self.created {
            // Only if nothing else was put there meanwhile.
            let _ = std::fs::remove_dir(&self.out);
        }
    }
}

/// Renames every file under `from` to the same place under `to`, creating folders.
fn move_tree(from: &Path, to: &Path) -> Result<(), TableError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |error| TableError::Io { path, error }
    };
    for entry in std::fs::read_dir(from).map_err(io(from))? {
        let entry = entry.map_err(io(from))?;
        let target = to.join(entry.file_name());
        if entry.file_type().map_err(io(&entry.path()))?.is_dir() {
            std::fs::create_dir_all(&target).map_err(io(&target))?;
            move_tree(&entry.path(), &target)?;
        } else {
            std::fs::rename(entry.path(), &target).map_err(io(&target))?;
        }
    }
    Ok(())
}

/// Staging folders left by runs that were killed (SIGKILL, power loss): removed by the next
/// run into the same folder when their process is gone.
pub fn remove_stale_staging(out: &Path) {
    let Ok(entries) = std::fs::read_dir(out) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(run) = name.strip_prefix(STAGING_PREFIX) else { continue };
        // Run ids end in the writing process's id (partition::run_id).
        let pid = run.rsplit('-').next().and_then(|p| p.parse::<u32>().ok());
        let age = entry.metadata().and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok());
        let alive = run_alive(Path::new("/proc"), pid, age);
        if !alive {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Whether the run that made a staging folder may still be writing it: its process is alive,
/// or, without a /proc to ask (analyze runs on other systems too), the folder is less than a
/// day old.
fn run_alive(proc: &Path, pid: Option<u32>, age: Option<std::time::Duration>) -> bool {
    if proc.join("self").exists() {
        pid.is_some_and(|pid| proc.join(pid.to_string()).exists())
    } else {
        age.is_some_and(|age| age.as_secs() < 24 * 3600)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tfoscope-staging-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn a_failed_run_leaves_the_last_output_whole() {
        let out = scratch("failed");
        std::fs::create_dir_all(&out).unwrap();
        std::fs::write(out.join("targets.parquet"), b"last good").unwrap();
        {
            let staged = StagedOutput::begin(&out, "1-1").unwrap();
            std::fs::write(staged.dir().join("targets.parquet"), b"half").unwrap();
            // Dropped without commit: the run failed.
        }
        assert_eq!(std::fs::read(out.join("targets.parquet")).unwrap(), b"last good");
        assert_eq!(std::fs::read_dir(&out).unwrap().count(), 1, "no staging folder left");
        std::fs::remove_dir_all(&out).unwrap();
    }

    #[test]
    fn a_failed_run_into_a_new_folder_leaves_nothing() {
        let out = scratch("new");
        drop(StagedOutput::begin(&out, "1-1").unwrap());
        assert!(!out.exists());
    }

    #[test]
    fn a_commit_moves_tables_partitions_and_files_beside() {
        let out = scratch("commit");
        std::fs::create_dir_all(out.join("connections/vantage=a")).unwrap();
        std::fs::write(out.join("connections/vantage=a/part-0.parquet"), b"earlier run").unwrap();
        std::fs::write(out.join("targets.parquet"), b"old").unwrap();
        let ooni = out.with_extension("jsonl");
        let mut staged = StagedOutput::begin(&out, "2-2").unwrap();
        std::fs::create_dir_all(staged.dir().join("connections/vantage=a")).unwrap();
        std::fs::write(staged.dir().join("connections/vantage=a/part-2.parquet"), b"this run").unwrap();
        std::fs::write(staged.dir().join("targets.parquet"), b"new").unwrap();
        let hidden = staged.beside(&ooni);
        std::fs::write(&hidden, b"{}").unwrap();
        assert_eq!(staged.final_path(&staged.dir().join("targets.parquet")), out.join("targets.parquet"));
        assert_eq!(staged.final_path(&hidden), ooni);
        assert!(!ooni.exists(), "not before the commit");
        staged.commit().unwrap();
        assert_eq!(std::fs::read(out.join("targets.parquet")).unwrap(), b"new");
        assert_eq!(std::fs::read(out.join("connections/vantage=a/part-0.parquet")).unwrap(), b"earlier run");
        assert_eq!(std::fs::read(out.join("connections/vantage=a/part-2.parquet")).unwrap(), b"this run");
        assert_eq!(std::fs::read(&ooni).unwrap(), b"{}");
        assert!(!hidden.exists());
        let names: Vec<String> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| !n.starts_with('.')), "{names:?}");
        std::fs::remove_dir_all(&out).unwrap();
        std::fs::remove_file(&ooni).unwrap();
    }

    #[test]
    fn stale_staging_of_a_dead_process_is_removed() {
        let out = scratch("stale");
        // pid 0x7fffffff is never a live process; our own pid is.
        std::fs::create_dir_all(out.join(format!("{STAGING_PREFIX}5-2147483647"))).unwrap();
        std::fs::create_dir_all(out.join(format!("{STAGING_PREFIX}5-{}", std::process::id()))).unwrap();
        remove_stale_staging(&out);
        let left: Vec<_> = std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, [std::ffi::OsString::from(format!("{STAGING_PREFIX}5-{}", std::process::id()))]);
        std::fs::remove_dir_all(&out).unwrap();
    }

    #[test]
    fn without_proc_a_staging_folder_is_dead_after_a_day() {
        let no_proc = Path::new("/nonexistent-proc");
        let hour = std::time::Duration::from_secs(3600);
        assert!(run_alive(no_proc, Some(1), Some(hour)));
        assert!(!run_alive(no_proc, Some(1), Some(25 * hour)));
        assert!(!run_alive(no_proc, None, None), "an unreadable age is taken for dead");
        // With /proc the process decides, whatever the age.
        let proc = Path::new("/proc");
        if proc.join("self").exists() {
            assert!(run_alive(proc, Some(std::process::id()), Some(25 * hour)));
            assert!(!run_alive(proc, Some(0x7fff_ffff), Some(hour)));
        }
    }
}
