//! Release signatures in minisign's formats: `mmops bundle keygen`, the `.minisig` that
//! `--sign` writes next to the zip and its provenance, and checking one against a public key.
//!
//! Key files, public keys and signature files are minisign's own, so `minisign -Vm` verifies what
//! mmops signs and mmops verifies what `minisign -S` signs. The [`minisign`] crate (jedisct1)
//! generates, encrypts, decrypts and parses keys and verifies signatures; signing itself is done
//! here with `ed25519-dalek`, because the crate hedges its signatures with random bytes and a
//! release signature must be as reproducible as the zip: Ed25519 without added randomness
//! (RFC 8032) gives the same signature for the same key and bytes, and both comments are fixed.
//!
//! The secret key and the password never reach an output, an error message or a file other
//! than the key file itself: errors name the key file and the password's source, never a value.

use std::fs::File;
use std::io::{self, IsTerminal, Read, Seek};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, anyhow, bail};
use blake2::{Blake2b512, Digest};
use ct_codecs::{Base64, Decoder, Encoder};
use ed25519_dalek::Signer;
use zeroize::Zeroizing;

use crate::limits;
use crate::sanitize::display_path;

/// The environment variable holding the password of an encrypted signing key.
pub(crate) const PASSWORD_VAR: &str = "MMOPS_SIGNING_PASSWORD";
/// The untrusted comment of every signature mmops writes: fixed, so signatures reproduce.
pub(crate) const UNTRUSTED_COMMENT: &str = "signature from mmops secret key";
/// minisign refuses longer passwords; so do we, with the same limit.
const PASSWORD_MAX_BYTES: usize = 1024;

/// Sizes in minisign's formats (decoded from base64).
const PUBLIC_KEY_LEN: usize = 2 + 8 + 32;
const SECRET_KEY_LEN: usize = 2 + 2 + 2 + 32 + 8 + 8 + 8 + 64 + 32;
/// Where the key id and the 64-byte Ed25519 secret key (seed, then public half) sit in a
/// decrypted secret key's bytes.
const KEYNUM_AT: usize = 54;
const SECRET_AT: usize = 62;

/// Where an encrypted key's password comes from; never a flag value.
#[derive(Debug, Clone, Default)]
pub(crate) struct PasswordSource {
    pub(crate) file: Option<PathBuf>,
}

impl PasswordSource {
    /// The password: `--password-file`, else `MMOPS_SIGNING_PASSWORD`, else asked on the
    /// terminal without echo (twice when `confirm`). `purpose` ends the prompt's sentence.
    fn read(&self, purpose: &str, confirm: bool) -> Result<Zeroizing<String>> {
        if let Some(path) = &self.file {
            let shown = display_path(path);
            let bytes =
                Zeroizing::new(limits::read_limited(path, limits::PASSWORD_FILE_MAX, "password file")?);
            let text = std::str::from_utf8(&bytes)
                .map_err(|_| anyhow!("{shown}: the password file is not UTF-8 text"))?;
            // One trailing line break is the file's, not the password's (`echo pw > file`).
            let text = text.strip_suffix('\n').map_or(text, |rest| rest.strip_suffix('\r').unwrap_or(rest));
            return checked_password(Zeroizing::new(text.to_string()), &format!("the password in {shown}"));
        }
        if let Some(value) = std::env::var_os(PASSWORD_VAR) {
            let text = value.into_string().map_err(|_| anyhow!("{PASSWORD_VAR} is not UTF-8 text"))?;
            return checked_password(Zeroizing::new(text), PASSWORD_VAR);
        }
        if !io::stdin().is_terminal() {
            bail!(
                "{purpose} needs a password and there is no terminal to ask on: set {PASSWORD_VAR} or pass \
                 --password-file FILE"
            );
        }
        let first = Zeroizing::new(
            rpassword::prompt_password(format!("Password for {purpose}: "))
                .context("cannot read the password from the terminal")?,
        );
        if confirm {
            let second = Zeroizing::new(
                rpassword::prompt_password("Password (again): ")
                    .context("cannot read the password from the terminal")?,
            );
            if *first != *second {
                bail!("the two passwords differ; nothing was written");
            }
        }
        checked_password(first, "the password typed")
    }
}

fn checked_password(password: Zeroizing<String>, source: &str) -> Result<Zeroizing<String>> {
    if password.is_empty() {
        bail!("{source} is empty; an encrypted key needs a password (or make one with --unencrypted)");
    }
    if password.len() > PASSWORD_MAX_BYTES {
        bail!("{source} is longer than {PASSWORD_MAX_BYTES} bytes, the most minisign accepts");
    }
    Ok(password)
}

/// minisign's key id: the 8 key-number bytes as a little-endian number in upper-case hex, as
/// `minisign` prints it.
pub(crate) fn key_id(keynum: &[u8]) -> String {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&keynum[..8]);
    format!("{:016X}", u64::from_le_bytes(bytes))
}

fn base64(bytes: &[u8]) -> String {
    Base64::encode_to_string(bytes).expect("base64 of a short buffer always fits")
}

/// A decrypted signing key, ready to sign; zeroed when dropped.
pub(crate) struct SigningKey {
    key: ed25519_dalek::SigningKey,
    keynum: [u8; 8],
}

impl SigningKey {
    pub(crate) fn key_id(&self) -> String {
        key_id(&self.keynum)
    }

    /// The minisign public key (base64, as `minisign -P` takes it) of this key.
    #[cfg(test)]
    pub(crate) fn public_key_base64(&self) -> String {
        let mut bytes = Vec::with_capacity(PUBLIC_KEY_LEN);
        bytes.extend_from_slice(b"Ed");
        bytes.extend_from_slice(&self.keynum);
        bytes.extend_from_slice(self.key.verifying_key().as_bytes());
        base64(&bytes)
    }

    /// A `.minisig` for the data whose BLAKE2b-512 is `prehash`: minisign's prehashed format
    /// (`ED`), with the fixed untrusted comment and `trusted_comment`. Deterministic.
    pub(crate) fn sign(&self, prehash: &[u8], trusted_comment: &str) -> String {
        assert!(!trusted_comment.contains(['\n', '\r']), "a trusted comment is one line");
        let signature = self.key.sign(prehash).to_bytes();
        let mut block = Vec::with_capacity(2 + 8 + 64);
        block.extend_from_slice(b"ED");
        block.extend_from_slice(&self.keynum);
        block.extend_from_slice(&signature);
        let mut signed_comment = signature.to_vec();
        signed_comment.extend_from_slice(trusted_comment.as_bytes());
        let global = self.key.sign(&signed_comment).to_bytes();
        format!(
            "untrusted comment: {UNTRUSTED_COMMENT}\n{}\ntrusted comment: {trusted_comment}\n{}\n",
            base64(&block),
            base64(&global)
        )
    }
}

/// BLAKE2b-512 of everything `reader` yields: what a prehashed minisign signature signs.
pub(crate) fn prehash(mut reader: impl Read) -> io::Result<Vec<u8>> {
    let mut hasher = Blake2b512::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let read = reader.read(&mut buffer)?;
        if read == 0 {
            return Ok(hasher.finalize().to_vec());
        }
        hasher.update(&buffer[..read]);
    }
}

/// How a key file's permissions are judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyPermissions {
    Warn,
    Strict,
}

/// Loads and decrypts the secret key at `path`. A key readable or writable by group or others
/// gets a warning (`warn` is called with it), or is refused under [`KeyPermissions::Strict`].
pub(crate) fn load_signing_key(
    path: &Path,
    password: &PasswordSource,
    permissions: KeyPermissions,
    warn: &dyn Fn(String),
) -> Result<SigningKey> {
    let shown = display_path(path);
    let file = limits::open_regular(path, false, "signing key")?;
    let metadata = file.metadata().with_context(|| format!("cannot read the signing key {shown}"))?;
    let text =
        Zeroizing::new(limits::read_open_limited(file, limits::SIGNING_KEY_MAX, &shown, "signing key")?);
    let decoded = decode_key_file(&text).map_err(|reason| anyhow!("{shown}: {reason}"))?;
    match decoded.len() {
        PUBLIC_KEY_LEN => bail!(
            "{shown} is a minisign public key; --sign needs the secret key (mmops.key from `mmops bundle keygen`)"
        ),
        SECRET_KEY_LEN if &decoded[..2] == b"Ed" => {}
        _ => bail!("{shown} is not a minisign secret key"),
    }
    // Judged on the handle that was read, like ssh does before using a key.
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        let message = format!(
            "the signing key {shown} is accessible by group or others (mode {mode:04o}); run chmod 600 {shown}"
        );
        match permissions {
            KeyPermissions::Strict => {
                bail!("{message}; refused under --strict-key-perms, nothing was written")
            }
            KeyPermissions::Warn => warn(message),
        }
    }
    let bytes = match &decoded[2..4] {
        // Unencrypted (`minisign -G -W` leaves the checksum zero): the halves check below is
        // what catches a damaged key.
        [0, 0] => decoded,
        b"Sc" => {
            check_kdf_limits(&decoded).map_err(|reason| anyhow!("{shown}: {reason}"))?;
            let text =
                std::str::from_utf8(&text).map_err(|_| anyhow!("{shown} is not a minisign secret key"))?;
            let key_box = minisign::SecretKeyBox::from_string(text)
                .map_err(|error| anyhow!("{shown} is not a minisign secret key: {error}"))?;
            let password = password.read(&format!("the signing key {shown}"), false)?;
            let secret = minisign::SecretKey::from_box(key_box, Some(password.as_str().to_string()))
                .map_err(|error| {
                    if matches!(error.kind(), minisign::ErrorKind::Verify) {
                        anyhow!("wrong password for the signing key {shown}")
                    } else {
                        anyhow!("{shown}: cannot decrypt the signing key: {error}")
                    }
                })?;
            // The crate's SecretKey is not zeroed when it goes away (its fields are private); our
            // copy is.
            Zeroizing::new(secret.to_bytes())
        }
        _ => bail!("{shown}: the secret key is encrypted with an algorithm mmops does not know"),
    };
    let mut seed = Zeroizing::new([0u8; 32]);
    seed.copy_from_slice(&bytes[SECRET_AT..SECRET_AT + 32]);
    let key = ed25519_dalek::SigningKey::from_bytes(&seed);
    if key.verifying_key().as_bytes()[..] != bytes[SECRET_AT + 32..SECRET_AT + 64] {
        bail!("{shown}: the secret key is corrupted (its two halves do not belong together)");
    }
    let mut keynum = [0u8; 8];
    keynum.copy_from_slice(&bytes[KEYNUM_AT..KEYNUM_AT + 8]);
    Ok(SigningKey { key, keynum })
}

/// The most scrypt work a key may ask for: minisign's own "sensitive" parameters (what
/// `minisign -G` uses: 2^25 operations, 1 GiB). A key file asking for more would hold the CPU for
/// as long as its author likes before any password check.
const KDF_OPSLIMIT_MAX: u64 = 1 << 25;
const KDF_MEMLIMIT_MAX: u64 = 1 << 30;

fn check_kdf_limits(decoded: &[u8]) -> Result<(), String> {
    let number = |at: usize| u64::from_le_bytes(decoded[at..at + 8].try_into().expect("8 bytes"));
    let (opslimit, memlimit) = (number(38), number(46));
    if opslimit > KDF_OPSLIMIT_MAX || memlimit > KDF_MEMLIMIT_MAX {
        return Err(format!(
            "the key asks for more scrypt work than minisign ever uses (opslimit {opslimit}, memlimit {memlimit}); \
             refusing it"
        ));
    }
    Ok(())
}

/// The decoded second line of a minisign key file (`untrusted comment: …`, then base64).
fn decode_key_file(text: &[u8]) -> Result<Zeroizing<Vec<u8>>, String> {
    let text = std::str::from_utf8(text).map_err(|_| "is not a minisign key file (not text)".to_string())?;
    let mut lines = text.lines();
    let comment = lines.next().unwrap_or_default();
    if !comment.starts_with("untrusted comment: ") {
        return Err("is not a minisign key file (no `untrusted comment:` line)".into());
    }
    let encoded = lines.next().unwrap_or_default().trim();
    Base64::decode_to_vec(encoded, None)
        .map(Zeroizing::new)
        .map_err(|_| "is not a minisign key file (its second line is not base64)".into())
}

/// A new key pair in minisign's formats: the secret key file's text and the public key file's.
pub(crate) struct NewKeyPair {
    pub(crate) secret_box: Zeroizing<String>,
    pub(crate) public_box: String,
    pub(crate) key_id: String,
    pub(crate) encrypted: bool,
}

/// Generates a key pair; encrypted with a password from `password` unless `unencrypted`.
pub(crate) fn generate(password: &PasswordSource, unencrypted: bool) -> Result<NewKeyPair> {
    let pair = if unencrypted {
        minisign::KeyPair::generate_unencrypted_keypair()
    } else {
        let password = password.read("the new signing key", true)?;
        minisign::KeyPair::generate_encrypted_keypair(Some(password.as_str().to_string()))
    }
    .map_err(|error| anyhow!("cannot generate a key pair: {error}"))?;
    let public_box =
        pair.pk.to_box().map_err(|error| anyhow!("cannot encode the public key: {error}"))?.into_string();
    let key_id = key_id(pair.pk.keynum());
    let comment = if unencrypted { "mmops secret key (unencrypted)" } else { "mmops encrypted secret key" };
    let secret_box = Zeroizing::new(
        pair.sk
            .to_box(Some(comment))
            .map_err(|error| anyhow!("cannot encode the secret key: {error}"))?
            .into_string(),
    );
    Ok(NewKeyPair { secret_box, public_box, key_id, encrypted: !unencrypted })
}

/// A public key to verify with, from `--pubkey KEY` (base64) or `--pubkey-file FILE`.
pub(crate) struct PublicKey {
    key: minisign::PublicKey,
    pub(crate) key_id: String,
}

impl PublicKey {
    pub(crate) fn from_base64(text: &str) -> Result<PublicKey> {
        let key = minisign::PublicKey::from_base64(text.trim()).map_err(|_| {
            anyhow!("--pubkey: not a minisign public key (the base64 line of a .pub file, 56 characters)")
        })?;
        Ok(PublicKey { key_id: key_id(key.keynum()), key })
    }

    pub(crate) fn from_file(path: &Path) -> Result<PublicKey> {
        let shown = display_path(path);
        let text = Zeroizing::new(limits::read_limited(path, limits::SIGNING_KEY_MAX, "public key file")?);
        let decoded = decode_key_file(&text).map_err(|reason| anyhow!("--pubkey-file {shown}: {reason}"))?;
        if decoded.len() == SECRET_KEY_LEN {
            bail!("--pubkey-file {shown} is a secret key; give the public key (mmops.pub)");
        }
        let text = std::str::from_utf8(&text).expect("decode_key_file checked it is text");
        let key = minisign::PublicKey::from_box(text.to_string().into())
            .map_err(|_| anyhow!("--pubkey-file {shown} is not a minisign public key"))?;
        Ok(PublicKey { key_id: key_id(key.keynum()), key })
    }
}

/// Checks the signature file at `signature_path` over the bytes `data` yields; returns its
/// trusted comment, or the problem in words.
pub(crate) fn verify(
    key: &PublicKey,
    signature_path: &Path,
    data: impl Read + Seek,
) -> Result<Result<String, String>> {
    let text = limits::read_limited(signature_path, limits::SIGNATURE_MAX, "signature")?;
    let Ok(text) = String::from_utf8(text) else {
        return Ok(Err("is not a minisign signature (not text)".into()));
    };
    let Ok(signature) = minisign::SignatureBox::from_string(&text) else {
        return Ok(Err("is not a minisign signature".into()));
    };
    let signed_by = key_id(signature.keynum());
    if signed_by != key.key_id {
        return Ok(Err(format!("was made by key {signed_by}, not by the given key {}", key.key_id)));
    }
    if !signature.is_prehashed() {
        return Ok(Err("is a legacy (not prehashed) signature; re-sign with minisign 0.8 or later".into()));
    }
    match minisign::verify(&key.key, &signature, data, true, false, false) {
        Ok(()) => {}
        Err(error) => {
            let text = error.to_string();
            let reason = if text.contains("Comment signature") {
                "its trusted comment was altered (the comment signature does not verify)".to_string()
            } else if text.contains("Signature verification failed") {
                "does not match the signed file's bytes (the signature does not verify)".to_string()
            } else {
                format!("does not verify: {text}")
            };
            return Ok(Err(reason));
        }
    }
    match signature.trusted_comment() {
        Ok(comment) => Ok(Ok(comment)),
        Err(_) => Ok(Err("has no trusted comment".into())),
    }
}

/// The trusted comment of a release artifact's signature.
pub(crate) fn trusted_comment(
    file_name: &str,
    version: &str,
    sha256: &str,
    source_date_epoch: i64,
) -> String {
    format!("file:{file_name} version:{version} sha256:{sha256} source_date_epoch:{source_date_epoch}")
}

/// What a trusted comment must say about the file it signs; the problem when it does not.
/// `version` is `None` when the manifest could not be read (that is reported on its own).
pub(crate) fn check_trusted_comment(
    comment: &str,
    file_name: &str,
    version: Option<&str>,
    sha256: &str,
) -> Option<String> {
    let shown = crate::sanitize::display_text(comment, false);
    let mut fields = std::collections::BTreeMap::new();
    for part in comment.split(' ') {
        if let Some((key, value)) = part.split_once(':')
            && fields.insert(key, value).is_some()
        {
            // `file:a.zip … file:b.zip` would name two files; which one counts is not for us to pick.
            return Some(format!("its trusted comment ({shown}) names {key}: more than once"));
        }
    }
    for (key, expected) in [("file", Some(file_name)), ("version", version), ("sha256", Some(sha256))] {
        let Some(expected) = expected else { continue };
        match fields.get(key) {
            None => return Some(format!("its trusted comment ({shown}) has no {key}: field")),
            Some(value)
                if !value.eq_ignore_ascii_case(expected) || (key != "sha256" && *value != expected) =>
            {
                let what = match key {
                    "file" => "a signature of another file",
                    "version" => "a signature of another version",
                    _ => "a signature of other bytes",
                };
                return Some(format!(
                    "its trusted comment names {key}:{}, not {key}:{expected}: {what}",
                    crate::sanitize::display_text(value, false)
                ));
            }
            Some(_) => {}
        }
    }
    None
}

/// Opens a file to verify a signature over, refusing anything but a regular file.
pub(crate) fn open_signed(path: &Path) -> Result<File> {
    limits::open_regular(path, false, "signed file")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unencrypted_key() -> SigningKey {
        let pair = generate(&PasswordSource::default(), true).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.key");
        std::fs::write(&path, pair.secret_box.as_bytes()).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let key =
            load_signing_key(&path, &PasswordSource::default(), KeyPermissions::Strict, &|_| {}).unwrap();
        assert_eq!(key.key_id(), pair.key_id);
        key
    }

    #[test]
    fn signatures_are_deterministic_and_verify_with_the_minisign_crate() {
        let key = unencrypted_key();
        let data = b"release bytes".to_vec();
        let hash = prehash(&data[..]).unwrap();
        let one = key.sign(&hash, "file:a.zip version:1.0.0 sha256:ab source_date_epoch:1");
        let two = key.sign(&hash, "file:a.zip version:1.0.0 sha256:ab source_date_epoch:1");
        assert_eq!(one, two);
        let dir = tempfile::tempdir().unwrap();
        let signature_path = dir.path().join("a.zip.minisig");
        std::fs::write(&signature_path, &one).unwrap();
        let public = PublicKey::from_base64(&key.public_key_base64()).unwrap();
        let comment = verify(&public, &signature_path, io::Cursor::new(data.clone())).unwrap().unwrap();
        assert_eq!(comment, "file:a.zip version:1.0.0 sha256:ab source_date_epoch:1");
        let mut other = data;
        other[0] ^= 1;
        let problem = verify(&public, &signature_path, io::Cursor::new(other)).unwrap().unwrap_err();
        assert!(problem.contains("does not match"), "{problem}");
    }

    #[test]
    fn trusted_comment_must_name_the_file_version_and_digest() {
        let comment = trusted_comment("a-v1.0.0.zip", "1.0.0", "ab", 5);
        assert_eq!(check_trusted_comment(&comment, "a-v1.0.0.zip", Some("1.0.0"), "ab"), None);
        assert!(
            check_trusted_comment(&comment, "a-v1.0.1.zip", Some("1.0.1"), "ab")
                .unwrap()
                .contains("another file")
        );
        assert!(
            check_trusted_comment(&comment, "a-v1.0.0.zip", Some("1.0.0"), "cd")
                .unwrap()
                .contains("other bytes")
        );
        assert!(
            check_trusted_comment("timestamp:1", "a", Some("1"), "ab").unwrap().contains("no file: field")
        );
        let twice = format!("{comment} file:b.zip");
        assert!(
            check_trusted_comment(&twice, "a-v1.0.0.zip", Some("1.0.0"), "ab")
                .unwrap()
                .contains("more than once")
        );
    }

    #[test]
    fn a_key_asking_for_endless_scrypt_work_is_refused() {
        let mut decoded = vec![0u8; SECRET_KEY_LEN];
        decoded[38..46].copy_from_slice(&(1u64 << 25).to_le_bytes());
        decoded[46..54].copy_from_slice(&(1u64 << 30).to_le_bytes());
        assert_eq!(check_kdf_limits(&decoded), Ok(()));
        decoded[38..46].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(check_kdf_limits(&decoded).unwrap_err().contains("more scrypt work"));
    }

    /// Attack: any single-byte change to a signature file (past its untrusted comment, which the
    /// format leaves unsigned) or one flipped bit in the signed bytes must not verify.
    /// Seeded; `MMOPS_SIGNING_SEED=N` replays another sequence.
    #[test]
    fn no_single_byte_change_to_signature_or_data_verifies() {
        let key = unencrypted_key();
        let public = PublicKey::from_base64(&key.public_key_base64()).unwrap();
        let data: Vec<u8> = (0..4096u32).map(|index| (index * 31 % 251) as u8).collect();
        let comment = trusted_comment("a-v1.0.0.zip", "1.0.0", &"ab".repeat(32), 7);
        let signature = key.sign(&prehash(&data[..]).unwrap(), &comment).into_bytes();
        let signed_from = signature.iter().position(|&byte| byte == b'\n').unwrap() + 1;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.zip.minisig");
        let mut seed: u64 =
            std::env::var("MMOPS_SIGNING_SEED").ok().and_then(|text| text.parse().ok()).unwrap_or(0x5eed);
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let trials = 600;
        for trial in 0..trials {
            let mut text = signature.clone();
            let mut bytes = data.clone();
            if trial % 2 == 0 {
                let at = signed_from + (next() % (text.len() - signed_from) as u64) as usize;
                text[at] = text[at].wrapping_add(1 + (next() % 255) as u8);
            } else {
                let at = (next() % bytes.len() as u64) as usize;
                bytes[at] ^= 1 << (next() % 8);
            }
            std::fs::write(&path, &text).unwrap();
            if let Ok(found) = verify(&public, &path, io::Cursor::new(bytes)).unwrap() {
                panic!("trial {trial}: a changed signature or input verified (comment {found:?})");
            }
        }
        #[allow(clippy::print_stderr)]
        {
            eprintln!("signature tamper trials: {trials}");
        }
    }
}
