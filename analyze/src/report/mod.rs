//! `tfoscope report`: one self-contained HTML page of a run, to look at instead of read, to
//! archive or mail: the run (vantages, captures, time span, packets, warnings), the rates a
//! study publishes with their 95 % intervals drawn, every target's verdict with its sentence,
//! and for each target that shows a middlebox the packets of its fetches drawn as a ladder.
//! CSS and SVG inline, no script, no font or image from the network; printable.
//!
//! One job a module: [`input`] reads what a folder holds (an analyze output, a judge output,
//! or a dataset it judges first) into tables; [`page`] writes the page from them; [`svg`]
//! draws the charts.

mod escape;
mod input;
mod page;
mod svg;

pub use input::{load, ReportError, ReportInput};
pub use page::render;
