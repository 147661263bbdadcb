//! `tfoscope serve`: an origin that tells each connection what its SYN looked like when it
//! arrived. Every response is an echo document (schemas/echo.json, [`tfoscope_wire::echo`]):
//! the SYN's headers as the kernel saved them (TCP_SAVE_SYN), the request as received, the
//! certificate served. Built to run for months as a public service: bounded connections,
//! request sizes and time, one log line per connection, clean shutdown on SIGTERM.
//!
//! Stages: [`listener`] (sockets: TFO, saved SYNs, the TFO key, the kernel's checks) →
//! [`syn`] (what the kernel kept of a connection's SYN) → [`request`] (bounded request
//! heads) → [`document`] (the echo) → [`server`] (accepting, limits, TLS, logging); [`cli`],
//! the command line of `tfoscope serve` and of the `tfoscope-serve` binary.

pub mod cli;
pub mod document;
pub mod listener;
pub mod request;
pub mod server;
pub mod syn;
pub mod tls;

pub use server::{serve, ServeConfig, ServeError};
