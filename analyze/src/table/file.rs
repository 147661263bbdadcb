//! One table file being written: CSV, JSON lines, or Parquet in the layout every reader knows.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use polars::prelude::*;

use super::{OutputFormat, TableError};

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
    /// Where the file goes once complete (a partition's part is written under a hidden name).
    complete: Option<PathBuf>,
    /// The table's name and schema version, for the Parquet file's key-value metadata.
    table: String,
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
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn create(dir: &Path, name: &str, format: OutputFormat) -> Result<Self, TableError> {
        let path = dir.join(format!("{name}.{}", format.extension()));
        Self::create_at(path, None, name, format)
    }

    /// As [`TableWriter::create`], the file written under a hidden name and renamed by
    /// [`TableWriter::finish`]: a run that fails midway leaves no broken table (nor an older
    /// one overwritten).
    pub fn create_renamed(dir: &Path, name: &str, format: OutputFormat) -> Result<Self, TableError> {
        let file = format!("{name}.{}", format.extension());
        Self::create_at(dir.join(format!(".{file}.writing")), Some(dir.join(file)), name, format)
    }

    /// A part of a partitioned table: written at `part.writing`, renamed to `part.complete`
    /// by [`TableWriter::finish`].
    pub fn create_part(
        part: &super::partition::PartPath,
        name: &str,
        format: OutputFormat,
    ) -> Result<Self, TableError> {
        if let Some(dir) = part.writing.parent() {
            std::fs::create_dir_all(dir).map_err(|error| TableError::Io { path: dir.to_owned(), error })?;
        }
        Self::create_at(part.writing.clone(), Some(part.complete.clone()), name, format)
    }

    fn create_at(
        path: PathBuf,
        complete: Option<PathBuf>,
        name: &str,
        format: OutputFormat,
    ) -> Result<Self, TableError> {
        let file = File::create(&path).map_err(|error| TableError::Io { path: path.clone(), error })?;
        let first_error = FirstError::default();
        let out = BufWriter::new(RecordingFile { file, first_error: first_error.clone() });
        Ok(TableWriter {
            path,
            complete,
            table: name.to_string(),
            format,
            out: Some(out),
            first_error,
            parquet: None,
            batches: 0,
        })
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
            // Readers of a dataset written over months tell its files' layouts apart by this.
            let metadata = vec![
                polars_parquet::write::KeyValue::new("tfoscope.table".to_string(), self.table.clone()),
                polars_parquet::write::KeyValue::new(
                    "tfoscope.schema_version".to_string(),
                    super::schema_version(&self.table).to_string(),
                ),
            ];
            batches.writer.end(Some(metadata)).map_err(|source| self.first_error.explain(&path, source))?;
            batches.writer.into_inner().flush().map_err(io_err)?;
        }
        if let Some(mut out) = self.out.take() {
            out.flush().map_err(io_err)?;
        }
        match self.complete.take() {
            Some(complete) => {
                std::fs::rename(&path, &complete)
                    .map_err(|error| TableError::Io { path: complete.clone(), error })?;
                Ok(complete)
            }
            None => Ok(path),
        }
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
