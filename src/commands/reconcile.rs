//! `kirim-xray reconcile`.

use crate::cli::ReconcileArgs;
use crate::exit::Exit;

pub fn reconcile(args: ReconcileArgs) -> Exit {
    let _ = args;
    eprintln!("kirim-xray reconcile: not built yet");
    Exit::Usage
}
