//! `kirim-xray run`.

use crate::cli::RunArgs;
use crate::exit::Exit;

pub fn run(args: RunArgs) -> Exit {
    let _ = args;
    eprintln!("kirim-xray run: not built yet");
    Exit::Usage
}
