//! `mmops bundle keygen --out DIR`: a minisign key pair for signing releases, `DIR/mmops.key`
//! (mode 0600 from its first byte) and `DIR/mmops.pub`. An existing key is never replaced.

use std::io::{self, Write};
use std::path::Path;

use anyhow::{Context as _, Result, anyhow, bail};
use serde::Serialize;

use super::signing::{self, PasswordSource};
use crate::atomic_write::AtomicFile;
use crate::cli::BundleKeygenArgs;
use crate::context::Context;
use crate::outcome::{Partial, Verdict};
use crate::output::{Marker, Report, Style};
use crate::sanitize::display_path;

pub(crate) const SECRET_KEY_NAME: &str = "mmops.key";
pub(crate) const PUBLIC_KEY_NAME: &str = "mmops.pub";

/// The `--format json` document and the text report. Holds nothing secret.
#[derive(Debug, Serialize)]
struct KeygenReport {
    secret_key: String,
    public_key: String,
    key_id: String,
    /// The public key's base64 line, for `--pubkey` and `minisign -P`.
    public_key_base64: String,
    encrypted: bool,
}

impl Report for KeygenReport {
    fn marker(&self) -> Marker {
        Marker::new("bundle_keygen", Verdict::Pass, "SIGNING_KEY", self.public_key.clone())
    }

    fn write_text(&self, out: &mut dyn Write, _style: &Style) -> io::Result<()> {
        let protection = if self.encrypted { "encrypted with the password" } else { "NOT encrypted" };
        writeln!(
            out,
            "secret key: {} (mode 0600, {protection}; keep it off the release host)",
            self.secret_key
        )?;
        writeln!(out, "public key: {}", self.public_key)?;
        writeln!(out, "key id:     {}", self.key_id)?;
        writeln!(out, "verify with: minisign -Vm <zip> -P {}", self.public_key_base64)
    }
}

pub(crate) fn run(args: &BundleKeygenArgs, context: &Context) -> Result<Verdict> {
    let secret_path = args.out.join(SECRET_KEY_NAME);
    let public_path = args.out.join(PUBLIC_KEY_NAME);
    for path in [&secret_path, &public_path] {
        if std::fs::symlink_metadata(path).is_ok() {
            bail!(
                "{} already exists; mmops never overwrites a key: move it away or choose another --out",
                display_path(path)
            );
        }
    }
    let password = PasswordSource { file: args.password_file.clone() };
    let pair = signing::generate(&password, args.unencrypted)?;
    // Both files are prepared before either is placed: a folder that cannot take them fails here.
    let mut secret = AtomicFile::create(&secret_path)?;
    let mut public = AtomicFile::create(&public_path)?;
    secret
        .write_all(pair.secret_box.as_bytes())
        .with_context(|| format!("cannot write {}", display_path(&secret_path)))?;
    public
        .write_all(pair.public_box.as_bytes())
        .with_context(|| format!("cannot write {}", display_path(&public_path)))?;
    secret.commit_new_private().map_err(|error| already_there(error, &secret_path))?;
    if let Err(error) = public.commit_new() {
        return Err(anyhow!(Partial(format!(
            "{} was written, but {} could not be: {error:#}; the public key is also the base64 line `minisign -R` \
             prints from the secret key",
            display_path(&secret_path),
            display_path(&public_path)
        ))));
    }
    let public_key_base64 = pair.public_box.lines().nth(1).unwrap_or_default().to_string();
    context.printer.emit(&KeygenReport {
        secret_key: display_path(&secret_path),
        public_key: display_path(&public_path),
        key_id: pair.key_id,
        public_key_base64,
        encrypted: pair.encrypted,
    })
}

/// A key that appeared between the check and the rename is kept, and said so.
fn already_there(error: anyhow::Error, path: &Path) -> anyhow::Error {
    let exists = error
        .root_cause()
        .downcast_ref::<io::Error>()
        .is_some_and(|io| io.kind() == io::ErrorKind::AlreadyExists);
    if exists {
        anyhow!("{} appeared while the key was made; it was kept and nothing was written", display_path(path))
    } else {
        error
    }
}
