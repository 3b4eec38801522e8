//! `knooppunt` — the collective exchange hub of the Dutch mbo sector.

use clap::{Parser, Subcommand};

/// Knooppunt: the mbo sector's exchange hub and core registry.
#[derive(Debug, Parser)]
#[command(name = "knooppunt", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Runs a scripted student journey (memo steps a–f) on the in-memory registry and prints it.
    Demo,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Cmd::Demo => {
            let store = knooppunt_registry::store::MemoryStore::new();
            let report = tokio::runtime::Runtime::new()?.block_on(async {
                let mut out = std::io::stdout().lock();
                knooppunt_registry::demo::run(&store, &mut out).await
            })?;
            anyhow::ensure!(report.all_succeeded(), "demo: some steps were rejected");
            Ok(())
        }
    }
}
