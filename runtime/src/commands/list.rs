//! `list`: every container under --root.

use std::fs;

use super::Error;
use crate::cli::{GlobalOpts, ListArgs, PsFormat};
use crate::container::ContainerDir;
use crate::state::{State, Status};

pub fn command(g: &GlobalOpts, a: &ListArgs) -> Result<(), Error> {
    let mut rows: Vec<State> = Vec::new();
    // A missing root just means no containers yet.
    if let Ok(entries) = fs::read_dir(&g.root) {
        for e in entries.flatten() {
            let Some(id) = e.file_name().to_str().map(str::to_string) else {
                continue;
            };
            let Ok(c) = ContainerDir::new(&g.root, &id) else {
                continue;
            };
            if let Ok(s) = State::load(&c) {
                rows.push(s);
            }
        }
    }
    rows.sort_by(|a, b| a.id.cmp(&b.id));
    if a.quiet {
        for r in &rows {
            println!("{}", r.id);
        }
        return Ok(());
    }
    if a.format == PsFormat::Json {
        let v: Vec<_> = rows.iter().map(|r| r.oci()).collect();
        println!(
            "{}",
            serde_json::to_string(&v).unwrap_or_else(|_| "[]".into())
        );
        return Ok(());
    }
    let table: Vec<[String; 5]> = rows
        .iter()
        .map(|r| {
            let status = r.current_status();
            let pid = if status == Status::Stopped { 0 } else { r.pid };
            [
                r.id.clone(),
                pid.to_string(),
                status.to_string(),
                r.bundle.display().to_string(),
                r.created.clone(),
            ]
        })
        .collect();
    print!(
        "{}",
        format_table(&["ID", "PID", "STATUS", "BUNDLE", "CREATED"], &table)
    );
    Ok(())
}

fn format_table<const N: usize>(header: &[&str; N], rows: &[[String; N]]) -> String {
    let mut widths = header.map(str::len);
    for r in rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.len());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let parts: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(parts.join("   ").trim_end());
        out.push('\n');
    };
    line(header.to_vec());
    for r in rows {
        line(r.iter().map(String::as_str).collect());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_columns() {
        let t = format_table(
            &["ID", "PID"],
            &[["abc".into(), "1".into()], ["d".into(), "1234".into()]],
        );
        assert_eq!(t, "ID    PID\nabc   1\nd     1234\n");
    }
}
