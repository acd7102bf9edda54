//! The S3 fixture: one real S3-compatible server (moto) per test binary on 127.0.0.1 and a free
//! port, buckets and objects made through boto3, and a fault-injecting TCP proxy for the cases
//! where the server must change an object or go away in the middle of a run.
//!
//! The server runs under `setpriv --pdeathsig KILL`, started from a thread that lives as long as
//! the test binary, so a killed or finished test binary never leaves it running. Under `CI=true`
//! a missing venv or moto fails the tests; elsewhere they print that they were skipped.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::support::skip_or_fail;

/// The credentials every test uses; the secret must never show up in mmops's output.
pub const ACCESS_KEY: &str = "testing";
pub const SECRET_KEY: &str = "testing-secret-5f2a9c";

const INSTALL: &str = "bash .ci/install-test-tools";

/// A moto server on loopback.
pub struct Moto {
    pub port: u16,
    child: Mutex<Child>,
}

impl Moto {
    /// The shared server of this test binary, or `None` (skipped) when moto is not installed.
    pub fn shared() -> Option<&'static Moto> {
        static SERVER: OnceLock<Option<Moto>> = OnceLock::new();
        SERVER.get_or_init(|| Moto::start(&[])).as_ref()
    }

    /// A server of its own (for a test that kills it or enables authentication).
    pub fn start(env: &[(&str, &str)]) -> Option<Moto> {
        let python = python()?;
        let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let (sender, receiver) = std::sync::mpsc::channel();
        // PR_SET_PDEATHSIG fires when the *thread* that forked the child ends: a thread that
        // lives as long as the process starts it.
        std::thread::spawn(move || {
            let port = free_port();
            let mut command = Command::new("setpriv");
            command
                .args(["--pdeathsig", "KILL", "--"])
                .arg(&python)
                .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            for (key, value) in &env {
                command.env(key, value);
            }
            let child = command.spawn();
            let _ = sender.send(child.map(|child| (port, child)));
            loop {
                std::thread::park();
            }
        });
        let (port, child) = receiver.recv().expect("moto launcher thread").expect("start moto.server");
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto.server did not answer on 127.0.0.1:{port} within 30 s");
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(Moto { port, child: Mutex::new(child) })
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The environment mmops needs to reach this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        env_for(&self.endpoint())
    }

    /// Runs a Python snippet with boto3 client `s3` bound to this server; returns its stdout.
    pub fn python(&self, code: &str) -> String {
        run_python(&self.endpoint(), code)
    }

    pub fn kill(&self) {
        let mut child = self.child.lock().unwrap();
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn env_for(endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY.to_string()),
        ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.to_string()),
        ("AWS_ENDPOINT_URL", endpoint.to_string()),
        ("AWS_ALLOW_HTTP", "true".to_string()),
        ("AWS_REGION", "us-east-1".to_string()),
    ]
}

fn python() -> Option<String> {
    let python = std::env::var("MMOPS_TEST_PYTHON")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/target/test-venv/bin/python").to_string());
    let works = Command::new(&python)
        .args(["-c", "import moto.server, boto3"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !works {
        skip_or_fail(&format!("moto[server] and boto3 are not importable by {python}"), INSTALL);
        return None;
    }
    if Command::new("setpriv").arg("--version").output().is_err() {
        skip_or_fail("setpriv is not installed", "apt-get install util-linux");
        return None;
    }
    Some(python)
}

fn run_python(endpoint: &str, code: &str) -> String {
    let python = std::env::var("MMOPS_TEST_PYTHON")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/target/test-venv/bin/python").to_string());
    let prelude = format!(
        "import boto3, json, time\ns3 = boto3.client('s3', endpoint_url='{endpoint}', region_name='us-east-1', \
         aws_access_key_id='{ACCESS_KEY}', aws_secret_access_key='{SECRET_KEY}')\n"
    );
    let output = Command::new(python).args(["-c", &format!("{prelude}{code}")]).output().expect("run python");
    assert!(output.status.success(), "python failed:\n{code}\n{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A unique bucket name per test (tests share one server).
pub fn bucket(test: &str) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let number = COUNTER.fetch_add(1, Ordering::SeqCst);
    let clean: String =
        test.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
    let mut name = format!("t{number}-{clean}");
    name.truncate(60);
    name.trim_end_matches('-').to_string()
}

/// What the proxy does when it sees a request containing a pattern.
pub enum Fault {
    /// Before forwarding the first request containing the pattern, run this (once).
    Before(&'static str, Box<dyn FnOnce() + Send>),
    /// On the Nth request containing the pattern (1-based), drop every connection and stop
    /// listening: the server is gone as far as mmops can tell.
    KillOn(&'static str, usize),
    /// Only count the requests containing the pattern ([`Proxy::seen`]).
    Count(&'static str),
}

/// A TCP proxy in front of a server, with one fault.
pub struct Proxy {
    pub port: u16,
    pub killed: Arc<AtomicBool>,
    seen: Arc<AtomicUsize>,
}

impl Proxy {
    pub fn start(target_port: u16, fault: Fault) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let killed = Arc::new(AtomicBool::new(false));
        let state = Arc::new(Mutex::new((Some(fault), 0usize, Vec::<TcpStream>::new())));
        let killed_flag = Arc::clone(&killed);
        let seen = Arc::new(AtomicUsize::new(0));
        let seen_outer = Arc::clone(&seen);
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if killed_flag.load(Ordering::SeqCst) {
                    break; // the listener is dropped: new connections are refused
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(("127.0.0.1", target_port)) else { continue };
                state.lock().unwrap().2.extend([client.try_clone().unwrap(), server.try_clone().unwrap()]);
                let (state_in, killed_in, seen_in) =
                    (Arc::clone(&state), Arc::clone(&killed_flag), Arc::clone(&seen));
                let (mut client_read, mut server_write) =
                    (client.try_clone().unwrap(), server.try_clone().unwrap());
                std::thread::spawn(move || {
                    let mut buffer = vec![0u8; 64 * 1024];
                    while let Ok(count) = client_read.read(&mut buffer) {
                        if count == 0 {
                            break;
                        }
                        let chunk = &buffer[..count];
                        let mut guard = state_in.lock().unwrap();
                        let mut kill = false;
                        let mut hook = None;
                        match &guard.0 {
                            Some(Fault::Before(pattern, _)) if contains(chunk, pattern.as_bytes()) => {
                                if let Some(Fault::Before(_, run)) = guard.0.take() {
                                    hook = Some(run);
                                }
                            }
                            Some(Fault::KillOn(pattern, nth)) if contains(chunk, pattern.as_bytes()) => {
                                let nth = *nth;
                                guard.1 += 1;
                                kill = guard.1 >= nth;
                            }
                            Some(Fault::Count(pattern)) => {
                                let found = chunk
                                    .windows(pattern.len())
                                    .filter(|window| *window == pattern.as_bytes())
                                    .count();
                                seen_in.fetch_add(found, Ordering::SeqCst);
                            }
                            _ => {}
                        }
                        if kill {
                            killed_in.store(true, Ordering::SeqCst);
                            for stream in guard.2.drain(..) {
                                let _ = stream.shutdown(Shutdown::Both);
                            }
                            drop(guard);
                            // Wake the accept loop so it sees the flag and drops the listener.
                            let _ = TcpStream::connect(("127.0.0.1", port));
                            break;
                        }
                        // The hook runs under the lock: every other connection waits before
                        // forwarding, so no request overtakes the change the hook makes.
                        if let Some(run) = hook {
                            run();
                        }
                        drop(guard);
                        if server_write.write_all(chunk).is_err() {
                            break;
                        }
                    }
                    let _ = server_write.shutdown(Shutdown::Write);
                });
                let (mut server_read, mut client_write) = (server, client);
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut server_read, &mut client_write);
                    let _ = client_write.shutdown(Shutdown::Write);
                });
            }
        });
        Proxy { port, killed, seen: seen_outer }
    }

    /// How many requests contained the [`Fault::Count`] pattern.
    pub fn seen(&self) -> usize {
        self.seen.load(Ordering::SeqCst)
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle)
}
