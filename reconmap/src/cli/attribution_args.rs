//! The options that say whose network a segment lies in (`--asn-db`, `--as-names`) and where
//! the measurement is taken from (`--vantage`), shared by `probe` and `scan`.
use anyhow::{Context as _, Result};
use reconmap_asn::{AsDb, AsNames};
use reconmap_core::report::AsAnnotator;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct AttributionArgs {
    /// Prefix-to-AS table (CAIDA/RouteViews prefix2as: `prefix<TAB>length<TAB>asn`, multi-origin
    /// `_`-joined; gzip too): every record then names the AS of the prober, the target and
    /// each hop, and whose network the segment lies in (`attribution`).
    #[arg(long, value_name = "FILE")]
    pub asn_db: Option<PathBuf>,
    /// AS names for display (CAIDA as2org, or `asn<TAB>name` lines).
    #[arg(long, value_name = "FILE", requires = "asn_db")]
    pub as_names: Option<PathBuf>,
    /// A name for this vantage point (the box, site or uplink), recorded in every record so
    /// that `reconmap report` can compare vantage points.
    #[arg(long, value_name = "NAME")]
    pub vantage: Option<String>,
}

impl AttributionArgs {
    /// Loads the tables, once per run; a malformed line is an error naming it.
    pub fn annotator(&self) -> Result<AsAnnotator> {
        if let Some(name) = &self.vantage {
            if name.is_empty() || name.len() > 128 || name.chars().any(char::is_control) {
                anyhow::bail!("--vantage must be 1-128 characters without control characters");
            }
        }
        let db = match &self.asn_db {
            Some(path) => {
                let db =
                    AsDb::load(path).with_context(|| format!("--asn-db {}", path.display()))?;
                if db.is_empty() {
                    anyhow::bail!("--asn-db {}: no prefixes in the file", path.display());
                }
                Some(db)
            }
            None => None,
        };
        let names = match &self.as_names {
            Some(path) => Some(
                AsNames::load(path).with_context(|| format!("--as-names {}", path.display()))?,
            ),
            None => None,
        };
        Ok(AsAnnotator::new(db, names, self.vantage.clone()))
    }
}
