//! The real Prometheus tools for the metrics tests: `promtool`, and a `prometheus-node-exporter`
//! started on 127.0.0.1 with only its textfile collector, scraped with a plain HTTP/1.0 GET.
//! Shared by the CLI tests and the chaos suite (included there with `#[path]`).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const PROMTOOL_INSTALL: &str = "apt-get install prometheus";
pub const NODE_EXPORTER: &str = "prometheus-node-exporter";
pub const NODE_EXPORTER_INSTALL: &str = "apt-get install prometheus-node-exporter";

/// What one promtool run printed.
pub struct ToolRun {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `promtool ARGS`, feeding `stdin`.
pub fn promtool(args: &[&str], stdin: &[u8]) -> ToolRun {
    let mut child = Command::new("promtool")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start promtool");
    child.stdin.take().expect("stdin").write_all(stdin).expect("feed promtool");
    let output = child.wait_with_output().expect("wait for promtool");
    ToolRun {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A node_exporter serving the textfiles of one folder; killed when dropped (also on a panic).
pub struct NodeExporter {
    child: Child,
    pub port: u16,
}

impl NodeExporter {
    /// Starts it on a free loopback port and waits until it answers. The port is found by
    /// binding port 0; another process may grab it in between, so a failed start is retried.
    pub fn start(textfile_dir: &Path) -> NodeExporter {
        for _ in 0..5 {
            let port =
                TcpListener::bind("127.0.0.1:0").expect("bind a free port").local_addr().unwrap().port();
            let child = Command::new(NODE_EXPORTER)
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .arg("--collector.disable-defaults")
                .arg("--collector.textfile")
                .arg(format!("--collector.textfile.directory={}", textfile_dir.display()))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start prometheus-node-exporter");
            let mut exporter = NodeExporter { child, port };
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if exporter.child.try_wait().expect("poll node_exporter").is_some() {
                    break; // exited: most likely the port was taken; try another
                }
                if http_get(port, "/metrics").is_ok() {
                    return exporter;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = exporter.child.kill();
        }
        panic!("prometheus-node-exporter did not start on a loopback port in 5 attempts");
    }

    /// One scrape of `/metrics`.
    pub fn scrape(&self) -> String {
        http_get(self.port, "/metrics").unwrap_or_else(|error| panic!("scrape node_exporter: {error}"))
    }
}

impl Drop for NodeExporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `GET path` over HTTP/1.0 (the server closes the connection, no chunking); the body of a 200.
pub fn http_get(port: u16, path: &str) -> Result<String, String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|error| error.to_string())?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).map_err(|error| error.to_string())?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n")
        .map_err(|error| error.to_string())?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).map_err(|error| error.to_string())?;
    let response = String::from_utf8(response).map_err(|error| error.to_string())?;
    let (head, body) = response.split_once("\r\n\r\n").ok_or("no end of headers")?;
    if !head.starts_with("HTTP/1.0 200") && !head.starts_with("HTTP/1.1 200") {
        return Err(format!("unexpected response: {}", head.lines().next().unwrap_or("")));
    }
    Ok(body.to_string())
}

/// One metric family of a text exposition.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    pub name: String,
    pub kind: String,
    pub help: String,
    /// (labels, value) in file order.
    pub samples: Vec<(BTreeMap<String, String>, f64)>,
}

/// Parses the text exposition format (HELP, TYPE, samples with escaped label values), strictly
/// enough for the tests: a sample before its TYPE line, or an unparsable line, panics.
pub fn parse_exposition(text: &str) -> Vec<Family> {
    let mut families: Vec<Family> = Vec::new();
    for line in text.lines().filter(|line| !line.trim().is_empty()) {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            families.push(Family {
                name: name.into(),
                kind: String::new(),
                help: help.into(),
                samples: Vec::new(),
            });
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE line has a kind");
            match families.last_mut() {
                Some(family) if family.name == name => family.kind = kind.into(),
                _ => families.push(Family {
                    name: name.into(),
                    kind: kind.into(),
                    help: String::new(),
                    samples: Vec::new(),
                }),
            }
        } else if line.starts_with('#') {
            continue;
        } else {
            let (name, labels, value) = parse_sample(line);
            let family = families
                .iter_mut()
                .rev()
                .find(|family| {
                    family.name == name
                        || (["histogram", "summary"].contains(&family.kind.as_str())
                            && name.starts_with(family.name.as_str()))
                })
                .unwrap_or_else(|| panic!("sample before its TYPE line: {line}"));
            family.samples.push((labels, value));
        }
    }
    families
}

fn parse_sample(line: &str) -> (String, BTreeMap<String, String>, f64) {
    let name_end = line.find(['{', ' ']).unwrap_or_else(|| panic!("bad sample line: {line}"));
    let name = line[..name_end].to_string();
    let mut labels = BTreeMap::new();
    let mut rest = &line[name_end..];
    if let Some(inner) = rest.strip_prefix('{') {
        let mut chars = inner.char_indices().peekable();
        let mut key = String::new();
        let mut end = None;
        while let Some((index, character)) = chars.next() {
            match character {
                '}' => {
                    end = Some(index);
                    break;
                }
                ',' | ' ' => {}
                '=' => {
                    assert_eq!(chars.next().map(|(_, c)| c), Some('"'), "label value is quoted: {line}");
                    let mut value = String::new();
                    loop {
                        match chars.next().unwrap_or_else(|| panic!("unterminated label value: {line}")).1 {
                            '\\' => match chars.next().expect("escape").1 {
                                'n' => value.push('\n'),
                                other => value.push(other),
                            },
                            '"' => break,
                            other => value.push(other),
                        }
                    }
                    labels.insert(std::mem::take(&mut key), value);
                }
                other => key.push(other),
            }
        }
        rest = &inner[end.unwrap_or_else(|| panic!("unterminated labels: {line}")) + 1..];
    }
    let value_text = rest.split_whitespace().next().unwrap_or_else(|| panic!("no value: {line}"));
    let value = match value_text {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        text => text.parse().unwrap_or_else(|_| panic!("bad value in {line}")),
    };
    (name, labels, value)
}

/// The one value of an unlabelled (or single-sample) family in a scrape.
pub fn value_of(families: &[Family], name: &str) -> Option<f64> {
    families.iter().find(|family| family.name == name).and_then(|family| family.samples.first()).map(|s| s.1)
}
