//! Where analyze's time goes, stage by stage, on one capture: reading frames only, reading and
//! decoding, and reading, decoding and building connections. Each stage is run on its own.
//!
//!   tfoscope-phases CAPTURE
//!   tfoscope-phases --judge-columns   (the connections columns judge reads, one a line: the
//!                                      bench reads the same columns with polars to compare)

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use tfoscope_analyze::decode;
use tfoscope_analyze::flow::{FlowTable, PacketRef};
use tfoscope_analyze::read::{read_capture, CaptureEvent};

fn main() -> anyhow::Result<()> {
    let path: PathBuf = std::env::args_os()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("usage: tfoscope-phases CAPTURE | --judge-columns"))?
        .into();
    if path.as_os_str() == "--judge-columns" {
        for column in tfoscope_analyze::dataset::rows::CONNECTION_COLUMNS {
            println!("{}", column.as_str());
        }
        return Ok(());
    }
    let started = Instant::now();
    let mut bytes = 0u64;
    read_capture(&path, |e| {
        if let CaptureEvent::Frame(f) = e {
            bytes += f.data.len() as u64;
        }
        ControlFlow::Continue(())
    })?;
    let read = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let mut tcp = 0u64;
    read_capture(&path, |e| {
        if let CaptureEvent::Frame(f) = e {
            tcp += u64::from(decode::decode(f.linktype, f.data).is_ok());
        }
        ControlFlow::Continue(())
    })?;
    let decoded = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let capture: Arc<str> = Arc::from("x");
    let mut table = FlowTable::default();
    read_capture(&path, |e| {
        if let CaptureEvent::Frame(f) = e {
            if let Ok(p) = decode::decode(f.linktype, f.data) {
                table.push(PacketRef { capture: &capture, frame: f.number, ts_ns: f.ts_ns }, &p);
            }
        }
        ControlFlow::Continue(())
    })?;
    let (connections, _) = table.finish();
    let flowed = started.elapsed().as_secs_f64();
    println!("read {read:.3} s ({bytes} bytes); +decode {decoded:.3} s ({tcp} decoded); +connections {flowed:.3} s ({} connections)", connections.len());

    let started = Instant::now();
    let frame = tfoscope_analyze::table::connections_frame(&[("x", &connections)])?;
    let built = started.elapsed().as_secs_f64();
    let dir = std::env::temp_dir().join(format!("tfoscope-phases-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let started = Instant::now();
    let mut out = tfoscope_analyze::table::TableWriter::create(
        &dir,
        "connections",
        tfoscope_analyze::table::OutputFormat::Parquet,
    )?;
    out.write(&mut frame.clone())?;
    let path = out.finish()?;
    let written = started.elapsed().as_secs_f64();
    println!(
        "connections frame {built:.3} s; Parquet {written:.3} s ({} bytes)",
        std::fs::metadata(&path)?.len()
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
