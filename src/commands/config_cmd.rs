//! `kirim-xray config`: each setting in force and where it came from (flag, environment, settings
//! file with its path, default), so that "why is the rate 5?" has a one-command answer. Secrets
//! show only whether they are set.

use crate::cli::ConfigArgs;
use crate::config_sources::{self, Layers};
use crate::exit::Exit;

pub fn config(args: ConfigArgs) -> Exit {
    let layers = match Layers::load(&args.api, &args.manifest_args) {
        Ok(layers) => layers,
        Err(e) => {
            crate::eprintln_escaped!("kirim-xray config: {e}");
            return Exit::Usage;
        }
    };
    let settings = match layers.settings() {
        Ok(settings) => settings,
        Err(e) => {
            crate::eprintln_escaped!("kirim-xray config: {e}");
            return Exit::Usage;
        }
    };
    let given = crate::cli::given_on_command_line("config");
    let lookup = |name: &str| std::env::var(name).ok();
    let mut rows = vec![config_sources::config_file_row(
        &layers,
        given.contains("config"),
    )];
    rows.extend(config_sources::table(&layers, &settings, &|id| {
        given.contains(id)
    }));
    rows.extend(config_sources::credential_rows(&lookup));
    print!("{}", config_sources::render(&rows));
    Exit::Ok
}
