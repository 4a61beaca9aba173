//! kirim-xray: sends the X-ray photos of consignment notes to the customs API "Kirim Foto X-Ray",
//! then proves, row by row, what customs holds. `main.rs` only parses flags and calls [`run`].

pub mod api;
pub mod audit;
pub mod cli;
pub mod commands;
pub mod config;
pub mod config_sources;
pub mod escape;
pub mod exit;
#[cfg(test)]
mod fuzz;
pub mod halt;
pub mod history;
pub mod ledger;
pub mod logging;
pub mod manifest;
pub mod model;
pub mod pipeline;
pub mod positional;
pub mod progress;
pub mod report;
pub mod runfolder;
#[cfg(feature = "sandbox")]
pub mod sandbox;
pub mod sync;
pub mod validate;
pub mod xlsx;

use cli::{Cli, Command};
use exit::Exit;

/// Run one command to its end and say how it ended.
pub fn run(cli: Cli) -> Exit {
    match cli.command {
        Command::Run(args) => match args.resume.clone() {
            Some(run_dir) => commands::resume::resume(args, &run_dir),
            None => commands::run::run(args),
        },
        Command::Validate(args) => commands::validate::validate(args),
        Command::Retry(args) => commands::retry::retry(args),
        Command::Reconcile(args) => commands::reconcile::reconcile(args),
        Command::Report(args) => commands::report::report(args),
        Command::Verify(args) => commands::verify::verify(args),
        Command::Audit(args) => commands::audit::audit(args),
        Command::Ledger(args) => commands::ledger_cmd::ledger(args),
        Command::Doctor(args) => commands::doctor::doctor(args),
        Command::Config(args) => commands::config_cmd::config(args),
        Command::Completions(args) => commands::shell::completions(args),
        Command::Man(args) => commands::shell::man(args),
        #[cfg(feature = "sandbox")]
        Command::Sandbox(args) => match sandbox::main(&args) {
            Ok(()) => Exit::Ok,
            Err(err) => {
                eprintln_escaped!("kirim-xray sandbox: {err:#}");
                Exit::Usage
            }
        },
    }
}
