//! Loading YAML or JSON config files into typed structs, with errors that point at the spot.
//!
//! JSON is valid YAML, so one parser serves both. Structs use `#[serde(deny_unknown_fields)]`;
//! serde-saphyr rejects duplicate keys. Booleans are YAML 1.2's `true`/`false` only. Every error names `file:line:column` and the field.

use std::path::Path;

use anyhow::{Result, anyhow};

use crate::outcome::Located;
use serde::de::DeserializeOwned;

/// Reads and parses a config file. A missing file is an error that says which flag changes it.
/// The file is read with the [`crate::limits::CONFIG_MAX`] limit, and must be a regular file.
pub fn load<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text = crate::limits::read_string_limited(path, crate::limits::CONFIG_MAX, "config file")?;
    parse(&text, &crate::sanitize::display_path(path))
}

/// Whether nothing at all is at `path` (not even a dangling symlink): the case
/// [`missing_default`] explains. Any other problem is left to the read, which names it.
pub fn is_absent(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_err_and(|error| error.kind() == std::io::ErrorKind::NotFound)
}

/// The one error for a repository default (cron-sentinel's and make-ready's config, the VERSION
/// file, rotate's policy, make-ready's reports folder) that is not where mmops looked: which one,
/// in which folder, and how to point mmops at the repository instead of creating files in a
/// random folder. `what` is e.g. "default config"; `alternative` the flag that names another
/// (`--config FILE`), if there is one.
pub fn missing_default(what: &str, path: &Path, alternative: Option<&str>) -> anyhow::Error {
    let folder = std::env::current_dir()
        .map(|dir| crate::sanitize::display_path(&dir))
        .unwrap_or_else(|_| "the working folder".to_string());
    let alternative = alternative.map_or(String::new(), |flag| format!(" (or {flag})"));
    anyhow!(
        "{what} {} not found in {folder}; run mmops in the repository or pass -C DIR{alternative}",
        crate::sanitize::display_path(path)
    )
}

/// Parses config text; `origin` names it in errors (usually the file path).
pub fn parse<T: DeserializeOwned>(text: &str, origin: &str) -> Result<T> {
    if text.trim().is_empty() {
        return Err(anyhow!("{origin}: the file is empty; it needs at least the required fields"));
    }
    // YAML 1.2 booleans only: `no`, `off`, `n` are text, so a typo cannot turn a check off.
    let options = serde_saphyr::options! { strict_booleans: true };
    serde_saphyr::from_str_with_options(text, options).map_err(|error| describe(&error, origin))
}

/// `origin:line:column: message` (a [`Located`] error, so JSON errors carry the place), without
/// the snippet rendering: one line, for logs.
fn describe(error: &serde_saphyr::Error, origin: &str) -> anyhow::Error {
    let message = match error {
        serde_saphyr::Error::Budget { breach, .. } => too_complex(&format!("{breach:?}")),
        _ => user_terms(&first_line(&error.to_string())),
    };
    match error.location() {
        Some(location) if location.line() > 0 => anyhow::Error::new(Located {
            file: origin.to_string(),
            line: location.line() as usize,
            column: location.column() as usize,
            message,
        }),
        _ => anyhow!("{origin}: {message}"),
    }
}

/// The parser's resource budget (nodes, depth, aliases) says what, in a config's terms.
fn too_complex(breach: &str) -> String {
    let what = match breach.split([' ', '{']).next().unwrap_or("") {
        "Nodes" | "Events" => "has too many values",
        "Depth" => "nests too deeply",
        "Aliases" | "Anchors" | "AliasReplay" => "uses too many aliases",
        "Documents" => "holds too many YAML documents (a config is one document)",
        _ => "is too complex",
    };
    format!("the file {what} for a config file; is this the right file?")
}

/// Library wording turned into the config's terms: no Rust type names, and the nearest valid
/// field for a misspelt one.
fn user_terms(message: &str) -> String {
    if message == "recursion limit exceeded" {
        return too_complex("Depth");
    }
    // A budget breach that reaches us wrapped (with its location) rather than as Error::Budget.
    if let Some(breach) = message.strip_prefix("budget breached: ") {
        return too_complex(breach);
    }
    if let Some(plain) = library_phrase(message) {
        return plain;
    }
    if let Some(rest) = message.strip_prefix("invalid type: ")
        && let Some((found, expected)) = rest.split_once(", expected ")
    {
        return format!("expected {expected}, found {}", found_in_config_terms(found));
    }
    if let Some((head, _)) = message.split_once("; use Option<") {
        let head =
            head.replace("cannot deserialize null into string", "this field needs text, not an empty value");
        return head.replace(
            "invalid char: cannot deserialize null",
            "this field needs a character, not an empty value",
        );
    }
    if let Some(rest) = message.strip_prefix("unknown field \"")
        && let Some((field, choices)) = rest.split_once("\", expected one of ")
        && let Some(nearest) = nearest_name(field, choices.split(", "))
    {
        return format!("{message}; did you mean {nearest:?}?");
    }
    if let Some(rest) = message.strip_prefix("unknown field \"")
        && let Some((field, choice)) = rest.split_once("\", expected ")
        && let Some(nearest) = nearest_name(field, choice.split(" or ").map(|name| name.trim_matches('"')))
    {
        return format!("{message}; did you mean {nearest:?}?");
    }
    message.to_string()
}

/// The parser's own phrases for a value of the wrong shape, said in a config's terms (the
/// location is printed in front of them).
fn library_phrase(message: &str) -> Option<String> {
    let plain = match message {
        "expected sequence start" => "expected a list here (one \"- item\" per line, or [a, b])",
        "expected mapping start" => "expected fields here (\"name: value\" lines)",
        "externally tagged enum expected scalar or mapping" => {
            "expected one of the allowed words here, not a list or mapping"
        }
        _ if message.starts_with("tabs disallowed") => {
            "a tab indents this line; YAML indents with spaces only"
        }
        _ => {
            let kind = message.strip_prefix("invalid ")?;
            return match kind {
                "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => {
                    Some("expected a whole number of 0 or more, such as 10".to_string())
                }
                "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => {
                    Some("expected a whole number, such as 10".to_string())
                }
                "f32" | "f64" => Some("expected a number, such as 7 or 0.5".to_string()),
                _ => None,
            };
        }
    };
    Some(plain.to_string())
}

/// serde's `Unexpected` text (`integer "5"`, `sequence`, `unit value`) as a config's words.
fn found_in_config_terms(found: &str) -> String {
    for (prefix, words) in [("integer ", "the number "), ("floating point ", "the number "), ("boolean ", "")]
    {
        if let Some(value) = found.strip_prefix(prefix) {
            return format!("{words}{}", value.trim_matches('"'));
        }
    }
    if let Some(value) = found.strip_prefix("string ") {
        return format!("the text {value}");
    }
    match found {
        "sequence" => "a list".to_string(),
        "map" => "fields (\"name: value\")".to_string(),
        "unit value" | "Option value" => "an empty value".to_string(),
        other => other.to_string(),
    }
}

/// The candidate closest to `typed` by edit distance, if it is close enough to be a typo.
pub fn nearest_name<'a>(typed: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (typed.chars().count() / 3).max(1);
    candidates
        .map(|candidate| (edit_distance(typed, candidate), candidate))
        .filter(|(distance, _)| *distance <= limit)
        .min()
        .map(|(_, candidate)| candidate)
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1).min(row[j] + 1).min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
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
            "c.yaml:3:5: unknown field \"max_ag\", expected one of name, max_age; did you mean \"max_age\"?"
        );
        assert_eq!(
            error_of("tasks:\n  - name: a\n    colour: 3\n"),
            "c.yaml:3:5: unknown field \"colour\", expected one of name, max_age"
        );
    }

    #[test]
    fn library_advice_and_budgets_are_said_in_config_terms() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Named {
            name: String,
        }
        let error = parse::<Named>("name:\n", "c.yaml").unwrap_err().to_string();
        assert_eq!(error, "c.yaml:1:5: this field needs text, not an empty value");
        let deep = format!("{}1{}", "[".repeat(5000), "]".repeat(5000));
        let error = parse::<Config>(&deep, "c.yaml").unwrap_err().to_string();
        assert_eq!(
            error,
            "c.yaml:1:256: the file nests too deeply for a config file; is this the right file?"
        );
        let many = format!("tasks: [{}]", "1,".repeat(300_000));
        let error = parse::<Config>(&many, "c.yaml").unwrap_err().to_string();
        assert!(!error.contains("budget") && !error.contains('{'), "{error}");
        // The same breach inside a list of mappings arrives wrapped with its location.
        let rules: String = (0..130_000).map(|_| "  - {name: a}\n").collect();
        let parsed = parse::<
            std::collections::BTreeMap<String, Vec<std::collections::BTreeMap<String, String>>>,
        >(&format!("tasks:\n{rules}"), "c.yaml");
        let error = parsed.unwrap_err().to_string();
        assert!(
            error.ends_with("the file has too many values for a config file; is this the right file?"),
            "{error}"
        );
    }

    #[test]
    fn wrong_shapes_are_said_in_config_terms_not_the_parsers() {
        // Issue 10 item 13 (audit 6): "invalid u64", "expected sequence start" and friends.
        assert_eq!(
            error_of("tasks: 5\n"),
            "c.yaml:1:8: expected a list here (one \"- item\" per line, or [a, b])"
        );
        assert_eq!(error_of("tasks:\n  - 5\n"), "c.yaml:2:5: expected fields here (\"name: value\" lines)");
        assert_eq!(
            error_of("tasks:\n  - name: a\n    max_age: x\n"),
            "c.yaml:3:14: expected a whole number of 0 or more, such as 10"
        );
        assert_eq!(error_of("\tx\n"), "c.yaml:1:2: expected fields here (\"name: value\" lines)");
        assert_eq!(
            error_of("tasks:\n\t- name: a\n"),
            "c.yaml:2:2: a tab indents this line; YAML indents with spaces only"
        );
    }

    #[test]
    fn located_errors_carry_the_place() {
        let error = parse::<Config>("tasks:\n  - name: a\n    max_ag: 3\n", "c.yaml").unwrap_err();
        let located = error.downcast_ref::<Located>().expect("a Located error");
        assert_eq!((located.file.as_str(), located.line, located.column), ("c.yaml", 3, 5));
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
