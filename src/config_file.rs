//! Loading YAML or JSON config files into typed structs, with errors that point at the spot.
//!
//! JSON is valid YAML, so one parser serves both. Structs use `#[serde(deny_unknown_fields)]`;
//! serde-saphyr rejects duplicate keys. Booleans are YAML 1.2's `true`/`false` only. Every error names `file:line:column` and the field.

use std::path::Path;

use anyhow::{Result, anyhow};
use serde::de::DeserializeOwned;

/// Reads and parses a config file. A missing file is an error that says which flag changes it.
/// The file is read with the [`crate::limits::CONFIG_MAX`] limit, and must be a regular file.
pub fn load<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text = crate::limits::read_string_limited(path, crate::limits::CONFIG_MAX, "config file")?;
    parse(&text, &crate::sanitize::display_path(path))
}

/// Parses config text; `origin` names it in errors (usually the file path).
pub fn parse<T: DeserializeOwned>(text: &str, origin: &str) -> Result<T> {
    if text.trim().is_empty() {
        return Err(anyhow!("{origin}: the file is empty; it needs at least the required fields"));
    }
    // YAML 1.2 booleans only: `no`, `off`, `n` are text, so a typo cannot turn a check off.
    let options = serde_saphyr::options! { strict_booleans: true };
    serde_saphyr::from_str_with_options(text, options)
        .map_err(|error| anyhow!("{}", describe(&error, origin)))
}

/// `origin:line:column: message`, without the snippet rendering (one line, for logs).
fn describe(error: &serde_saphyr::Error, origin: &str) -> String {
    let message = first_line(&error.to_string());
    match error.location() {
        Some(location) if location.line() > 0 => {
            format!("{origin}:{}:{}: {message}", location.line(), location.column())
        }
        _ => format!("{origin}: {message}"),
    }
}

/// The parser's first line, without its own `error: line N column M:` prefix (we print the
/// location in `file:line:column` form) and with library advice turned into user advice.
fn first_line(text: &str) -> String {
    let mut line = text.lines().next().unwrap_or("").trim();
    line = line.strip_prefix("error: ").unwrap_or(line);
    if let Some((_, message)) = line.strip_prefix("line ").and_then(|rest| rest.split_once(": ")) {
        line = message;
    }
    let line = line.replace('`', "\"");
    match line.split_once(", set DuplicateKeyPolicy") {
        Some((head, _)) => format!("{head} (each key may appear only once)"),
        None => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Config {
        tasks: Vec<Task>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Task {
        name: String,
        max_age: u32,
    }

    fn error_of(text: &str) -> String {
        parse::<Config>(text, "c.yaml").unwrap_err().to_string()
    }

    #[test]
    fn unknown_field_names_line_column_and_choices() {
        assert_eq!(
            error_of("tasks:\n  - name: a\n    max_ag: 3\n"),
            "c.yaml:3:5: unknown field \"max_ag\", expected one of name, max_age"
        );
    }

    #[test]
    fn json_is_accepted_and_located() {
        assert_eq!(
            parse::<Config>("{\"tasks\": [{\"name\": \"a\", \"max_age\": 1}]}", "c.json")
                .unwrap()
                .tasks
                .len(),
            1
        );
        assert_eq!(
            error_of("{\"tasks\": [{\"name\": \"a\", \"max_age\": 1, \"x\": 2}]}"),
            "c.yaml:1:40: unknown field \"x\", expected one of name, max_age"
        );
    }

    #[test]
    fn duplicates_wrong_types_and_syntax_are_located() {
        assert_eq!(
            error_of("tasks:\n  - name: a\n    name: b\n    max_age: 3\n"),
            "c.yaml:3:5: duplicate mapping key: name (each key may appear only once)"
        );
        assert!(error_of("tasks:\n  - name: a\n    max_age: three\n").starts_with("c.yaml:3:14: "));
        assert!(error_of("tasks: [\n").starts_with("c.yaml:1:8: "));
        assert!(error_of("  \n").contains("empty"));
    }
}
