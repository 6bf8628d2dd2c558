//! `tollgate serve | check | sign | keygen`, as contract section 1 describes them.
//!
//! `println!`/`eprintln!` here are the commands' output (the signed URL, a key, the one-line
//! reason for a failed start), which the contract fixes; everything else logs via tracing.

use std::path::PathBuf;
use std::process::ExitCode;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clap::{Parser, Subcommand, ValueEnum};
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::token::mint::{MintRequest, mint, parse_ip};
use crate::token::{Keyring, Methods};

#[derive(Parser)]
#[command(
    name = "tollgate",
    version,
    about = "A gateway for expiring, countable, revocable file links"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

const DEFAULT_CONFIG: &str = "config/tollgate.toml";

#[derive(Subcommand)]
enum Command {
    /// Run the gateway until SIGTERM/SIGINT; SIGHUP reloads the config.
    Serve {
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// Validate a config file and list every problem.
    Check {
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// Print one signed URL (works offline).
    Sign(SignArgs),
    /// Print a fresh signing key, or an API key and its sha256.
    Keygen {
        #[arg(long, value_enum)]
        api_key: Option<ApiKeyKind>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum ApiKeyKind {
    Secret,
    Public,
}

#[derive(clap::Args)]
struct SignArgs {
    #[arg(long, default_value = DEFAULT_CONFIG)]
    config: PathBuf,
    /// Raw, unencoded path, e.g. `/files/my report.pdf`.
    #[arg(long)]
    path: String,
    #[arg(long, default_value_t = 3600)]
    expires_in: u64,
    #[arg(long)]
    max_views: Option<u64>,
    /// Comma-separated, e.g. GET,HEAD.
    #[arg(long)]
    methods: Option<String>,
    /// The token covers every path under `--path` (which must end with `/`).
    #[arg(long)]
    prefix: bool,
    /// Unix seconds.
    #[arg(long)]
    not_before: Option<u64>,
    /// Client address or CIDR.
    #[arg(long)]
    ip: Option<String>,
    #[arg(long)]
    download_name: Option<String>,
    /// Extra query parameter K=V, bound by the signature; repeatable.
    #[arg(long = "query", value_name = "K=V")]
    query: Vec<String>,
    #[arg(long)]
    key_id: Option<String>,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config } => serve(config),
        Command::Check { config } => check(config),
        Command::Sign(args) => sign(args),
        Command::Keygen { api_key } => keygen(api_key),
    }
}

fn serve(path: PathBuf) -> ExitCode {
    crate::telemetry::init();
    let config = match Config::load(&path) {
        Ok(c) => c,
        Err(p) => return fail(format!("invalid config `{}`: {p}", path.display())),
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(format!("cannot start the async runtime: {e}")),
    };
    match rt.block_on(crate::server::run(&path, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e.to_string()),
    }
}

fn fail(msg: String) -> ExitCode {
    eprintln!("tollgate: {}", msg.replace('\n', " "));
    ExitCode::FAILURE
}

fn check(path: PathBuf) -> ExitCode {
    let result = Config::load(&path).and_then(|c| crate::runtime::Runtime::tls(&c).map(|_| ()));
    match result {
        Ok(()) => {
            println!("{}: ok", path.display());
            ExitCode::SUCCESS
        }
        Err(problems) => {
            for p in &problems.0 {
                eprintln!("{p}");
            }
            ExitCode::from(1)
        }
    }
}

fn sign(a: SignArgs) -> ExitCode {
    let bad = |m: String| {
        eprintln!("tollgate sign: {m}");
        ExitCode::from(2)
    };
    let config = match Config::load(&a.config) {
        Ok(c) => c,
        Err(p) => return fail(format!("invalid config `{}`: {p}", a.config.display())),
    };
    let mut req = MintRequest::new(a.path);
    req.prefix = a.prefix;
    req.expires_in = a.expires_in;
    req.not_before = a.not_before;
    req.max_views = a.max_views;
    req.download_name = a.download_name;
    req.key_id = a.key_id;
    if let Some(m) = a.methods {
        match Methods::parse_list(&m) {
            Ok(m) => req.methods = m,
            Err(e) => return bad(format!("--methods: {e}")),
        }
    }
    if let Some(ip) = a.ip {
        match parse_ip(&ip) {
            Ok(n) => req.ip = Some(n),
            Err(e) => return bad(format!("--ip: {e}")),
        }
    }
    for q in a.query {
        match q.split_once('=') {
            Some((k, v)) => req.query.push((k.to_owned(), v.to_owned())),
            None => return bad(format!("--query `{q}` must be K=V")),
        }
    }
    let keyring = Keyring::new(&config.keys);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    match mint(&config, &keyring, &req, now) {
        Ok(m) => {
            println!("{}", m.url);
            ExitCode::SUCCESS
        }
        Err(e) => bad(e.to_string()),
    }
}

fn keygen(api_key: Option<ApiKeyKind>) -> ExitCode {
    let mut b = [0u8; 32];
    rand::Rng::fill(&mut rand::rngs::OsRng, &mut b);
    let key = URL_SAFE_NO_PAD.encode(b);
    match api_key {
        None => println!("{key}"),
        Some(kind) => {
            let prefix = match kind {
                ApiKeyKind::Secret => "sk_",
                ApiKeyKind::Public => "pk_",
            };
            let full = format!("{prefix}{key}");
            let digest = Sha256::digest(full.as_bytes());
            let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
            println!("{full}\n{hex}");
        }
    }
    ExitCode::SUCCESS
}
