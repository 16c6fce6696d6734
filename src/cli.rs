//! The command line (clap derive): flags are defined once here; help,
//! completions and the man page come from these definitions.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Builds the "Kubernetes from the ground up" cluster on AWS from editable
/// Rhai runbooks: safely, repeatably and fast.
#[derive(Debug, Parser)]
#[command(
    name = "groundup",
    version,
    about,
    after_help = "Examples:\n  groundup --plan up                                   # what would be made, no AWS needed\n  groundup run runbooks/network.rhai --endpoint http://127.0.0.1:5000\n  groundup --set workers=5 --set instance_type=t3.small up\n  groundup repl\n\nExit codes: 0 ok, 1 usage or setting error, 2 script, AWS or state failure, 130 interrupted."
)]
pub struct Cli {
    /// Global options.
    #[command(flatten)]
    pub global: Global,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args, Clone)]
pub struct Global {
    /// The cluster's name: selects its state and the tags of its resources.
    #[arg(long, global = true, value_name = "NAME")]
    pub cluster: Option<String>,
    /// AWS region [default: AWS_REGION / the profile, else the `region` setting].
    #[arg(long, global = true, value_name = "REGION")]
    pub region: Option<String>,
    /// Send AWS calls to this endpoint (a local emulator such as moto).
    #[arg(long, global = true, env = "AWS_ENDPOINT_URL", value_name = "URL")]
    pub endpoint: Option<String>,
    /// Where state, keys and certificates are kept.
    #[arg(long, global = true, value_name = "DIR", default_value = ".groundup")]
    pub state_dir: PathBuf,
    /// Override a cluster setting (repeatable), e.g. --set workers=5.
    #[arg(long = "set", global = true, value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Make no AWS changes: print every operation that would be made.
    #[arg(long, global = true)]
    pub plan: bool,
    /// More detail on stderr.
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// Print data as JSON on stdout (progress lines are suppressed).
    #[arg(long, global = true)]
    pub json: bool,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run one or more runbooks in order, sharing state.
    #[command(
        after_help = "Examples:\n  groundup run runbooks/network.rhai runbooks/compute.rhai\n  groundup run network            # ./runbooks/network.rhai, else the built-in copy\n  groundup --plan run network     # show the AWS calls, make none"
    )]
    Run {
        /// Runbook files, or names of shipped runbooks (network, compute, pki, …).
        #[arg(required = true, value_name = "RUNBOOK")]
        runbooks: Vec<String>,
    },
    /// Build the whole cluster: every step runbook in lesson order (setting `steps`).
    #[command(
        after_help = "Examples:\n  groundup up\n  groundup --plan up\n  groundup --set steps=network,compute up"
    )]
    Up,
    /// Delete every resource of the cluster (runbooks/teardown.rhai).
    #[command(after_help = "Examples:\n  groundup down --yes\n  groundup --plan down")]
    Down {
        /// Do not ask for confirmation.
        #[arg(long, short = 'y')]
        yes: bool,
        /// Also delete local files (SSH key, PKI, state).
        #[arg(long)]
        purge: bool,
    },
    /// Show what state says exists; --refresh compares it with AWS.
    #[command(after_help = "Examples:\n  groundup status\n  groundup status --refresh --json")]
    Status {
        /// Compare state with AWS and report drift.
        #[arg(long)]
        refresh: bool,
    },
    /// Explore interactively: host functions, settings and state in a REPL.
    #[command(
        after_help = "Examples:\n  groundup repl\n  echo 'cidr::host(\"172.31.0.0/24\", 10)' | groundup repl"
    )]
    Repl,
    /// List every host function with its signature and documentation.
    #[command(
        after_help = "Examples:\n  groundup fns\n  groundup fns ec2\n  groundup fns --json\n  groundup fns --markdown > docs/api.md"
    )]
    Fns {
        /// Only this namespace (ec2, elb, cidr, pki, state).
        namespace: Option<String>,
        /// Write a `.d.rhai` definitions file for the Rhai language server into DIR.
        #[arg(long, value_name = "DIR")]
        definitions: Option<PathBuf>,
        /// Print the reference as Markdown (what docs/api.md is made of).
        #[arg(long, conflicts_with = "definitions")]
        markdown: bool,
    },
    /// List every cluster setting with its value, origin and documentation.
    #[command(
        after_help = "Examples:\n  groundup settings\n  groundup --set workers=5 settings --json\n  groundup settings --markdown    # the README's settings reference"
    )]
    Settings {
        /// Print the settings file's defaults as a Markdown table.
        #[arg(long)]
        markdown: bool,
    },
    /// The cluster's certificates, kubeconfigs and encryption config (made by runbooks/pki.rhai).
    #[command(
        after_help = "Examples:\n  groundup pki check\n  groundup pki check --json\n  groundup --cluster demo --set kubernetes_public_address=k8s.example.test pki check\n\nRotating on purpose (never done implicitly): delete <stem>.pem and <stem>-key.pem\nunder <state-dir>/<cluster>/pki/ and re-run `groundup run pki` to re-issue one\ncertificate; move ca.pem and ca-key.pem away to make a new CA (every certificate\nand kubeconfig is then re-issued and must reach every node); move\nencryption-config.yaml away for a new encryption key (re-write existing Secrets\nwith both keys configured first, or they become unreadable)."
    )]
    Pki {
        /// What to do with the PKI.
        #[command(subcommand)]
        command: PkiCommand,
    },
    /// Compile every runbook and stdlib module (no AWS): a syntax check.
    #[command(after_help = "Examples:\n  groundup check\n  groundup check runbooks/my-step.rhai")]
    Check {
        /// Files to check [default: every runbook and stdlib module].
        files: Vec<PathBuf>,
    },
    /// Write editable copies of every runbook and stdlib module, with a
    /// short README, into DIR (never overwriting without --force).
    #[command(
        after_help = "Examples:\n  groundup init my-cluster && cd my-cluster   # then edit stdlib/cluster.rhai\n  groundup init                               # into the current directory\n  groundup init --force                       # reset the copies to the built-in versions"
    )]
    Init {
        /// The project directory to write into (created if missing).
        #[arg(value_name = "DIR", default_value = ".")]
        dir: PathBuf,
        /// Overwrite files that already exist.
        #[arg(long)]
        force: bool,
    },
    /// List the runbooks and stdlib modules available, and where each comes
    /// from (the project's copy or the built-in one).
    #[command(after_help = "Examples:\n  groundup runbooks\n  groundup runbooks --json")]
    Runbooks,
    /// Check that this machine is ready and explain what is not: settings,
    /// runbooks, state dir, credentials, endpoint, region, identity, quotas.
    #[command(
        after_help = "Examples:\n  groundup doctor\n  groundup --endpoint http://127.0.0.1:5000 doctor\n  groundup doctor --json\n\nExits 0 when every check passes (warnings allowed), else 1 (settings) or 2."
    )]
    Doctor,
    /// Log in to a node by name (master-0, worker-2), or run one command on
    /// it, with the cluster's key, user (ssh_user), address (ssh_address) and
    /// known_hosts.
    #[command(
        after_help = "Examples:\n  groundup ssh master-0                       # a login shell (OpenSSH's client)\n  groundup ssh master-0 -- hostname           # one command; its exit code is groundup's\n  groundup ssh worker-1 -- sudo ls -l /var/lib/kubelet\n  groundup ssh master-0 --forget              # after a node was reinstalled: forget its host key"
    )]
    Ssh {
        /// The node's name, as in `groundup status`.
        #[arg(value_name = "NODE")]
        node: String,
        /// The command to run instead of a login (after `--`).
        #[arg(last = true, value_name = "COMMAND")]
        command: Vec<String>,
        /// Forget the node's recorded host key(s); the next connection records anew.
        #[arg(long)]
        forget: bool,
    },
    /// Print a shell completion script.
    #[command(
        after_help = "Examples:\n  groundup completions bash > ~/.local/share/bash-completion/completions/groundup\n  groundup completions zsh > ~/.zfunc/_groundup\n  groundup completions fish > ~/.config/fish/completions/groundup.fish"
    )]
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::aot::Shell,
    },
    /// Print the man page (roff).
    #[command(
        after_help = "Examples:\n  groundup man > ~/.local/share/man/man1/groundup.1\n  groundup man | man -l -"
    )]
    Man,
}

/// `groundup pki` subcommands.
#[derive(Debug, Subcommand)]
pub enum PkiCommand {
    /// Audit every certificate (subject, SANs, expiry, key, chain to the CA)
    /// and cross-check the API server's SANs, the kubelets' nodes, cluster_dns
    /// and the encryption key; exits 2 when anything fails.
    #[command(
        after_help = "Examples:\n  groundup pki check\n  groundup pki check --json | jq '.problems'\n  groundup --set kubernetes_public_address=k8s.example.test pki check   # offline"
    )]
    Check,
}
