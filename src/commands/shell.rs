//! `kirim-xray completions SHELL` and `kirim-xray man`: shell completions and man pages made from
//! the same clap definitions as the parser, so they never fall behind the flags.

use std::io::Write;

use crate::cli::{CompletionsArgs, ManArgs};
use crate::exit::Exit;

pub fn completions(args: CompletionsArgs) -> Exit {
    let mut out = std::io::stdout().lock();
    crate::cli::write_completions(args.shell, &mut out);
    match out.flush() {
        Ok(()) => Exit::Ok,
        Err(e) => {
            crate::eprintln_escaped!("kirim-xray completions: cannot write: {e}");
            Exit::Usage
        }
    }
}

pub fn man(args: ManArgs) -> Exit {
    let written = match &args.dir {
        Some(dir) => {
            crate::cli::write_man_pages(dir).map_err(|e| format!("{}: {e}", dir.display()))
        }
        None => {
            let mut out = std::io::stdout().lock();
            crate::cli::write_man_page(&mut out)
                .and_then(|()| out.flush())
                .map_err(|e| format!("cannot write: {e}"))
        }
    };
    match written {
        Ok(()) => Exit::Ok,
        Err(e) => {
            crate::eprintln_escaped!("kirim-xray man: {e}");
            Exit::Usage
        }
    }
}
