//! `superset config`: which assistant replies, and its API keys.

use std::io::BufRead;

use anyhow::Context;
use superset_client::assistant::settings::{ApiKey, ApiKeys, KeyPlace};
use superset_client::assistant::{ProviderKind, Settings};
use superset_client::home::superset_home;

use crate::cli::ConfigCommand;

pub fn run(command: ConfigCommand) -> anyhow::Result<()> {
    let home = superset_home()?;
    let keys = ApiKeys::new(&home);
    match command {
        ConfigCommand::Show => {
            let settings = Settings::load(&home);
            println!("provider: {}", settings.provider);
            println!("model:    {}", settings.model.as_deref().unwrap_or("(the provider's default)"));
            println!("base URL: {}", settings.base_url.as_deref().unwrap_or("(the provider's default)"));
            for kind in [ProviderKind::Anthropic, ProviderKind::Openai] {
                let state = match keys.find(kind) {
                    Some((_, KeyPlace::Keyring)) => "set, in the OS keyring".to_owned(),
                    Some((_, KeyPlace::File(path))) => format!("set, in {} (mode 0600)", path.display()),
                    None => "not set".to_owned(),
                };
                println!("{kind} API key: {state}");
            }
        }
        ConfigCommand::SetProvider { provider, model, base_url } => {
            let settings = Settings { provider, model, base_url };
            settings.provider(&keys).map(drop).or_else(|e| match e {
                // Setting the provider before its key is fine; say what is missing.
                superset_client::assistant::settings::SettingsError::NoKey(_) => {
                    eprintln!("note: {e}");
                    Ok(())
                }
                e => Err(e),
            })?;
            settings.save(&home)?;
            println!("The assistant is now {provider}.");
        }
        ConfigCommand::SetKey { provider } => {
            eprintln!("Paste the {provider} API key and press Enter:");
            let mut line = zeroize::Zeroizing::new(String::new());
            std::io::stdin().lock().read_line(&mut line).context("reading the key from standard input")?;
            let key = ApiKey::new(line.as_str());
            anyhow::ensure!(!key.is_empty(), "no key given on standard input");
            match keys.set(provider, &key)? {
                KeyPlace::Keyring => println!("Stored the {provider} key in the OS keyring."),
                KeyPlace::File(path) => {
                    println!("No OS keyring here: stored the {provider} key in {} (mode 0600).", path.display())
                }
            }
        }
        ConfigCommand::DeleteKey { provider } => {
            keys.delete(provider)?;
            println!("Removed the {provider} key.");
        }
    }
    Ok(())
}
