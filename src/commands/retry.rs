//! `kirim-xray retry`.

use crate::cli::RetryArgs;
use crate::exit::Exit;

pub fn retry(args: RetryArgs) -> Exit {
    let _ = args;
    eprintln!("kirim-xray retry: not built yet");
    Exit::Usage
}
