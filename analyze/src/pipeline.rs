//! The one way in: [`analyze`] reads every vantage (in parallel), hands their connections to a
//! sink or keeps them, then judges the measured vantages against the controls and the
//! expectation file. Policy lives here, not in the command line: controls apart from measured
//! results, rows for the files that failed, no verdicts against an unreadable control.

use std::convert::Infallible;

use crate::expect::Expectations;
use crate::flow::FlowConfig;
use crate::read::ReadOptions;
use crate::record::Connection;
use crate::result::{AnalyzeError, ConnectionSink, Progress, Role, VantageResult, VantageSpec};
use crate::server_view::ServerView;
use crate::table::FileRow;
use crate::vantage::{in_first_syn_order, read_vantage, ServerSide};
use crate::verdict::{judge_all, TargetVerdict};

/// What to analyse: the measured vantages, and the controls (paths known to be clean) whose
/// verdicts set what is expected of each origin.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    pub measured: Vec<VantageSpec>,
    pub controls: Vec<VantageSpec>,
    /// Captures made at the servers (`--server-capture`): what arrived there of the measured
    /// connections. Read first; judged as no vantage of their own.
    pub servers: Vec<VantageSpec>,
}

impl Inputs {
    /// One capture file, its own vantage, no controls.
    pub fn file(name: impl Into<String>, path: impl Into<std::path::PathBuf>) -> Self {
        Inputs {
            measured: vec![VantageSpec { name: name.into(), files: vec![path.into()] }],
            controls: vec![],
            servers: vec![],
        }
    }

    fn count(&self) -> usize {
        self.measured.len() + self.controls.len()
    }

    /// The measured vantages, the controls, and the server captures, each once.
    pub fn all_files(&self) -> impl Iterator<Item = &VantageSpec> {
        self.controls.iter().chain(&self.measured).chain(&self.servers)
    }
}

/// Where the connections go: kept in each [`VantageResult`] (for small inputs and tests), or
/// to a sink as they finish (the table writer), so memory follows the open connections.
pub enum Connections<'a, E> {
    Keep,
    Sink(&'a ConnectionSink<'a, E>),
}

pub struct AnalyzeOptions<'a, E = Infallible> {
    /// The connection builder's limits (open connections tracked, batch size).
    pub flow: FlowConfig,
    pub read: ReadOptions,
    /// Told the bytes of capture files read as the reading goes (compressed bytes for
    /// compressed captures, so the sum ends at the files' sizes).
    pub progress: &'a Progress<'a>,
    /// `--expect`: wins over what the controls say.
    pub expect: Option<&'a Expectations>,
    pub connections: Connections<'a, E>,
    /// How far apart the clocks of the client's and the server's captures may be, for joining
    /// their connections (`--server-clock-skew`).
    pub server_clock_skew_ns: i64,
    /// Judge from the client's captures alone: echoes and server captures unused
    /// (`--client-side-only`), to compare with what a client-side tool can tell.
    pub client_side_only: bool,
}

/// Ten seconds: NTP-synchronised machines are well within it, and the collector's fetches of
/// one target are told apart by order, not by this window.
pub const DEFAULT_SERVER_CLOCK_SKEW_NS: i64 = 10_000_000_000;

impl AnalyzeOptions<'static, Infallible> {
    /// Defaults, the connections kept in the results.
    pub fn in_memory() -> Self {
        AnalyzeOptions {
            flow: FlowConfig::default(),
            read: ReadOptions::default(),
            progress: &|_| {},
            expect: None,
            connections: Connections::Keep,
            server_clock_skew_ns: DEFAULT_SERVER_CLOCK_SKEW_NS,
            client_side_only: false,
        }
    }
}

impl<'a, E> AnalyzeOptions<'a, E> {
    /// Defaults, the connections going to `sink`.
    pub fn to_sink(sink: &'a ConnectionSink<'a, E>) -> Self {
        AnalyzeOptions {
            flow: FlowConfig::default(),
            read: ReadOptions::default(),
            progress: &|_| {},
            expect: None,
            connections: Connections::Sink(sink),
            server_clock_skew_ns: DEFAULT_SERVER_CLOCK_SKEW_NS,
            client_side_only: false,
        }
    }
}

/// A vantage that could not be analysed.
#[derive(Debug)]
pub struct Failed<E: std::error::Error + 'static> {
    pub spec: VantageSpec,
    /// What the vantage was to be: measured, a control, or a capture at the server
    /// (`--server-capture`).
    pub role: Role,
    pub error: AnalyzeError<E>,
}

/// Everything [`analyze`] found.
#[derive(Debug)]
pub struct Analysis<E: std::error::Error + 'static = Infallible> {
    /// In input order, the ones that failed left out.
    pub controls: Vec<VantageResult>,
    pub measured: Vec<VantageResult>,
    /// The server-side captures as read (their connections not kept: they are in the
    /// measured connections' `arrival`).
    pub servers: Vec<VantageResult>,
    pub failed: Vec<Failed<E>>,
    /// Controls' targets first (judged without expectations), then the measured ones'. Empty
    /// when a control could not be read: verdicts against part of the controls would be wrong.
    pub verdicts: Vec<TargetVerdict>,
    /// For the reader of the results (controls that disagree, an unreadable control, ...).
    pub warnings: Vec<String>,
}

impl<E: std::error::Error + 'static> Analysis<E> {
    /// Every vantage read, controls first.
    pub fn vantages(&self) -> impl Iterator<Item = &VantageResult> {
        self.controls.iter().chain(&self.measured)
    }

    /// The files table's rows: each file read, each that could not be, with why.
    pub fn file_rows(&self) -> Vec<FileRow> {
        let read = (self.controls.iter().map(|r| (r, Role::Control)))
            .chain(self.measured.iter().map(|r| (r, Role::Measured)))
            .chain(self.servers.iter().map(|r| (r, Role::Server)))
            .flat_map(|(r, role)| FileRow::of_vantage(r, role));
        let failed = self.failed.iter().flat_map(|f| {
            f.spec.files.iter().map(move |path| FileRow {
                vantage: f.spec.name.clone(),
                role: f.role,
                capture: path.display().to_string(),
                error: Some(f.error.to_string()),
                ..Default::default()
            })
        });
        read.chain(failed).collect()
    }

    /// What went wrong, one line a problem: vantages that failed, and files lost from a
    /// stream of several (the rest of which was analysed).
    pub fn errors(&self) -> Vec<String> {
        let failed = self.failed.iter().map(|f| f.error.to_string());
        let lost = self.vantages().flat_map(|r| &r.report.unreadable).map(|(_, e)| e.clone());
        failed.chain(lost).collect()
    }

    /// Measured connections that have a view from the server (echo or server capture),
    /// counted by their targets' summaries.
    fn measured_joined(&self) -> usize {
        self.measured.iter().map(|r| r.targets.with_arrival()).sum()
    }

    /// A control could not be read, so no target was judged.
    pub fn control_failed(&self) -> bool {
        self.failed.iter().any(|f| f.role == Role::Control)
    }

    /// The one vantage of a one-vantage analysis, or its error.
    pub fn into_single(mut self) -> Result<VantageResult, AnalyzeError<E>> {
        match (self.failed.pop(), self.measured.pop()) {
            (Some(f), _) => Err(f.error),
            (None, Some(r)) => Ok(r),
            (None, None) => panic!("into_single on an analysis of no vantage"),
        }
    }
}

/// The server captures, read whole (their connections are the join's index); those that
/// fail become failures of their own.
fn read_servers<E: std::error::Error + Send + 'static>(
    inputs: &Inputs,
    options: &AnalyzeOptions<'_, E>,
) -> (Vec<VantageResult>, Vec<Failed<E>>) {
    use rayon::prelude::*;
    let results: Vec<(VantageSpec, Result<VantageResult, AnalyzeError<Infallible>>)> = inputs
        .servers
        .par_iter()
        .map(|spec| {
            let mut all = Vec::new();
            let ignored = ServerSide::Ignored;
            let result = read_vantage::<Infallible>(
                spec,
                &options.flow,
                options.read,
                options.progress,
                ignored,
                &mut |_, batch| {
                    all.extend(batch);
                    Ok(())
                },
            )
            .map(|mut r| {
                r.connections = all;
                r
            });
            (spec.clone(), result)
        })
        .collect();
    let mut read = Vec::new();
    let mut failed = Vec::new();
    for (spec, result) in results {
        match result {
            Ok(r) => read.push(r),
            Err(e) => failed.push(Failed {
                spec,
                role: Role::Server,
                error: match e {
                    AnalyzeError::Read(e) => AnalyzeError::Read(e),
                    AnalyzeError::Sink(never) => match never {},
                },
            }),
        }
    }
    (read, failed)
}

/// Analyses every vantage of `inputs` (one a thread, in parallel) and judges their targets.
pub fn analyze<E>(inputs: &Inputs, options: &AnalyzeOptions<'_, E>) -> Analysis<E>
where
    E: std::error::Error + Send + 'static,
{
    use rayon::prelude::*;
    let (servers, server_failures) = read_servers(inputs, options);
    let view = (!inputs.servers.is_empty() && !options.client_side_only).then(|| {
        let connections: Vec<Connection> =
            servers.iter().flat_map(|r| r.connections.iter().cloned()).collect();
        ServerView::new(&connections, options.server_clock_skew_ns)
    });
    let servers: Vec<VantageResult> =
        servers.into_iter().map(|r| VantageResult { connections: Vec::new(), ..r }).collect();
    let server_side =
        if options.client_side_only { ServerSide::Ignored } else { ServerSide::Use(view.as_ref()) };
    let view = view.as_ref();
    let specs: Vec<(&VantageSpec, bool)> =
        inputs.controls.iter().map(|s| (s, true)).chain(inputs.measured.iter().map(|s| (s, false))).collect();
    let read = |spec: &VantageSpec| match &options.connections {
        Connections::Sink(sink) => {
            read_vantage(spec, &options.flow, options.read, options.progress, server_side, &mut |v, batch| {
                sink(v, batch)
            })
        }
        Connections::Keep => {
            let mut all: Vec<Connection> = Vec::new();
            let mut result = read_vantage::<Infallible>(
                spec,
                &options.flow,
                options.read,
                options.progress,
                server_side,
                &mut |_, batch| {
                    all.extend(batch);
                    Ok(())
                },
            )
            .map_err(|e| match e {
                AnalyzeError::Read(e) => AnalyzeError::Read(e),
                AnalyzeError::Sink(never) => match never {},
            })?;
            in_first_syn_order(&mut all);
            result.connections = all;
            Ok(result)
        }
    };
    let results: Vec<Result<VantageResult, AnalyzeError<E>>> =
        specs.par_iter().map(|(spec, _)| read(spec)).collect();
    debug_assert_eq!(results.len(), inputs.count());

    let mut analysis = Analysis {
        controls: vec![],
        measured: vec![],
        servers,
        failed: server_failures,
        verdicts: vec![],
        warnings: vec![],
    };
    for ((spec, control), result) in specs.into_iter().zip(results) {
        match (result, control) {
            (Ok(r), true) => analysis.controls.push(r),
            (Ok(r), false) => analysis.measured.push(r),
            (Err(error), control) => {
                let role = if control { Role::Control } else { Role::Measured };
                analysis.failed.push(Failed { spec: spec.clone(), role, error })
            }
        }
    }
    if let Some(view) = view {
        let joined = analysis.measured_joined();
        if joined == 0 {
            analysis.warnings.push(format!(
                "no measured connection was found in the server captures ({} connections there): other hosts, or clocks more than the --server-clock-skew apart",
                view.len()
            ));
        }
    }
    if analysis.control_failed() {
        analysis.warnings.push(
            "a control capture could not be read: no target judged, verdicts against it would be wrong"
                .into(),
        );
        return analysis;
    }
    let (mut verdicts, warnings) = judge_all(&analysis.measured, &analysis.controls, options.expect);
    let hops =
        analysis.controls.iter().chain(&analysis.measured).map(|v| (v.name.as_str(), v.hops.as_slice()));
    crate::locate::targets::locate_targets(&mut verdicts, hops, &|_, _| true);
    analysis.verdicts = verdicts;
    analysis.warnings.extend(warnings);
    analysis
}

#[cfg(test)]
mod tests {
    #![allow(non_snake_case)]
    use super::*;

    /// Progress counts the bytes taken from each file, compressed ones included, once each:
    /// the sum ends at the files' total size.
    #[test]
    fn progress_ends_at_the_files_size() {
        use std::io::Write;
        use std::sync::atomic::{AtomicU64, Ordering};
        let testdata = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata");
        let dir = std::env::temp_dir().join(format!("tfoscope-progress-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let plain = std::fs::read(testdata.join("syndata_dropped.pcap")).unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&plain).unwrap();
        std::fs::write(dir.join("c.pcap.gz"), gz.finish().unwrap()).unwrap();
        std::fs::write(dir.join("c.pcap.zst"), zstd::encode_all(plain.as_slice(), 3).unwrap()).unwrap();
        let files = [testdata.join("clean_https.pcapng"), dir.join("c.pcap.gz"), dir.join("c.pcap.zst")];
        let inputs = Inputs {
            measured: files
                .iter()
                .map(|f| VantageSpec { name: f.display().to_string(), files: vec![f.clone()] })
                .collect(),
            controls: vec![],
            servers: vec![],
        };
        let read = AtomicU64::new(0);
        let count = |n| {
            read.fetch_add(n, Ordering::Relaxed);
        };
        let sink = |_: &str, _| Ok::<(), std::io::Error>(());
        let options = AnalyzeOptions { progress: &count, ..AnalyzeOptions::to_sink(&sink) };
        let analysis = analyze(&inputs, &options);
        assert!(analysis.failed.is_empty());
        assert!(analysis.measured.iter().all(|r| r.report.frames > 0 && r.connections.is_empty()));
        let total: u64 = files.iter().map(|f| std::fs::metadata(f).unwrap().len()).sum();
        assert_eq!(read.into_inner(), total);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A control that cannot be read stops the judging (its expectations would be missing),
    /// not the reading; its file gets a row with the error.
    #[test]
    fn an_unreadable_control__no_verdicts_and_a_file_row() {
        let testdata = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata");
        let mut inputs = Inputs::file("m", testdata.join("clean_http.pcap"));
        inputs.controls.push(VantageSpec { name: "ctl".into(), files: vec![testdata.join("no-such.pcap")] });
        let analysis = analyze(&inputs, &AnalyzeOptions::in_memory());
        assert!(analysis.control_failed());
        assert_eq!(analysis.measured.len(), 1);
        assert!(!analysis.measured[0].connections.is_empty());
        assert!(analysis.verdicts.is_empty());
        let rows = analysis.file_rows();
        let row = rows.iter().find(|r| r.vantage == "ctl").unwrap();
        assert!(row.error.as_deref().unwrap().contains("cannot open"), "{row:?}");
        assert_eq!(analysis.errors().len(), 1);
        // Readable, the same control lets the target be judged.
        let inputs = Inputs {
            controls: vec![VantageSpec { name: "ctl".into(), files: vec![testdata.join("clean_http.pcap")] }],
            ..Inputs::file("m", testdata.join("clean_http.pcap"))
        };
        let analysis = analyze(&inputs, &AnalyzeOptions::in_memory());
        assert!(!analysis.verdicts.is_empty());
        assert!(analysis.verdicts.iter().any(|v| v.vantage == "m" && v.expected_tfo == Some(true)));
    }
}
