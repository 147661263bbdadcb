//! What a report is made from, read from folders: the targets and rates tables, and where
//! there the files and connections tables (a judge output has neither: no ladders then).

use std::path::{Path, PathBuf};

use polars::prelude::*;

use crate::dataset::{Dataset, DatasetError};
use crate::judge::{judge, JudgeError, JudgeOptions};
use crate::table::conn_col::ConnCol;
use crate::table::{targets_frame, Rates, TableError};
use crate::verdict::TargetVerdict;

/// The connections columns a ladder draws.
pub(super) const LADDER_COLUMNS: &[ConnCol] = &[
    ConnCol::Vantage,
    ConnCol::ServerIp,
    ConnCol::ServerPort,
    ConnCol::FirstSynTime,
    ConnCol::FirstSynFrame,
    ConnCol::SynTfo,
    ConnCol::SynDataLen,
    ConnCol::RetransmittedSynFrame,
    ConnCol::SynackFrame,
    ConnCol::SynackAnswers,
    ConnCol::SynackTfo,
    ConnCol::SynDataAcked,
    ConnCol::ResetFrame,
    ConnCol::IcmpFrame,
    ConnCol::Outcome,
    ConnCol::ConnectMs,
    ConnCol::Attempt,
];

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{path}: {error}")]
    Read { path: PathBuf, error: PolarsError },
    #[error("{0}: no targets.parquet, and not a dataset to judge ({1})")]
    NotAnOutput(PathBuf, DatasetError),
    #[error(
        "{0}: a targets table without its rates table: written by an older tfoscope; analyze or judge again"
    )]
    NoRates(PathBuf),
    #[error("judging {0}: {1}")]
    Judge(PathBuf, String),
    #[error(transparent)]
    Table(#[from] TableError),
    #[error("no folder given")]
    Nothing,
}

/// The tables of one or more folders, stacked.
pub struct ReportInput {
    pub targets: DataFrame,
    pub rates: DataFrame,
    pub files: Option<DataFrame>,
    pub connections: Option<DataFrame>,
    /// The folders, as given.
    pub sources: Vec<String>,
}

fn read(path: &Path, columns: Option<&[ConnCol]>) -> Result<DataFrame, ReportError> {
    let io = |error: std::io::Error| ReportError::Read { path: path.to_owned(), error: error.into() };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut reader = ParquetReader::new(file);
    if let Some(columns) = columns {
        reader = reader.with_columns(Some(columns.iter().map(|c| c.as_str().to_string()).collect()));
    }
    reader.finish().map_err(|error| ReportError::Read { path: path.to_owned(), error })
}

fn stack(frames: Vec<DataFrame>) -> Result<Option<DataFrame>, ReportError> {
    let mut frames = frames.into_iter();
    let Some(mut first) = frames.next() else { return Ok(None) };
    for f in frames {
        first
            .vstack_mut(&f)
            .map_err(|error| ReportError::Read { path: PathBuf::from("(stacking)"), error })?;
    }
    Ok(Some(first))
}

/// Reads each folder: an analyze or judge output (its targets and rates tables, and files
/// and connections where there), or a dataset of `analyze --partition-by vantage`, judged here
/// in one bucket.
pub fn load(dirs: &[PathBuf]) -> Result<ReportInput, ReportError> {
    let (mut targets, mut rates, mut files, mut connections) = (vec![], vec![], vec![], vec![]);
    for dir in dirs {
        let table = |name: &str| dir.join(format!("{name}.parquet"));
        if table("targets").is_file() {
            targets.push(read(&table("targets"), None)?);
            if !table("rates").is_file() {
                return Err(ReportError::NoRates(dir.clone()));
            }
            rates.push(read(&table("rates"), None)?);
            if table("files").is_file() {
                files.push(read(&table("files"), None)?);
            }
            if table("connections").is_file() {
                connections.push(read(&table("connections"), Some(LADDER_COLUMNS))?);
            }
            continue;
        }
        let dataset = Dataset::open(dir).map_err(|e| ReportError::NotAnOutput(dir.clone(), e))?;
        let mut verdicts: Vec<TargetVerdict> = Vec::new();
        let mut keep = |batch: Vec<TargetVerdict>| -> Result<(), TableError> {
            verdicts.extend(batch);
            Ok(())
        };
        let options = JudgeOptions { controls: &[], expect: None, buckets: 1, threads: 0, scratch: dir };
        judge(&[dataset], &options, &mut keep)
            .map_err(|e: JudgeError<TableError>| ReportError::Judge(dir.clone(), e.to_string()))?;
        targets.push(targets_frame(&verdicts)?);
        let mut counted = Rates::default();
        counted.add(&verdicts);
        rates.push(counted.frame()?);
        let dataset = Dataset::open(dir).map_err(|e| ReportError::NotAnOutput(dir.clone(), e))?;
        for part in &dataset.files {
            files.push(read(&part.path, None)?);
        }
        for part in &dataset.connections {
            connections.push(read(&part.path, Some(LADDER_COLUMNS))?);
        }
    }
    Ok(ReportInput {
        targets: stack(targets)?.ok_or(ReportError::Nothing)?,
        rates: stack(rates)?.ok_or(ReportError::Nothing)?,
        files: stack(files)?,
        connections: stack(connections)?,
        sources: dirs.iter().map(|d| d.display().to_string()).collect(),
    })
}
