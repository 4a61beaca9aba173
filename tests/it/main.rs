//! The integration tests: one binary, a small harness (`util.rs`), and a file per area. Every test
//! runs the real `kirim-xray` binary in a fresh temporary folder, against a sandbox on an
//! ephemeral loopback port.

mod util;

mod api;
mod audit;
mod by_document;
mod doctor;
mod escaping;
mod evidence;
mod failsafe;
mod faults;
mod hostile;
mod images_root;
mod journal;
mod manifest;
mod not_found;
mod operator;
mod outputs;
mod progress;
mod rerun;
mod run;
mod sandbox;
mod settings;
mod warnings;
