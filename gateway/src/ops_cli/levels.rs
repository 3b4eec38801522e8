//! `knooppunt ops level …`: institutions' participation levels (`docs/operator-api.md`,
//! "Participation levels"): `show` lists every institution with its effective level, or one
//! institution with its history; `set` records a change (role `operator`, with a reason).

use std::fmt::Write as _;
use std::io::Write;

use serde_json::{Value, json};

use super::{Client, table, text, time};

/// `knooppunt ops level …`.
#[derive(Debug, clap::Subcommand)]
pub enum LevelCommand {
    /// Every institution with its effective level; with a BRIN, that institution's history.
    Show {
        /// One institution (its BRIN).
        brin: Option<String>,
    },
    /// Moves an institution one step to `va`, `aanmelden` or `krd` (`krd` after its RO import),
    /// recorded with your name and the reason; reversible by moving it back.
    Set {
        /// The institution (its BRIN).
        brin: String,
        /// The level to move to: va, aanmelden or krd.
        #[arg(value_parser = ["va", "aanmelden", "krd"])]
        level: String,
        /// Why (in the institution's history and the audit trail with your name; no personal
        /// data).
        #[arg(long)]
        why: String,
    },
}

fn list_table(v: &Value) -> String {
    let rows: Vec<Vec<String>> = v
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| {
            vec![
                text(&i["brin"]),
                text(&i["level"]),
                text(&i["reference_level"]),
                text(&i["changes"]),
                if i["ro_imported"] == json!(true) {
                    "yes".to_owned()
                } else {
                    "no".to_owned()
                },
                text(&i["naam"]),
            ]
        })
        .collect();
    table(
        &["BRIN", "LEVEL", "REFERENCE", "CHANGES", "RO-IMPORT", "NAME"],
        &rows,
    )
}

fn detail_text(v: &Value) -> String {
    let mut out = format!(
        "{} {}: level {} (reference data: {}), RO import {}\n",
        text(&v["brin"]),
        text(&v["naam"]),
        text(&v["level"]),
        text(&v["reference_level"]),
        if v["ro_imported"] == json!(true) {
            "done"
        } else {
            "not done"
        },
    );
    let rows: Vec<Vec<String>> = v["history"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|h| {
            let what = match h["type"].as_str() {
                Some("participation_changed") => {
                    format!("{} -> {}", text(&h["from"]), text(&h["to"]))
                }
                Some("ro_imported") => format!(
                    "RO import: {} persons, {} commands, {} rejected",
                    text(&h["persons"]),
                    text(&h["commands_new"]),
                    text(&h["rejected"])
                ),
                _ => text(&h["type"]),
            };
            vec![
                text(&h["sequence"]),
                time(&h["at"]),
                what,
                text(&h["operator"]),
                text(&h["reason"]),
            ]
        })
        .collect();
    if rows.is_empty() {
        out.push_str("no recorded changes\n");
    } else {
        out.push_str(&table(
            &["SEQ", "AT", "CHANGE", "OPERATOR", "REASON"],
            &rows,
        ));
    }
    out
}

/// Runs one `knooppunt ops level` command.
pub(super) async fn run(
    client: &Client,
    command: &LevelCommand,
    json_out: bool,
    out: &mut dyn Write,
) -> anyhow::Result<bool> {
    let (v, human) = match command {
        LevelCommand::Show { brin: None } => {
            let v = client.get("/ops/v1/institutions").await?;
            let human = list_table(&v);
            (v, human)
        }
        LevelCommand::Show { brin: Some(brin) } => {
            let v = client.get(&format!("/ops/v1/institutions/{brin}")).await?;
            let human = detail_text(&v);
            (v, human)
        }
        LevelCommand::Set { brin, level, why } => {
            let v = client
                .post(
                    &format!("/ops/v1/institutions/{brin}/level"),
                    &json!({ "to": level, "reason": why }),
                )
                .await?;
            let mut human = String::new();
            let _ = writeln!(
                human,
                "{} is now at level {}",
                text(&v["brin"]),
                text(&v["level"])
            );
            human.push_str(&detail_text(&v));
            (v, human)
        }
    };
    if json_out {
        writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
    } else {
        write!(out, "{human}")?;
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_history_shows_steps_and_imports() {
        let v = json!({
            "brin": "27DV", "naam": "Vakcollege Houtwerk", "level": "krd",
            "reference_level": "aanmelden", "changes": 1, "ro_imported": true,
            "history": [
                { "sequence": 1, "at": "2026-12-03T15:40:11Z", "type": "ro_imported",
                  "persons": 10, "commands_new": 112, "rejected": 0 },
                { "sequence": 2, "at": "2026-12-03T16:00:00Z", "type": "participation_changed",
                  "from": "aanmelden", "to": "krd", "operator": "otto", "reason": "go live" }
            ]
        });
        let t = detail_text(&v);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(
            lines[0],
            "27DV Vakcollege Houtwerk: level krd (reference data: aanmelden), RO import done"
        );
        assert!(
            lines[2].contains("RO import: 10 persons, 112 commands, 0 rejected"),
            "{t}"
        );
        assert!(lines[3].contains("aanmelden -> krd"), "{t}");
        assert!(lines[3].contains("2026-12-03 16:00:00"), "{t}");
        assert!(lines[3].ends_with("otto      go live"), "{t}");
    }
}
