//! `superset devices`: where the account is signed in, and signing devices out.

use anyhow::bail;
use superset_client::devices::Device;

use crate::account::manager;
use crate::cli::{DevicesArgs, DevicesCommand, RevokeArgs, ServerArgs};

pub async fn run(servers: &ServerArgs, args: DevicesArgs) -> anyhow::Result<()> {
    match args.command {
        None => list(servers).await,
        Some(DevicesCommand::Revoke(args)) => revoke(servers, args).await,
    }
}

async fn list(servers: &ServerArgs) -> anyhow::Result<()> {
    let devices = manager(servers)?.list_devices().await?;
    print!("{}", table(&devices));
    Ok(())
}

async fn revoke(servers: &ServerArgs, args: RevokeArgs) -> anyhow::Result<()> {
    let manager = manager(servers)?;
    if args.others {
        let revoked = manager.revoke_other_devices().await?;
        match revoked {
            0 => println!("No other device was signed in."),
            1 => println!("Signed out 1 other device."),
            n => println!("Signed out {n} other devices."),
        }
        return Ok(());
    }
    let Some(id) = args.id else { bail!("give a device ID (see `superset devices`) or --others") };
    let this_one = manager.list_devices().await?.iter().any(|d| d.current && d.id == id);
    if !manager.revoke_device(&id).await? {
        bail!("no device {id} is signed in to this account (see `superset devices`)");
    }
    if this_one {
        // The token is dead now; remove it here too.
        let _ = manager.sign_out().await;
        println!("Signed out this device.");
    } else {
        println!("Signed out {id}.");
    }
    Ok(())
}

/// One line per device, `*` marking this one, with a header.
fn table(devices: &[Device]) -> String {
    let rows: Vec<[String; 6]> = devices
        .iter()
        .map(|d| {
            [
                if d.current { "*".into() } else { String::new() },
                d.id.clone(),
                d.client.clone().unwrap_or_else(|| "(unknown)".into()),
                d.ip.clone().unwrap_or_default(),
                minutes(&d.last_used_at),
                minutes(&d.expires_at),
            ]
        })
        .collect();
    let header = ["", "ID", "CLIENT", "IP", "LAST USED (UTC)", "EXPIRES (UTC)"].map(String::from);
    let mut widths = [0; 6];
    for row in std::iter::once(&header).chain(&rows) {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = row.iter().zip(widths).map(|(cell, width)| format!("{cell:<width$}")).collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// `2026-11-30T00:41:07.123Z` as `2026-11-30 00:41`.
fn minutes(rfc3339: &str) -> String {
    rfc3339.get(..16).unwrap_or(rfc3339).replacen('T', " ", 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_current_device_is_marked() {
        let device = |id: &str, current| Device {
            id: id.into(),
            client: Some("superset-cli/0.1.0 (linux; box)".into()),
            created_at: "2026-11-29T10:00:00.000Z".into(),
            last_used_at: "2026-11-30T00:41:07.123Z".into(),
            expires_at: "2026-12-30T00:41:07.123Z".into(),
            ip: Some("127.0.0.1".into()),
            current,
        };
        let out = table(&[device("a", true), device("b", false)]);
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[0].contains("ID") && lines[0].contains("LAST USED"), "{out}");
        assert!(lines[1].starts_with("*  a   superset-cli/0.1.0 (linux; box)  127.0.0.1  2026-11-30 00:41"), "{out}");
        assert!(lines[2].starts_with("   b   "), "{out}");
    }
}
