//! The plumbing every fake API server in `tests/util` shares: plain HTTP/1.1 on loopback over
//! `std::net`, one thread and one connection per request (`Connection: close`), requests
//! parsed into [`Request`], answers written from [`Reply`] (including the broken ones: a body
//! cut off mid-way, an answer that never comes in time), and the faults the connector tests
//! script per page.

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request as a server saw it.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub(crate) method: String,
    /// Path and query, as sent.
    pub(crate) target: String,
    /// Header names in lowercase.
    pub(crate) headers: HashMap<String, String>,
    pub(crate) body: String,
}

impl Request {
    pub(crate) fn path(&self) -> &str {
        self.target
            .split_once('?')
            .map_or(&self.target, |(path, _)| path)
    }

    /// The decoded query parameter `name`.
    pub(crate) fn query(&self, name: &str) -> Option<String> {
        let (_, query) = self.target.split_once('?')?;
        form(query).remove(name)
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    /// The decoded `application/x-www-form-urlencoded` body.
    pub(crate) fn form(&self) -> HashMap<String, String> {
        form(&self.body)
    }
}

/// An answer.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: String,
    /// Waits this long before answering.
    pub(crate) delay: Option<Duration>,
    /// Announces the whole body's length but sends only this many bytes, then closes.
    pub(crate) cut_after: Option<usize>,
    /// Sends the headers and `cut_after` bytes of the body (none without it), then waits
    /// this long before it closes: an answer that starts and never ends.
    pub(crate) stall: Option<Duration>,
}

impl Reply {
    pub(crate) fn json(status: u16, body: impl ToString) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: body.to_string(),
            delay: None,
            cut_after: None,
            stall: None,
        }
    }

    pub(crate) fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

/// A fresh loopback port.
pub(crate) fn any_port() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").expect("bind loopback")
}

/// Serves `handler` on a fresh loopback port; returns `http://127.0.0.1:PORT`.
pub(crate) fn serve(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> String {
    serve_on(any_port(), handler)
}

/// Serves `handler` on `listener` (the fake tenant binds its fixed ports first, to say which
/// one is taken); returns `http://ADDRESS`.
pub(crate) fn serve_on(
    listener: TcpListener,
    handler: impl Fn(&Request) -> Reply + Send + Sync + 'static,
) -> String {
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let handler = Arc::new(handler);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let handler = Arc::clone(&handler);
            std::thread::spawn(move || {
                if let Some(request) = read_request(&stream) {
                    write_reply(stream, &handler(&request));
                }
            });
        }
    });
    base
}

fn read_request(stream: &TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line).ok()?;
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let target = parts.next().unwrap_or_default().to_owned();
    let mut headers = HashMap::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
        }
    }
    let length = headers
        .get("content-length")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Request {
        method,
        target,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn write_reply(mut stream: TcpStream, reply: &Reply) {
    if let Some(delay) = reply.delay {
        std::thread::sleep(delay);
    }
    let reason = match reply.status {
        200 => "OK",
        302 => "Found",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        503 => "Service Unavailable",
        _ => "Error",
    };
    let mut head = format!(
        "HTTP/1.1 {} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        reply.status,
        reply.body.len()
    );
    for (name, value) in &reply.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let body = reply.body.as_bytes();
    let sent = match (reply.cut_after, reply.stall) {
        (Some(cut), _) => cut.min(body.len()),
        (None, Some(_)) => 0,
        (None, None) => body.len(),
    };
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&body[..sent]);
    let _ = stream.flush();
    if let Some(stall) = reply.stall {
        std::thread::sleep(stall);
    }
}

/// The `Authorization` value of HTTP Basic (RFC 7617) for `username` and `password`, as a
/// server expects it.
pub(crate) fn basic(username: &str, password: &str) -> String {
    use base64::Engine as _;
    let encoded =
        base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    format!("Basic {encoded}")
}

/// `application/x-www-form-urlencoded` pairs.
pub(crate) fn form(text: &str) -> HashMap<String, String> {
    text.split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

/// `application/x-www-form-urlencoded` decoding.
pub(crate) fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 2;
            }
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What a vendor fake does instead of serving a page, once.
#[derive(Debug, Clone)]
pub(crate) enum Fault {
    /// 429, `Retry-After` as given (seconds or an HTTP date) or none.
    Throttle(Option<String>),
    /// 503, `Retry-After` as given or none.
    Unavailable(Option<String>),
    /// This status with the vendor's error body for it.
    Status(u16),
    /// Every token issued so far stops being valid (OAuth vendors); the request is then
    /// judged as usual, so it gets the vendor's 401.
    ExpireTokens,
    /// A body that is not JSON.
    Malformed,
    /// The page's JSON cut off half-way, with its full `Content-Length`.
    Truncated,
    /// The page's JSON, complete but cut off half-way as it claims to be whole.
    TruncatedJson,
    /// No answer for this long, then the page.
    Hang(Duration),
    /// The page with its last item dropped, still saying it holds them all (NinjaOne's
    /// `cursor.count`); servers without such a count serve the page as usual.
    ShortPage,
    /// A 200 page that says an error beside its list (Splunk's `messages`); servers without
    /// such messages serve the page as usual.
    ErrorBeside,
    /// This status and this body, `{authorization}` in it replaced by the request's
    /// `Authorization` header, as a careless server or proxy echoes it.
    Raw(u16, String),
}

/// Faults scripted per (path, page), first first, and every request seen.
#[derive(Debug, Default)]
pub(crate) struct Script {
    faults: Mutex<HashMap<(String, usize), VecDeque<Fault>>>,
    seen: Mutex<Vec<Request>>,
}

impl Script {
    pub(crate) fn add(&self, path: &str, page: usize, fault: Fault) {
        self.faults
            .lock()
            .expect("faults")
            .entry((path.to_owned(), page))
            .or_default()
            .push_back(fault);
    }

    pub(crate) fn next(&self, path: &str, page: usize) -> Option<Fault> {
        self.faults
            .lock()
            .expect("faults")
            .get_mut(&(path.to_owned(), page))
            .and_then(VecDeque::pop_front)
    }

    pub(crate) fn saw(&self, request: &Request) {
        self.seen.lock().expect("seen").push(request.clone());
    }

    pub(crate) fn seen(&self) -> Vec<Request> {
        self.seen.lock().expect("seen").clone()
    }
}

/// The reply for the faults every vendor answers alike (`throttled` is the vendor's 429 or
/// 503 body); `None` for the faults the vendor handles itself, and for none.
pub(crate) fn generic(
    fault: &Fault,
    throttled: &str,
    page: &str,
    request: &Request,
) -> Option<Reply> {
    let with_retry_after = |status, retry_after: &Option<String>| {
        let reply = Reply::json(status, throttled);
        match retry_after {
            Some(value) => reply.header("Retry-After", value),
            None => reply,
        }
    };
    match fault {
        Fault::Throttle(retry_after) => Some(with_retry_after(429, retry_after)),
        Fault::Unavailable(retry_after) => Some(with_retry_after(503, retry_after)),
        Fault::Malformed => Some(Reply::json(
            200,
            "<html><body>502 Bad Gateway</body></html>",
        )),
        Fault::Truncated => Some(Reply {
            cut_after: Some(page.len() / 2),
            ..Reply::json(200, page)
        }),
        Fault::TruncatedJson => Some(Reply::json(200, &page[..page.len() / 2])),
        Fault::Hang(duration) => Some(Reply {
            delay: Some(*duration),
            ..Reply::json(200, page)
        }),
        Fault::Raw(status, body) => Some(Reply::json(
            *status,
            body.replace(
                "{authorization}",
                request.header("authorization").unwrap_or_default(),
            ),
        )),
        Fault::Status(_) | Fault::ExpireTokens | Fault::ShortPage | Fault::ErrorBeside => None,
    }
}
