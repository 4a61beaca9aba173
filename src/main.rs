use clap::Parser;

fn main() {
    let cli = kirim_xray::cli::Cli::parse();
    std::process::exit(kirim_xray::run(cli).code());
}
