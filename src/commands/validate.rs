//! `kirim-xray validate`.

use crate::cli::ValidateArgs;
use crate::exit::Exit;

pub fn validate(args: ValidateArgs) -> Exit {
    let _ = args;
    eprintln!("kirim-xray validate: not built yet");
    Exit::Usage
}
