//! Command-line flags. Only this module knows clap: every command turns its flags into plain
//! settings (see `config.rs`) before doing any work. Flags that may also come from the environment
//! or the config file are `Option`s here, so that `config.rs` can apply the precedence
//! flags > `KIRIM_XRAY_*` environment > `kirim-xray.toml` > defaults.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "kirim-xray",
    version,
    about = "Send X-ray photos of consignment notes to the customs API Kirim Foto X-Ray, and prove what customs holds",
    long_about = None,
    // A wrapper script may set a flag that the operator sets again: the last one wins.
    args_override_self = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate a manifest, upload its photos under the rate limit, verify every row, write a run folder
    Run(RunArgs),
    /// Offline validation report of a manifest (exit 0 all valid, 1 some rows invalid, 2 unreadable)
    Validate(ValidateArgs),
    /// A new run over the rows of RUN_DIR that did not end MATCH, re-read from its manifest
    Retry(RetryArgs),
    /// No uploads: ask customs what it holds for every row and compare with the local folders
    Reconcile(ReconcileArgs),
    /// Rebuild report.html (and the other outputs) of a run folder from its journal
    Report(ReportArgs),
    /// Whether a run folder is as its run left it (run.sha256), and its sent photos too; with
    /// --server, what customs holds now (exit 0 all the same, 1 something differs, 2 not a run
    /// folder or unreadable, 3 the gateway cannot be used)
    Verify(VerifyArgs),
    /// The documents of a period across every run under --out: latest verdict, history, photo
    /// evidence; writes audit.html, audit.csv and audit.xlsx (exit 0 all MATCH, 1 some not, 2 bad
    /// arguments or no readable ledger)
    Audit(AuditArgs),
    /// The ledger (ledger.sqlite under --out), the index of every run folder's journal
    Ledger(LedgerArgs),
    /// Before the first night: settings and their sources, credentials, DNS, TLS, login, token
    /// refresh, a probe get, the clock, the out folder and its locks (exit 0 all well, 2 a local
    /// problem, 3 the gateway cannot be used)
    Doctor(DoctorArgs),
    /// Print each setting in force and where it came from: flag, environment, file or default
    Config(ConfigArgs),
    /// Print shell completions for bash, zsh, fish or powershell
    Completions(CompletionsArgs),
    /// Print the man page (roff), or write one page per command into a folder
    Man(ManArgs),
    /// Serve a local, faithful simulation of the customs API
    #[cfg(feature = "sandbox")]
    Sandbox(SandboxArgs),
}

/// How to read a manifest: shared by every command that reads one.
#[derive(Debug, Clone, Default, Args)]
pub struct ManifestArgs {
    /// Worksheet to read in a spreadsheet manifest (default: the first one)
    #[arg(long, value_name = "NAME")]
    pub sheet: Option<String>,
    /// Folder that the manifest's `folder` column is relative to (default: the manifest's folder)
    #[arg(long, value_name = "DIR", env = "KIRIM_XRAY_IMAGES_ROOT")]
    pub images_root: Option<PathBuf>,
    /// Largest accepted image file, in bytes (default 10 MiB)
    #[arg(long, value_name = "BYTES", env = "KIRIM_XRAY_MAX_IMAGE_BYTES")]
    pub max_image_bytes: Option<u64>,
    /// Accept folders and photo links that resolve outside the images root
    #[arg(long)]
    pub allow_outside_root: bool,
}

/// Everything needed to talk to the API: shared by run, retry and reconcile.
#[derive(Debug, Clone, Default, Args)]
pub struct ApiArgs {
    /// Settings file (default: ./kirim-xray.toml when it exists)
    #[arg(long, value_name = "FILE", env = "KIRIM_XRAY_CONFIG")]
    pub config: Option<PathBuf>,
    /// Base URL of the X-ray API (default https://apisdev-gw.beacukai.go.id/openapi/cnpibk)
    #[arg(long, value_name = "URL", env = "KIRIM_XRAY_API_URL")]
    pub api_url: Option<String>,
    /// Base URL of the login service (default https://apisdev-gw.beacukai.go.id)
    #[arg(long, value_name = "URL", env = "KIRIM_XRAY_AUTH_URL")]
    pub auth_url: Option<String>,
    /// API requests per second, over all workers (default 5)
    #[arg(long, value_name = "N", env = "KIRIM_XRAY_RATE")]
    pub rate: Option<f64>,
    /// Requests that may go out at once after an idle moment (default 1)
    #[arg(long, value_name = "N", env = "KIRIM_XRAY_BURST")]
    pub burst: Option<u32>,
    /// Worker threads (default 4)
    #[arg(long, value_name = "N", env = "KIRIM_XRAY_CONCURRENCY")]
    pub concurrency: Option<usize>,
    /// Retries of one request after an ambiguous answer or a 429 (default 5)
    #[arg(long, value_name = "N", env = "KIRIM_XRAY_RETRIES")]
    pub retries: Option<u32>,
    /// Timeout of one request, in seconds (default 60)
    #[arg(long, value_name = "SECONDS", env = "KIRIM_XRAY_TIMEOUT")]
    pub timeout: Option<f64>,
    /// After an unclear answer, seconds to wait before asking the server what it stored; a photo
    /// is sent again only when two gets this far apart both lack it (default 10)
    #[arg(long, value_name = "SECONDS", env = "KIRIM_XRAY_SETTLE")]
    pub settle: Option<f64>,
    /// Seconds after customs answered "BL/AWB not found" for a document during which `run` asks
    /// about it with get only, sending no photos; 0 asks with the photos every time; `retry`
    /// always asks with the photos (default 3600)
    #[arg(long, value_name = "SECONDS", env = "KIRIM_XRAY_RECHECK_NOT_FOUND")]
    pub recheck_not_found: Option<f64>,
    /// Folder that receives the run folders (default ./runs)
    #[arg(long, value_name = "DIR", env = "KIRIM_XRAY_OUT")]
    pub out: Option<PathBuf>,
    /// Most images in one request (default 10)
    #[arg(long, value_name = "N", env = "KIRIM_XRAY_MAX_IMAGES_PER_REQUEST")]
    pub max_images_per_request: Option<usize>,
    /// Most image bytes in one request (default 20 MiB)
    #[arg(long, value_name = "BYTES", env = "KIRIM_XRAY_MAX_REQUEST_BYTES")]
    pub max_request_bytes: Option<u64>,
    /// Allow plain http:// to hosts other than loopback
    #[arg(long)]
    pub allow_http: bool,
    /// Extra CA certificate (PEM) to trust, for a private gateway
    #[arg(long, value_name = "FILE", env = "KIRIM_XRAY_CA_CERT")]
    pub ca_cert: Option<PathBuf>,
    /// Log level for run.log and stderr (error, warn, info, debug, trace; default info)
    #[arg(long, value_name = "LEVEL", env = "KIRIM_XRAY_LOG")]
    pub log_level: Option<String>,
    /// Print only the summary, no progress lines
    #[arg(long, short)]
    pub quiet: bool,
    /// Progress on stderr: a live bar, one line per row, or none (auto: the bar on a terminal,
    /// lines otherwise)
    #[arg(long, value_name = "auto|bar|lines|none", env = "KIRIM_XRAY_PROGRESS")]
    pub progress: Option<String>,
    /// Lines of stderr and run.log: text for people, or one JSON object per line (text, json)
    #[arg(long, value_name = "text|json", env = "KIRIM_XRAY_LOG_FORMAT")]
    pub log_format: Option<String>,
    /// Host-wide folder of the per-account locks (default: kirim-xray-locks in the temp folder)
    #[arg(long, value_name = "DIR", env = "KIRIM_XRAY_LOCK_DIR")]
    pub lock_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The manifest: CSV, XLSX, XLSM, XLS or ODS (not needed with --resume)
    #[arg(value_name = "MANIFEST", required_unless_present = "resume")]
    pub manifest: Option<PathBuf>,
    /// Validate and print the plan (rows, photos, bytes, requests, time at the rate); send nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Continue an interrupted run in its own folder, skipping rows its journal finished
    #[arg(long, value_name = "RUN_DIR", conflicts_with = "dry_run")]
    pub resume: Option<PathBuf>,
    /// With --resume: accept a manifest that changed since the run started
    #[arg(long, requires = "resume")]
    pub force: bool,
    /// Only these manifest rows, as spreadsheet row numbers: 5-9,12. Not with --resume: a resumed
    /// run goes on over the rows it started with
    #[arg(long, value_name = "LIST", conflicts_with = "resume")]
    pub rows: Option<String>,
    #[command(flatten)]
    pub manifest_args: ManifestArgs,
    #[command(flatten)]
    pub api: ApiArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The manifest: CSV, XLSX, XLSM, XLS or ODS
    #[arg(value_name = "MANIFEST")]
    pub manifest: PathBuf,
    /// Output format
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    /// Settings file (default: ./kirim-xray.toml when it exists), read as `run` reads it
    #[arg(long, value_name = "FILE", env = "KIRIM_XRAY_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub manifest_args: ManifestArgs,
}

#[derive(Debug, Args)]
pub struct RetryArgs {
    /// A run folder written by `run`, `retry` or `reconcile`
    #[arg(value_name = "RUN_DIR")]
    pub run_dir: PathBuf,
    /// Only rows that ended with these statuses (default: every status but MATCH)
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub status: Vec<String>,
    #[command(flatten)]
    pub manifest_args: ManifestArgs,
    #[command(flatten)]
    pub api: ApiArgs,
}

#[derive(Debug, Args)]
pub struct ReconcileArgs {
    /// The manifest: CSV, XLSX, XLSM, XLS or ODS
    #[arg(value_name = "MANIFEST")]
    pub manifest: PathBuf,
    /// Only these manifest rows, as spreadsheet row numbers: 5-9,12
    #[arg(long, value_name = "LIST")]
    pub rows: Option<String>,
    #[command(flatten)]
    pub manifest_args: ManifestArgs,
    #[command(flatten)]
    pub api: ApiArgs,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A run folder
    #[arg(value_name = "RUN_DIR")]
    pub run_dir: PathBuf,
}

/// Which output folder (and so which ledger) a command reads.
#[derive(Debug, Clone, Default, Args)]
pub struct OutArgs {
    /// Settings file (default: ./kirim-xray.toml when it exists), read for its `out`
    #[arg(long, value_name = "FILE", env = "KIRIM_XRAY_CONFIG")]
    pub config: Option<PathBuf>,
    /// Folder holding the run folders and ledger.sqlite (default ./runs)
    #[arg(long, value_name = "DIR", env = "KIRIM_XRAY_OUT")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuditBy {
    /// The documents' tanggalBlAwb
    Bl,
    /// The day (UTC) the runs that touched the documents started
    Run,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// First day of the period, yyyy-mm-dd (inclusive)
    #[arg(long, value_name = "DATE")]
    pub from: Option<String>,
    /// Last day of the period, yyyy-mm-dd (inclusive)
    #[arg(long, value_name = "DATE")]
    pub to: Option<String>,
    /// What --from/--to are compared with
    #[arg(long, value_enum, default_value_t = AuditBy::Bl)]
    pub by: AuditBy,
    /// Only documents whose latest verdict is one of these (NOT_MATCH: every status but MATCH)
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub status: Vec<String>,
    /// Only documents of this customs office
    #[arg(long = "kodeKantor", alias = "kode-kantor", value_name = "CODE")]
    pub kode_kantor: Option<String>,
    /// One document: print its full story (no files unless --out-dir is given)
    #[arg(long, value_name = "NOMOR_AJU")]
    pub aju: Option<String>,
    /// Folder for audit.html, audit.csv and audit.xlsx (default ./audit-<UTC time>)
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
    #[command(flatten)]
    pub out: OutArgs,
}

#[derive(Debug, Args)]
pub struct LedgerArgs {
    #[command(subcommand)]
    pub action: LedgerAction,
}

#[derive(Debug, Subcommand)]
pub enum LedgerAction {
    /// Recreate ledger.sqlite from every run folder's journal (takes the --out lock)
    Rebuild(OutArgs),
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// A run folder written by `run`, `retry`, `reconcile` or `report`
    #[arg(value_name = "RUN_DIR")]
    pub run_dir: PathBuf,
    /// Folder the run's photo folders are relative to, when the photos moved since (default: the
    /// run's own images root)
    #[arg(long, value_name = "DIR")]
    pub images_root: Option<PathBuf>,
    /// Also ask customs, with get only and under the rate limit, what it holds now for each
    /// document of the run, and compare with what the run saw
    #[arg(long)]
    pub server: bool,
    #[command(flatten)]
    pub api: ApiArgs,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Also validate this manifest and print its plan (nothing is sent for it)
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,
    #[command(flatten)]
    pub manifest_args: ManifestArgs,
    #[command(flatten)]
    pub api: ApiArgs,
}

#[derive(Debug, Args)]
pub struct ConfigArgs {
    #[command(flatten)]
    pub manifest_args: ManifestArgs,
    #[command(flatten)]
    pub api: ApiArgs,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to print completions for
    #[arg(value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write kirim-xray.1 and one kirim-xray-COMMAND.1 per command into DIR instead of printing
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[cfg(feature = "sandbox")]
#[derive(Debug, Clone, Args)]
pub struct SandboxArgs {
    /// Address to listen on; port 0 picks a free port
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub bind: std::net::SocketAddr,
    /// CSV `username,password` of users accepted besides demo / demo
    #[arg(long, value_name = "FILE")]
    pub users: Option<PathBuf>,
    /// CSV `nomorAju,nomorBlAwb,tanggalBlAwb,kodeKantor[,npwpPemberitahu]` of the CN documents
    /// customs knows (default: every well-formed declaration is known)
    #[arg(long, value_name = "FILE")]
    pub documents: Option<PathBuf>,
    /// Lifetime of an access token, in seconds
    #[arg(long, default_value_t = 300, value_name = "SECONDS")]
    pub token_ttl: u64,
    /// Lifetime of a refresh token, in seconds
    #[arg(long, default_value_t = 3600, value_name = "SECONDS")]
    pub refresh_ttl: u64,
    /// Delay added to every API answer, in milliseconds
    #[arg(long, default_value_t = 0, value_name = "MS")]
    pub latency_ms: u64,
    /// Share of X-ray API requests (kirim, add, get) answered 503 before anything is done
    #[arg(long, default_value_t = 0.0, value_name = "P")]
    pub fail_rate: f64,
    /// Share of kirim/add requests that are fully processed (stored), then answered 503
    #[arg(long, default_value_t = 0.0, value_name = "P")]
    pub ambiguous_rate: f64,
    /// Share of X-ray API requests answered 429 with Retry-After
    #[arg(long, default_value_t = 0.0, value_name = "P")]
    pub throttle_rate: f64,
    /// Share of kirim/add requests answered at once with a gateway's HTML 504 and stored later
    #[arg(long, default_value_t = 0.0, value_name = "P")]
    pub late_commit_rate: f64,
    /// How long after its 504 a late-committed upload is applied, in milliseconds
    #[arg(long, default_value_t = 2500, value_name = "MS")]
    pub late_commit_ms: u64,
    /// get reads a replica that shows a photo (and a new record) only MS after it was stored
    #[arg(long, default_value_t = 0, value_name = "MS")]
    pub stale_read_ms: u64,
    /// Extra delay on login and update-token only, in milliseconds
    #[arg(long, default_value_t = 0, value_name = "MS")]
    pub auth_latency_ms: u64,
    /// Share of X-ray API requests answered with a gateway's HTML 502 or 504, nothing done
    #[arg(long, default_value_t = 0.0, value_name = "P")]
    pub gateway_error_rate: f64,
    /// get lists at most N photos in `detail` (totalFotoTerupload still counts all)
    #[arg(long, value_name = "N")]
    pub detail_limit: Option<usize>,
    /// Answer 429 with Retry-After when N API requests (login and update-token included) were let
    /// through in the last second
    #[arg(long, value_name = "N")]
    pub max_rps: Option<u32>,
    /// Largest accepted request body, in bytes (413 above it)
    #[arg(long, default_value_t = 50 * 1024 * 1024, value_name = "BYTES")]
    pub max_body_bytes: u64,
    /// Keep records and photos in this folder, so that they survive a restart
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Seed of the fault generator, for reproducible faults
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Do not serve: print what the sandbox running at URL holds (records, photos held, photos
    /// held twice, image bytes received) as `key=value` lines, and exit
    #[arg(long, value_name = "URL")]
    pub summary: Option<String>,
    /// Seconds sent in the Retry-After header of every 429
    #[arg(long, default_value_t = 1, value_name = "SECONDS")]
    pub retry_after: u64,
}

/// The ids of the arguments of `subcommand` that this process's own command line gave (not the
/// environment, not a default), e.g. `rate` for `--rate 2`: for `config` and `doctor`, which say
/// where each setting came from. Empty when the command line is not that subcommand's.
pub fn given_on_command_line(subcommand: &str) -> std::collections::BTreeSet<String> {
    use clap::CommandFactory;
    use clap::parser::ValueSource;
    let Ok(matches) = Cli::command().try_get_matches_from(std::env::args_os()) else {
        return Default::default();
    };
    let Some(sub) = matches.subcommand_matches(subcommand) else {
        return Default::default();
    };
    sub.ids()
        .filter(|id| sub.value_source(id.as_str()) == Some(ValueSource::CommandLine))
        .map(|id| id.as_str().to_string())
        .collect()
}

/// Shell completions, generated from the same definitions as the parser.
pub fn write_completions(shell: clap_complete::Shell, out: &mut dyn std::io::Write) {
    use clap::CommandFactory;
    clap_complete::generate(shell, &mut Cli::command(), "kirim-xray", out);
}

/// The man page of the whole tool (roff), generated from the same definitions as the parser.
pub fn write_man_page(out: &mut dyn std::io::Write) -> std::io::Result<()> {
    use clap::CommandFactory;
    clap_mangen::Man::new(Cli::command()).render(out)
}

/// `kirim-xray.1` and one `kirim-xray-COMMAND.1` per command, written into `dir`.
pub fn write_man_pages(dir: &std::path::Path) -> std::io::Result<()> {
    use clap::CommandFactory;
    std::fs::create_dir_all(dir)?;
    clap_mangen::generate_to(Cli::command(), dir)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        // clap checks names, conflicts and requirements of every subcommand here, not only for
        // the arguments a test happens to pass.
        super::Cli::command().debug_assert();
    }
}
