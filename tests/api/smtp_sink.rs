//! A small SMTP server for the mail tests: it accepts every mail on a loopback port, keeps it,
//! and can be stopped and started again on the same port (an outage).

// Shared by the api and reliability test binaries, each of which uses a part of it.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// A mail as the sink received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub to: Vec<String>,
    /// The message as sent (headers and MIME body).
    pub data: String,
}

impl Received {
    /// The `Subject` header.
    pub fn subject(&self) -> String {
        self.data
            .lines()
            .find_map(|l| l.strip_prefix("Subject: "))
            .unwrap_or_default()
            .to_owned()
    }

    /// Every part's body, decoded (quoted-printable and base64 parts included).
    pub fn text(&self) -> String {
        decode_parts(&self.data)
    }

    /// The token of the first link `/<page>?token=...` in the mail.
    pub fn token(&self, page: &str) -> String {
        let text = self.text();
        let marker = format!("/{page}?token=");
        let at = text
            .find(&marker)
            .unwrap_or_else(|| panic!("no {marker} link in:\n{text}"));
        text[at + marker.len()..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect()
    }
}

fn decode_parts(data: &str) -> String {
    let mut out = String::new();
    let mut encoding = String::new();
    let mut in_headers = true;
    let mut body = Vec::new();
    let flush = |encoding: &str, body: &mut Vec<String>, out: &mut String| {
        let joined = body.join("\n");
        match encoding {
            "quoted-printable" => out.push_str(&decode_qp(&joined)),
            "base64" => {
                use base64::Engine as _;
                let compact: String = joined.split_whitespace().collect();
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(compact)
                    .unwrap_or_default();
                out.push_str(&String::from_utf8_lossy(&bytes));
            }
            _ => out.push_str(&joined),
        }
        out.push('\n');
        body.clear();
    };
    for line in data.split("\r\n").flat_map(|l| l.split('\n')) {
        if line.starts_with("--") {
            flush(&encoding, &mut body, &mut out);
            in_headers = true;
            encoding.clear();
            continue;
        }
        if in_headers {
            if line.is_empty() {
                in_headers = false;
            } else if let Some(v) = line.strip_prefix("Content-Transfer-Encoding: ") {
                encoding = v.trim().to_ascii_lowercase();
            }
            continue;
        }
        body.push(line.to_owned());
    }
    flush(&encoding, &mut body, &mut out);
    out
}

fn decode_qp(text: &str) -> String {
    let joined = text.replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && i + 2 < bytes.len() + 1
            && let Some(hex) = joined.get(i + 1..i + 3)
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The sink: a port, what it received, and its accept loop while it runs.
pub struct SmtpSink {
    pub port: u16,
    mails: Arc<Mutex<Vec<Received>>>,
    arrived: Arc<Notify>,
    task: Option<JoinHandle<()>>,
}

fn listen(port: u16) -> TcpListener {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_reuseaddr(true).unwrap();
    socket
        .bind(std::net::SocketAddr::from(([127, 0, 0, 1], port)))
        .unwrap();
    socket.listen(64).unwrap()
}

impl SmtpSink {
    /// A sink on a free port.
    pub async fn start() -> Self {
        let mut sink = Self {
            port: 0,
            mails: Arc::default(),
            arrived: Arc::default(),
            task: None,
        };
        sink.run(listen(0));
        sink
    }

    /// `smtp://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    fn run(&mut self, listener: TcpListener) {
        self.port = listener.local_addr().unwrap().port();
        let mails = self.mails.clone();
        let arrived = self.arrived.clone();
        self.task = Some(tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(converse(stream, mails.clone(), arrived.clone()));
            }
        }));
    }

    /// Stops listening: connections are refused until [`SmtpSink::resume`].
    pub fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }

    /// Listens again on the same port.
    pub fn resume(&mut self) {
        self.stop();
        self.run(listen(self.port));
    }

    /// Every mail received so far.
    pub fn received(&self) -> Vec<Received> {
        self.mails.lock().unwrap().clone()
    }

    /// Waits (at most 10 s) until `n` mails have arrived; returns them all.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let notified = self.arrived.notified();
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!("{} mail(s) arrived, not {n}: {got:#?}", got.len());
            }
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn converse(stream: TcpStream, mails: Arc<Mutex<Vec<Received>>>, arrived: Arc<Notify>) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    let _ = write.write_all(b"220 sink ESMTP\r\n").await;
    let mut to = Vec::new();
    while let Ok(Some(line)) = lines.next_line().await {
        let upper = line.to_ascii_uppercase();
        let reply: &[u8] = if upper.starts_with("EHLO") {
            b"250-sink\r\n250 8BITMIME\r\n"
        } else if upper.starts_with("RCPT TO:") {
            to.push(line[8..].trim().trim_matches(['<', '>']).to_owned());
            b"250 OK\r\n"
        } else if upper.starts_with("DATA") {
            let _ = write.write_all(b"354 go on\r\n").await;
            let mut data = String::new();
            while let Ok(Some(l)) = lines.next_line().await {
                if l == "." {
                    break;
                }
                data.push_str(l.strip_prefix('.').unwrap_or(&l));
                data.push_str("\r\n");
            }
            mails.lock().unwrap().push(Received {
                to: std::mem::take(&mut to),
                data,
            });
            arrived.notify_waiters();
            b"250 OK queued\r\n"
        } else if upper.starts_with("QUIT") {
            let _ = write.write_all(b"221 bye\r\n").await;
            return;
        } else {
            b"250 OK\r\n"
        };
        if write.write_all(reply).await.is_err() {
            return;
        }
    }
}
