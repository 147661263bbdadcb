//! The tables of one `analyze` run, written in one place: the connections as they finish (a
//! batch at a time, beside the reading), then the files, hops, targets and rates tables and
//! the OONI measurements, all staged in a hidden folder and moved into place together when the
//! run succeeds. The CLI chooses the folder, the format and the partitioning, and prints.

use std::path::{Path, PathBuf};

use crate::locate::HopRow;
use crate::pipeline::Analysis;
use crate::record::Connection;
use crate::table::other_cols::{FileCol, HopCol};
use crate::table::{self, ConnectionsOutput, OoniProbe, OutputFormat, StagedOutput, TableError};

/// Where and how a run writes its tables.
#[derive(Debug, Clone)]
pub struct OutputPlan {
    pub out: PathBuf,
    pub format: OutputFormat,
    /// A Hive-partitioned dataset by vantage (no targets or rates table: judging needs every
    /// vantage of a target together).
    pub partitioned: bool,
    /// More than one vantage: the connections table's row groups are kept per vantage.
    pub several_vantages: bool,
    /// Connections per batch written.
    pub batch: usize,
    /// `--ooni FILE`: the measurements go beside the tables, moved into place with them.
    pub ooni: Option<(PathBuf, OoniProbe)>,
}

/// What a run wrote, at the paths it has after the move into place.
#[derive(Debug, Clone)]
pub struct Written {
    pub connections: PathBuf,
    /// None for a partitioned dataset.
    pub targets: Option<PathBuf>,
    pub hops: PathBuf,
    pub ooni: Option<PathBuf>,
    /// Hop-limited probes in the hops table.
    pub probes: usize,
}

/// Every table of one run: staged until [`AnalyzeSink::commit`]; dropped before it, the run
/// leaves the last good output as it was.
pub struct AnalyzeSink {
    plan: OutputPlan,
    run: String,
    staged: StagedOutput,
    connections: Option<ConnectionsOutput>,
    written_connections: Option<PathBuf>,
    written: Option<(Option<PathBuf>, PathBuf, Option<PathBuf>, usize)>,
}

impl AnalyzeSink {
    pub fn begin(plan: OutputPlan) -> Result<AnalyzeSink, TableError> {
        let run = table::partition::run_id();
        table::remove_stale_staging(&plan.out);
        let staged = StagedOutput::begin(&plan.out, &run)?;
        let dir = staged.dir().to_owned();
        let connections = if plan.partitioned {
            ConnectionsOutput::start_partitioned(&dir, plan.format, plan.batch, &run)?
        } else {
            ConnectionsOutput::start(&dir, plan.format, plan.several_vantages, plan.batch)?
        };
        Ok(AnalyzeSink {
            plan,
            run,
            staged,
            connections: Some(connections),
            written_connections: None,
            written: None,
        })
    }

    /// This run's name among a dataset's parts.
    pub fn run(&self) -> &str {
        &self.run
    }

    /// A batch of one vantage's finished connections (called by the reading, from its threads).
    pub fn write_connections(&self, vantage: &str, batch: Vec<Connection>) -> Result<(), TableError> {
        match &self.connections {
            Some(out) => out.write(vantage, batch),
            None => Ok(()),
        }
    }

    /// The reading is over: the connections table is finished (its writer's own error, a
    /// full disk say, comes first: it explains every vantage's "writer stopped").
    pub fn finish_connections(&mut self) -> Result<(), TableError> {
        if let Some(out) = self.connections.take() {
            self.written_connections = Some(out.finish()?);
        }
        Ok(())
    }

    /// The files, hops, targets and rates tables and the OONI measurements of `analysis`.
    pub fn write_tables<E: std::error::Error>(&mut self, analysis: &Analysis<E>) -> Result<(), TableError> {
        self.finish_connections()?;
        let dir = self.staged.dir().to_owned();
        let (format, run) = (self.plan.format, self.run.clone());
        let mut files = table::files_frame(&analysis.file_rows())?;
        let hop_rows: Vec<(&str, &[HopRow])> =
            analysis.vantages().map(|v| (v.name.as_str(), v.hops.as_slice())).collect();
        let probes: usize = hop_rows.iter().map(|(_, rows)| rows.len()).sum();
        let mut hops = table::hops_frame(&hop_rows)?;
        let (targets, hops) = if self.plan.partitioned {
            table::write_partitioned(&files, FileCol::Vantage.as_str(), &dir, "files", format, &run)?;
            table::write_partitioned(&hops, HopCol::Vantage.as_str(), &dir, "hops", format, &run)?;
            (None, dir.join("hops"))
        } else {
            let mut targets = table::targets_frame(&analysis.verdicts)?;
            let targets = table::write_table(&mut targets, &dir, "targets", format)?;
            let mut rates = table::Rates::default();
            rates.add(&analysis.verdicts);
            table::write_table(&mut rates.frame()?, &dir, "rates", format)?;
            table::write_table(&mut files, &dir, "files", format)?;
            (Some(targets), table::write_table(&mut hops, &dir, "hops", format)?)
        };
        let ooni = match &self.plan.ooni {
            Some((path, probe)) => {
                let path = self.staged.beside(path);
                Some(table::write_ooni(
                    &path,
                    &analysis.vantages().collect::<Vec<_>>(),
                    &analysis.verdicts,
                    probe,
                )?)
            }
            None => None,
        };
        self.written = Some((targets, hops, ooni, probes));
        Ok(())
    }

    /// Moves everything into place; returns where it now is.
    pub fn commit(self) -> Result<Written, TableError> {
        let staged = self.staged;
        let place = |p: &Path| staged.final_path(p);
        let connections =
            place(&self.written_connections.unwrap_or_else(|| self.plan.out.join("connections")));
        let (targets, hops, ooni, probes) =
            self.written.unwrap_or((None, self.plan.out.join("hops"), None, 0));
        let written = Written {
            connections,
            targets: targets.as_deref().map(place),
            hops: place(&hops),
            ooni: ooni.as_deref().map(place),
            probes,
        };
        staged.commit()?;
        Ok(written)
    }
}

/// The tables of one `judge` run: the targets table a bucket at a time (under a hidden name,
/// renamed when whole), then the rates and, with every verdict kept (one bucket), the OONI
/// measurements.
pub struct JudgeSink {
    out: PathBuf,
    format: OutputFormat,
    targets: table::TableWriter,
    rates: table::Rates,
    /// Every verdict, where the run keeps them (one bucket): the terminal's and OONI's.
    kept: Option<Vec<crate::verdict::TargetVerdict>>,
    judged: usize,
    middleboxes: usize,
}

/// What a judge run wrote.
#[derive(Debug)]
pub struct JudgeWritten {
    pub targets: PathBuf,
    pub ooni: Option<PathBuf>,
    pub judged: usize,
    pub middleboxes: usize,
    /// Every verdict, where they were kept.
    pub verdicts: Option<Vec<crate::verdict::TargetVerdict>>,
}

impl JudgeSink {
    pub fn begin(out: &Path, format: OutputFormat, keep_verdicts: bool) -> Result<JudgeSink, TableError> {
        std::fs::create_dir_all(out).map_err(|error| TableError::Io { path: out.to_owned(), error })?;
        Ok(JudgeSink {
            out: out.to_owned(),
            format,
            targets: table::TableWriter::create_renamed(out, "targets", format)?,
            rates: table::Rates::default(),
            kept: keep_verdicts.then(Vec::new),
            judged: 0,
            middleboxes: 0,
        })
    }

    /// One bucket's verdicts.
    pub fn add(&mut self, verdicts: Vec<crate::verdict::TargetVerdict>) -> Result<(), TableError> {
        self.judged += verdicts.len();
        self.rates.add(&verdicts);
        self.middleboxes += verdicts.iter().filter(|v| v.middlebox == Some(true)).count();
        if !verdicts.is_empty() {
            self.targets.write(&mut table::targets_frame(&verdicts)?)?;
        }
        if let Some(kept) = &mut self.kept {
            kept.extend(verdicts);
        }
        Ok(())
    }

    /// The run failed: nothing of it is left behind.
    pub fn abandon(self) {
        let _ = std::fs::remove_file(self.targets.path());
    }

    /// Finishes the targets table, writes the rates and, given `ooni` (the file, the judged
    /// vantages' connections, the probe), the OONI measurements.
    pub fn finish(
        mut self,
        ooni: Option<(&Path, &[&crate::result::VantageResult], &OoniProbe)>,
    ) -> Result<JudgeWritten, TableError> {
        if self.judged == 0 {
            self.targets.write(&mut table::targets_frame(&[])?)?;
        }
        let targets = self.targets.finish()?;
        let mut rates = table::TableWriter::create_renamed(&self.out, "rates", self.format)?;
        rates.write(&mut self.rates.frame()?)?;
        rates.finish()?;
        let verdicts = self.kept;
        let ooni = match ooni {
            Some((path, results, probe)) => {
                Some(table::write_ooni(path, results, verdicts.as_deref().unwrap_or(&[]), probe)?)
            }
            None => None,
        };
        Ok(JudgeWritten { targets, ooni, judged: self.judged, middleboxes: self.middleboxes, verdicts })
    }
}
