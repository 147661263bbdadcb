//! Records to polars DataFrames, and DataFrames to Parquet, CSV or JSON.
//!
//! The columns and types follow schemas/connections.json (the output contract); a test holds
//! the frame built here against that file.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use polars::prelude::*;

use crate::attempt::FetchKind;
use crate::read::CaptureFormat;
use crate::record::{Connection, SynTfo};
use crate::verdict::TargetVerdict;

pub const CONNECTIONS_SCHEMA: &str = include_str!("../../schemas/connections.json");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputFormat {
    #[default]
    Parquet,
    Csv,
    Json,
}

impl OutputFormat {
    pub fn extension(self) -> &'static str {
        match self {
            OutputFormat::Parquet => "parquet",
            OutputFormat::Csv => "csv",
            OutputFormat::Json => "json",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TableError {
    // The cause is in the message, not a `source`: printed as a chain it would come twice.
    #[error("{path}: {error}")]
    Io { path: PathBuf, error: std::io::Error },
    #[error("{path}: {error}")]
    Polars { path: PathBuf, error: PolarsError },
    #[error("building table {table}: {error}")]
    Build { table: &'static str, error: PolarsError },
}

/// Appends `bytes` in lower-case hex; true, for use in a `formatted` column.
fn hex_into(bytes: &[u8], out: &mut String) -> bool {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    true
}

/// The attempt the collector intended, or failing a record, what the first SYN implies.
pub fn inferred_attempt(conn: &Connection) -> Option<FetchKind> {
    match conn.first_syn().tfo {
        SynTfo::CookieRequest => Some(FetchKind::TfoCookieRequest),
        SynTfo::Cookie => Some(FetchKind::TfoData),
        SynTfo::None => Some(FetchKind::Plain),
        SynTfo::Malformed | SynTfo::Truncated => None,
    }
}

/// Arrow arrays of the classic types (the Parquet layout's: large_string, large_list), built
/// straight from the records. Polars' own strings are views, which the Parquet layout would
/// convert back, value by value.
mod arrays {
    use polars::prelude::{ArrayRef, PolarsResult};
    use polars_arrow::array::{BooleanArray, ListArray, MutableUtf8Array, PrimitiveArray, Utf8Array};
    use polars_arrow::bitmap::Bitmap;
    use polars_arrow::datatypes::{ArrowDataType, Field, TimeUnit};
    use polars_arrow::offset::OffsetsBuffer;
    use polars_arrow::types::NativeType;

    pub fn values<T: NativeType>(values: impl Iterator<Item = T>) -> ArrayRef {
        Box::new(PrimitiveArray::from_vec(values.collect()))
    }

    pub fn options<T: NativeType>(values: impl Iterator<Item = Option<T>>) -> ArrayRef {
        Box::new(values.collect::<PrimitiveArray<T>>())
    }

    pub fn flags(values: impl Iterator<Item = bool>) -> ArrayRef {
        Box::new(BooleanArray::from_slice(values.collect::<Vec<bool>>()))
    }

    pub fn utc_ns(values: impl Iterator<Item = i64>) -> ArrayRef {
        let dtype = ArrowDataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()));
        Box::new(PrimitiveArray::from_vec(values.collect()).to(dtype))
    }

    pub fn strings<'a>(values: impl Iterator<Item = &'a str>) -> ArrayRef {
        Box::new(Utf8Array::<i64>::from_iter_values(values))
    }

    pub fn optional_strings<'a>(values: impl Iterator<Item = Option<&'a str>>) -> ArrayRef {
        Box::new(values.collect::<Utf8Array<i64>>())
    }

    /// Strings written into one reused buffer by `f`; false for a null.
    pub fn formatted<T>(rows: &[T], mut f: impl FnMut(&T, &mut String) -> bool) -> ArrayRef {
        let mut out = MutableUtf8Array::<i64>::with_capacity(rows.len());
        let mut buf = String::with_capacity(64);
        for row in rows {
            buf.clear();
            out.push(f(row, &mut buf).then_some(buf.as_str()));
        }
        let out: Utf8Array<i64> = out.into();
        Box::new(out)
    }

    pub fn u8_lists<'a>(rows: impl ExactSizeIterator<Item = Option<&'a [u8]>>) -> PolarsResult<ArrayRef> {
        let mut offsets = Vec::with_capacity(rows.len() + 1);
        let mut validity = Vec::with_capacity(rows.len());
        let mut items = Vec::with_capacity(rows.len() * 8);
        offsets.push(0i64);
        for row in rows {
            validity.push(row.is_some());
            items.extend_from_slice(row.unwrap_or_default());
            offsets.push(items.len() as i64);
        }
        let item = Field::new("item".into(), ArrowDataType::UInt8, true);
        let validity = validity.contains(&false).then(|| Bitmap::from_iter(validity));
        Ok(Box::new(ListArray::<i64>::try_new(
            ArrowDataType::LargeList(Box::new(item)),
            OffsetsBuffer::try_from(offsets)?,
            Box::new(PrimitiveArray::from_vec(items)),
            validity,
        )?))
    }
}

/// The connections table's columns, one row per connection, in the order given: the output
/// contract (schemas/connections.json), built as the Arrow arrays the Parquet file stores.
pub fn connection_columns(vantages: &[(&str, &[Connection])]) -> PolarsResult<Vec<(&'static str, ArrayRef)>> {
    use arrays::*;
    let rows: Vec<(&str, &Connection)> =
        vantages.iter().flat_map(|(v, conns)| conns.iter().map(move |c| (*v, c))).collect();
    let conns = || rows.iter().map(|(_, c)| *c);
    let synacks = || conns().map(|c| c.synack.as_ref());
    // Addresses repeat (one client, a few servers): each is formatted once per batch.
    let ips = |f: &dyn Fn(&Connection) -> std::net::IpAddr| -> ArrayRef {
        let mut seen: std::collections::HashMap<std::net::IpAddr, String, foldhash::fast::RandomState> =
            Default::default();
        formatted(&rows, |(_, c), buf| {
            let ip = f(c);
            buf.push_str(seen.entry(ip).or_insert_with(|| ip.to_string()));
            true
        })
    };
    let hex = |f: &dyn Fn(&Connection) -> Option<&[u8]>| -> ArrayRef {
        formatted(&rows, |(_, c), buf| f(c).is_some_and(|b| hex_into(b, buf)))
    };
    Ok(vec![
        ("capture", strings(conns().map(|c| &*c.capture))),
        ("vantage", strings(rows.iter().map(|(v, _)| *v))),
        ("ip_version", values(conns().map(|c| c.ip_version()))),
        ("client_ip", ips(&|c| c.client.ip())),
        ("server_ip", ips(&|c| c.server.ip())),
        ("client_port", values(conns().map(|c| c.client.port()))),
        ("server_port", values(conns().map(|c| c.server.port()))),
        ("client_isn", values(conns().map(|c| c.isn))),
        ("first_syn_time", utc_ns(conns().map(|c| c.first_syn().time_ns))),
        ("first_syn_frame", values(conns().map(|c| c.first_syn().frame))),
        ("syn_count", values(conns().map(|c| c.syn_count))),
        ("syn_tfo", strings(conns().map(|c| c.first_syn().tfo.as_str()))),
        ("syn_tfo_kind", options(conns().map(|c| c.syn_tfo_kind))),
        ("syn_tfo_duplicate", flags(conns().map(|c| c.syn_tfo_duplicate))),
        ("syn_cookie", hex(&|c| c.syn_cookie.as_deref())),
        ("syn_data_len", values(conns().map(|c| c.first_syn().data_len))),
        ("syn_options_error", optional_strings(conns().map(|c| c.syn_options_error.as_deref()))),
        ("retransmitted_syn_frame", options(conns().map(|c| c.syns.get(1).map(|s| s.frame)))),
        ("synack_frame", options(synacks().map(|s| s.map(|s| s.frame)))),
        ("synack_answers", optional_strings(synacks().map(|s| s.map(|s| s.answers.as_str())))),
        ("synack_tfo", optional_strings(synacks().map(|s| s.map(|s| s.tfo.as_str())))),
        ("synack_tfo_kind", options(synacks().map(|s| s.and_then(|s| s.tfo_kind)))),
        ("synack_cookie", hex(&|c| c.synack.as_ref().and_then(|s| s.cookie.as_deref()))),
        ("syn_data_acked", optional_strings(conns().map(|c| c.syn_data_acked.map(|a| a.as_str())))),
        ("syn_data_resent", flags(conns().map(|c| c.syn_data_resent))),
        ("synack_ttl", options(synacks().map(|s| s.map(|s| s.ttl)))),
        ("synack_window", options(synacks().map(|s| s.map(|s| s.window)))),
        ("synack_mss", options(synacks().map(|s| s.and_then(|s| s.mss)))),
        ("synack_options", u8_lists(synacks().map(|s| s.map(|s| s.option_kinds.as_slice())))?),
        ("reset_frame", options(conns().map(|c| c.reset.map(|r| r.frame)))),
        ("icmp_frame", options(conns().map(|c| c.icmp.map(|r| r.frame)))),
        ("outcome", strings(conns().map(|c| c.outcome.as_str()))),
        ("connect_ms", options(conns().map(|c| c.connect_ms()))),
        (
            "attempt",
            optional_strings(conns().map(|c| match &c.attempt {
                Some(a) => Some(a.fetch.as_str()),
                None => inferred_attempt(c).map(FetchKind::as_str),
            })),
        ),
        (
            "attempt_source",
            optional_strings(conns().map(|c| match &c.attempt {
                Some(_) => Some("record"),
                None => inferred_attempt(c).map(|_| "inferred"),
            })),
        ),
        ("app_result", optional_strings(conns().map(|c| c.attempt.as_ref().map(|a| a.app_result.as_str())))),
    ])
}

/// One row per connection, in (vantage, first SYN time) order.
pub fn connections_frame(vantages: &[(&str, &[Connection])]) -> Result<DataFrame, TableError> {
    let build = |error| TableError::Build { table: "connections", error };
    let rows = vantages.iter().map(|(_, c)| c.len()).sum();
    let columns = connection_columns(vantages)
        .map_err(build)?
        .into_iter()
        .map(|(name, array)| Ok(Series::from_arrow(name.into(), array)?.into()))
        .collect::<PolarsResult<Vec<Column>>>()
        .map_err(build)?;
    DataFrame::new(rows, columns).map_err(build)
}

/// Writes `df` as DIR/NAME.EXT in the chosen format and returns the path.
pub fn write_table(
    df: &mut DataFrame,
    dir: &Path,
    name: &str,
    format: OutputFormat,
) -> Result<PathBuf, TableError> {
    let mut out = TableWriter::create(dir, name, format)?;
    out.write(df)?;
    out.finish()
}

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
}

enum Batch {
    Rows(Gathered),
    Frame(DataFrame),
    Encoded(EncodedRows),
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
        let row_group_rows = row_group_rows.max(1);
        let mut out = TableWriter::create(dir, "connections", format)?;
        let path = out.path.clone();
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
                for batch in batches {
                    match (batch, &writer_layout) {
                        (Batch::Rows(rows), Some(layout)) => {
                            out.write_encoded(layout, rows.encode(layout)?)?
                        }
                        (Batch::Rows(rows), None) => out.write(&mut rows.frame()?)?,
                        (Batch::Encoded(rows), Some(layout)) => out.write_encoded(layout, rows)?,
                        (Batch::Frame(mut frame), _) => out.write(&mut frame)?,
                        (Batch::Encoded(_), None) => unreachable!("encoded only for Parquet"),
                    }
                    wrote = true;
                }
                if !wrote {
                    // The schema still goes to the file.
                    out.write(&mut connections_frame(&[])?)?;
                }
                out.finish()
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
        })
    }

    /// Queues a batch (waits while two are queued), or gathers it with others if it is smaller
    /// than a row group. An error here means the writer has stopped;
    /// [`ConnectionsOutput::finish`] tells why.
    pub fn write(&self, vantage: &str, rows: Vec<Connection>) -> Result<(), TableError> {
        if rows.is_empty() {
            return Ok(());
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
        let sent = if rest.rows > 0 { self.send(rest) } else { Ok(()) };
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

/// The first write error of a table file, shared between the file and its writer.
#[derive(Debug, Clone, Default)]
struct FirstError(std::sync::Arc<std::sync::Mutex<Option<std::io::Error>>>);

impl FirstError {
    /// The write error behind a polars error, if there was one (a full disk reads better than
    /// polars' "Invalid thrift: transport error").
    fn explain(&self, path: &Path, source: PolarsError) -> TableError {
        match self.0.lock().unwrap_or_else(|p| p.into_inner()).take() {
            Some(io) => TableError::Io { path: path.to_owned(), error: io },
            None => TableError::Polars { path: path.to_owned(), error: source },
        }
    }
}

/// A table file that remembers its first write error.
struct RecordingFile {
    file: File,
    first_error: FirstError,
}

impl RecordingFile {
    fn record<T>(&self, result: std::io::Result<T>) -> std::io::Result<T> {
        if let Err(e) = &result {
            let mut first = self.first_error.0.lock().unwrap_or_else(|p| p.into_inner());
            first.get_or_insert_with(|| std::io::Error::new(e.kind(), e.to_string()));
        }
        result
    }
}

impl std::io::Write for RecordingFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let result = self.file.write(buf);
        self.record(result)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let result = self.file.flush();
        self.record(result)
    }
}

/// One table file being written, a DataFrame (a batch of rows) at a time.
pub struct TableWriter {
    path: PathBuf,
    format: OutputFormat,
    /// None once the Parquet writer owns the file.
    out: Option<BufWriter<RecordingFile>>,
    /// The file's first write error, which polars would report only as a malformed file.
    first_error: FirstError,
    parquet: Option<ParquetBatches>,
    batches: usize,
}

struct ParquetBatches {
    writer: polars_parquet::write::FileWriter<BufWriter<RecordingFile>>,
    layout: ParquetLayout,
}

/// How a table's rows become Parquet: the Arrow types every reader knows (large_string,
/// large_list) rather than polars' newest (string_view), so pandas, pyarrow and DuckDB read
/// every column; plain encoding, zstd, statistics. Encoding needs only this, so a batch can be
/// encoded on any thread and written on another.
#[derive(Debug, Clone)]
pub struct ParquetLayout {
    schema: polars::prelude::ArrowSchema,
    parquet_schema: polars_parquet::write::SchemaDescriptor,
    options: polars_parquet::write::WriteOptions,
    encodings: Vec<Vec<polars_parquet::write::Encoding>>,
}

/// Rows encoded and compressed, ready to be written: (rows, pages of each leaf column) per row
/// group.
pub struct EncodedRows(Vec<(u64, Vec<Vec<polars_parquet::write::CompressedPage>>)>);

impl ParquetLayout {
    pub fn of(df: &DataFrame) -> PolarsResult<Self> {
        use polars_parquet::write::{
            to_parquet_schema, CompressionOptions, Encoding, StatisticsOptions, Version, WriteOptions,
            ZstdLevel,
        };
        let schema = df.schema().to_arrow(CompatLevel::oldest());
        let parquet_schema = to_parquet_schema(&schema)?;
        let options = WriteOptions {
            statistics: StatisticsOptions::default(),
            version: Version::V2,
            // Level 1: as small as the default level here, and its much smaller context is
            // cheaper to set up for each of the many pages (measured: 5% of all instructions).
            compression: CompressionOptions::Zstd(ZstdLevel::try_new(1).ok()),
            data_page_size: None,
        };
        // One leaf per column: no structs here, and a list has one leaf.
        let encodings = schema.iter_values().map(|_| vec![Encoding::Plain]).collect();
        Ok(ParquetLayout { schema, parquet_schema, options, encodings })
    }

    /// Encodes and compresses `df` (one row group per chunk).
    pub fn encode(&self, df: &mut DataFrame) -> PolarsResult<EncodedRows> {
        df.rechunk_mut();
        let mut groups = Vec::new();
        for batch in df.iter_chunks(CompatLevel::oldest(), false) {
            if let Some(group) = self.row_group(batch.len(), batch.into_arrays())? {
                groups.push(group);
            }
        }
        Ok(EncodedRows(groups))
    }

    /// Encodes and compresses columns of the layout's types, in its order, as one row group.
    pub fn encode_columns(&self, rows: usize, columns: Vec<ArrayRef>) -> PolarsResult<EncodedRows> {
        Ok(EncodedRows(self.row_group(rows, columns)?.into_iter().collect()))
    }

    fn row_group(
        &self,
        rows: usize,
        arrays: Vec<ArrayRef>,
    ) -> PolarsResult<Option<(u64, Vec<Vec<polars_parquet::write::CompressedPage>>)>> {
        use polars_parquet::write::{array_to_columns, compress};
        if rows == 0 {
            return Ok(None);
        }
        let mut columns = Vec::with_capacity(self.encodings.len());
        for ((array, type_), encoding) in
            arrays.into_iter().zip(self.parquet_schema.fields()).zip(&self.encodings)
        {
            for pages in array_to_columns(array, type_.clone(), self.options, encoding)? {
                let compressed = pages
                    .map(|page| Ok(compress(page?, Vec::new(), self.options.compression)?))
                    .collect::<PolarsResult<Vec<_>>>()?;
                columns.push(compressed);
            }
        }
        Ok(Some((rows as u64, columns)))
    }
}

impl TableWriter {
    pub fn create(dir: &Path, name: &str, format: OutputFormat) -> Result<Self, TableError> {
        let path = dir.join(format!("{name}.{}", format.extension()));
        let file = File::create(&path).map_err(|error| TableError::Io { path: path.clone(), error })?;
        let first_error = FirstError::default();
        let out = BufWriter::new(RecordingFile { file, first_error: first_error.clone() });
        Ok(TableWriter { path, format, out: Some(out), first_error, parquet: None, batches: 0 })
    }

    pub fn write(&mut self, df: &mut DataFrame) -> Result<(), TableError> {
        let path = self.path.clone();
        let first_error = self.first_error.clone();
        let polars_err = |source| first_error.explain(&path, source);
        match (self.format, self.out.as_mut()) {
            (OutputFormat::Parquet, _) => {
                if self.parquet.is_none() {
                    let layout = ParquetLayout::of(df).map_err(polars_err)?;
                    self.start_parquet(&layout)?;
                }
                let encoded =
                    self.parquet.as_ref().expect("started").layout.encode(df).map_err(polars_err)?;
                return self.write_rows(encoded);
            }
            (OutputFormat::Csv, Some(out)) => {
                let mut text = lists_joined(df).map_err(polars_err)?;
                CsvWriter::new(out)
                    .include_header(self.batches == 0)
                    .finish(&mut text)
                    .map_err(polars_err)?;
            }
            (OutputFormat::Json, Some(out)) => {
                JsonWriter::new(out)
                    .with_json_format(JsonFormat::JsonLines)
                    .finish(df)
                    .map_err(polars_err)?;
            }
            (_, None) => unreachable!("only Parquet takes the file"),
        }
        self.batches += 1;
        Ok(())
    }

    /// Writes rows encoded by [`ParquetLayout::encode`] (Parquet only).
    pub fn write_encoded(&mut self, layout: &ParquetLayout, rows: EncodedRows) -> Result<(), TableError> {
        if self.parquet.is_none() {
            self.start_parquet(layout)?;
        }
        self.write_rows(rows)
    }

    /// Encoded rows to the started Parquet writer.
    fn write_rows(&mut self, rows: EncodedRows) -> Result<(), TableError> {
        let path = self.path.clone();
        let batches = self.parquet.as_mut().expect("started");
        batches.write(rows).map_err(|e| self.first_error.explain(&path, e))?;
        self.batches += 1;
        Ok(())
    }

    /// The Parquet writer takes the file, with the layout's schema.
    fn start_parquet(&mut self, layout: &ParquetLayout) -> Result<(), TableError> {
        let out = self.out.take().expect("the file, until Parquet takes it");
        let batches = ParquetBatches::start(layout.clone(), out)
            .map_err(|e| self.first_error.explain(&self.path, e))?;
        self.parquet = Some(batches);
        Ok(())
    }

    pub fn finish(mut self) -> Result<PathBuf, TableError> {
        use std::io::Write;
        let path = self.path.clone();
        let io_err = |error| TableError::Io { path: path.clone(), error };
        if let Some(mut batches) = self.parquet.take() {
            batches.writer.end(None).map_err(|source| self.first_error.explain(&path, source))?;
            batches.writer.into_inner().flush().map_err(io_err)?;
        }
        if let Some(mut out) = self.out.take() {
            out.flush().map_err(io_err)?;
        }
        Ok(path)
    }
}

impl ParquetBatches {
    fn start(layout: ParquetLayout, out: BufWriter<RecordingFile>) -> PolarsResult<Self> {
        let writer = polars_parquet::write::FileWriter::try_new(out, layout.schema.clone(), layout.options)?;
        Ok(ParquetBatches { writer, layout })
    }

    fn write(&mut self, rows: EncodedRows) -> PolarsResult<()> {
        use polars_parquet::write::{fallible_streaming_iterator, DynIter, DynStreamingIterator};
        for (count, columns) in &rows.0 {
            let group = DynIter::new(columns.iter().map(|pages| {
                Ok(DynStreamingIterator::new(fallible_streaming_iterator::convert(
                    pages.iter().map(PolarsResult::Ok),
                )))
            }));
            self.writer.write(*count, group)?;
        }
        Ok(())
    }
}

fn lists_joined(df: &DataFrame) -> PolarsResult<DataFrame> {
    let mut columns = Vec::with_capacity(df.width());
    for column in df.columns() {
        if let DataType::List(_) = column.dtype() {
            let joined: Vec<Option<String>> = column
                .list()?
                .series_iter()
                .map(|row| {
                    row.map(|items| -> PolarsResult<String> {
                        let items = items.cast(&DataType::String)?;
                        Ok(items.str()?.iter().flatten().collect::<Vec<_>>().join(";"))
                    })
                    .transpose()
                })
                .collect::<PolarsResult<_>>()?;
            columns.push(Column::new(column.name().clone(), joined));
        } else {
            columns.push(column.clone());
        }
    }
    DataFrame::new(df.height(), columns)
}

fn str_lists<'a>(name: &str, rows: impl ExactSizeIterator<Item = Vec<&'a str>>) -> Column {
    let mut builder = ListStringChunkedBuilder::new(name.into(), rows.len(), rows.len() * 2);
    for row in rows {
        builder.append_values_iter(row.into_iter());
    }
    builder.finish().into_series().into()
}

/// One row per target and vantage.
pub fn targets_frame(verdicts: &[TargetVerdict]) -> Result<DataFrame, TableError> {
    let col = |name: &str, s: Series| -> Column { s.with_name(name.into()).into() };
    macro_rules! field {
        ($name:expr, $f:expr) => {
            col($name, Series::new("".into(), verdicts.iter().map($f).collect::<Vec<_>>()))
        };
    }
    let columns = vec![
        field!("vantage", |v: &TargetVerdict| v.vantage.clone()),
        field!("target", |v: &TargetVerdict| v.target.clone()),
        field!("server_ip", |v: &TargetVerdict| v.server_ip.map(|ip| ip.to_string())),
        field!("server_port", |v: &TargetVerdict| v.server_port),
        field!("ip_version", |v: &TargetVerdict| v.ip_version()),
        field!("connections", |v: &TargetVerdict| v.connections),
        field!("rounds", |v: &TargetVerdict| v.rounds),
        field!("connectivity", |v: &TargetVerdict| v.connectivity.as_str()),
        field!("cookie", |v: &TargetVerdict| v.cookie.as_str()),
        field!("syn_data", |v: &TargetVerdict| v.syn_data.as_str()),
        str_lists("signatures", verdicts.iter().map(|v| v.signatures.iter().map(|s| s.as_str()).collect())),
        str_lists("untested", verdicts.iter().map(|v| v.untested.iter().map(|s| s.as_str()).collect())),
        field!("middlebox", |v: &TargetVerdict| v.middlebox),
        field!("expected_tfo", |v: &TargetVerdict| v.expected_tfo),
        field!("synack_differs", |v: &TargetVerdict| v.synack_differs),
        field!("measurement_valid", |v: &TargetVerdict| v.measurement_valid),
        field!("explanation", |v: &TargetVerdict| v.explanation.clone()),
        str_lists("conditions", verdicts.iter().map(|v| v.conditions.clone())),
    ];
    DataFrame::new(verdicts.len(), columns).map_err(|error| TableError::Build { table: "targets", error })
}

/// One capture file as read: whether to the end, and if not where and why it stopped; or why
/// it could not be read at all. The `files` table, so notebooks see partial results too.
#[derive(Debug, Clone, Default)]
pub struct FileRow {
    pub vantage: String,
    pub capture: String,
    pub format: Option<&'static str>,
    pub frames: u64,
    pub bytes: u64,
    pub complete: bool,
    pub stop_offset: Option<u64>,
    pub stop_reason: Option<String>,
    pub kernel_drops: Option<u64>,
    pub skipped_blocks: u64,
    pub error: Option<String>,
    /// The vantage's warnings (partial files, drops, the connection cap, ...).
    pub warnings: Vec<String>,
}

impl FileRow {
    pub fn of_vantage(result: &crate::VantageResult) -> Vec<FileRow> {
        result
            .report
            .files
            .iter()
            .map(|f| FileRow {
                vantage: result.name.clone(),
                capture: f.path.display().to_string(),
                format: f.read.format.map(|format| match format {
                    CaptureFormat::Pcap => "pcap",
                    CaptureFormat::PcapNanosecond => "pcap_ns",
                    CaptureFormat::PcapNg => "pcapng",
                }),
                frames: f.read.frames,
                bytes: f.read.bytes,
                complete: f.read.stop.is_none(),
                stop_offset: f.read.stop.as_ref().map(|s| s.offset),
                stop_reason: f.read.stop.as_ref().map(|s| s.to_string()),
                kernel_drops: f.read.kernel_drops,
                skipped_blocks: f.read.skipped_blocks,
                error: None,
                warnings: result.report.warnings.clone(),
            })
            .chain(result.report.unreadable.iter().map(|(path, error)| FileRow {
                vantage: result.name.clone(),
                capture: path.display().to_string(),
                error: Some(error.clone()),
                warnings: result.report.warnings.clone(),
                ..FileRow::default()
            }))
            .collect()
    }
}

pub fn files_frame(rows: &[FileRow]) -> Result<DataFrame, TableError> {
    let col = |name: &str, s: Series| -> Column { s.with_name(name.into()).into() };
    macro_rules! field {
        ($name:expr, $f:expr) => {
            col($name, Series::new("".into(), rows.iter().map($f).collect::<Vec<_>>()))
        };
    }
    let columns = vec![
        field!("vantage", |r: &FileRow| r.vantage.clone()),
        field!("capture", |r: &FileRow| r.capture.clone()),
        field!("format", |r: &FileRow| r.format),
        field!("frames", |r: &FileRow| r.frames),
        field!("bytes", |r: &FileRow| r.bytes),
        field!("complete", |r: &FileRow| r.complete),
        field!("stop_offset", |r: &FileRow| r.stop_offset),
        field!("stop_reason", |r: &FileRow| r.stop_reason.clone()),
        field!("kernel_drops", |r: &FileRow| r.kernel_drops),
        field!("skipped_blocks", |r: &FileRow| r.skipped_blocks),
        field!("error", |r: &FileRow| r.error.clone()),
        str_lists("warnings", rows.iter().map(|r| r.warnings.iter().map(String::as_str).collect())),
    ];
    DataFrame::new(rows.len(), columns).map_err(|error| TableError::Build { table: "files", error })
}
