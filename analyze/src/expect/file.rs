//! `--expect FILE`: what the origins are known to do, as CSV or Parquet with the columns
//! server_ip, server_port, expected_tfo.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use polars::prelude::*;

use super::{Expectation, Expectations};

#[derive(Debug, thiserror::Error)]
pub enum ExpectError {
    #[error("{path}: {source}")]
    Read { path: PathBuf, source: PolarsError },
    #[error("{path}: row {row}: {detail}")]
    Row { path: PathBuf, row: usize, detail: String },
}

pub fn load_expectations(path: &Path) -> Result<Expectations, ExpectError> {
    let read_err = |source| ExpectError::Read { path: path.to_owned(), source };
    let df = if path.extension().is_some_and(|e| e == "parquet") {
        let file = std::fs::File::open(path).map_err(|e| read_err(e.into()))?;
        ParquetReader::new(file).finish().map_err(read_err)?
    } else {
        CsvReadOptions::default()
            .with_has_header(true)
            .try_into_reader_with_file_path(Some(path.to_owned()))
            .and_then(|r| r.finish())
            .map_err(read_err)?
    };
    let column = |name: &str, dtype: &DataType| -> Result<Series, ExpectError> {
        df.column(name).and_then(|c| c.as_materialized_series().cast(dtype)).map_err(read_err)
    };
    let ips = column("server_ip", &DataType::String)?;
    let ports = column("server_port", &DataType::UInt16)?;
    let expected = column("expected_tfo", &DataType::Boolean)?;
    let (ips, ports, expected) =
        (ips.str().map_err(read_err)?, ports.u16().map_err(read_err)?, expected.bool().map_err(read_err)?);
    let mut out = Expectations::new();
    for row in 0..df.height() {
        let bad = |detail: &str| ExpectError::Row {
            path: path.to_owned(),
            row: row + 1,
            detail: detail.to_string(),
        };
        let ip: IpAddr = ips
            .get(row)
            .ok_or_else(|| bad("no server_ip"))?
            .parse()
            .map_err(|_| bad("server_ip is not an address"))?;
        let port = ports.get(row).ok_or_else(|| bad("server_port is not a port number"))?;
        out.insert(
            (ip, port),
            Expectation {
                expected_tfo: expected.get(row),
                // An expectation file says whether, not in which form.
                control_rfc_cookie: false,
                control_ttl: None,
                source: format!("--expect {}", path.display()),
                features_granted: None,
            },
        );
    }
    Ok(out)
}
