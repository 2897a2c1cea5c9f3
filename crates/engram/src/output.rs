//! Printing for people: aligned plain-text tables and one-line previews of long text. `--json` output bypasses this
//! and prints the server's JSON as it came.

use serde_json::Value;

/// A table whose columns are padded to their widest cell; the last column is not padded.
#[derive(Debug)]
pub struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new<const N: usize>(header: [&str; N]) -> Self {
        Self { rows: vec![header.iter().map(|h| (*h).to_owned()).collect()] }
    }

    /// A table of rows only, e.g. `name: value` pairs.
    pub fn without_header() -> Self {
        Self { rows: Vec::new() }
    }

    pub fn row<const N: usize>(&mut self, cells: [String; N]) {
        self.rows.push(cells.into());
    }

    pub fn render(&self) -> String {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..columns)
            .map(|c| self.rows.iter().filter_map(|row| row.get(c)).map(|cell| cell.chars().count()).max().unwrap_or(0))
            .collect();
        let mut out = String::new();
        for row in &self.rows {
            let mut line = String::new();
            for (c, cell) in row.iter().enumerate() {
                if c + 1 == row.len() {
                    line.push_str(cell);
                } else {
                    let pad = widths[c].saturating_sub(cell.chars().count());
                    line.push_str(cell);
                    line.push_str(&" ".repeat(pad + 2));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// Text on one line (newlines become spaces), cut to `max` characters with an ellipsis.
pub fn preview(text: &str, max: usize) -> String {
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= max {
        return one_line;
    }
    let mut cut: String = one_line.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// A JSON field as display text: strings unquoted, null as empty, anything else as compact JSON.
pub fn field(value: &Value, name: &str) -> String {
    match value.get(name) {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// A JSON array of strings joined with commas.
pub fn list(value: &Value, name: &str) -> String {
    value
        .get(name)
        .and_then(Value::as_array)
        .map(|items| items.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(","))
        .unwrap_or_default()
}

/// Prints JSON for `--json`, pretty so it also reads well; `jq` accepts either.
pub fn print_json(value: &Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_pads_all_but_the_last_column() {
        let mut table = Table::new(["ID", "NAME"]);
        table.row(["agent_1".to_owned(), "x".to_owned()]);
        assert_eq!(table.render(), "ID       NAME\nagent_1  x\n");
    }

    #[test]
    fn preview_cuts_and_flattens() {
        assert_eq!(preview("a\nb  c", 10), "a b c");
        assert_eq!(preview("abcdefghij", 5), "abcd…");
    }
}
