//! Target verdicts from the tables alone (`tfoscope judge`): the second step of an analysis
//! split in two, after `analyze --partition-by vantage` ran once per vantage, anywhere.
//!
//! The tables hold what the verdicts need of each connection (its [`ConnRow`]), each file (its
//! kernel drops and the collector's records) and each hop-limited probe, so the verdicts are
//! the ones `analyze` would give the same captures in one run. A dataset larger than memory is
//! judged in buckets of targets (a hash of address and port): first what holds for a whole
//! vantage (its own addresses) and for the controls (their expectations by address and by
//! host name), then the targets one bucket at a time, each bucket's verdicts handed on before
//! the next is read. Memory then follows the largest bucket, not the dataset.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::attempt::{AttemptRecord, CollectorRecord, RunRecord};
use crate::dataset::ordered::map_in_order;
use crate::dataset::rows::{self, Columns, FileFacts};
use crate::dataset::{Dataset, DatasetError, Part};
use crate::expect::{ControlEvidence, Expectations};
use crate::locate::HopRow;
use crate::read::ReadReport;
use crate::result::{FileReport, Role, VantageReport, VantageResult};
use crate::summary::{ConnRow, OwnAddresses, TargetConnections};
use crate::verdict::{add_control_evidence, judge_controls, judge_measured, TargetVerdict};

#[derive(Debug, Clone)]
pub struct JudgeOptions<'a> {
    /// Control vantages by name; none: the vantages the files tables mark as controls.
    pub controls: &'a [String],
    /// From `--expect`: wins over the controls.
    pub expect: Option<&'a Expectations>,
    /// Targets judged a bucket at a time; 1: all at once.
    pub buckets: usize,
    /// Threads that decode the tables' row groups; 0: one per core.
    pub threads: usize,
    /// Where a bucketed judge puts the rows it splits by bucket (a folder of its own is made
    /// and removed inside it).
    pub scratch: &'a std::path::Path,
}

#[derive(Debug, thiserror::Error)]
pub enum JudgeError<E: std::error::Error + 'static> {
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    #[error("no vantage named {name:?} in the datasets (they hold: {known})")]
    UnknownControl { name: String, known: String },
    #[error("control {name:?}: {capture} could not be read when analysed ({error}): verdicts against it would be wrong")]
    ControlUnreadable { name: String, capture: String, error: String },
    #[error("the datasets hold no measured vantage")]
    NothingMeasured,
    #[error(transparent)]
    Sink(E),
}

/// One vantage as its tables tell it.
#[derive(Debug, Default)]
pub struct VantageTables {
    pub name: String,
    pub role: Role,
    pub files: Vec<FileReport>,
    pub attempts: Vec<AttemptRecord>,
    pub runs: Vec<RunRecord>,
    pub hops: Vec<HopRow>,
    /// From all its connections (the first pass of a bucketed judge).
    own: OwnAddresses,
    pub connections: u64,
    pub tfo_connections: u64,
    pub with_arrival: u64,
}

/// What a judge run found beside the verdicts.
#[derive(Debug, Default)]
pub struct Judged {
    /// Controls and measured vantages (server-side captures left out), in the order judged.
    pub vantages: Vec<VantageTables>,
    pub warnings: Vec<String>,
    /// With one bucket: every judged vantage's connections by target (for the OONI output).
    pub results: Vec<VantageResult>,
}

/// Vantages by name: looked up for every row.
type Index = HashMap<String, usize, foldhash::fast::RandomState>;

/// The bucket of a target (address, port) among `n`: a fixed hash (FNV-1a), the same in every
/// run and on every machine.
pub fn target_bucket(ip: IpAddr, port: u16, n: usize) -> usize {
    if n <= 1 {
        return 0;
    }
    let octets: Vec<u8> = match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    };
    let hash = octets
        .iter()
        .chain(&port.to_be_bytes())
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3));
    (hash % n as u64) as usize
}

/// A collector record's bucket: its target's, or the first for a name that did not resolve.
fn attempt_bucket(a: &AttemptRecord, n: usize) -> usize {
    a.server_ip.parse::<IpAddr>().map_or(0, |ip| target_bucket(ip, a.server_port, n))
}

/// Judges the targets of `datasets`, handing the verdicts to `sink` a bucket at a time (with
/// one bucket, in the order `analyze` gives them: controls' targets, measured ones', then
/// targets known only from hop-limited probes).
pub fn judge<E: std::error::Error + 'static>(
    datasets: &[Dataset],
    options: &JudgeOptions<'_>,
    sink: &mut dyn FnMut(Vec<TargetVerdict>) -> Result<(), E>,
) -> Result<Judged, JudgeError<E>> {
    let n = options.buckets.max(1);
    let threads = match options.threads {
        0 => std::thread::available_parallelism().map_or(1, usize::from),
        n => n,
    };
    let mut phases = crate::timings::Phases::from_env();
    let mut warnings = Vec::new();
    let mut vantages = read_files(datasets, &mut warnings)?;
    assign_roles(&mut vantages, options.controls)?;
    // Controls first, as analyze orders them.
    vantages.sort_by_key(|v| v.role != Role::Control);
    vantages.retain(|v| v.role != Role::Server);
    if !vantages.iter().any(|v| v.role == Role::Measured) {
        return Err(JudgeError::NothingMeasured);
    }
    read_hops(datasets, &mut vantages)?;
    let index: Index = vantages.iter().enumerate().map(|(i, v)| (v.name.clone(), i)).collect();
    let strangers = strangers(datasets, &index)?;
    if strangers > 0 {
        warnings.push(format!(
            "{strangers} connections of vantages no files table names (or only as server captures): left out"
        ));
    }
    // One bucket reads the datasets as they are; more split the rows by bucket first (with the
    // vantages' own addresses), so that each bucket reads its own rows only.
    phases.mark("files, hops, vantages");
    let spill =
        if n > 1 { Some(Spill::write(datasets, &mut vantages, &index, n, options.scratch)?) } else { None };
    if spill.is_some() {
        phases.mark("rows split by bucket");
    }
    let roles: Vec<Role> = vantages.iter().map(|v| v.role).collect();
    let (index_ref, roles_ref) = (&index, &roles);
    let source = |role: Role, bucket: usize| -> Vec<&Part> {
        match &spill {
            Some(spill) => spill.parts(role, bucket).collect(),
            None => parts(datasets, move |name| index_ref.get(name).is_some_and(|&i| roles_ref[i] == role))
                .collect(),
        }
    };
    let mut results = Vec::new();
    let mut control_verdicts = Vec::with_capacity(n);
    let mut evidence = ControlEvidence::default();
    for bucket in 0..n {
        let from = source(Role::Control, bucket);
        let controls = bucket_results(&from, &mut vantages, &index, Role::Control, (bucket, n), threads)?;
        phases.mark("controls' rows read");
        let verdicts = judge_controls(&controls);
        add_control_evidence(&mut evidence, &verdicts, &controls);
        phases.mark("controls judged");
        control_verdicts.push(verdicts);
        if n == 1 {
            results.extend(controls);
        }
    }
    let (expectations, control_warnings) = evidence.finish(options.expect);
    warnings.extend(control_warnings);
    for (bucket, mut verdicts) in control_verdicts.into_iter().enumerate() {
        let from = source(Role::Measured, bucket);
        let measured = bucket_results(&from, &mut vantages, &index, Role::Measured, (bucket, n), threads)?;
        phases.mark("measured rows read");
        verdicts.extend(judge_measured(&measured, &expectations));
        phases.mark("measured judged");
        let hops = vantages.iter().map(|v| (v.name.as_str(), v.hops.as_slice()));
        crate::locate::targets::locate_targets(&mut verdicts, hops, &|ip, port| {
            target_bucket(ip, port, n) == bucket
        });
        sink(verdicts).map_err(JudgeError::Sink)?;
        phases.mark("verdicts handed on");
        if n == 1 {
            results.extend(measured);
        }
    }
    Ok(Judged { vantages, warnings, results })
}

/// The vantages of the files tables, in the order their rows come (a plain analyze output:
/// controls, measured, server captures; a partitioned one: by vantage name), with their files'
/// kernel drops and the collector's records.
fn read_files<E: std::error::Error>(
    datasets: &[Dataset],
    warnings: &mut Vec<String>,
) -> Result<Vec<VantageTables>, JudgeError<E>> {
    let mut vantages: Vec<VantageTables> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for part in datasets.iter().flat_map(|d| &d.files) {
        let mut file_rows: Vec<FileFacts> = Vec::new();
        part.for_each_row_group(rows::FILE_COLUMNS, |df| {
            file_rows.extend(rows::file_rows(&Columns::new(df, &part.path))?);
            Ok(())
        })?;
        // Server captures are judged by no one (and may share a name with a client's capture).
        for row in file_rows.into_iter().filter(|r| r.role != Role::Server) {
            let i = *index.entry(row.vantage.clone()).or_insert_with(|| {
                vantages.push(VantageTables {
                    name: row.vantage.clone(),
                    role: row.role,
                    ..Default::default()
                });
                vantages.len() - 1
            });
            let v = &mut vantages[i];
            if row.role == Role::Control {
                v.role = Role::Control;
            }
            if let Some(error) = row.error {
                if v.role == Role::Control {
                    return Err(JudgeError::ControlUnreadable {
                        name: row.vantage,
                        capture: row.capture,
                        error,
                    });
                }
                continue;
            }
            for (n, text) in row.collector_records.iter().enumerate() {
                match CollectorRecord::from_json(text.as_bytes()) {
                    Some(CollectorRecord::Attempt(a)) => v.attempts.push(a),
                    Some(CollectorRecord::Run(r)) => v.runs.push(r),
                    Some(CollectorRecord::Probe(_)) => {}
                    None => warnings.push(format!(
                        "{}: {}: collector record {n} unreadable: left out",
                        part.path.display(),
                        row.capture
                    )),
                }
            }
            v.files.push(FileReport {
                kernel_disagreements: 0,
                path: row.capture.into(),
                read: ReadReport {
                    kernel_drops: row.kernel_drops,
                    last_frame_ns: row.last_frame_ns,
                    // Where it stopped is in the files table; that it stopped is what judging needs.
                    stop: (!row.complete).then(|| crate::read::ReadStop {
                        offset: 0,
                        decompressed: false,
                        reason: crate::read::StopReason::Truncated,
                    }),
                    ..Default::default()
                },
                half_seen_handshakes: 0,
                collector_records: Vec::new(),
            });
        }
    }
    Ok(vantages)
}

/// Controls named on the command line replace the roles the files tables give.
fn assign_roles<E: std::error::Error>(
    vantages: &mut [VantageTables],
    controls: &[String],
) -> Result<(), JudgeError<E>> {
    if controls.is_empty() {
        return Ok(());
    }
    for name in controls {
        if !vantages.iter().any(|v| &v.name == name) {
            let known: Vec<&str> = vantages.iter().map(|v| v.name.as_str()).collect();
            return Err(JudgeError::UnknownControl { name: name.clone(), known: known.join(", ") });
        }
    }
    for v in vantages.iter_mut().filter(|v| v.role != Role::Server) {
        v.role = if controls.contains(&v.name) { Role::Control } else { Role::Measured };
    }
    Ok(())
}

fn read_hops<E: std::error::Error>(
    datasets: &[Dataset],
    vantages: &mut [VantageTables],
) -> Result<(), JudgeError<E>> {
    for part in datasets.iter().flat_map(|d| &d.hops) {
        part.for_each_row_group(&rows::hop_columns().collect::<Vec<_>>(), |df| {
            for (vantage, row) in rows::hop_rows(&Columns::new(df, &part.path))? {
                if let Some(v) = vantages.iter_mut().find(|v| v.name == vantage) {
                    v.hops.push(row);
                }
            }
            Ok(())
        })?;
    }
    Ok(())
}

/// Connections rows of vantages the files tables do not name: a partitioned part's counted from
/// its metadata, a plain output's from its narrow key columns.
fn strangers<E: std::error::Error>(datasets: &[Dataset], index: &Index) -> Result<u64, JudgeError<E>> {
    let mut count = 0u64;
    for part in datasets.iter().flat_map(|d| &d.connections) {
        match &part.vantage {
            Some(v) if !index.contains_key(v) => count += part.row_groups.iter().sum::<usize>() as u64,
            Some(_) => {}
            None => part.for_each_row_group(rows::CONNECTION_KEY_COLUMNS, |df| {
                let keys = rows::connection_keys(&Columns::new(df, &part.path))?;
                count += keys.iter().filter(|k| !index.contains_key(k.vantage)).count() as u64;
                Ok(())
            })?,
        }
    }
    Ok(count)
}

/// The connections parts that may hold rows of the vantages `wanted` picks (a partitioned
/// part names its vantage; a plain output's one file holds them all).
fn parts<'d>(
    datasets: &'d [Dataset],
    wanted: impl Fn(&str) -> bool + 'd,
) -> impl Iterator<Item = &'d Part> + 'd {
    datasets.iter().flat_map(|d| &d.connections).filter(move |p| p.vantage.as_deref().is_none_or(&wanted))
}

/// The connections rows split by (role, bucket) into files of their own, written in one pass
/// over the datasets that also finds each vantage's own addresses (from all its connections).
/// Each bucket then reads its rows only. Removed when dropped.
struct Spill {
    dir: std::path::PathBuf,
    buckets: usize,
    /// By [`Spill::slot`]; None where no row went.
    parts: Vec<Option<Part>>,
}

/// Rows gathered for a spill file before they are written as a row group: the spill's memory
/// is this times twice the buckets, but smaller row groups made reading much slower
/// (measured: 2,048 rows took three times as long as 16,384).
const SPILL_ROWS: usize = 16_384;

impl Spill {
    fn slot(role: Role, bucket: usize, buckets: usize) -> usize {
        usize::from(role == Role::Measured) * buckets + bucket
    }

    fn write<E: std::error::Error>(
        datasets: &[Dataset],
        vantages: &mut [VantageTables],
        index: &Index,
        buckets: usize,
        scratch: &std::path::Path,
    ) -> Result<Spill, JudgeError<E>> {
        use polars::prelude::*;
        let dir = scratch.join(format!(".judge-buckets-{}", std::process::id()));
        let io = |path: &std::path::Path, error| DatasetError::Io { path: path.to_owned(), error };
        std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
        let mut spill = Spill { dir, buckets, parts: Vec::new() };
        let polars_error = |path: &std::path::Path, e: PolarsError| DatasetError::Parquet {
            path: path.to_owned(),
            error: e.to_string(),
        };
        let slots = 2 * buckets;
        let path_of = |slot: usize| spill.dir.join(format!("slot-{slot}.parquet"));
        let mut writers: Vec<Option<polars::io::parquet::write::BatchedWriter<std::fs::File>>> =
            (0..slots).map(|_| None).collect();
        let mut pending: Vec<Option<DataFrame>> = (0..slots).map(|_| None).collect();
        let flush =
            |slot: usize, df: &mut DataFrame, writers: &mut Vec<Option<_>>| -> Result<(), DatasetError> {
                let path = path_of(slot);
                if writers[slot].is_none() {
                    let file = std::fs::File::create(&path).map_err(|e| io(&path, e))?;
                    let writer = ParquetWriter::new(file)
                        // Snappy: read back once, soon; zstd made a decompression context per page (a sixth of
                        // the time of a bucketed run).
                        .with_compression(ParquetCompression::Snappy)
                        .batched(df.schema())
                        .map_err(|e| polars_error(&path, e))?;
                    writers[slot] = Some(writer);
                }
                df.rechunk_mut();
                let writer: &mut polars::io::parquet::write::BatchedWriter<std::fs::File> =
                    writers[slot].as_mut().expect("made above");
                writer.write_batch(df).map_err(|e| polars_error(&path, e))
            };
        for part in parts(datasets, |name| index.contains_key(name)) {
            part.for_each_row_group(rows::CONNECTION_COLUMNS, |df| {
                let keys = rows::connection_keys(&Columns::new(df, &part.path))?;
                let mut row_slots: Vec<u32> = Vec::with_capacity(keys.len());
                for key in &keys {
                    let slot = match index.get(key.vantage) {
                        Some(&i) if vantages[i].role != Role::Server => {
                            vantages[i].own.connection(key.client, key.server, key.recorded);
                            let bucket = target_bucket(key.server, key.server_port, buckets);
                            Spill::slot(vantages[i].role, bucket, buckets) as u32
                        }
                        _ => u32::MAX,
                    };
                    row_slots.push(slot);
                }
                let mut present: Vec<u32> = row_slots.iter().copied().filter(|&s| s != u32::MAX).collect();
                present.sort_unstable();
                present.dedup();
                for slot in present {
                    let mask: BooleanChunked = row_slots.iter().map(|&s| s == slot).collect();
                    let rows = df.filter(&mask).map_err(|e| polars_error(&part.path, e))?;
                    let slot = slot as usize;
                    let gathered = match pending[slot].take() {
                        Some(mut earlier) => {
                            earlier.vstack_mut(&rows).map_err(|e| polars_error(&part.path, e))?;
                            earlier
                        }
                        None => rows,
                    };
                    if gathered.height() >= SPILL_ROWS {
                        let mut gathered = gathered;
                        flush(slot, &mut gathered, &mut writers)?;
                    } else {
                        pending[slot] = Some(gathered);
                    }
                }
                Ok(())
            })?;
        }
        for (slot, rest) in pending.iter_mut().enumerate() {
            if let Some(mut rest) = rest.take() {
                flush(slot, &mut rest, &mut writers)?;
            }
        }
        for (slot, writer) in writers.into_iter().enumerate() {
            let part = match writer {
                Some(writer) => {
                    let path = path_of(slot);
                    writer.finish().map_err(|e| polars_error(&path, e))?;
                    Some(Part::scratch(path)?)
                }
                None => None,
            };
            spill.parts.push(part);
        }
        Ok(spill)
    }

    fn parts(&self, role: Role, bucket: usize) -> impl Iterator<Item = &Part> {
        self.parts.get(Spill::slot(role, bucket, self.buckets)).and_then(Option::as_ref).into_iter()
    }
}

impl Drop for Spill {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The vantages of `role`, with their connections to the targets of one bucket and the
/// collector's records of those targets.
fn bucket_results<E: std::error::Error>(
    from: &[&Part],
    vantages: &mut [VantageTables],
    index: &Index,
    role: Role,
    (bucket, n): (usize, usize),
    threads: usize,
) -> Result<Vec<VantageResult>, JudgeError<E>> {
    let mut targets: Vec<Option<TargetConnections>> = vantages
        .iter()
        .map(|v| {
            (v.role == role).then(|| {
                if n > 1 {
                    TargetConnections::with_own_addresses(v.own.clone())
                } else {
                    TargetConnections::default()
                }
            })
        })
        .collect();
    // Row groups are decoded on every core, their rows added here in the dataset's order.
    let jobs: Vec<(&Part, usize, Vec<String>)> = from
        .iter()
        .flat_map(|&part| {
            let columns = part.stored(rows::CONNECTION_COLUMNS);
            (0..part.row_groups.len()).map(move |group| (part, group, columns.clone()))
        })
        .collect();
    let roles: Vec<Role> = vantages.iter().map(|v| v.role).collect();
    let decode = |(part, group, columns): &(&Part, usize, Vec<String>)| {
        let df = part.read_row_group(columns, *group)?;
        let keep = |k: &rows::ConnKey<'_>| {
            target_bucket(k.server, k.server_port, n) == bucket
                && index.get(k.vantage).is_some_and(|&i| roles[i] == role)
        };
        let mut decoded: Vec<(usize, ConnRow)> = Vec::with_capacity(df.height());
        // Rows of one vantage come together: its index looked up once a run of them.
        let mut last: Option<(String, Option<usize>)> = None;
        rows::connection_rows(&Columns::new(&df, &part.path), keep, |vantage, row| {
            let i = match &last {
                Some((name, i)) if name == vantage => *i,
                _ => {
                    let i = index.get(vantage).copied();
                    last = Some((vantage.to_string(), i));
                    i
                }
            };
            if let Some(i) = i {
                decoded.push((i, row));
            }
        })?;
        Ok(decoded)
    };
    map_in_order(&jobs, threads, 2 * threads, decode, |decoded| {
        for (i, row) in decoded {
            if let Some(t) = targets[i].as_mut() {
                t.add_row(row);
            }
        }
        Ok::<_, DatasetError>(())
    })?;
    let mut out = Vec::new();
    for (v, t) in vantages.iter_mut().zip(targets) {
        let Some(mut t) = t else { continue };
        t.finish();
        v.connections += t.connections();
        v.tfo_connections += t.tfo_connections();
        v.with_arrival += t.with_arrival() as u64;
        let attempts = v.attempts.iter().filter(|a| attempt_bucket(a, n) == bucket).cloned().collect();
        out.push(VantageResult {
            name: v.name.clone(),
            connections: Vec::new(),
            targets: t,
            hops: if n == 1 { v.hops.clone() } else { Vec::new() },
            report: VantageReport {
                files: v.files.clone(),
                attempts,
                runs: v.runs.clone(),
                ..Default::default()
            },
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_spread_targets_and_are_stable() {
        let n = 8;
        let mut counts = vec![0usize; n];
        for i in 0..8000u32 {
            let ip = IpAddr::from(std::net::Ipv4Addr::from(0xc633_6400 + i));
            counts[target_bucket(ip, 443, n)] += 1;
        }
        assert!(counts.iter().all(|&c| c > 700 && c < 1300), "{counts:?}");
        // Fixed: a dataset judged on two machines puts a target in the same bucket.
        assert_eq!(target_bucket("192.0.2.1".parse().unwrap(), 80, 16), 4);
        assert_eq!(target_bucket("192.0.2.1".parse().unwrap(), 80, 1), 0);
    }
}
