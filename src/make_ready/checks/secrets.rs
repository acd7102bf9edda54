//! The `secret-scan` check: private-key blocks, cloud access keys and literal secrets assigned in
//! config, in the files that go into the release bundle. Findings never echo the secret.

/// Largest file the scan reads (whole, line by line): far above any config or document the
/// bundle ships, far below what would hurt; a larger file is a finding.
pub(crate) const SCAN_MAX: u64 = 64 * 1024 * 1024;

/// Scans files for private-key blocks, cloud access keys and secrets assigned in config. A file
/// that cannot be read is a finding (missing evidence is never a pass). Secrets are never echoed.
pub(crate) fn secret_scan(files: &[std::path::PathBuf]) -> Vec<String> {
    let mut findings = Vec::new();
    for path in files {
        let shown = crate::sanitize::display_path(path);
        // Bounded, and a FIFO or device in the list is refused rather than read forever.
        match crate::limits::read_limited(path, SCAN_MAX, "file to scan") {
            Err(error) => findings.push(crate::output::error_line(&error)),
            Ok(bytes) => {
                let text = String::from_utf8_lossy(&bytes);
                for (number, kind) in scan_text(&text) {
                    findings.push(format!("{shown}:{number}: {kind}"));
                }
            }
        }
    }
    findings
}

/// `(line number, what was found)` for each suspicious line.
pub(crate) fn scan_text(text: &str) -> Vec<(usize, &'static str)> {
    let mut found = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let kind = if line.contains("-----BEGIN ") && line.contains("PRIVATE KEY") {
            Some("private key block")
        } else if has_aws_access_key(line) {
            Some("AWS access key id")
        } else if has_assigned_secret(line) {
            Some("secret assigned in config (token/password/key)")
        } else {
            None
        };
        if let Some(kind) = kind {
            found.push((index + 1, kind));
        }
    }
    found
}

/// `AKIA`/`ASIA` + 16 upper-case letters or digits, not inside a longer word.
fn has_aws_access_key(line: &str) -> bool {
    let bytes = line.as_bytes();
    let word = |b: u8| b.is_ascii_alphanumeric();
    (0..bytes.len().saturating_sub(19)).any(|start| {
        let candidate = &bytes[start..start + 20];
        (candidate.starts_with(b"AKIA") || candidate.starts_with(b"ASIA"))
            && candidate[4..].iter().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
            && (start == 0 || !word(bytes[start - 1]))
            && bytes.get(start + 20).is_none_or(|&b| !word(b))
    })
}

const SECRET_KEYS: [&str; 9] =
    ["password", "passwd", "secret", "token", "api_key", "apikey", "access_key", "private_key", "auth"];

/// `key: value` or `key = value` (optionally quoted, JSON-style too) where the key names a secret
/// and the value is a literal of 8+ characters rather than a reference (`${VAR}`, `<…>`, env).
fn has_assigned_secret(line: &str) -> bool {
    let trimmed = line.trim_start().trim_start_matches("- ").trim_start_matches("export ");
    let Some(position) = trimmed.find([':', '=']) else { return false };
    let key = trimmed[..position].trim().trim_matches(['"', '\'']).to_ascii_lowercase().replace('-', "_");
    if key.is_empty() || key.contains(' ') || !SECRET_KEYS.iter().any(|secret| key.ends_with(secret)) {
        return false;
    }
    let value = trimmed[position + 1..].trim().trim_end_matches(',').trim().trim_matches(['"', '\'']);
    let reference =
        value.starts_with('$') || value.starts_with('<') || value.starts_with("{{") || value.starts_with('{');
    value.len() >= 8 && !value.contains(' ') && !reference && !value.chars().all(|c| c == '*' || c == 'x')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_each_secret_kind_and_ignores_references() {
        let text = "-----BEGIN OPENSSH PRIVATE KEY-----\nid = AKIAIOSFODNN7EXAMPLE\napi_token: ghp_abcdefgh1234\n\"password\": \"hunter2hunter2\",\nDB_PASSWORD=${DB_PASSWORD}\ntoken: <set-in-vault>\nnotes: the token is rotated\nAKIAIOSFODNN7EXAMPLEX\nmax_tokens: 10\n";
        assert_eq!(
            scan_text(text),
            [
                (1, "private key block"),
                (2, "AWS access key id"),
                (3, "secret assigned in config (token/password/key)"),
                (4, "secret assigned in config (token/password/key)"),
            ]
        );
    }
}
