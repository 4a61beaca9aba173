//! `kirim-xray report`.

use crate::cli::ReportArgs;
use crate::exit::Exit;

pub fn report(args: ReportArgs) -> Exit {
    let _ = args;
    eprintln!("kirim-xray report: not built yet");
    Exit::Usage
}
