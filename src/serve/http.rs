//! Request heads: reading one from a connection within its limits of size and time, checking it
//! (request line, header fields, `Host`, the percent-decoded path) into a [`Request`] or a
//! [`Refusal`], and the reason phrases of status lines. All but [`read_head`] is pure, and
//! tested here.

use std::io::{ErrorKind, Read};
use std::net::TcpStream;
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The longest request line (with any empty lines before it).
const MAX_LINE: usize = 8 * 1024;
/// The most bytes of header fields after the request line.
const MAX_HEADER_BYTES: usize = 64 * 1024;
/// The most header fields.
const MAX_HEADERS: usize = 100;
/// Request heads are read in pieces of this size.
const PIECE: usize = 4096;
/// A handler's buffer: room for the longest head that is read whole, and one more piece.
pub(super) const BUFFER: usize = MAX_LINE + 1 + MAX_HEADER_BYTES + PIECE;
/// The time a client has to send its whole request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// While connections wait for a handler, the time a client has to send its request head: the
/// server is on loopback, where a request arrives in one piece.
const SHED_AFTER: Duration = Duration::from_millis(100);
/// How often a handler waiting for a request head checks whether others wait for it.
pub(super) const POLL: Duration = Duration::from_millis(50);

/// A request refused before any page is looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Refusal {
    pub(super) status: u16,
    pub(super) why: &'static str,
}

const fn refuse(status: u16, why: &'static str) -> Refusal {
    Refusal { status, why }
}

const URI_TOO_LONG: Refusal = refuse(414, "the request line is too long\n");
const HEADERS_TOO_LARGE: Refusal = refuse(431, "the request header fields are too large\n");
const TIMED_OUT: Refusal = refuse(408, "the request did not arrive in time\n");
const BAD_LINE: Refusal = refuse(400, "a malformed request line\n");
const BAD_HEADER: Refusal = refuse(400, "a malformed header field\n");
const BAD_TARGET: Refusal = refuse(400, "a malformed request target\n");
const BAD_PATH: Refusal = refuse(400, "a path that cannot name a file\n");

/// Read a request head into `head`: where in it the request line and header fields are,
/// without the empty line that ends them. `Err(None)` when the client closed or never sent
/// anything: nothing to answer. `queued` counts the connections waiting for a handler, for
/// which a slow client is given up on after [`SHED_AFTER`].
pub(super) fn read_head(
    stream: &mut TcpStream,
    queued: &AtomicUsize,
    head: &mut [u8],
) -> Result<Range<usize>, Option<Refusal>> {
    stream.set_read_timeout(Some(POLL)).map_err(|_| None)?;
    let started = Instant::now();
    // The bytes read, where the request line starts (after the empty lines a client may send
    // before it), where the header fields start, where the line being read starts, how far the
    // bytes have been searched for line ends, and the lines read so far.
    let (mut read, mut request, mut fields, mut line, mut searched, mut lines) = (0, 0, 0, 0, 0, 0);
    loop {
        while let Some(at) = head[searched..read].iter().position(|&b| b == b'\n') {
            let end = searched + at;
            searched = end + 1;
            let empty = matches!(&head[line..end], b"" | b"\r");
            if lines == 0 && end > MAX_LINE {
                return Err(Some(URI_TOO_LONG));
            }
            if lines > 0 && (end - fields > MAX_HEADER_BYTES || (lines > MAX_HEADERS && !empty)) {
                return Err(Some(HEADERS_TOO_LARGE));
            }
            match (lines, empty) {
                (0, true) => request = searched,
                (0, false) => fields = searched,
                (_, true) => return Ok(request..line - 1),
                (_, false) => {}
            }
            lines += usize::from(!empty);
            line = searched;
        }
        // The checks above and these keep `read` at most MAX_LINE + 1 + MAX_HEADER_BYTES
        // here, so that `head` has room for another piece.
        if lines == 0 && read > MAX_LINE {
            return Err(Some(URI_TOO_LONG));
        }
        if lines > 0 && read - fields > MAX_HEADER_BYTES {
            return Err(Some(HEADERS_TOO_LARGE));
        }
        let waited = started.elapsed();
        if waited >= HEAD_TIMEOUT || (waited >= SHED_AFTER && queued.load(Ordering::SeqCst) > 0) {
            return Err((read > 0).then_some(TIMED_OUT));
        }
        let room = read..(read + PIECE).min(head.len());
        match stream.read(&mut head[room]) {
            Ok(0) => return Err(None),
            Ok(n) => read += n,
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            Err(_) => return Err(None),
        }
    }
}

/// What a request asks for, once it passed every check.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Request {
    pub(super) head_only: bool,
    /// Percent-decoded, without its leading slashes.
    pub(super) path: String,
    pub(super) query: String,
    pub(super) if_none_match: Option<String>,
}

/// Check a request head (see [`read_head`]) sent to 127.0.0.1:`port`.
pub(super) fn parse(head: &[u8], port: u16) -> Result<Request, Refusal> {
    let mut lines = head
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let first = lines.next().unwrap_or_default();
    let mut parts = first.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(BAD_LINE);
    };
    if !token(method) || first.contains(&b'\r') {
        return Err(BAD_LINE);
    }
    let http11 = match version {
        b"HTTP/1.1" => true,
        b"HTTP/1.0" => false,
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            return Err(refuse(505, "only HTTP/1.1 and HTTP/1.0 are served\n"));
        }
        _ => return Err(BAD_LINE),
    };
    let (mut hosts, mut if_none_match, mut body) = (Vec::new(), None, false);
    for field in lines {
        let Some(colon) = field.iter().position(|&b| b == b':') else {
            return Err(BAD_HEADER);
        };
        let (name, value) = (&field[..colon], field[colon + 1..].trim_ascii());
        // No whitespace before the colon (which also refuses folded lines), no CR or NUL.
        if !token(name) || value.iter().any(|&b| b == b'\r' || b == 0) {
            return Err(BAD_HEADER);
        }
        if name.eq_ignore_ascii_case(b"host") {
            hosts.push(value);
        } else if name.eq_ignore_ascii_case(b"if-none-match") {
            if_none_match = std::str::from_utf8(value).ok().map(str::to_string);
        } else if name.eq_ignore_ascii_case(b"content-length") {
            if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
                return Err(BAD_HEADER);
            }
            body |= value.iter().any(|&b| b != b'0');
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            body = true;
        }
    }
    match hosts[..] {
        [] if !http11 => {}
        [host] if allowed_host(host, port) => {}
        [_] => {
            return Err(refuse(
                421,
                "this server answers only requests for 127.0.0.1 or localhost, with its port\n",
            ));
        }
        _ => return Err(refuse(400, "a request needs exactly one Host\n")),
    }
    let head_only = match method {
        b"GET" => false,
        b"HEAD" => true,
        _ => return Err(refuse(405, "GET and HEAD only\n")),
    };
    if body {
        return Err(refuse(413, "this server takes no request body\n"));
    }
    // The origin form only: visible ASCII, starting with a slash.
    if target.first() != Some(&b'/') || !target.iter().all(|b| b.is_ascii_graphic()) {
        return Err(BAD_TARGET);
    }
    let target = std::str::from_utf8(target).map_err(|_| BAD_TARGET)?;
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let path = percent_decode(path.as_bytes()).ok_or(BAD_PATH)?;
    if path.chars().any(|c| c.is_control() || c == '\\') || path.split('/').any(|s| s == "..") {
        return Err(BAD_PATH);
    }
    Ok(Request {
        head_only,
        path: path.trim_start_matches('/').to_string(),
        query: query.to_string(),
        if_none_match,
    })
}

/// An HTTP token: a method or a header field name.
fn token(bytes: &[u8]) -> bool {
    !bytes.is_empty()
        && bytes
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Whether a `Host` value names this server: a page on another domain (even one that resolves
/// to 127.0.0.1) must not read it.
fn allowed_host(host: &[u8], port: u16) -> bool {
    ["127.0.0.1", "localhost", "[::1]"].iter().any(|name| {
        host.eq_ignore_ascii_case(format!("{name}:{port}").as_bytes())
            || port == 80 && host.eq_ignore_ascii_case(name.as_bytes())
    })
}

/// Decode `%XX` escapes byte by byte, then require UTF-8: `None` for a `%` without two hex
/// digits after it, or bytes that are not UTF-8.
pub(super) fn percent_decode(s: &[u8]) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut rest = s;
    while let Some((&b, tail)) = rest.split_first() {
        rest = tail;
        if b != b'%' {
            out.push(b);
            continue;
        }
        let [high, low, tail @ ..] = rest else {
            return None;
        };
        let digit = |d: &u8| char::from(*d).to_digit(16);
        out.push((digit(high)? * 16 + digit(low)?) as u8);
        rest = tail;
    }
    String::from_utf8(out).ok()
}

/// The reason phrase of a status line, for the statuses this server sends (500 among them).
pub(super) fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        304 => "Not Modified",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        414 => "URI Too Long",
        421 => "Misdirected Request",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Internal Server Error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const PORT: u16 = 8000;

    /// The status `parse` answers a head with, 200 for a request that passed.
    fn status(head: &[u8]) -> u16 {
        parse(head, PORT).map_or_else(|r| r.status, |_| 200)
    }

    #[test]
    fn percent_decoding_is_byte_level_and_strict() {
        assert_eq!(percent_decode(b"/a%20b").as_deref(), Some("/a b"));
        assert_eq!(percent_decode(b"/%C3%a9").as_deref(), Some("/\u{e9}"));
        // The escape runs into a two-byte character: slicing that as text used to panic.
        assert_eq!(percent_decode(b"/%a\xc3\xa9"), None);
        for bad in [&b"/%"[..], b"/%4", b"/%zz", b"/%+1", b"/%ff", b"/\xff"] {
            assert_eq!(percent_decode(bad), None, "{bad:?}");
        }
        assert_eq!(percent_decode(b"/%00").as_deref(), Some("/\0"));
    }

    #[test]
    fn heads_are_checked() {
        let cases: &[(&[u8], u16)] = &[
            (b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8000", 200),
            (b"HEAD /a/b.json?x=1 HTTP/1.1\nhost: LOCALHOST:8000", 200),
            (b"GET / HTTP/1.1\r\nHost: [::1]:8000\r\nContent-Length: 0", 200),
            (b"GET / HTTP/1.0", 200),
            (b"GET / HTTP/1.1", 400),
            (b"GET / HTTP/1.1\r\nHost: localhost:8000\r\nHost: localhost:8000", 400),
            (b"GET / HTTP/1.1\r\nHost: evil.example:8000", 421),
            (b"GET / HTTP/1.1\r\nHost: localhost", 421),
            (b"GET / HTTP/1.1\r\nHost: localhost.:8000", 421),
            (b"GET / HTTP/1.0\r\nHost: 127.0.0.1:80", 421),
            (b"GET /", 400),
            (b"GET  / HTTP/1.1", 400),
            (b"GET / HTTP/1.1 x", 400),
            (b"G\xc3\xa9T / HTTP/1.1", 400),
            (b"GET / HTTP/2.0", 505),
            (b"GET / HTTQ/1.1", 400),
            (b"GET / HTTP/1.1\r\nHost : localhost:8000", 400),
            (b"GET / HTTP/1.1\r\nHost: localhost:8000\r\n folded", 400),
            (b"GET / HTTP/1.1\r\nHost: localhost:8000\r\nno colon", 400),
            (b"GET / HTTP/1.1\r\nHost: localhost:8000\r\nX: a\rb", 400),
            (b"GET / HTTP/1.1\r\nHost: localhost:8000\r\nX: a\0b", 400),
            (b"GET / HTTP/1.1\r\nHost: localhost:8000\r\nX: \xff\xfe", 200),
            (b"POST / HTTP/1.1\r\nHost: localhost:8000", 405),
            (b"BREW / HTTP/1.1\r\nHost: localhost:8000", 405),
            (b"GET / HTTP/1.1\r\nHost: localhost:8000\r\nContent-Length: 1", 413),
            (
                b"GET / HTTP/1.1\r\nHost: localhost:8000\r\nContent-Length: 99999999999999999999999999",
                413,
            ),
            (b"GET / HTTP/1.1\r\nHost: localhost:8000\r\nContent-Length: -1", 400),
            (b"GET / HTTP/1.1\r\nHost: localhost:8000\r\nTransfer-Encoding: chunked", 413),
            (b"GET * HTTP/1.1\r\nHost: localhost:8000", 400),
            (b"GET http://localhost:8000/ HTTP/1.1\r\nHost: localhost:8000", 400),
            (b"GET /\xc3\xa9 HTTP/1.1\r\nHost: localhost:8000", 400),
            (b"GET /%a\xc3\xa9 HTTP/1.1\r\nHost: localhost:8000", 400),
            (b"GET /%e9 HTTP/1.1\r\nHost: localhost:8000", 400),
            (b"GET /../etc/passwd HTTP/1.1\r\nHost: localhost:8000", 400),
            (b"GET /a/%2e%2e/%2E%2E/x HTTP/1.1\r\nHost: localhost:8000", 400),
            (b"GET /a%2f..%2fb HTTP/1.1\r\nHost: localhost:8000", 400),
            (b"GET /a%00b HTTP/1.1\r\nHost: localhost:8000", 400),
            (b"GET /a%5cb HTTP/1.1\r\nHost: localhost:8000", 400),
            (b"GET /a%0d%0ab HTTP/1.1\r\nHost: localhost:8000", 400),
            (b"", 400),
        ];
        for (head, expected) in cases {
            assert_eq!(status(head), *expected, "{}", String::from_utf8_lossy(head));
        }
        assert_eq!(
            parse(b"HEAD //a%20b/c.json?since=3 HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nIf-None-Match: \"x\"", PORT),
            Ok(Request {
                head_only: true,
                path: "a b/c.json".into(),
                query: "since=3".into(),
                if_none_match: Some("\"x\"".into()),
            })
        );
        assert_eq!(status(b"GET / HTTP/1.1\r\nHost: localhost"), 421);
        assert!(parse(b"GET / HTTP/1.1\r\nHost: localhost", 80).is_ok());
    }

    /// Request heads from pieces that are mostly right, so that every check is reached.
    fn heads() -> impl Strategy<Value = Vec<u8>> {
        let method = prop_oneof![
            Just(b"GET".to_vec()),
            Just(b"HEAD".to_vec()),
            Just(b"POST".to_vec()),
            proptest::collection::vec(any::<u8>(), 0..6),
        ];
        let target = prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..40),
            proptest::collection::vec(
                prop_oneof![
                    Just(b"/".to_vec()),
                    Just(b"..".to_vec()),
                    Just(b"%".to_vec()),
                    Just(b"%2e".to_vec()),
                    Just(b"%2F".to_vec()),
                    Just(b"%c3".to_vec()),
                    Just(b"%a9".to_vec()),
                    Just(b"\\".to_vec()),
                    Just(b"?".to_vec()),
                    "[a-z0-9.]{1,3}".prop_map(String::into_bytes),
                    proptest::collection::vec(any::<u8>(), 1..3),
                ],
                0..12,
            )
            .prop_map(|parts| [&b"/"[..], &parts.concat()].concat()),
        ];
        let version = prop_oneof![
            Just(b"HTTP/1.1".to_vec()),
            Just(b"HTTP/1.0".to_vec()),
            proptest::collection::vec(any::<u8>(), 0..10),
        ];
        let field = prop_oneof![
            Just(b"Host: 127.0.0.1:8000".to_vec()),
            Just(b"Content-Length: 0".to_vec()),
            proptest::collection::vec(any::<u8>(), 0..30),
        ];
        (
            method,
            target,
            version,
            proptest::collection::vec(field, 0..4),
        )
            .prop_map(|(method, target, version, fields)| {
                let mut head = [method, target, version].join(&b' ');
                for field in fields {
                    head.extend_from_slice(b"\r\n");
                    head.extend_from_slice(&field);
                }
                head
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn percent_decoding_inverts_encoding(text in any::<String>()) {
            let encoded: String = text.bytes().map(|b| format!("%{b:02X}")).collect();
            prop_assert_eq!(percent_decode(encoded.as_bytes()), Some(text));
        }

        #[test]
        fn percent_decoding_takes_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Some(text) = percent_decode(&bytes) {
                prop_assert!(text.len() <= bytes.len());
            }
        }

        #[test]
        fn parsed_paths_stay_in_the_served_set(head in heads()) {
            if let Ok(request) = parse(&head, PORT) {
                let path = &request.path;
                prop_assert!(!path.starts_with('/'));
                prop_assert!(!path.split('/').any(|s| s == ".."), "{path:?}");
                prop_assert!(!path.chars().any(|c| c.is_control() || c == '\\'), "{path:?}");
            }
        }

        #[test]
        fn parse_takes_any_bytes(head in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse(&head, PORT);
        }
    }
}
