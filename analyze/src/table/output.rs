//! The connections table written beside the reading.

use std::path::{Path, PathBuf};

use polars::prelude::*;

use super::connections::{connection_columns, connections_frame};
use super::file::{EncodedRows, ParquetLayout, TableWriter};
use super::partition::PartPath;
use super::{OutputFormat, TableError};
use crate::record::Connection;

/// The connections table written beside the reading: batches of connections go through a
/// small queue to a writer thread, so reading and table building overlap on two cores. With
/// several vantages read at once, their threads build and encode the row groups themselves (in
/// parallel) and the writer thread only writes them out. Batches smaller than a row group (the
/// last connections of each capture) are gathered into row groups of their own, built by the
/// caller whose batch fills one: a folder of a thousand small captures makes a few row groups,
/// not a thousand (whose footer alone outweighed the rows: 17 MB for 6,000 rows from 2,000
/// files).
pub struct ConnectionsOutput {
    queue: Option<std::sync::mpsc::SyncSender<Batch>>,
    writer: Option<std::thread::JoinHandle<Result<PathBuf, TableError>>>,
    build_in_caller: bool,
    /// Rows a row group gathers before it is written (but the last).
    row_group_rows: usize,
    gathered: std::sync::Mutex<Gathered>,
    /// For Parquet: callers that build their frames encode them too.
    layout: Option<ParquetLayout>,
    path: PathBuf,
    /// Partitioned by vantage (`--partition-by vantage`): each vantage's rows gathered apart
    /// and written to a part of its own.
    partitioned: bool,
    by_vantage: std::sync::Mutex<std::collections::HashMap<String, Gathered>>,
}

enum Batch {
    Rows(Gathered),
    Frame(DataFrame),
    Encoded(EncodedRows),
    /// One vantage's rows, for its part.
    Part(String, Gathered),
}

impl ConnectionsOutput {
    /// `row_group_rows`: batches this large are written as they come (and, with
    /// `build_in_caller`, built by the caller); smaller ones are gathered up to it.
    pub fn start(
        dir: &Path,
        format: OutputFormat,
        build_in_caller: bool,
        row_group_rows: usize,
    ) -> Result<Self, TableError> {
        Self::start_with(dir, format, build_in_caller, row_group_rows, None)
    }

    /// The table as parts, `DIR/connections/vantage=NAME/part-RUN.EXT`, one a vantage.
    pub fn start_partitioned(
        dir: &Path,
        format: OutputFormat,
        row_group_rows: usize,
        run: &str,
    ) -> Result<Self, TableError> {
        Self::start_with(dir, format, false, row_group_rows, Some(run.to_string()))
    }

    fn start_with(
        dir: &Path,
        format: OutputFormat,
        build_in_caller: bool,
        row_group_rows: usize,
        run: Option<String>,
    ) -> Result<Self, TableError> {
        let row_group_rows = row_group_rows.max(1);
        let partitioned = run.is_some();
        let (mut out, path) = match &run {
            None => {
                let out = TableWriter::create(dir, "connections", format)?;
                let path = out.path().to_owned();
                (Some(out), path)
            }
            Some(_) => (None, dir.join("connections")),
        };
        let root = dir.to_owned();
        let layout = match format {
            OutputFormat::Parquet => Some(
                ParquetLayout::of(&connections_frame(&[])?)
                    .map_err(|error| TableError::Build { table: "connections", error })?,
            ),
            _ => None,
        };
        let writer_layout = layout.clone();
        // Two batches waiting at most: memory stays bounded when writing is the slower side.
        let (queue, batches) = std::sync::mpsc::sync_channel::<Batch>(2);
        let writer = std::thread::Builder::new()
            .name("connections-writer".into())
            .spawn(move || {
                let mut wrote = false;
                let mut parts: std::collections::HashMap<String, TableWriter> = Default::default();
                for batch in batches {
                    if let Batch::Part(vantage, rows) = batch {
                        let writer = match parts.entry(vantage) {
                            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                            std::collections::hash_map::Entry::Vacant(e) => {
                                let run = run.as_deref().expect("parts only when partitioned");
                                let part = PartPath::new(&root, "connections", e.key(), run, format);
                                e.insert(TableWriter::create_part(&part, "connections", format)?)
                            }
                        };
                        match &writer_layout {
                            Some(layout) => writer.write_encoded(layout, rows.encode(layout)?)?,
                            None => writer.write(&mut rows.frame()?)?,
                        }
                        continue;
                    }
                    let out = out.as_mut().expect("one file when not partitioned");
                    match (batch, &writer_layout) {
                        (Batch::Rows(rows), Some(layout)) => {
                            out.write_encoded(layout, rows.encode(layout)?)?
                        }
                        (Batch::Rows(rows), None) => out.write(&mut rows.frame()?)?,
                        (Batch::Encoded(rows), Some(layout)) => out.write_encoded(layout, rows)?,
                        (Batch::Frame(mut frame), _) => out.write(&mut frame)?,
                        (Batch::Encoded(_), None) => unreachable!("encoded only for Parquet"),
                        (Batch::Part(..), _) => unreachable!("handled above"),
                    }
                    wrote = true;
                }
                for (_, part) in parts {
                    part.finish()?;
                }
                match out {
                    Some(mut out) => {
                        if !wrote {
                            // The schema still goes to the file.
                            out.write(&mut connections_frame(&[])?)?;
                        }
                        out.finish()
                    }
                    None => Ok(root.join("connections")),
                }
            })
            .map_err(|error| TableError::Io { path: path.clone(), error })?;
        Ok(ConnectionsOutput {
            queue: Some(queue),
            writer: Some(writer),
            build_in_caller,
            row_group_rows,
            gathered: Default::default(),
            layout,
            path,
            partitioned,
            by_vantage: Default::default(),
        })
    }

    /// Queues a batch (waits while two are queued), or gathers it with others if it is smaller
    /// than a row group. An error here means the writer has stopped;
    /// [`ConnectionsOutput::finish`] tells why.
    pub fn write(&self, vantage: &str, rows: Vec<Connection>) -> Result<(), TableError> {
        if rows.is_empty() {
            return Ok(());
        }
        if self.partitioned {
            let mut by_vantage = self.by_vantage.lock().unwrap_or_else(|p| p.into_inner());
            let gathered = by_vantage.entry(vantage.to_string()).or_default();
            gathered.add(vantage, rows);
            if gathered.rows < self.row_group_rows {
                return Ok(());
            }
            let group = std::mem::take(gathered);
            drop(by_vantage);
            return self.queue_batch(Batch::Part(vantage.to_string(), group));
        }
        let mut group = Gathered::default();
        if rows.len() >= self.row_group_rows {
            group.add(vantage, rows);
        } else {
            let mut gathered = self.gathered.lock().unwrap_or_else(|p| p.into_inner());
            gathered.add(vantage, rows);
            if gathered.rows < self.row_group_rows {
                return Ok(());
            }
            std::mem::swap(&mut group, &mut gathered);
        }
        self.send(group)
    }

    fn send(&self, group: Gathered) -> Result<(), TableError> {
        let batch = match (self.build_in_caller, &self.layout) {
            (true, Some(layout)) => Batch::Encoded(group.encode(layout)?),
            (true, None) => Batch::Frame(group.frame()?),
            (false, _) => Batch::Rows(group),
        };
        self.queue_batch(batch)
    }

    fn queue_batch(&self, batch: Batch) -> Result<(), TableError> {
        let stopped = || TableError::Io {
            path: self.path.clone(),
            error: std::io::Error::other("the connections table writer stopped"),
        };
        self.queue.as_ref().ok_or_else(stopped)?.send(batch).map_err(|_| stopped())
    }

    /// Writes what is still gathered, waits for every queued batch to be written and closes
    /// the file.
    pub fn finish(mut self) -> Result<PathBuf, TableError> {
        let rest = std::mem::take(&mut *self.gathered.lock().unwrap_or_else(|p| p.into_inner()));
        let mut sent = if rest.rows > 0 { self.send(rest) } else { Ok(()) };
        let parts = std::mem::take(&mut *self.by_vantage.lock().unwrap_or_else(|p| p.into_inner()));
        for (vantage, rows) in parts.into_iter().filter(|(_, rows)| rows.rows > 0) {
            sent = sent.and(self.queue_batch(Batch::Part(vantage, rows)));
        }
        self.queue.take();
        let writer = self.writer.take().expect("joined once");
        let written = writer.join().unwrap_or_else(|_| {
            Err(TableError::Io {
                path: self.path.clone(),
                error: std::io::Error::other("the connections table writer panicked"),
            })
        });
        // The writer's own error first: it explains a "writer stopped" from the send.
        let path = written?;
        sent?;
        Ok(path)
    }
}

/// Batches that make one row group together, in the order they came.
#[derive(Default)]
struct Gathered {
    parts: Vec<(String, Vec<Connection>)>,
    rows: usize,
}

impl Gathered {
    fn add(&mut self, vantage: &str, rows: Vec<Connection>) {
        self.rows += rows.len();
        self.parts.push((vantage.to_string(), rows));
    }

    fn vantages(&self) -> Vec<(&str, &[Connection])> {
        self.parts.iter().map(|(vantage, rows)| (vantage.as_str(), rows.as_slice())).collect()
    }

    /// Straight to a Parquet row group: the Arrow columns, encoded and compressed.
    fn encode(&self, layout: &ParquetLayout) -> Result<EncodedRows, TableError> {
        let build = |error| TableError::Build { table: "connections", error };
        let columns = connection_columns(&self.vantages()).map_err(build)?;
        layout.encode_columns(self.rows, columns.into_iter().map(|(_, array)| array).collect()).map_err(build)
    }

    fn frame(&self) -> Result<DataFrame, TableError> {
        connections_frame(&self.vantages())
    }
}
