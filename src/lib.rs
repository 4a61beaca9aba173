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
    if prints_only(&cli.command) {
        stop_quietly_on_a_closed_pipe();
    }
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

/// Commands whose whole job is to print (they change nothing, or have written their files before
/// they print). Commands that send, and the sandbox, keep going when nobody reads them, and write
/// their summary without failing on a closed pipe.
fn prints_only(command: &Command) -> bool {
    matches!(
        command,
        Command::Validate(_)
            | Command::Report(_)
            | Command::Verify(_)
            | Command::Audit(_)
            | Command::Ledger(_)
            | Command::Doctor(_)
            | Command::Config(_)
            | Command::Completions(_)
            | Command::Man(_)
    )
}

/// A reader that stops early (`kirim-xray audit | head`) ends the process the way it ends `cat`:
/// by SIGPIPE, without a panic about a broken pipe. (Rust starts programs ignoring SIGPIPE, so
/// every `print!` after the reader left would panic.) Sockets are not affected: the standard
/// library sends with MSG_NOSIGNAL.
fn stop_quietly_on_a_closed_pipe() {
    #[cfg(unix)]
    // SAFETY: setting a signal's disposition to its default, before any other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
