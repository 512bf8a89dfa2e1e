//! A minimal schema registry on 127.0.0.1 for tests: one thread that serves each
//! HTTP/1.1 request from a table of schemas and records what it received.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;

/// One request as the stub received it.
#[derive(Debug, Clone)]
pub struct ReceivedRequest {
    pub method: String,
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: String,
}

/// A running stub registry. The thread ends with the test process.
pub struct RegistryStub {
    pub address: SocketAddr,
    pub requests: Arc<Mutex<Vec<ReceivedRequest>>>,
    schemas: Arc<Mutex<HashMap<u32, String>>>,
}

impl RegistryStub {
    /// Starts a stub that serves `GET /schemas/ids/{id}` from its schema table, with
    /// Confluent's 40403 body for an unknown id. Every
    /// `POST /subjects/{subject}/versions` gets the id `registered_id`.
    pub fn start(registered_id: u32) -> RegistryStub {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let schemas = Arc::new(Mutex::new(HashMap::new()));

        let thread_requests = Arc::clone(&requests);
        let thread_schemas = Arc::clone(&schemas);
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let request = read_request(&stream);
                let (status, body) =
                    respond(&request, &thread_schemas.lock().unwrap(), registered_id);
                thread_requests.lock().unwrap().push(request);
                write_response(stream, status, &body);
            }
        });
        RegistryStub {
            address,
            requests,
            schemas,
        }
    }

    /// Adds a schema the stub serves under `id`.
    pub fn add_schema(&self, id: u32, schema_json: &str) {
        self.schemas
            .lock()
            .unwrap()
            .insert(id, schema_json.to_owned());
    }

    /// Returns the base URL, such as `http://127.0.0.1:40123`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Returns the number of requests the stub has served.
    pub fn request_count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }
}

fn respond(
    request: &ReceivedRequest,
    schemas: &HashMap<u32, String>,
    registered_id: u32,
) -> (u16, String) {
    if let Some(id) = request.path.strip_prefix("/schemas/ids/") {
        let schema = id.parse::<u32>().ok().and_then(|id| schemas.get(&id));
        return match schema {
            Some(schema) => (200, serde_json::json!({ "schema": schema }).to_string()),
            None => (
                404,
                format!(r#"{{"error_code":40403,"message":"Schema {id} not found"}}"#),
            ),
        };
    }
    if request.method == "POST"
        && request.path.starts_with("/subjects/")
        && request.path.ends_with("/versions")
    {
        return (200, format!(r#"{{"id":{registered_id}}}"#));
    }
    (
        404,
        r#"{"error_code":404,"message":"HTTP 404 Not Found"}"#.to_owned(),
    )
}

fn read_request(stream: &TcpStream) -> ReceivedRequest {
    let mut reader = BufReader::new(stream);
    let mut request_line = String::new();
    reader.read_line(&mut request_line).unwrap();
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let path = parts.next().unwrap_or_default().to_owned();

    let mut headers = HashMap::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
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
        .and_then(|length| length.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    ReceivedRequest {
        method,
        path,
        headers,
        body: String::from_utf8(body).unwrap(),
    }
}

fn write_response(mut stream: TcpStream, status: u16, body: &str) {
    let response = format!(
        "HTTP/1.1 {status} Stub\r\nContent-Type: application/vnd.schemaregistry.v1+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes());
}
