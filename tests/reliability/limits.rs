//! Hostile and careless clients: slow request heads (slowloris), slow bodies, idle
//! connections, more connections than the cap, early answers to uploads, and SIGTERM while
//! such clients hang on.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::server::on_sqlite;

/// A login whose body is cut after its first field; [`REST_OF_LOGIN`] completes it.
const HALF_SENT_LOGIN: &[u8] = b"POST /api/v1/auth_session/login HTTP/1.1\r\nHost: x\r\n\
    Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 33\r\n\r\nemail=a%40b.io&";

/// The rest of [`HALF_SENT_LOGIN`]'s body (a wrong password: the answer is 401).
const REST_OF_LOGIN: &[u8] = b"password=wrong-pw!";

/// How a raw connection ended, seen from the client.
#[derive(Debug)]
struct Ended {
    /// Time from the start of the client to the server closing the connection.
    after: Duration,
    /// Everything the server sent.
    answer: String,
}

/// A client that sends `head` and then `trickle`, one byte every `every`, until the server
/// closes the connection or `give_up` passes (then `None`).
async fn trickle(
    server: std::net::SocketAddr,
    head: String,
    trickle: &'static [u8],
    every: Duration,
    give_up: Duration,
) -> Option<Ended> {
    let start = Instant::now();
    let mut s = TcpStream::connect(server).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let mut next = trickle.iter().cycle();
    while start.elapsed() < give_up {
        tokio::select! {
            read = s.read(&mut buf) => match read {
                Ok(0) | Err(_) => {
                    return Some(Ended {
                        after: start.elapsed(),
                        answer: String::from_utf8_lossy(&answer).into_owned(),
                    });
                }
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            },
            () = tokio::time::sleep(every) => {
                if let Some(b) = next.next() {
                    // A closed connection shows up as the next read's end.
                    let _ = s.write_all(&[*b]).await;
                }
            }
        }
    }
    None
}

/// Latencies of `GET /api/v1/status` on one keep-alive client, every 20 ms until `done`.
async fn status_latencies(base: String, done: Instant) -> Vec<Duration> {
    let http = reqwest::Client::new();
    let url = format!("{base}/api/v1/status");
    let mut out = Vec::new();
    while Instant::now() < done {
        let t = Instant::now();
        let r = http.get(&url).send().await.unwrap();
        assert_eq!(r.status(), 200);
        r.bytes().await.unwrap();
        out.push(t.elapsed());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    out
}

fn p99(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[(v.len() * 99 / 100).min(v.len() - 1)]
}

#[tokio::test]
async fn slow_heads_and_slow_bodies_are_closed_within_their_timeouts_while_status_stays_fast() {
    let _one = crate::exclusive().await;
    let (_dir, server) = on_sqlite(&[("HEADER_READ_TIMEOUT", "2"), ("BODY_READ_TIMEOUT", "2")]);
    let addr = server.addr;
    let every = Duration::from_millis(400);
    let give_up = Duration::from_secs(10);
    let mut heads = Vec::new();
    for i in 0..300 {
        let head = format!("GET /api/v1/status HTTP/1.1\r\nHost: x\r\nX-Slow-{i}: ");
        heads.push(tokio::spawn(trickle(addr, head, b"abc", every, give_up)));
    }
    let mut bodies = Vec::new();
    for _ in 0..50 {
        let head = "POST /api/v1/auth_session/login HTTP/1.1\r\nHost: x\r\n\
                    Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n"
            .to_owned();
        bodies.push(tokio::spawn(trickle(addr, head, b"email=", every, give_up)));
    }
    let latencies = status_latencies(server.base(), Instant::now() + Duration::from_secs(4)).await;

    for h in heads {
        let ended = h.await.unwrap().expect("a slow head was never closed");
        assert!(
            ended.after < Duration::from_millis(3500),
            "a slow head was closed only after {:?}",
            ended.after
        );
    }
    for b in bodies {
        let ended = b.await.unwrap().expect("a slow body was never closed");
        assert!(
            ended.after < Duration::from_millis(3500),
            "a slow body was closed only after {:?}",
            ended.after
        );
        assert!(
            ended.answer.starts_with("HTTP/1.1 408"),
            "a slow body got {:?}",
            ended.answer
        );
        assert!(
            ended
                .answer
                .to_ascii_lowercase()
                .contains("connection: close"),
            "{}",
            ended.answer
        );
        assert!(ended.answer.contains(r#"{"error":"Request timeout"}"#));
    }
    let n = latencies.len();
    let p99 = p99(latencies);
    eprintln!("slow clients: 300 heads and 50 bodies closed; /status p99 {p99:?} over {n}");
    assert!(p99 < Duration::from_millis(200), "/status p99 {p99:?}");
}

#[tokio::test]
async fn idle_and_silent_connections_are_closed_and_a_live_one_is_kept() {
    let _one = crate::exclusive().await;
    let (_dir, server) = on_sqlite(&[("HEADER_READ_TIMEOUT", "1"), ("KEEPALIVE_TIMEOUT", "2")]);
    let request = b"GET /api/v1/status HTTP/1.1\r\nHost: x\r\n\r\n";

    // A connection that never sends anything is closed after the header timeout.
    let start = Instant::now();
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    let mut buf = [0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(5), silent.read(&mut buf))
        .await
        .expect("a silent connection stayed open")
        .unwrap_or(0);
    assert_eq!(n, 0);
    let silent_after = start.elapsed();
    assert!(
        silent_after >= Duration::from_millis(900) && silent_after < Duration::from_millis(1800),
        "closed after {silent_after:?}"
    );

    // A keep-alive connection: used again within the idle timeout it stays open (longer than
    // the header timeout: idle time is not head time); left alone it is closed.
    let mut live = TcpStream::connect(server.addr).await.unwrap();
    for _ in 0..3 {
        live.write_all(request).await.unwrap();
        let n = live.read(&mut buf).await.unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
        tokio::time::sleep(Duration::from_millis(1300)).await;
    }
    let start = Instant::now();
    let n = tokio::time::timeout(Duration::from_secs(5), live.read(&mut buf))
        .await
        .expect("an idle connection stayed open")
        .unwrap_or(0);
    assert_eq!(n, 0);
    // 1.3 s of idle time had passed already.
    assert!(
        start.elapsed() < Duration::from_millis(1500),
        "closed {:?} later",
        start.elapsed()
    );
    let metrics = reqwest::get(format!("{}/metrics", server.base()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("sesame_connections_closed_total{reason=\"header_timeout\"} 1"));
    assert!(metrics.contains("sesame_connections_closed_total{reason=\"idle_timeout\"} 1"));
}

#[tokio::test]
async fn at_the_connection_cap_idle_and_silent_connections_make_room_and_busy_ones_stay() {
    let _one = crate::exclusive().await;
    let (_dir, server) = on_sqlite(&[("MAX_CONNECTIONS", "20")]);
    let request = b"GET /api/v1/status HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut buf = [0u8; 1024];

    // Five requests in flight, their bodies half sent: these must survive.
    let mut busy = Vec::new();
    for _ in 0..5 {
        let mut s = TcpStream::connect(server.addr).await.unwrap();
        s.write_all(HALF_SENT_LOGIN).await.unwrap();
        busy.push(s);
    }
    // Ten idle keep-alive connections and five that never said a word fill the cap.
    let mut idle = Vec::new();
    for _ in 0..10 {
        let mut s = TcpStream::connect(server.addr).await.unwrap();
        s.write_all(request).await.unwrap();
        let n = s.read(&mut buf).await.unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
        idle.push(s);
    }
    let mut silent = Vec::new();
    for _ in 0..5 {
        silent.push(TcpStream::connect(server.addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(1200)).await;

    // A newcomer is served at once, although the cap is reached.
    let start = Instant::now();
    let r = reqwest::get(format!("{}/api/v1/status", server.base()))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        start.elapsed() < Duration::from_millis(1000),
        "a new client waited {:?}",
        start.elapsed()
    );
    // The half-sent requests complete and are answered.
    for mut s in busy {
        s.write_all(REST_OF_LOGIN).await.unwrap();
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .expect("no answer to a request in flight")
            .unwrap();
        let answer = String::from_utf8_lossy(&buf[..n]).into_owned();
        assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    }
    let metrics = reqwest::get(format!("{}/metrics", server.base()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let line = metrics
        .lines()
        .find(|l| l.starts_with("sesame_connections "))
        .unwrap()
        .to_owned();
    let open: u64 = line.split(' ').nth(1).unwrap().parse().unwrap();
    assert!(open <= 20, "{line}");
    assert!(!metrics.contains("sesame_connections_closed_total{reason=\"pressure\"} 0"));
}

#[tokio::test]
async fn an_answer_before_the_body_says_connection_close_and_a_pooling_client_carries_on() {
    let _one = crate::exclusive().await;
    let (_dir, server) = on_sqlite(&[]);
    let http = reqwest::Client::new();
    let status = server.url("/status");

    // 413 for a body over the limit, 401 for an upload without credentials: answered before
    // the body is read, so the connection ends, and says so; the client's next request on its
    // pool is served.
    for (path, size, status_code) in [
        ("/auth_session/login", 3 * 1024 * 1024, 413),
        ("/users", 200 * 1024, 401),
    ] {
        let r = http
            .post(server.url(path))
            .header("content-type", "application/json")
            .body(vec![b' '; size])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status_code, "{path}");
        assert_eq!(r.headers()["connection"], "close", "{path}");
        let r = http.get(&status).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }

    // An answer after the body was read keeps the connection.
    let r = http
        .post(server.url("/auth_session/login"))
        .form(&[("email", "nobody@x.io"), ("password", "not-a-password")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().get("connection").is_none());
}

#[tokio::test]
async fn sigterm_with_slow_clients_open_exits_within_the_shutdown_timeout() {
    let _one = crate::exclusive().await;
    let (_dir, server) = on_sqlite(&[("SHUTDOWN_TIMEOUT", "3")]);
    let addr = server.addr;
    let every = Duration::from_millis(300);
    let give_up = Duration::from_secs(20);
    let mut clients = Vec::new();
    for i in 0..50 {
        let head = format!("GET /api/v1/status HTTP/1.1\r\nHost: x\r\nX-Slow-{i}: ");
        clients.push(tokio::spawn(trickle(addr, head, b"abc", every, give_up)));
    }
    for _ in 0..20 {
        let head = "POST /api/v1/auth_session/login HTTP/1.1\r\nHost: x\r\n\
                    Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\n"
            .to_owned();
        clients.push(tokio::spawn(trickle(addr, head, b"email=", every, give_up)));
    }
    let mut idle = Vec::new();
    for _ in 0..20 {
        idle.push(TcpStream::connect(addr).await.unwrap());
    }
    // A request whose body is still arriving when SIGTERM comes gets its answer.
    let mut in_flight = TcpStream::connect(addr).await.unwrap();
    in_flight.write_all(HALF_SENT_LOGIN).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;

    let finish = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        in_flight.write_all(REST_OF_LOGIN).await.unwrap();
        let mut answer = Vec::new();
        let _ = in_flight.read_to_end(&mut answer).await;
        String::from_utf8_lossy(&answer).into_owned()
    });
    let (status, took, logs) = tokio::task::spawn_blocking(move || {
        let mut server = server;
        let (status, took) = server
            .terminate(Duration::from_secs(8))
            .expect("still running 8 s after SIGTERM");
        (status, took, server.logs())
    })
    .await
    .unwrap();
    assert!(
        logs.contains("SHUTDOWN_TIMEOUT reached"),
        "the slow bodies were cut at the deadline:\n{logs}"
    );
    assert!(logs.contains("\"stopped\""), "{logs}");
    assert!(status.success(), "exit status {status:?}");
    assert!(took < Duration::from_millis(3800), "exit took {took:?}");
    let answer = finish.await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 401"), "in-flight: {answer:?}");
    eprintln!("SIGTERM with 90 slow and idle clients open: exit 0 after {took:?}");
}
