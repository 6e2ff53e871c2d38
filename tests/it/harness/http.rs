//! A deliberately small HTTP/1.1 client over a raw [`TcpStream`].
//!
//! It shares no code with the server's HTTP stack (axum/hyper), so tests see exactly
//! what went over the wire: the status line, header spelling and, crucially for a
//! streaming exporter, whether a chunked body ended with its terminating `0\r\n\r\n`
//! chunk or the server cut the connection mid-stream (which is how a server signals
//! that a stream it already started failed).
//!
//! [`get`] reads a whole response. [`Download`] reads it step by step, so a test can
//! stop after a few bytes and disconnect, or read slowly.
//!
//! Every read and write has a timeout ([`IO_TIMEOUT`]): a hung server fails the test
//! instead of hanging it.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::thread;
use std::time::Duration;

/// How long any single read or write may block before the test fails.
pub const IO_TIMEOUT: Duration = Duration::from_secs(60);

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Size of one socket read.
const READ_BUFFER_BYTES: usize = 64 * 1024;

/// A complete (or, if the server cut it short, partial) HTTP response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// Header fields in wire order, names as the server spelled them.
    pub headers: Vec<(String, String)>,
    /// The body with any chunked framing removed; for a cut-off chunked body, the
    /// bytes received before the cut.
    pub body: Vec<u8>,
    /// Whether the body was properly delimited: the terminating zero-size chunk for a
    /// chunked body, `Content-Length` bytes otherwise (a body delimited by connection
    /// close is always complete).
    pub complete: bool,
    /// The trailer fields after a chunked body's last chunk, in wire order.
    pub trailers: Vec<(String, String)>,
}

impl Response {
    /// The value of the first header named `name`, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// The value of the trailer field `name`, compared case-insensitively.
    pub fn trailer(&self, name: &str) -> Option<&str> {
        find_header(&self.trailers, name)
    }

    /// Whether the body was sent with `Transfer-Encoding: chunked`.
    pub fn is_chunked(&self) -> bool {
        is_chunked(&self.headers)
    }

    /// The body as UTF-8 text; panics if it is not valid UTF-8.
    #[track_caller]
    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body)
            .unwrap_or_else(|e| panic!("response body is not UTF-8 ({e}): {}", preview(&self.body)))
    }

    /// Whether the `Content-Type` says JSON.
    pub fn is_json(&self) -> bool {
        self.header("content-type")
            .is_some_and(|value| value.starts_with("application/json"))
    }

    /// The body parsed as JSON; panics with the body if it is not JSON.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "response body (status {}) is not JSON ({e}): {}",
                self.status,
                preview(&self.body)
            )
        })
    }
}

/// `GET path` on `addr`, reading the whole response.
#[track_caller]
pub fn get(addr: SocketAddr, path: &str) -> Response {
    request(addr, "GET", path, &[])
}

/// Sends `method path` with extra request headers and reads the whole response.
///
/// The request always carries `Host` and `Connection: close`, so the server ends the
/// response by closing the connection and reading until EOF is enough.
#[track_caller]
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    extra_headers: &[(&str, &str)],
) -> Response {
    let mut connection = Connection::open(addr, method, path, extra_headers);
    connection.read_to_end();
    parse_response(&connection.received, method)
}

/// The names `GET /datasets` lists, in order; fails unless it answers 200.
#[track_caller]
pub fn dataset_names(addr: SocketAddr) -> Vec<String> {
    let listing = get(addr, "/datasets");
    assert_eq!(listing.status, 200, "/datasets: {}", listing.text());
    listing
        .json()
        .as_array()
        .expect("a JSON array")
        .iter()
        .map(|dataset| dataset["name"].as_str().expect("a name").to_owned())
        .collect()
}

/// `GET path`, checked to be a successful CSV download: status 200, chunked, complete
/// (ended with its terminating chunk), `Content-Type: text/csv; charset=utf-8`.
#[track_caller]
pub fn get_csv(addr: SocketAddr, path: &str) -> Response {
    let response = get(addr, path);
    assert_eq!(
        response.status,
        200,
        "GET {path}: {}",
        String::from_utf8_lossy(&response.body)
    );
    assert!(
        response.complete,
        "GET {path} ended without its terminating chunk"
    );
    assert!(
        response.is_chunked(),
        "a download is streamed with chunked transfer encoding; headers: {:?}",
        response.headers
    );
    assert_eq!(
        response.header("content-type"),
        Some("text/csv; charset=utf-8")
    );
    response
}

/// Reads the first `max_body_bytes` bytes of the body of `GET path` (or fewer, if the
/// response is shorter), then drops the connection, like a client that gives up
/// mid-download. Returns the status and how many body bytes were read.
///
/// Byte counts are of the body as sent on the wire, including any chunk framing.
#[track_caller]
pub fn get_partial(addr: SocketAddr, path: &str, max_body_bytes: usize) -> (u16, usize) {
    let mut download = Download::start(addr, path);
    let bytes_read = download.read_body_bytes(max_body_bytes);
    let status = download.status();
    download.disconnect();
    (status, bytes_read)
}

/// A `GET` that has been sent and not yet answered at all: no status, no byte.
///
/// The server answers a download only once its first chunk exists, so while the query
/// is still silent (sorting, sleeping) there is nothing to read. This is the client that
/// gives up in that window; [`Download`] cannot be, as it waits for the response head.
pub struct Unanswered {
    connection: Connection,
}

impl Unanswered {
    /// Sends `GET path` and returns at once.
    #[track_caller]
    pub fn send(addr: SocketAddr, path: &str) -> Unanswered {
        Unanswered {
            connection: Connection::open(addr, "GET", path, &[]),
        }
    }

    /// Closes the connection; panics if the server had already started answering, as
    /// then this is not the situation the caller meant to test.
    #[track_caller]
    pub fn disconnect(self) {
        self.connection
            .stream
            .set_nonblocking(true)
            .expect("nonblocking socket");
        let mut probe = [0; 1];
        match (&self.connection.stream).read(&mut probe) {
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            other => panic!("the server answered before the client went away: {other:?}"),
        }
        let _ = self.connection.stream.shutdown(Shutdown::Both);
    }
}

/// A `GET` whose response is read step by step.
///
/// [`Download::start`] returns once the status line and headers have arrived; the
/// body is read only as the test asks for it, so the server sees a client that is slow
/// or that disconnects early.
pub struct Download {
    connection: Connection,
    /// Length of the status line and headers, including the blank line.
    head_len: usize,
    status: u16,
    headers: Vec<(String, String)>,
}

impl Download {
    /// Sends `GET path` and waits for the response head.
    #[track_caller]
    pub fn start(addr: SocketAddr, path: &str) -> Download {
        let mut connection = Connection::open(addr, "GET", path, &[]);
        let head_len = loop {
            if let Some(len) = head_length(&connection.received) {
                break len;
            }
            if connection.read_some(READ_BUFFER_BYTES) == 0 {
                panic!(
                    "connection closed before the response head was complete; received: {}",
                    preview(&connection.received)
                );
            }
        };
        let (status, headers) = parse_head(&connection.received[..head_len]);
        Download {
            connection,
            head_len,
            status,
            headers,
        }
    }

    pub fn status(&self) -> u16 {
        self.status
    }

    /// The value of the first header named `name`, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// Body bytes received so far, as sent on the wire (including chunk framing).
    pub fn body_bytes_read(&self) -> usize {
        self.connection.received.len() - self.head_len
    }

    /// Reads until at least `n` body bytes have arrived or the server closed the
    /// connection; returns [`Self::body_bytes_read`].
    #[track_caller]
    pub fn read_body_bytes(&mut self, n: usize) -> usize {
        while self.body_bytes_read() < n {
            let wanted = (n - self.body_bytes_read()).min(READ_BUFFER_BYTES);
            if self.connection.read_some(wanted) == 0 {
                break;
            }
        }
        self.body_bytes_read()
    }

    /// Reads the rest of the response at most `step` bytes at a time, sleeping `pause`
    /// between reads: a slow client. The server only notices once the kernel socket
    /// buffers (a few MB) are full, so this matters for large responses.
    #[track_caller]
    pub fn read_slowly(mut self, step: usize, pause: Duration) -> Response {
        while self.connection.read_some(step) > 0 {
            thread::sleep(pause);
        }
        self.finish()
    }

    /// Reads the rest of the response.
    #[track_caller]
    pub fn finish(mut self) -> Response {
        self.connection.read_to_end();
        parse_response(&self.connection.received, "GET")
    }

    /// Closes the connection without reading the rest, like a client that gives up.
    /// The server sees its next writes fail (unread data makes the kernel send a
    /// reset).
    pub fn disconnect(self) {
        let _ = self.connection.stream.shutdown(Shutdown::Both);
    }
}

// ---------------------------------------------------------------------------------------
// The connection
// ---------------------------------------------------------------------------------------

/// A TCP connection with a request sent, accumulating every byte received.
struct Connection {
    stream: TcpStream,
    received: Vec<u8>,
    /// The server closed (or reset) the connection.
    closed: bool,
}

impl Connection {
    #[track_caller]
    fn open(addr: SocketAddr, method: &str, path: &str, extra_headers: &[(&str, &str)]) -> Self {
        let mut stream = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)
            .unwrap_or_else(|e| panic!("cannot connect to {addr}: {e}"));
        stream
            .set_read_timeout(Some(IO_TIMEOUT))
            .expect("set read timeout");
        stream
            .set_write_timeout(Some(IO_TIMEOUT))
            .expect("set write timeout");
        stream
            .write_all(request_head(addr, method, path, extra_headers).as_bytes())
            .unwrap_or_else(|e| panic!("cannot send {method} {path} to {addr}: {e}"));
        Connection {
            stream,
            received: Vec::new(),
            closed: false,
        }
    }

    /// One read of at most `max` bytes; returns how many arrived, 0 once the server has
    /// closed the connection. A reset counts as a close: that is how a server may
    /// abort a response. Panics after [`IO_TIMEOUT`] without data.
    #[track_caller]
    fn read_some(&mut self, max: usize) -> usize {
        if self.closed {
            return 0;
        }
        let mut buffer = vec![0; max.clamp(1, READ_BUFFER_BYTES)];
        loop {
            match self.stream.read(&mut buffer) {
                Ok(0) => {
                    self.closed = true;
                    return 0;
                }
                Ok(n) => {
                    self.received.extend_from_slice(&buffer[..n]);
                    return n;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted
                    ) =>
                {
                    self.closed = true;
                    return 0;
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    panic!(
                        "no data from the server for {IO_TIMEOUT:?} ({} bytes received so far); \
                         is it hung? received: {}",
                        self.received.len(),
                        preview(&self.received)
                    )
                }
                Err(e) => panic!("reading the response failed: {e}"),
            }
        }
    }

    #[track_caller]
    fn read_to_end(&mut self) {
        while self.read_some(READ_BUFFER_BYTES) > 0 {}
    }
}

fn request_head(
    addr: SocketAddr,
    method: &str,
    path: &str,
    extra_headers: &[(&str, &str)],
) -> String {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in extra_headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    head
}

// ---------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------

#[track_caller]
fn parse_response(raw: &[u8], method: &str) -> Response {
    let head_len = head_length(raw)
        .unwrap_or_else(|| panic!("incomplete HTTP response head; received: {}", preview(raw)));
    let (status, headers) = parse_head(&raw[..head_len]);
    let (body, complete, trailers) = if has_no_body(method, status) {
        (Vec::new(), true, Vec::new())
    } else {
        decode_body(&headers, &raw[head_len..])
    };
    Response {
        status,
        headers,
        body,
        complete,
        trailers,
    }
}

/// The length of the response head including the blank line, once it has arrived.
fn head_length(raw: &[u8]) -> Option<usize> {
    find(raw, b"\r\n\r\n").map(|end| end + 4)
}

/// Parses `HTTP/1.1 200 OK\r\nName: value\r\n...\r\n\r\n`.
#[track_caller]
fn parse_head(head: &[u8]) -> (u16, Vec<(String, String)>) {
    let head = std::str::from_utf8(head)
        .unwrap_or_else(|e| panic!("response head is not UTF-8 ({e}): {}", preview(head)));
    let mut lines = head.trim_end_matches("\r\n").split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .strip_prefix("HTTP/1.1 ")
        .or_else(|| status_line.strip_prefix("HTTP/1.0 "))
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("malformed status line {status_line:?}"));
    let headers = lines
        .map(|line| {
            let (name, value) = line
                .split_once(':')
                .unwrap_or_else(|| panic!("malformed header line {line:?}"));
            (name.to_owned(), value.trim().to_owned())
        })
        .collect();
    (status, headers)
}

/// Responses that never have a body, whatever their headers say (RFC 9112 §6.3).
fn has_no_body(method: &str, status: u16) -> bool {
    method == "HEAD" || (100..200).contains(&status) || status == 204 || status == 304
}

/// Removes the framing from `raw_body`; returns the body and whether it was complete.
#[track_caller]
fn decode_body(
    headers: &[(String, String)],
    raw_body: &[u8],
) -> (Vec<u8>, bool, Vec<(String, String)>) {
    if is_chunked(headers) {
        return decode_chunked(raw_body);
    }
    match find_header(headers, "content-length") {
        Some(length) => {
            let length: usize = length
                .parse()
                .unwrap_or_else(|_| panic!("malformed Content-Length {length:?}"));
            assert!(
                raw_body.len() <= length,
                "server sent {} body bytes, more than its Content-Length {length}",
                raw_body.len()
            );
            (raw_body.to_vec(), raw_body.len() == length, Vec::new())
        }
        // Delimited by the server closing the connection.
        None => (raw_body.to_vec(), true, Vec::new()),
    }
}

/// Decodes a chunked body: `SIZE-IN-HEX[;ext]\r\nDATA\r\n` ... `0\r\n[trailers]\r\n`.
/// Returns the data received so far and whether the terminating chunk and the end of
/// the (possibly empty) trailer section were seen.
#[track_caller]
fn decode_chunked(mut raw: &[u8]) -> (Vec<u8>, bool, Vec<(String, String)>) {
    let mut body = Vec::new();
    loop {
        let Some(line_end) = find(raw, b"\r\n") else {
            return (body, false, Vec::new());
        };
        let size = parse_chunk_size(&raw[..line_end]);
        raw = &raw[line_end + 2..];
        if size == 0 {
            let (complete, trailers) = parse_trailers(raw);
            return (body, complete, trailers);
        }
        if raw.len() < size + 2 {
            body.extend_from_slice(&raw[..raw.len().min(size)]);
            return (body, false, Vec::new());
        }
        body.extend_from_slice(&raw[..size]);
        assert!(
            &raw[size..size + 2] == b"\r\n",
            "chunk data not followed by CRLF after {} body bytes",
            body.len()
        );
        raw = &raw[size + 2..];
    }
}

#[track_caller]
fn parse_chunk_size(line: &[u8]) -> usize {
    let line = String::from_utf8_lossy(line);
    let hex = line.split(';').next().unwrap_or_default().trim();
    usize::from_str_radix(hex, 16).unwrap_or_else(|_| panic!("malformed chunk size line {line:?}"))
}

/// After the last chunk: either an empty line, or trailer fields ending in one. Returns
/// whether that end arrived, and the fields.
#[track_caller]
fn parse_trailers(rest: &[u8]) -> (bool, Vec<(String, String)>) {
    if rest.starts_with(b"\r\n") {
        return (true, Vec::new());
    }
    let Some(end) = find(rest, b"\r\n\r\n") else {
        return (false, Vec::new());
    };
    let text = String::from_utf8_lossy(&rest[..end]);
    let fields = text
        .split("\r\n")
        .map(|line| {
            let (name, value) = line
                .split_once(':')
                .unwrap_or_else(|| panic!("malformed trailer line {line:?}"));
            (name.to_owned(), value.trim().to_owned())
        })
        .collect();
    (true, fields)
}

fn is_chunked(headers: &[(String, String)]) -> bool {
    find_header(headers, "transfer-encoding")
        .is_some_and(|value| value.to_ascii_lowercase().contains("chunked"))
}

fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(candidate, _)| candidate.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_str())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// The start of a possibly large byte string, for panic messages.
fn preview(bytes: &[u8]) -> String {
    const LIMIT: usize = 1000;
    let shown = String::from_utf8_lossy(&bytes[..bytes.len().min(LIMIT)]);
    if bytes.len() > LIMIT {
        format!("{shown:?}... ({} bytes in total)", bytes.len())
    } else {
        format!("{shown:?}")
    }
}
