//! Signed, attested releases end to end: `bundle keygen`, `bundle --sign`, the provenance
//! statement, and `bundle verify --pubkey/--pubkey-file/--rebuild`, cross-checked with the real
//! `minisign` binary both ways (mmops signs, minisign verifies; minisign makes keys and signs,
//! mmops verifies), and every artifact tampered with in turn.

use std::os::unix::fs::PermissionsExt;
use std::process::Output;

use serde_json::Value;

use super::mirror::{Dependency, EntrySpec, KeygenDoc, Sha256Digest, Statement, Subject};
use super::*;
use crate::support::tool_available;

const PASSWORD: &str = "correct horse battery staple";
const SIGNATURE: &str = "artifacts/release/mm-bot-v1.4.0.zip.minisig";
const PROVENANCE_SIGNATURE: &str = "artifacts/release/mm-bot-v1.4.0.zip.intoto.json.minisig";
const EPOCH: &str = "1760184000";

fn minisign_available() -> bool {
    tool_available("minisign", "apt-get install minisign")
}

fn minisign(env: &TestEnv, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new("minisign")
        .args(args)
        .current_dir(env.root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run minisign");
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

/// `mmops ARGS` in the repository with the password in the environment and a pinned epoch; the
/// caller states exit code, stdout and stderr.
fn signed<'a>(env: &'a TestEnv, args: &[&str]) -> Check<'a> {
    env.check(args)
        .env("MMOPS_SIGNING_PASSWORD", PASSWORD)
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .env("CI_FAKE_UTC", "")
}

const KEYGEN_MARKER: &str = "| bundle_keygen | OK | SIGNING_KEY=keys/mmops.pub |";

fn keygen(env: &TestEnv) -> Run {
    signed(env, &["bundle", "keygen", "--out", "keys"])
        .code(0)
        .stdout_contains(&format!("\n{KEYGEN_MARKER}\n"))
        .stderr_empty()
        .run()
}

/// Signs a release of whatever VERSION says: exit 0, the OK marker, nothing on stderr.
fn sign_release(env: &TestEnv) {
    signed(env, &["bundle", "--sign", "keys/mmops.key"])
        .code(0)
        .stdout_contains("\n| bundle | OK | RELEASE_BUNDLE=artifacts/release/mm-bot-v")
        .stderr_empty()
        .run();
}

fn verify_with_key<'a>(env: &'a TestEnv, extra: &[&str]) -> Check<'a> {
    let mut args = vec!["bundle", "verify", ZIP, "--pubkey-file", "keys/mmops.pub"];
    args.extend_from_slice(extra);
    env.check(args)
}

/// `bundle verify` that finds problems: exit 1, `FAIL` lines and the FAIL marker, no stderr.
fn fails(check: Check<'_>) -> Run {
    check
        .code(1)
        .stdout_contains("\nFAIL ")
        .stdout_contains(&format!("\n{VERIFY_FAIL}\n"))
        .stderr_empty()
        .run()
}

/// `bundle verify` that passes: exit 0, the OK marker, no stderr.
fn passes(check: Check<'_>) -> Run {
    check.code(0).stdout_contains(&format!("\n{VERIFY_OK}\n")).stderr_empty().run()
}

fn problems(run: &Run) -> Vec<String> {
    run.stdout.lines().filter_map(|line| line.strip_prefix("FAIL ")).map(str::to_string).collect()
}

/// A provenance statement, read into its typed mirror.
fn statement_of(env: &TestEnv, path: &str) -> Statement {
    serde_json::from_str(&env.read(path)).expect("the provenance matches its mirror")
}

fn mode(env: &TestEnv, path: &str) -> u32 {
    fs::metadata(env.path(path)).unwrap().permissions().mode() & 0o777
}

#[test]
fn keygen_writes_minisign_keys_0600_and_never_overwrites() {
    let env = TestEnv::new();
    let run = keygen(&env);
    let public = env.read("keys/mmops.pub");
    let key_id = public.lines().next().unwrap().rsplit(' ').next().unwrap().to_string();
    assert_eq!(key_id.len(), 16, "{public}");
    assert!(run.stdout.contains(&format!("key id:     {key_id}\n")), "{}", run.stdout);
    assert_eq!(run.last_line(), KEYGEN_MARKER);
    assert_eq!(mode(&env, "keys/mmops.key"), 0o600);
    assert!(env.read("keys/mmops.key").starts_with("untrusted comment: mmops encrypted secret key\n"));
    assert!(!run.stdout.contains(PASSWORD) && !env.read("keys/mmops.key").contains(PASSWORD));

    // A second keygen into the same folder: exit 2, both files untouched.
    let secret = env.read("keys/mmops.key");
    signed(&env, &["bundle", "keygen", "--out", "keys", "--unencrypted"])
        .code(2)
        .stdout_empty()
        .stderr_is(
            "mmops: error: keys/mmops.key already exists; mmops never overwrites a key: move it away or choose \
             another --out\n",
        )
        .run();
    assert_eq!(env.read("keys/mmops.key"), secret);
    assert_eq!(env.read("keys/mmops.pub"), public);

    // Only the public key left behind still blocks: a new secret key must not orphan it.
    fs::remove_file(env.path("keys/mmops.key")).unwrap();
    signed(&env, &["bundle", "keygen", "--out", "keys"])
        .code(2)
        .stdout_empty()
        .stderr_contains("mmops: error: keys/mmops.pub already exists")
        .run();
    assert!(!env.exists("keys/mmops.key"));

    // An encrypted key with no password source and no terminal: exit 2, nothing written.
    env.check(["bundle", "keygen", "--out", "other"])
        .code(2)
        .stdout_empty()
        .stderr_contains("mmops: error: ")
        .stderr_contains("needs a password and there is no terminal")
        .run();
    assert!(!env.exists("other"));

    // --password-file: the first line; an empty one is refused.
    env.write("pw.txt", format!("{PASSWORD}\n"));
    env.check(["bundle", "keygen", "--out", "filed", "--password-file", "pw.txt"])
        .code(0)
        .stdout_contains("\n| bundle_keygen | OK | SIGNING_KEY=filed/mmops.pub |\n")
        .stderr_empty()
        .run();
    env.write("empty.txt", "\n");
    env.check(["bundle", "keygen", "--out", "empty", "--password-file", "empty.txt"])
        .code(2)
        .stdout_empty()
        .stderr_contains("mmops: error: ")
        .stderr_contains("empty.txt is empty")
        .run();
    assert!(!env.exists("empty"));

    let document: KeygenDoc = env
        .check(["--format", "json", "bundle", "keygen", "--out", "plain", "--unencrypted"])
        .code(0)
        .stdout(Expect::Anything)
        .stderr_empty()
        .run()
        .json_as();
    let public = env.read("plain/mmops.pub");
    let mut public_lines = public.lines();
    let plain_id = public_lines.next().unwrap().rsplit(' ').next().unwrap();
    assert!(!document.encrypted);
    assert_eq!(document.secret_key, "plain/mmops.key");
    assert_eq!(document.public_key, "plain/mmops.pub");
    assert_eq!(document.key_id, plain_id);
    assert_eq!(document.public_key_base64, public_lines.next().unwrap());
    assert_eq!(document.tool, "bundle_keygen");
    assert_eq!(document.status, Status::Ok);
    assert_eq!(document.marker, "SIGNING_KEY=plain/mmops.pub");
    assert_eq!(mode(&env, "plain/mmops.key"), 0o600);
}

#[test]
fn mmops_signatures_verify_with_minisign_and_are_reproducible() {
    if !minisign_available() {
        return;
    }
    let env = repo();
    keygen(&env);
    let run = signed(&env, &["bundle", "--sign", "keys/mmops.key"])
        .code(0)
        .stdout_contains(&format!("\n{MARKER}\n"))
        .stderr_empty()
        .run();
    let key_id = env.read("keys/mmops.pub").lines().next().unwrap().rsplit(' ').next().unwrap().to_string();
    assert!(run.stdout.contains(&format!("signature: {SIGNATURE} (key id {key_id})\n")), "{}", run.stdout);
    assert!(
        run.stdout.contains(&format!("provenance signature: {PROVENANCE_SIGNATURE}\n")),
        "{}",
        run.stdout
    );
    assert_eq!(run.last_line(), MARKER);
    let zip_hash = sha256_hex(&fs::read(env.path(ZIP)).unwrap());
    let comment = format!("file:mm-bot-v1.4.0.zip version:1.4.0 sha256:{zip_hash} source_date_epoch:{EPOCH}");

    // The real minisign accepts it and prints the trusted comment mmops wrote.
    let checked = minisign(&env, &["-Vm", ZIP, "-p", "keys/mmops.pub"], "");
    assert!(checked.status.success(), "{}", String::from_utf8_lossy(&checked.stderr));
    let said =
        String::from_utf8_lossy(&checked.stdout).into_owned() + &String::from_utf8_lossy(&checked.stderr);
    assert!(said.contains(&format!("Trusted comment: {comment}\n")), "{said}");
    let checked = minisign(&env, &["-Vm", PROVENANCE, "-p", "keys/mmops.pub"], "");
    assert!(checked.status.success(), "{}", String::from_utf8_lossy(&checked.stderr));
    // "ED" (prehashed Ed25519) is "RU" in base64, whatever the key id after it.
    assert!(env.read(SIGNATURE).starts_with("untrusted comment: signature from mmops secret key\nRU"));

    // mmops verifies it with the key file and with the base64 key.
    passes(
        verify_with_key(&env, &[])
            .stdout_contains(&format!("\nsignature: ok, key id {key_id}, trusted comment: {comment}\n"))
            .stdout_contains("\nprovenance: ok, signature ok\n"),
    );
    let base64 = env.read("keys/mmops.pub").lines().nth(1).unwrap().to_string();
    let document: VerifyDoc = env
        .check(["--format", "json", "bundle", "verify", ZIP, "--pubkey", &base64])
        .code(0)
        .stdout(Expect::Anything)
        .stderr_empty()
        .run()
        .json_as();
    assert_eq!(document.signature, "ok");
    assert_eq!(document.key_id.as_deref(), Some(key_id.as_str()));
    assert_eq!(document.trusted_comment.as_deref(), Some(comment.as_str()));
    assert_eq!(document.provenance, "ok, signature ok");
    assert_eq!(document.sidecar, "ok");
    assert_eq!(document.rebuild, None);
    assert_eq!(document.problems, Vec::<String>::new());

    // Reproducible: the same inputs and epoch give the same zip, provenance and signatures.
    let names = [ZIP, SIDECAR, PROVENANCE, SIGNATURE, PROVENANCE_SIGNATURE];
    let first: Vec<Vec<u8>> = names.iter().map(|name| fs::read(env.path(name)).unwrap()).collect();
    fs::remove_dir_all(env.path("artifacts/release")).unwrap();
    env.write("pw.txt", PASSWORD);
    env.check(["bundle", "--sign", "keys/mmops.key", "--password-file", "pw.txt"])
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .env("CI_FAKE_UTC", "")
        .code(0)
        .stdout_contains(&format!("\n{MARKER}\n"))
        .stderr_empty()
        .run();
    for (name, bytes) in names.iter().zip(&first) {
        assert!(fs::read(env.path(name)).unwrap() == *bytes, "{name} differs on a rebuild");
    }
    // Signing again over an existing identical release changes nothing and says nothing.
    signed(&env, &["bundle", "--sign", "keys/mmops.key"])
        .code(0)
        .stdout_contains("(unchanged, already released with the same bytes)")
        .stdout_contains(&format!("\n{MARKER}\n"))
        .stderr_empty()
        .run();
    let document: CreateDoc = signed(&env, &["--format", "json", "bundle", "--sign", "keys/mmops.key"])
        .code(0)
        .stdout(Expect::Anything)
        .stderr_empty()
        .run()
        .json_as();
    assert_eq!(document.signature.as_deref(), Some(SIGNATURE));
    assert_eq!(document.provenance_signature.as_deref(), Some(PROVENANCE_SIGNATURE));
    assert_eq!(document.provenance, PROVENANCE);
    assert_eq!(document.key_id.as_deref(), Some(key_id.as_str()));
    assert_eq!(document.outcome, Outcome::Unchanged);
    assert_eq!(document.marker, format!("RELEASE_BUNDLE={ZIP}"));
    // Nothing secret in any output: the password is nowhere in the files next to the zip.
    for name in names {
        assert!(!String::from_utf8_lossy(&fs::read(env.path(name)).unwrap()).contains(PASSWORD));
    }
}

#[test]
fn mmops_verifies_and_signs_with_keys_minisign_made_unencrypted_and_encrypted() {
    if !minisign_available() {
        return;
    }
    let env = repo();
    bundle(&env, &[]).code(0).stdout_contains(MARKER).stderr_empty().run();
    let zip_hash = sha256_hex(&fs::read(env.path(ZIP)).unwrap());
    // `minisign -G -W`: no password. minisign signs the zip with the comment mmops requires.
    let made = minisign(&env, &["-G", "-W", "-p", "plain.pub", "-s", "plain.key"], "");
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let comment = format!("file:mm-bot-v1.4.0.zip version:1.4.0 sha256:{zip_hash} source_date_epoch:0");
    let signed_by_minisign = minisign(&env, &["-S", "-s", "plain.key", "-m", ZIP, "-t", &comment], "");
    assert!(signed_by_minisign.status.success(), "{}", String::from_utf8_lossy(&signed_by_minisign.stderr));
    // The provenance is signed too, so the whole release verifies.
    let provenance_hash = sha256_hex(&fs::read(env.path(PROVENANCE)).unwrap());
    let provenance_comment =
        format!("file:mm-bot-v1.4.0.zip.intoto.json version:1.4.0 sha256:{provenance_hash}");
    let out = minisign(&env, &["-S", "-s", "plain.key", "-m", PROVENANCE, "-t", &provenance_comment], "");
    assert!(out.status.success());
    passes(
        env.check(["bundle", "verify", ZIP, "--pubkey-file", "plain.pub"])
            .stdout_contains(&format!("trusted comment: {comment}\n")),
    );

    // A minisign signature with minisign's default comment (a timestamp) names no release.
    let out = minisign(&env, &["-S", "-s", "plain.key", "-m", ZIP], "");
    assert!(out.status.success());
    let run = fails(env.check(["bundle", "verify", ZIP, "--pubkey-file", "plain.pub"]));
    assert!(problems(&run)[0].contains("has no file: field"), "{}", run.stdout);

    // mmops signs with the unencrypted minisign key (chmod 600: minisign -G writes 0600 too).
    fs::remove_file(env.path(SIGNATURE)).unwrap();
    // The release exists with the same bytes: only its signatures are (re)written, and said so.
    bundle(&env, &["--sign", "plain.key"])
        .code(0)
        .stdout_contains(&format!("\n{MARKER}\n"))
        .stderr_is(&format!(
            "mmops: warning: {PROVENANCE_SIGNATURE} was missing or wrong; rewrote it\n\
             mmops: warning: {SIGNATURE} was missing or wrong; rewrote it\n"
        ))
        .run();
    let checked = minisign(&env, &["-Vm", ZIP, "-p", "plain.pub"], "");
    assert!(checked.status.success(), "{}", String::from_utf8_lossy(&checked.stderr));

    // `minisign -G` with a password (scrypt, 1 GiB: the one slow step of this suite).
    let made =
        minisign(&env, &["-G", "-p", "locked.pub", "-s", "locked.key"], &format!("{PASSWORD}\n{PASSWORD}\n"));
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    fs::remove_dir_all(env.path("artifacts/release")).unwrap();
    signed(&env, &["bundle", "--sign", "locked.key"])
        .code(0)
        .stdout_contains(&format!("\n{MARKER}\n"))
        .stderr_empty()
        .run();
    let checked = minisign(&env, &["-Vm", ZIP, "-p", "locked.pub"], "");
    assert!(checked.status.success(), "{}", String::from_utf8_lossy(&checked.stderr));
    // And the other way: minisign signs with its encrypted key, mmops verifies.
    let zip_hash = sha256_hex(&fs::read(env.path(ZIP)).unwrap());
    let comment = format!("file:mm-bot-v1.4.0.zip version:1.4.0 sha256:{zip_hash}");
    let out =
        minisign(&env, &["-S", "-s", "locked.key", "-m", ZIP, "-t", &comment], &format!("{PASSWORD}\n"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    passes(
        env.check(["bundle", "verify", ZIP, "--pubkey-file", "locked.pub"])
            .stdout_contains(&format!("trusted comment: {comment}\n")),
    );
    // The wrong password for minisign's key: exit 2, no trace of the password.
    fs::remove_dir_all(env.path("artifacts/release")).unwrap();
    env.check(["bundle", "--sign", "locked.key"])
        .env("MMOPS_SIGNING_PASSWORD", "not-it-9f2")
        .code(2)
        .stdout_empty()
        .stderr_is("mmops: error: wrong password for the signing key locked.key\n")
        .run();
    assert!(!env.exists("artifacts/release"));
}

#[test]
fn bad_keys_and_passwords_are_refused_before_anything_is_written() {
    let env = repo();
    keygen(&env);
    /// Flags, environment, the exact error.
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case; 5] = [
        (
            &["--sign", "keys/mmops.key"],
            &[("MMOPS_SIGNING_PASSWORD", "guessing-7c1")],
            "mmops: error: wrong password for the signing key keys/mmops.key\n",
        ),
        (
            &["--sign", "keys/mmops.pub"],
            &[],
            "mmops: error: keys/mmops.pub is a minisign public key; --sign needs the secret key (mmops.key from \
             `mmops bundle keygen`)\n",
        ),
        (
            &["--sign", "README.md"],
            &[],
            "mmops: error: README.md: is not a minisign key file (no `untrusted comment:` line)\n",
        ),
        (
            &["--sign", "missing.key"],
            &[],
            "mmops: error: cannot read the signing key missing.key: No such file or directory (os error 2)\n",
        ),
        (
            &["--sign", "keys/mmops.key"],
            &[],
            "mmops: error: the signing key keys/mmops.key needs a password and there is no terminal to ask on: set \
             MMOPS_SIGNING_PASSWORD or pass --password-file FILE\n",
        ),
    ];
    for (args, vars, stderr) in cases {
        let mut all = vec!["bundle"];
        all.extend_from_slice(args);
        let mut check = env.check(all);
        for (key, value) in vars {
            check = check.env(key, value);
        }
        check.code(2).stdout_empty().stderr_is(stderr).run();
        assert!(!env.exists("artifacts/release"), "{args:?} wrote something");
    }

    // Attack: a key file asking for endless scrypt work (opslimit 2^64-1) would hold the CPU
    // before any password check; refused at once.
    {
        use ct_codecs::{Base64, Decoder, Encoder};
        let text = env.read("keys/mmops.key");
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        let mut decoded = Base64::decode_to_vec(&lines[1], None).unwrap();
        decoded[38..46].copy_from_slice(&u64::MAX.to_le_bytes());
        lines[1] = Base64::encode_to_string(&decoded).unwrap();
        env.write("greedy.key", lines.join("\n") + "\n");
        fs::set_permissions(env.path("greedy.key"), fs::Permissions::from_mode(0o600)).unwrap();
        let started = std::time::Instant::now();
        signed(&env, &["bundle", "--sign", "greedy.key"])
            .code(2)
            .stdout_empty()
            .stderr_is(&format!(
                "mmops: error: greedy.key: the key asks for more scrypt work than minisign ever uses (opslimit {}, \
                 memlimit 33554432); refusing it\n",
                u64::MAX
            ))
            .run();
        assert!(started.elapsed() < std::time::Duration::from_secs(30));
        assert!(!env.exists("artifacts/release"));
    }

    // A key others can read: a warning like ssh's, or refused with --strict-key-perms.
    fs::set_permissions(env.path("keys/mmops.key"), fs::Permissions::from_mode(0o644)).unwrap();
    signed(&env, &["bundle", "--sign", "keys/mmops.key", "--strict-key-perms"])
        .code(2)
        .stdout_empty()
        .stderr_is(
            "mmops: error: the signing key keys/mmops.key is accessible by group or others (mode 0644); run chmod \
             600 keys/mmops.key; refused under --strict-key-perms, nothing was written\n",
        )
        .run();
    assert!(!env.exists("artifacts/release"));
    signed(&env, &["bundle", "--sign", "keys/mmops.key"])
        .code(0)
        .stdout_contains(&format!("\n{MARKER}\n"))
        .stderr_is(
            "mmops: warning: the signing key keys/mmops.key is accessible by group or others (mode 0644); run \
             chmod 600 keys/mmops.key\n",
        )
        .run();
    // The password comes from a file or the environment, never from a flag value: clap refuses
    // the flag (and quotes the value, which is why no such flag exists).
    env.check(["bundle", "--sign", "keys/mmops.key", "--password", PASSWORD])
        .code(2)
        .stdout_empty()
        .stderr_contains("error: unexpected argument '--password' found")
        .run();
}

#[test]
fn verify_names_each_tampered_artifact() {
    if !minisign_available() {
        return;
    }
    let env = repo();
    keygen(&env);
    sign_release(&env);
    // A second release, signed with the same key, to swap pieces in from.
    env.write("VERSION", "1.4.1\n");
    sign_release(&env);
    env.write("VERSION", "1.4.0\n");
    passes(verify_with_key(&env, &[]));
    let pristine: Vec<(&str, Vec<u8>)> = [ZIP, SIDECAR, PROVENANCE, SIGNATURE, PROVENANCE_SIGNATURE]
        .into_iter()
        .map(|name| (name, fs::read(env.path(name)).unwrap()))
        .collect();
    let restore = || {
        for (name, bytes) in &pristine {
            fs::write(env.path(name), bytes).unwrap();
        }
    };
    let other_zip = "artifacts/release/mm-bot-v1.4.1.zip";
    let zip_name = "mm-bot-v1.4.0.zip";

    // 1. One byte of the zip (sidecar fixed up: the attacker controls both).
    let mut bytes = pristine[0].1.clone();
    let offset = open_zip(&env.path(ZIP)).by_name("README.md").unwrap().data_start().unwrap() as usize;
    bytes[offset] ^= 1;
    fs::write(env.path(ZIP), &bytes).unwrap();
    fs::write(env.path(SIDECAR), format!("{}  {zip_name}\n", sha256_hex(&bytes))).unwrap();
    let run = fails(verify_with_key(&env, &[]));
    let found = problems(&run);
    assert!(
        found.contains(&format!(
            "{SIGNATURE}: does not match the signed file's bytes (the signature does not verify)"
        )),
        "{found:?}"
    );
    assert!(
        found.iter().any(|line| line.starts_with(&format!("{PROVENANCE}: its subject digest is sha256")))
    );
    assert_eq!(run.last_line(), "| bundle_verify | FAIL | BUNDLE_VERIFY=FAIL |");
    restore();

    // 2. One byte of the signature itself.
    let text = env.read(SIGNATURE);
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    // Character 40 of the base64 line lies inside the 64 signature bytes.
    let flipped = if lines[1].as_bytes()[40] == b'A' { "B" } else { "A" };
    lines[1].replace_range(40..41, flipped);
    fs::write(env.path(SIGNATURE), lines.join("\n") + "\n").unwrap();
    let run = fails(verify_with_key(&env, &[]));
    assert_eq!(
        problems(&run),
        [format!("{SIGNATURE}: does not match the signed file's bytes (the signature does not verify)")]
    );
    restore();

    // 3. The trusted comment rewritten (to claim another version).
    fs::write(env.path(SIGNATURE), env.read(SIGNATURE).replace("version:1.4.0", "version:1.4.9")).unwrap();
    let run = fails(verify_with_key(&env, &[]));
    assert_eq!(
        problems(&run),
        [format!("{SIGNATURE}: its trusted comment was altered (the comment signature does not verify)")]
    );
    restore();

    // 4. A digest in the provenance changed: its own signature and the manifest both disagree.
    let real = sha256_hex(REPO_FILES[1].1.as_bytes());
    fs::write(env.path(PROVENANCE), env.read(PROVENANCE).replace(&real, &"0".repeat(64))).unwrap();
    let run = fails(verify_with_key(&env, &[]));
    assert_eq!(
        problems(&run),
        [
            format!(
                "{PROVENANCE_SIGNATURE}: does not match the signed file's bytes (the signature does not verify)"
            ),
            format!(
                "{PROVENANCE}: README.md: it records sha256 {}, MANIFEST.json says {real}",
                "0".repeat(64)
            ),
        ]
    );
    // Without a key the digest mismatch is still caught.
    let run = fails(env.check(["bundle", "verify", ZIP]));
    assert_eq!(problems(&run).len(), 1);
    restore();

    // 5. Another release's valid signature next to this zip: it does not match these bytes.
    fs::copy(env.path(format!("{other_zip}.minisig")), env.path(SIGNATURE)).unwrap();
    let run = fails(verify_with_key(&env, &[]));
    assert_eq!(
        problems(&run),
        [format!("{SIGNATURE}: does not match the signed file's bytes (the signature does not verify)")]
    );
    restore();

    // 6. Another release renamed, with its valid signature, sidecar and provenance: the
    //    signature verifies, but its trusted comment names the other release.
    for suffix in ["", ".minisig", ".intoto.json", ".intoto.json.minisig"] {
        fs::copy(env.path(format!("{other_zip}{suffix}")), env.path(format!("{ZIP}{suffix}"))).unwrap();
    }
    let bytes = fs::read(env.path(ZIP)).unwrap();
    fs::write(env.path(SIDECAR), format!("{}  {zip_name}\n", sha256_hex(&bytes))).unwrap();
    let run = fails(verify_with_key(&env, &[]));
    let found = problems(&run);
    assert!(
        found.contains(&format!(
            "{SIGNATURE}: its trusted comment names file:mm-bot-v1.4.1.zip, not file:{zip_name}: a signature of \
             another file"
        )),
        "{found:?}"
    );
    assert!(found.contains(&format!(
        "{PROVENANCE}: its subject is \"mm-bot-v1.4.1.zip\", not \"{zip_name}\": provenance of another release"
    )));
    restore();

    // 7. Signed by another key; and a missing signature when a key is given.
    env.check(["bundle", "keygen", "--out", "other", "--unencrypted"])
        .code(0)
        .stdout_contains("\n| bundle_keygen | OK | SIGNING_KEY=other/mmops.pub |\n")
        .stderr_empty()
        .run();
    let other_id =
        env.read("other/mmops.pub").lines().next().unwrap().rsplit(' ').next().unwrap().to_string();
    let own_id = env.read("keys/mmops.pub").lines().next().unwrap().rsplit(' ').next().unwrap().to_string();
    let run = fails(env.check(["bundle", "verify", ZIP, "--pubkey-file", "other/mmops.pub"]));
    assert_eq!(
        problems(&run)[0],
        format!("{SIGNATURE}: was made by key {own_id}, not by the given key {other_id}")
    );
    fs::remove_file(env.path(SIGNATURE)).unwrap();
    let run = fails(verify_with_key(&env, &[]));
    assert_eq!(
        problems(&run),
        [format!("{SIGNATURE}: missing; a key was given, so the release must be signed")]
    );
    // Without a key, verify says plainly that authenticity was not checked, and passes.
    passes(env.check(["bundle", "verify", ZIP]).stdout_contains(
        "signature: not checked (no --pubkey or --pubkey-file): authenticity was not checked",
    ));
    restore();

    // Replaced with --force but not signed: the old signatures stay, with a warning each.
    env.write("README.md", "# mm-bot, edited\n");
    signed(&env, &["bundle", "--force"])
        .code(0)
        .stdout_contains(&format!("\n{MARKER}\n"))
        .stderr_is(&format!(
            "mmops: warning: {SIGNATURE} signs the replaced release and no longer matches; sign again with --sign, or \
             remove it\nmmops: warning: {PROVENANCE_SIGNATURE} signs the replaced release and no longer matches; sign \
             again with --sign, or remove it\n"
        ))
        .run();
    let run = fails(verify_with_key(&env, &[]));
    assert_eq!(
        problems(&run),
        [
            format!("{SIGNATURE}: does not match the signed file's bytes (the signature does not verify)"),
            format!(
                "{PROVENANCE_SIGNATURE}: does not match the signed file's bytes (the signature does not verify)"
            ),
        ]
    );
    restore();

    // Bad public keys are input errors (exit 2).
    env.check(["bundle", "verify", ZIP, "--pubkey", "not-a-key"])
        .code(2)
        .stdout_empty()
        .stderr_contains("mmops: error: --pubkey: not a minisign public key")
        .run();
    env.check(["bundle", "verify", ZIP, "--pubkey-file", "keys/mmops.key"])
        .code(2)
        .stdout_empty()
        .stderr_is(
            "mmops: error: --pubkey-file keys/mmops.key is a secret key; give the public key (mmops.pub)\n",
        )
        .run();
}

#[test]
fn provenance_records_the_recipe_inputs_and_git_commit() {
    let env = repo();
    if tool_available("git", "apt-get install git") {
        let git = |args: &[&str]| {
            let status = Command::new("git")
                .args([
                    "-c",
                    "user.name=t",
                    "-c",
                    "user.email=t@example.invalid",
                    "-c",
                    "commit.gpgsign=false",
                ])
                .args(args)
                .current_dir(env.root())
                .stdout(Stdio::null())
                .status()
                .unwrap();
            assert!(status.success(), "git {args:?}");
        };
        git(&["init", "-q"]);
        env.write(".gitignore", "artifacts/release/\n");
        git(&["add", "-A"]);
        git(&["commit", "-q", "-m", "release"]);
        let head = Command::new("git").args(["rev-parse", "HEAD"]).current_dir(env.root()).output().unwrap();
        let head = String::from_utf8(head.stdout).unwrap().trim().to_string();
        bundle(&env, &[]).code(0).stdout_contains(MARKER).stderr_empty().run();
        let commit = |path: &str| match statement_of(&env, path)
            .predicate
            .build_definition
            .resolved_dependencies
            .into_iter()
            .next()
        {
            Some(Dependency::Commit(commit)) => commit,
            other => panic!("the first dependency is not the source commit: {other:?}"),
        };
        let clean = commit(PROVENANCE);
        assert_eq!((clean.uri.as_str(), clean.digest.git_commit.as_str()), ("git+file:.", head.as_str()));
        assert!(!clean.annotations.dirty);
        // A tree with uncommitted changes is flagged.
        env.write("CHANGELOG.md", "## 1.4.0\n- faster\n- dirty\n");
        bundle(&env, &["--out-dir", "artifacts/dirty"])
            .code(0)
            .stdout_contains("| bundle | OK | RELEASE_BUNDLE=artifacts/dirty/mm-bot-v1.4.0.zip |\n")
            .stderr_empty()
            .run();
        let dirty = commit("artifacts/dirty/mm-bot-v1.4.0.zip.intoto.json");
        assert_eq!(dirty.digest.git_commit, head);
        assert!(dirty.annotations.dirty);
        return;
    }
    bundle(&env, &[]).code(0).stdout_contains(MARKER).stderr_empty().run();
}

#[test]
fn provenance_is_an_in_toto_slsa_statement_of_the_zip_and_manifest() {
    let env = repo();
    bundle(&env, &["--level", "9"]).code(0).stdout_contains(MARKER).stderr_empty().run();
    let text = env.read(PROVENANCE);
    let statement = statement_of(&env, PROVENANCE);
    let zip_bytes = fs::read(env.path(ZIP)).unwrap();
    assert_eq!(statement.statement_type, "https://in-toto.io/Statement/v1");
    assert_eq!(statement.predicate_type, "https://slsa.dev/provenance/v1");
    assert_eq!(
        statement.subject,
        [Subject {
            name: "mm-bot-v1.4.0.zip".into(),
            digest: Sha256Digest { sha256: sha256_hex(&zip_bytes) }
        }]
    );
    let definition = statement.predicate.build_definition;
    assert_eq!(definition.build_type, "urn:mmops:bundle:v1");
    let recipe = definition.external_parameters;
    assert_eq!((recipe.name.as_str(), recipe.version.as_str(), recipe.level), ("mm-bot", "1.4.0", 9));
    assert_eq!(
        (recipe.config_origin.as_str(), recipe.include_reports),
        ("built-in file list (deploy/release/bundle.yaml)", true)
    );
    assert_eq!(
        (recipe.reports_dir.as_str(), recipe.out_dir.as_str()),
        ("artifacts/reports", "artifacts/release")
    );
    // The built-in list, as loaded: six files and three reports, by path.
    let paths = |entries: &[EntrySpec]| -> Vec<String> {
        entries.iter().map(|entry| entry.path.clone().expect("the built-in list names paths")).collect()
    };
    let listed_files: Vec<String> = REPO_FILES.iter().map(|(path, _)| path.to_string()).collect();
    assert_eq!(paths(&recipe.config.files), listed_files);
    assert_eq!(paths(&recipe.config.reports), ["SOAK_RESULTS.md", "soak_metrics.json", "readiness.json"]);
    // Not a git work tree: no commit is claimed; the inputs are the manifest's list.
    let manifest = manifest_of(&env.path(ZIP));
    let recorded: Vec<(String, String)> = definition
        .resolved_dependencies
        .into_iter()
        .map(|dependency| match dependency {
            Dependency::Input(input) => (input.name, input.digest.sha256),
            Dependency::Commit(commit) => panic!("a commit outside a git work tree: {commit:?}"),
        })
        .collect();
    let listed: Vec<(String, String)> =
        manifest.files.iter().map(|file| (file.path.clone(), file.sha256.clone())).collect();
    assert_eq!(recorded, listed);
    let run_details = statement.predicate.run_details;
    assert_eq!(run_details.builder.id, "urn:mmops:builder:bundle");
    assert_eq!(run_details.builder.version.mmops, env!("CARGO_PKG_VERSION"));
    let metadata = run_details.metadata;
    assert_eq!((metadata.started_on.as_str(), metadata.finished_on.as_str()), (FAKE_NOW, FAKE_NOW));
    assert_eq!(metadata.source_date_epoch, 1_760_184_000);
    // Document-level property, so read untyped: sorted keys, two-space indent, one trailing
    // newline, the bytes serde_json would write.
    let statement: Value = serde_json::from_str(&text).unwrap();
    // Sorted keys, two-space indent, one trailing newline: the bytes serde_json would write.
    assert_eq!(text, serde_json::to_string_pretty(&statement).unwrap() + "\n");
}

#[test]
fn rebuild_passes_on_the_same_tree_and_names_the_entry_that_changed() {
    let env = repo();
    env.check(["bundle", "--level", "3"])
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .env("CI_FAKE_UTC", "")
        .code(0)
        .stdout_contains(MARKER)
        .stderr_empty()
        .run();
    // No SOURCE_DATE_EPOCH now: the recorded one is used, and the recorded level.
    passes(
        env.check(["bundle", "verify", ZIP, "--rebuild"])
            .stdout_contains("\nrebuild: identical: rebuilt from this tree, byte for byte\n"),
    );
    let document: VerifyDoc = env
        .check(["--format", "json", "bundle", "verify", ZIP, "--rebuild"])
        .code(0)
        .stdout(Expect::Anything)
        .stderr_empty()
        .run()
        .json_as();
    assert_eq!(document.rebuild.as_deref(), Some("identical: rebuilt from this tree, byte for byte"));
    // From another folder with -C: the zip path is relative to the tree, as every path is.
    let outside = TestEnv::new();
    passes(
        outside
            .check(["-C", env.root().to_str().unwrap(), "bundle", "verify", ZIP, "--rebuild"])
            .stdout_contains("\nrebuild: identical: rebuilt from this tree, byte for byte\n"),
    );

    env.write("deploy/policies/rollback.yaml", "hard_gates: none\n");
    let run = fails(env.check(["bundle", "verify", ZIP, "--rebuild"]));
    let found = problems(&run);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with(
            "rebuild: the first entry that differs is deploy/policies/rollback.yaml: content digest"
        ),
        "{found:?}"
    );
    assert!(found[0].contains(&format!("sha256 {}", sha256_hex(b"hard_gates: rollback\n"))), "{found:?}");
    assert!(run.stdout.contains("rebuild: differs\n"));
    let document: VerifyDoc = env
        .check(["--format", "json", "bundle", "verify", ZIP, "--rebuild"])
        .code(1)
        .stdout(Expect::Anything)
        .stderr_empty()
        .run()
        .json_as();
    assert_eq!((document.rebuild.as_deref(), document.problems), (Some("differs"), found));

    // A tree missing an input cannot rebuild it: named, exit 1.
    fs::remove_file(env.path("deploy/policies/rollback.yaml")).unwrap();
    let run = fails(env.check(["bundle", "verify", ZIP, "--rebuild"]));
    assert!(problems(&run)[0].starts_with("rebuild: this tree cannot rebuild it:"), "{}", run.stdout);

    // No provenance, no recipe.
    fs::remove_file(env.path(PROVENANCE)).unwrap();
    let run = fails(env.check(["bundle", "verify", ZIP, "--rebuild"]));
    assert_eq!(
        problems(&run),
        [format!("rebuild: {PROVENANCE} is missing; --rebuild rebuilds from the recipe it records")]
    );
    // Nothing is left in the temporary folder.
    let leftovers: Vec<_> = fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.file_name().to_string_lossy().contains("-rebuild-"))
        .filter(|entry| entry.path().join("mm-bot-v1.4.0.zip").exists())
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn rebuild_names_an_order_change_and_a_time_change() {
    let env = repo();
    env.write("list.yaml", "files:\n  - path: VERSION\n  - path: README.md\n  - path: CHANGELOG.md\n");
    env.check(["bundle", "--config", "list.yaml", "--no-reports"])
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .env("CI_FAKE_UTC", "")
        .code(0)
        .stdout_contains(MARKER)
        .stderr_empty()
        .run();
    passes(env.check(["bundle", "verify", ZIP, "--rebuild"]));
    // The recorded recipe is tampered with (order swapped): the rebuild names the order.
    let swapped = env
        .read(PROVENANCE)
        .replacen("\"path\": \"VERSION\"", "\"path\": \"@@\"", 1)
        .replacen("\"path\": \"README.md\"", "\"path\": \"VERSION\"", 1)
        .replacen("\"path\": \"@@\"", "\"path\": \"README.md\"", 1);
    fs::write(env.path(PROVENANCE), swapped).unwrap();
    let run = fails(env.check(["bundle", "verify", ZIP, "--rebuild"]));
    let found = problems(&run);
    assert!(
        found.iter().any(|line| line
            == "rebuild: order: entry 1 is VERSION in the release, README.md in the rebuild (the same entries in \
                another order)"),
        "{found:?}"
    );
    // The recorded time changed: the first entry differs in its modification time.
    // The same bytes again: the release is unchanged, and the tampered provenance restored.
    env.check(["bundle", "--config", "list.yaml", "--no-reports", "--force"])
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .env("CI_FAKE_UTC", "")
        .code(0)
        .stdout_contains(&format!("bundle:  {ZIP} (unchanged, already released with the same bytes)\n"))
        .stdout_contains(MARKER)
        .stderr_is(&format!("mmops: warning: {PROVENANCE} was missing or wrong; rewrote it\n"))
        .run();
    let later = env
        .read(PROVENANCE)
        .replace(&format!("\"sourceDateEpoch\": {EPOCH}"), "\"sourceDateEpoch\": 1760270400");
    fs::write(env.path(PROVENANCE), later).unwrap();
    let run = fails(env.check(["bundle", "verify", ZIP, "--rebuild"]));
    let found = problems(&run);
    assert!(
        found.iter().any(|line| line
            == "rebuild: the first entry that differs is VERSION: same content, metadata: modification time (the \
                build time: SOURCE_DATE_EPOCH)"),
        "{found:?}"
    );
}

/// The password typed on a terminal: asked for twice, never echoed, never in the output. The
/// terminal is a real pty from `script`; each password is typed only once the prompt is shown and
/// the terminal's echo is off (read with `stty` on mmops's own tty), so the check cannot race.
#[test]
fn keygen_asks_on_the_terminal_without_echo() {
    if !tool_available("script", "apt-get install util-linux")
        || !tool_available("stty", "apt-get install coreutils")
    {
        return;
    }
    let env = TestEnv::new();
    let command = format!("exec {} bundle keygen --out keys", env!("CARGO_BIN_EXE_mmops"));
    let mut child = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .current_dir(env.root())
        .env_remove("MMOPS_SIGNING_PASSWORD")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut transcript = Vec::new();
    let mut read_until = |marker: &str, transcript: &mut Vec<u8>| {
        let mut byte = [0u8; 1];
        while !String::from_utf8_lossy(transcript).contains(marker) {
            assert_eq!(stdout.read(&mut byte).unwrap(), 1, "ended before {marker:?}: {transcript:?}");
            transcript.push(byte[0]);
        }
    };
    let echo_off = |script_pid: u32| {
        for _ in 0..10_000 {
            let children = fs::read_to_string(format!("/proc/{script_pid}/task/{script_pid}/children"))
                .unwrap_or_default();
            for pid in children.split_whitespace() {
                if let Ok(tty) = fs::read_link(format!("/proc/{pid}/fd/0"))
                    && let Ok(settings) = Command::new("stty").args(["-a", "-F"]).arg(&tty).output()
                    && String::from_utf8_lossy(&settings.stdout)
                        .split_whitespace()
                        .any(|flag| flag == "-echo")
                {
                    return;
                }
            }
            std::thread::yield_now();
        }
        panic!("the terminal's echo was never turned off");
    };
    read_until("Password for the new signing key: ", &mut transcript);
    echo_off(child.id());
    stdin.write_all(format!("{PASSWORD}\n").as_bytes()).unwrap();
    read_until("Password (again): ", &mut transcript);
    echo_off(child.id());
    stdin.write_all(format!("{PASSWORD}\n").as_bytes()).unwrap();
    stdout.read_to_end(&mut transcript).unwrap();
    assert!(child.wait().unwrap().success(), "{}", String::from_utf8_lossy(&transcript));
    let transcript = String::from_utf8_lossy(&transcript).into_owned();
    assert!(!transcript.contains(PASSWORD), "the password was echoed: {transcript}");
    assert!(transcript.contains("| bundle_keygen | OK | SIGNING_KEY=keys/mmops.pub |"), "{transcript}");
    assert_eq!(mode(&env, "keys/mmops.key"), 0o600);
    // The key opens with the password that was typed.
    let repo = repo();
    fs::rename(env.path("keys"), repo.path("keys")).unwrap();
    sign_release(&repo);
}
