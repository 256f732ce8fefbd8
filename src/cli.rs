//! The command line: `serve` (the default), `user`, `sessions`, `import` and `check-config`, all
//! over the same configuration and the same service as the server.

use std::io::{BufRead as _, IsTerminal as _};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};

use crate::app::{self, App};
use crate::clock::SystemClock;
use crate::config::{AuthType, RawConfig, Settings};
use crate::domain::{Secret, format_timestamp};
use crate::service::ServiceError;
use crate::service::{NewUser, Service};

/// sesame: a session-authentication server.
#[derive(Debug, Parser)]
#[command(
    name = "sesame",
    version,
    about,
    propagate_version = true,
    after_help = AFTER_HELP
)]
pub struct Cli {
    /// The configuration, shared by every command: each flag also reads its environment
    /// variable, listed after each command's own options in `--help`.
    #[command(flatten)]
    pub config: RawConfig,
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What `sesame --help` says after the list of commands and options.
const AFTER_HELP: &str = "Without a command, sesame serves. Every command reads the same \
configuration as the server (a flag wins over its environment variable), so the user and \
sessions commands act on the server's database. sesame <COMMAND> --help lists that \
command's own options first, then this configuration.";

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the API server (the default).
    Serve,
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage sessions kept in the database.
    #[command(subcommand)]
    Sessions(SessionsCommand),
    /// Validate the configuration and reach the stores, then exit.
    CheckConfig,
    /// Import the original system's users and sessions; running it twice changes nothing.
    Import {
        /// The original's directory, holding .db_User.json (and .db_UserSession.json if any).
        #[arg(long)]
        from: PathBuf,
        /// Import the valid records and list the others, instead of refusing the whole import.
        #[arg(long)]
        skip_invalid: bool,
    },
}

/// `sesame user ...`.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user (how the first administrator is made).
    Create {
        /// Email address.
        #[arg(long)]
        email: String,
        /// First name.
        #[arg(long)]
        first_name: Option<String>,
        /// Last name.
        #[arg(long)]
        last_name: Option<String>,
        /// Make the user an administrator.
        #[arg(long)]
        admin: bool,
        /// Read the password from standard input (one line) instead of prompting.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users: id, email, admin, created.
    List,
    /// Delete a user and end their sessions.
    Delete {
        /// Email or id.
        user: String,
    },
    /// Grant (or with --off withdraw) administrator rights.
    SetAdmin {
        /// Email or id.
        user: String,
        /// Withdraw instead of grant.
        #[arg(long)]
        off: bool,
    },
    /// Remove a user's second factors (TOTP, passkeys, recovery codes) and end their sessions,
    /// for a user who lost them.
    ResetMfa {
        /// Email or id.
        user: String,
    },
    /// Set a user's password and end their sessions.
    Passwd {
        /// Email or id.
        user: String,
        /// Read the password from standard input (one line) instead of prompting.
        #[arg(long)]
        password_stdin: bool,
    },
}

/// `sesame sessions ...`.
#[derive(Debug, Subcommand)]
pub enum SessionsCommand {
    /// Delete expired sessions.
    Purge,
    /// End every session of a user.
    Revoke {
        /// Email or id.
        #[arg(long)]
        user: String,
    },
}

/// Runs a parsed command line with validated settings.
pub async fn run(command: Option<Command>, settings: Settings) -> anyhow::Result<()> {
    match command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let running = app::start(
                settings,
                Arc::new(SystemClock),
                Some(Box::pin(app::shutdown_signal())),
            )
            .await?;
            running.wait().await
        }
        Command::CheckConfig => {
            let app = App::build(settings, Arc::new(SystemClock)).await?;
            let users = app.service.count_users().await.map_err(describe)?;
            println!(
                "configuration OK: AUTH_TYPE={}, {} user(s) in the database",
                app.settings.auth_type.as_str(),
                users
            );
            Ok(())
        }
        Command::Import { from, skip_invalid } => {
            crate::import::command(settings, &from, skip_invalid).await
        }
        Command::User(cmd) => {
            let service = offline(settings).await?;
            user(cmd, &service).await
        }
        Command::Sessions(cmd) => {
            let service = offline(settings).await?;
            sessions(cmd, &service).await
        }
    }
}

async fn sessions(cmd: SessionsCommand, service: &Service) -> anyhow::Result<()> {
    match cmd {
        SessionsCommand::Purge => {
            let n = service.purge_expired().await.map_err(describe)?;
            println!("{n} expired session(s) deleted");
        }
        SessionsCommand::Revoke { user } => {
            let u = service
                .find_user(&user)
                .await
                .map_err(|e| not_found(e, &user))?;
            let n = service.revoke_sessions_of(&u.id).await.map_err(describe)?;
            println!("{n} session(s) of {} ended", u.email);
        }
    }
    Ok(())
}

async fn offline(settings: Settings) -> anyhow::Result<Service> {
    if matches!(settings.auth_type, AuthType::Session | AuthType::SessionExp) {
        eprintln!(
            "note: AUTH_TYPE={} keeps sessions in the server's memory, out of this command's reach; \
             it acts on the users and the sessions kept in the database",
            settings.auth_type.as_str()
        );
    }
    App::build(settings, Arc::new(SystemClock))
        .await?
        .offline_service(Arc::new(SystemClock))
}

fn describe(e: ServiceError) -> anyhow::Error {
    anyhow::anyhow!(e.to_string())
}

fn not_found(e: ServiceError, who: &str) -> anyhow::Error {
    match e {
        ServiceError::NotFound => anyhow::anyhow!("no user with id or email {who:?}"),
        other => describe(other),
    }
}

/// Reads a password: one line of standard input, or a prompt on the terminal.
fn read_password(from_stdin: bool) -> anyhow::Result<Secret> {
    let password = if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        line.trim_end_matches(['\n', '\r']).to_owned()
    } else if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ").context("reading the password")?;
        let again =
            rpassword::prompt_password("Password (again): ").context("reading the password")?;
        if first != again {
            bail!("the two passwords differ");
        }
        first
    } else {
        bail!("no terminal to prompt for a password: pass --password-stdin and pipe it in");
    };
    Ok(Secret::new(password))
}

async fn create_user(new: NewUser, service: &Service) -> anyhow::Result<()> {
    let admin = new.is_admin;
    let user = service.create_user(new).await.map_err(describe)?;
    println!(
        "created user {} <{}>{}",
        user.id,
        user.email,
        if admin { " (admin)" } else { "" }
    );
    Ok(())
}

async fn user(cmd: UserCommand, service: &Service) -> anyhow::Result<()> {
    match cmd {
        UserCommand::Create {
            email,
            first_name,
            last_name,
            admin,
            password_stdin,
        } => {
            let password = read_password(password_stdin)?;
            let new = NewUser {
                email,
                password,
                first_name,
                last_name,
                is_admin: admin,
            };
            create_user(new, service).await?;
        }
        UserCommand::List => {
            for u in service.all_users().await.map_err(describe)? {
                let admin = if u.is_admin { "admin" } else { "-" };
                println!(
                    "{}\t{}\t{}\t{}",
                    u.id,
                    u.email,
                    admin,
                    format_timestamp(u.created_at)
                );
            }
        }
        UserCommand::Delete { user } => {
            let u = service
                .find_user(&user)
                .await
                .map_err(|e| not_found(e, &user))?;
            service.delete_user(&u.id).await.map_err(describe)?;
            println!("deleted user {} <{}>", u.id, u.email);
        }
        UserCommand::SetAdmin { user, off } => {
            let u = service
                .find_user(&user)
                .await
                .map_err(|e| not_found(e, &user))?;
            service.set_admin(&u.id, !off).await.map_err(describe)?;
            println!(
                "{} is {}",
                u.email,
                if off {
                    "no longer an administrator"
                } else {
                    "an administrator"
                }
            );
        }
        UserCommand::ResetMfa { user } => reset_mfa(&user, service).await?,
        UserCommand::Passwd {
            user,
            password_stdin,
        } => {
            let u = service
                .find_user(&user)
                .await
                .map_err(|e| not_found(e, &user))?;
            let password = read_password(password_stdin)?;
            let ended = service
                .set_password(&u.id, password)
                .await
                .map_err(describe)?;
            println!("password of {} changed; {ended} session(s) ended", u.email);
        }
    }
    Ok(())
}

/// `sesame user reset-mfa`.
async fn reset_mfa(user: &str, service: &Service) -> anyhow::Result<()> {
    let u = service
        .find_user(user)
        .await
        .map_err(|e| not_found(e, user))?;
    let ended = service.reset_mfa(&u).await.map_err(describe)?;
    println!(
        "second factors of {} removed; {ended} session(s) ended",
        u.email
    );
    Ok(())
}
