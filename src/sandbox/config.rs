//! The sandbox's settings: its flags checked, and its two optional input files (accepted users,
//! CN documents customs knows) read once at start, with errors naming the file and line.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};

use super::answer::is_strict_date;
use crate::cli::SandboxArgs;

/// Everything the server needs, ready to use.
#[derive(Debug, Clone)]
pub struct Config {
    /// username → password; always holds `demo` / `demo`.
    pub users: HashMap<String, String>,
    /// nomorAju → the CN document; `None` = every well-formed declaration is known.
    pub documents: Option<HashMap<String, Document>>,
    pub token_ttl: Duration,
    pub refresh_ttl: Duration,
    pub latency: Duration,
    pub fail_rate: f64,
    pub ambiguous_rate: f64,
    pub throttle_rate: f64,
    /// Share of kirim/add requests answered 504 at once and applied `late_commit_delay` later.
    pub late_commit_rate: f64,
    pub late_commit_delay: Duration,
    /// How far get's replica lags behind the store.
    pub stale_read: Duration,
    /// Extra latency of login and update-token.
    pub auth_latency: Duration,
    /// Share of X-ray requests answered with a gateway's HTML 502/504 before the backend.
    pub gateway_error_rate: f64,
    /// Most entries listed in get's `detail`; `None` = all.
    pub detail_limit: Option<usize>,
    pub max_rps: Option<u32>,
    pub max_body_bytes: u64,
    pub state_dir: Option<PathBuf>,
    pub seed: Option<u64>,
    /// Seconds sent in `Retry-After` with every 429.
    pub retry_after_secs: u64,
}

/// One CN document as customs knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub nomor_bl_awb: String,
    pub tanggal_bl_awb: String,
    pub kode_kantor: String,
    pub npwp_pemberitahu: Option<String>,
}

impl Default for Config {
    /// The flags' defaults: demo / demo, every declaration known, no faults.
    fn default() -> Self {
        Config {
            users: default_users(),
            documents: None,
            token_ttl: Duration::from_secs(300),
            refresh_ttl: Duration::from_secs(3600),
            latency: Duration::ZERO,
            fail_rate: 0.0,
            ambiguous_rate: 0.0,
            throttle_rate: 0.0,
            late_commit_rate: 0.0,
            late_commit_delay: Duration::from_millis(2500),
            stale_read: Duration::ZERO,
            auth_latency: Duration::ZERO,
            gateway_error_rate: 0.0,
            detail_limit: None,
            max_rps: None,
            max_body_bytes: 50 * 1024 * 1024,
            state_dir: None,
            seed: None,
            retry_after_secs: 1,
        }
    }
}

impl Config {
    pub fn from_args(args: &SandboxArgs) -> anyhow::Result<Config> {
        for (flag, rate) in [
            ("--fail-rate", args.fail_rate),
            ("--ambiguous-rate", args.ambiguous_rate),
            ("--throttle-rate", args.throttle_rate),
            ("--late-commit-rate", args.late_commit_rate),
            ("--gateway-error-rate", args.gateway_error_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                bail!("{flag} must be between 0 and 1, got {rate}");
            }
        }
        if args.max_rps == Some(0) {
            bail!("--max-rps must be at least 1");
        }
        if args.token_ttl == 0 || args.refresh_ttl == 0 {
            bail!("--token-ttl and --refresh-ttl must be at least 1 second");
        }
        let mut users = default_users();
        if let Some(path) = &args.users {
            users.extend(read_users(path)?);
        }
        let documents = match &args.documents {
            Some(path) => Some(read_documents(path)?),
            None => None,
        };
        Ok(Config {
            users,
            documents,
            token_ttl: Duration::from_secs(args.token_ttl),
            refresh_ttl: Duration::from_secs(args.refresh_ttl),
            latency: Duration::from_millis(args.latency_ms),
            fail_rate: args.fail_rate,
            ambiguous_rate: args.ambiguous_rate,
            throttle_rate: args.throttle_rate,
            late_commit_rate: args.late_commit_rate,
            late_commit_delay: Duration::from_millis(args.late_commit_ms),
            stale_read: Duration::from_millis(args.stale_read_ms),
            auth_latency: Duration::from_millis(args.auth_latency_ms),
            gateway_error_rate: args.gateway_error_rate,
            detail_limit: args.detail_limit,
            max_rps: args.max_rps,
            max_body_bytes: args.max_body_bytes,
            state_dir: args.state_dir.clone(),
            seed: args.seed,
            retry_after_secs: args.retry_after,
        })
    }
}

fn default_users() -> HashMap<String, String> {
    HashMap::from([("demo".to_string(), "demo".to_string())])
}

/// Rows of a headerless-or-headed CSV, trimmed, with their 1-based line numbers. A first row
/// whose first cell is `header` (any case) is a header and skipped.
fn read_rows(path: &Path, header: &str) -> anyhow::Result<Vec<(usize, Vec<String>)>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_path(path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let mut rows = Vec::new();
    for (index, record) in reader.records().enumerate() {
        let line = index + 1;
        let record = record.with_context(|| format!("{} line {line}", path.display()))?;
        let cells: Vec<String> = record.iter().map(str::to_string).collect();
        if cells.iter().all(String::is_empty) {
            continue;
        }
        if line == 1
            && cells[0]
                .trim_start_matches('\u{feff}')
                .eq_ignore_ascii_case(header)
        {
            continue;
        }
        rows.push((line, cells));
    }
    Ok(rows)
}

fn read_users(path: &Path) -> anyhow::Result<HashMap<String, String>> {
    let mut users = HashMap::new();
    for (line, cells) in read_rows(path, "username")? {
        match cells.as_slice() {
            [user, password] if !user.is_empty() && !password.is_empty() => {
                users.insert(user.clone(), password.clone());
            }
            _ => bail!(
                "{} line {line}: expected `username,password`, both non-empty",
                path.display()
            ),
        }
    }
    Ok(users)
}

fn read_documents(path: &Path) -> anyhow::Result<HashMap<String, Document>> {
    let mut documents = HashMap::new();
    for (line, cells) in read_rows(path, "nomorAju")? {
        let at = || format!("{} line {line}", path.display());
        if !(4..=5).contains(&cells.len()) {
            bail!(
                "{}: expected `nomorAju,nomorBlAwb,tanggalBlAwb,kodeKantor[,npwpPemberitahu]`, got {} columns",
                at(),
                cells.len()
            );
        }
        for (name, value) in ["nomorAju", "nomorBlAwb", "tanggalBlAwb", "kodeKantor"]
            .iter()
            .zip(&cells)
        {
            if value.is_empty() {
                bail!("{}: column {name} is empty", at());
            }
        }
        if !is_strict_date(&cells[2]) {
            bail!("{}: tanggalBlAwb {:?} is not yyyy-MM-dd", at(), cells[2]);
        }
        let npwp = cells.get(4).filter(|v| !v.is_empty()).cloned();
        let document = Document {
            nomor_bl_awb: cells[1].clone(),
            tanggal_bl_awb: cells[2].clone(),
            kode_kantor: cells[3].clone(),
            npwp_pemberitahu: npwp,
        };
        if documents.insert(cells[0].clone(), document).is_some() {
            bail!("{}: nomorAju {} is listed twice", at(), cells[0]);
        }
    }
    Ok(documents)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_with_and_without_header() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("docs.csv");
        std::fs::write(
            &path,
            "nomorAju,nomorBlAwb,tanggalBlAwb,kodeKantor,npwpPemberitahu\nA1,B1,2025-09-30,009000,123\nA2,B2,2025-09-30,009000\n",
        )
        .unwrap();
        let docs = read_documents(&path).unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs["A1"].npwp_pemberitahu.as_deref(), Some("123"));
        assert_eq!(docs["A2"].npwp_pemberitahu, None);

        std::fs::write(&path, "A1,B1,2025-9-30,009000\n").unwrap();
        let err = read_documents(&path).unwrap_err().to_string();
        assert!(
            err.contains("line 1") && err.contains("tanggalBlAwb"),
            "{err}"
        );

        std::fs::write(&path, "A1,B1,2025-09-30,009000\nA1,B2,2025-09-30,009000\n").unwrap();
        let err = read_documents(&path).unwrap_err().to_string();
        assert!(err.contains("line 2") && err.contains("twice"), "{err}");
    }

    #[test]
    fn users_add_to_demo() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.csv");
        std::fs::write(&path, "username,password\nops,s3cret\n").unwrap();
        let users = read_users(&path).unwrap();
        assert_eq!(users["ops"], "s3cret");
        std::fs::write(&path, "ops\n").unwrap();
        assert!(
            read_users(&path)
                .unwrap_err()
                .to_string()
                .contains("line 1")
        );
    }
}
