//! A local, faithful simulation of the customs X-ray API (DESIGN "The sandbox"). It is the demo's
//! server and what every test talks to, over loopback.

use crate::cli::SandboxArgs;

/// `kirim-xray sandbox`: serve until SIGINT/SIGTERM.
pub fn main(args: &SandboxArgs) -> anyhow::Result<()> {
    let _ = args;
    anyhow::bail!("the sandbox is not built yet")
}
