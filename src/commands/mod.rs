//! One module per subcommand: each turns its flags into settings, does the work and decides the
//! exit code.

pub mod audit;
pub mod config_cmd;
pub mod doctor;
pub mod earlier;
pub mod inherit;
pub mod ledger_cmd;
pub mod locks;
pub mod outputs;
pub mod reconcile;
pub mod recorder;
pub mod report;
pub mod resume;
pub mod retry;
pub mod run;
pub mod selection;
pub mod shared;
pub mod shell;
pub mod staged;
pub mod validate;
pub mod verify;
pub mod verify_server;
