//! Request heads, read within bounds: at most `max_bytes` of head, and nothing of a body (a
//! request with one is answered 413 and the connection closed: an echo needs no body).

use tokio::io::{AsyncRead, AsyncReadExt};

/// A request as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub method: String,
    pub target: String,
    /// `HTTP/1.0` or `HTTP/1.1`.
    pub version: String,
    pub headers: Vec<(String, String)>,
    /// Bytes after the head (the next pipelined request).
    pub rest: Vec<u8>,
}

impl Head {
    /// The client wants the connection kept for another request.
    pub fn keep_alive(&self) -> bool {
        let connection = self.header("connection").map(str::to_ascii_lowercase);
        match self.version.as_str() {
            "HTTP/1.1" => !connection.is_some_and(|c| c.split(',').any(|t| t.trim() == "close")),
            _ => connection.is_some_and(|c| c.split(',').any(|t| t.trim() == "keep-alive")),
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The request announces a body.
    pub fn has_body(&self) -> bool {
        self.header("transfer-encoding").is_some()
            || self.header("content-length").is_some_and(|v| v.trim() != "0")
    }
}

/// Why no request head came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeadError {
    /// The peer closed before a whole head (or before any byte).
    Closed {
        received: usize,
    },
    /// More than the limit without the blank line that ends a head.
    TooLarge,
    /// Bytes that are no HTTP/1 request.
    Malformed,
    Io(std::io::ErrorKind),
}

/// Reads one request head; `buf` holds bytes already read (a pipelined request).
pub async fn read_head<S: AsyncRead + Unpin>(
    stream: &mut S,
    mut buf: Vec<u8>,
    max_bytes: usize,
) -> Result<Head, HeadError> {
    loop {
        if !buf.is_empty() {
            let mut headers = [httparse::EMPTY_HEADER; 100];
            let mut request = httparse::Request::new(&mut headers);
            match request.parse(&buf) {
                Ok(httparse::Status::Complete(len)) => {
                    let head = Head {
                        method: request.method.unwrap_or_default().to_string(),
                        target: request.path.unwrap_or_default().to_string(),
                        version: format!("HTTP/1.{}", request.version.unwrap_or(1)),
                        headers: request
                            .headers
                            .iter()
                            .map(|h| (h.name.to_string(), String::from_utf8_lossy(h.value).into_owned()))
                            .collect(),
                        rest: buf[len..].to_vec(),
                    };
                    return Ok(head);
                }
                Ok(httparse::Status::Partial) => {}
                // Too many headers counts as too large.
                Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooLarge),
                Err(_) => return Err(HeadError::Malformed),
            }
        }
        if buf.len() >= max_bytes {
            return Err(HeadError::TooLarge);
        }
        // Read into the buffer's own spare room: no buffer of size lives in the task.
        buf.reserve((max_bytes - buf.len()).min(2048));
        let n = stream.read_buf(&mut buf).await.map_err(|e| HeadError::Io(e.kind()))?;
        if n == 0 {
            return Err(HeadError::Closed { received: buf.len() });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read(bytes: &[u8], max: usize) -> Result<Head, HeadError> {
        let mut stream = bytes;
        read_head(&mut stream, Vec::new(), max).await
    }

    #[tokio::test]
    async fn a_request_reads_with_its_headers_as_sent_and_what_follows() {
        let head = read(b"GET /x HTTP/1.1\r\nHost: a\r\nUser-Agent: UA\r\nVia: 1.1 p\r\n\r\nGET /", 1024)
            .await
            .unwrap();
        assert_eq!(
            (head.method.as_str(), head.target.as_str(), head.version.as_str()),
            ("GET", "/x", "HTTP/1.1")
        );
        assert_eq!(head.headers[1], ("User-Agent".to_string(), "UA".to_string()));
        assert_eq!(head.rest, b"GET /");
        assert!(head.keep_alive());
    }

    #[tokio::test]
    async fn limits_garbage_and_early_ends_are_told_apart() {
        assert_eq!(read(b"GET / HTTP/1.1\r\nX: 1", 1024).await, Err(HeadError::Closed { received: 20 }));
        assert_eq!(read(b"", 1024).await, Err(HeadError::Closed { received: 0 }));
        let huge = [b"GET / HTTP/1.1\r\nX: ".as_slice(), &vec![b'a'; 5000]].concat();
        assert_eq!(read(&huge, 4096).await, Err(HeadError::TooLarge));
        assert_eq!(
            read(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 1024).await,
            Err(HeadError::Malformed)
        );
        let many: String = (0..200).map(|i| format!("H{i}: v\r\n")).collect();
        assert_eq!(
            read(format!("GET / HTTP/1.1\r\n{many}\r\n").as_bytes(), 1 << 20).await,
            Err(HeadError::TooLarge)
        );
    }

    #[tokio::test]
    async fn http_1_0_closes_unless_asked_and_bodies_are_seen() {
        let head = read(b"GET / HTTP/1.0\r\n\r\n", 1024).await.unwrap();
        assert!(!head.keep_alive());
        let head =
            read(b"POST / HTTP/1.1\r\nConnection: close\r\nContent-Length: 5\r\n\r\n", 1024).await.unwrap();
        assert!(!head.keep_alive());
        assert!(head.has_body());
    }
}
