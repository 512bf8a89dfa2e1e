//! A blocking client of a Confluent Schema Registry: fetches writer schemas by id for
//! decoding and registers burnrate's output schemas under a subject.
//!
//! Fetched schemas are cached by id for the life of the client, because a registry
//! never changes the schema behind an id. Failures are not cached, so a record whose
//! schema was not found is looked up again when it is retried.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use apache_avro::Schema;
use base64::Engine as _;
use burnrate_codec::avro::{parse_writer_schema, AvroCodecError};
use percent_encoding::{percent_decode_str, utf8_percent_encode, NON_ALPHANUMERIC};
use serde::Deserialize;

/// Media type of Schema Registry API requests.
const REGISTRY_CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

/// The `error_code` Confluent's registry returns for a schema id it does not have.
const SCHEMA_NOT_FOUND_CODE: u32 = 40403;

/// Whether retrying the request can succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The record refers to something the registry does not have or cannot be read:
    /// retrying does not help, so the record belongs on the dead-letter topic.
    Permanent,
    /// The registry returned no usable response (unreachable, timed out, overloaded,
    /// credentials rejected): retry the record later instead of dead-lettering it.
    Transient,
}

/// A failed registry request. Messages show the registry URL without credentials.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The configured registry URL cannot be used.
    #[error("invalid schema registry URL {url:?}: {problem}")]
    InvalidUrl {
        /// The URL with any password replaced by `***`.
        url: String,
        /// The problem and its fix.
        problem: String,
    },
    /// The registry has no schema with this id (Confluent error code 40403).
    #[error("schema id {id} not found in the schema registry at {url}; check that the producer uses this registry")]
    SchemaNotFound {
        /// The schema id from the record.
        id: u32,
        /// The registry URL.
        url: String,
    },
    /// The registry returned a schema that is not an Avro schema burnrate can parse.
    #[error("schema id {id} from the schema registry is not a usable Avro schema: {problem}")]
    UnusableSchema {
        /// The schema id from the record.
        id: u32,
        /// The reason the schema cannot be used.
        problem: String,
    },
    /// The request did not get an HTTP response: connection refused, DNS failure,
    /// timeout, TLS failure.
    #[error("schema registry at {url} is unreachable: {message}; check the URL and that the registry is running")]
    Unreachable {
        /// The registry URL.
        url: String,
        /// The HTTP client's error.
        message: String,
    },
    /// The registry returned an HTTP error status.
    #[error("schema registry at {url} returned HTTP {status} for {request}: {message}")]
    Status {
        /// The registry URL.
        url: String,
        /// The request, such as `GET /schemas/ids/42`.
        request: String,
        /// The HTTP status code.
        status: u16,
        /// The `error_code` of the registry's error body, such as 40403.
        error_code: Option<u32>,
        /// The `message` of the registry's error body, or the start of the body.
        message: String,
    },
    /// The registry returned a 2xx status with a body that is not the documented JSON.
    #[error("schema registry at {url} returned an unexpected body for {request}: {message}")]
    InvalidResponse {
        /// The registry URL.
        url: String,
        /// The request.
        request: String,
        /// The parser's error.
        message: String,
    },
}

impl RegistryError {
    /// Returns whether retrying can help.
    ///
    /// An HTTP 401 or 403 counts as transient: wrong credentials would otherwise send
    /// every record of the topic to the dead-letter topic, and retrying keeps them in
    /// place until an operator fixes the setting. A 404 without Confluent's 40403 code
    /// counts as transient too, because it points to a wrong URL, not to the record.
    pub fn kind(&self) -> FailureKind {
        match self {
            RegistryError::SchemaNotFound { .. } | RegistryError::UnusableSchema { .. } => {
                FailureKind::Permanent
            }
            RegistryError::Status { status, .. } if (400..500).contains(status) => match status {
                401 | 403 | 404 | 408 | 429 => FailureKind::Transient,
                _ => FailureKind::Permanent,
            },
            RegistryError::InvalidUrl { .. } => FailureKind::Permanent,
            RegistryError::Status { .. }
            | RegistryError::Unreachable { .. }
            | RegistryError::InvalidResponse { .. } => FailureKind::Transient,
        }
    }
}

/// A schema registry client with a cache of writer schemas by id.
pub struct SchemaRegistry {
    /// Base URL without userinfo and without a trailing slash.
    base_url: String,
    /// The value of the `Authorization` header, when credentials are set.
    authorization: Option<String>,
    agent: ureq::Agent,
    schemas: Mutex<HashMap<u32, Arc<Schema>>>,
}

impl std::fmt::Debug for SchemaRegistry {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("SchemaRegistry")
            .field("base_url", &self.base_url)
            .field("authorization", &self.authorization.as_ref().map(|_| "***"))
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct SchemaResponse {
    schema: String,
    #[serde(rename = "schemaType")]
    schema_type: Option<String>,
}

#[derive(Deserialize)]
struct RegisterResponse {
    id: u32,
}

#[derive(Deserialize)]
struct ErrorBody {
    error_code: Option<u32>,
    message: Option<String>,
}

impl SchemaRegistry {
    /// Creates a client of the registry at `url`, such as `https://registry:8081`.
    ///
    /// Basic-auth credentials may be given in the URL's userinfo
    /// (`https://key:secret@registry`), percent-encoded where they contain `@`, `:` or
    /// `/`. `timeout` bounds each request from connect to the last byte of the body.
    pub fn new(url: &str, timeout: Duration) -> Result<SchemaRegistry, RegistryError> {
        let (base_url, credentials) = split_userinfo(url)?;
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .build();
        let registry = SchemaRegistry {
            base_url,
            authorization: None,
            agent: config.into(),
            schemas: Mutex::new(HashMap::new()),
        };
        Ok(match credentials {
            Some((username, password)) => registry.with_credentials(&username, &password),
            None => registry,
        })
    }

    /// Sets basic-auth credentials, replacing any given in the URL.
    pub fn with_credentials(mut self, username: &str, password: &str) -> SchemaRegistry {
        let token =
            base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
        self.authorization = Some(format!("Basic {token}"));
        self
    }

    /// Returns the registry URL without credentials, for logs and messages.
    pub fn url(&self) -> &str {
        &self.base_url
    }

    /// Returns the writer schema registered under `id`, from the cache or the registry.
    pub fn writer_schema(&self, id: u32) -> Result<Arc<Schema>, RegistryError> {
        if let Some(schema) = self.cached(id) {
            return Ok(schema);
        }

        let path = format!("/schemas/ids/{id}");
        let body = match self.send("GET", &path, None) {
            Err(RegistryError::Status {
                error_code: Some(SCHEMA_NOT_FOUND_CODE),
                ..
            }) => {
                return Err(RegistryError::SchemaNotFound {
                    id,
                    url: self.base_url.clone(),
                })
            }
            other => other?,
        };
        let response: SchemaResponse = self.parse_body("GET", &path, &body)?;

        // Confluent registries also hold Protobuf and JSON Schema; a missing type means Avro.
        if let Some(schema_type) = response
            .schema_type
            .as_deref()
            .filter(|kind| *kind != "AVRO")
        {
            return Err(RegistryError::UnusableSchema {
                id,
                problem: format!("its schemaType is {schema_type}, but burnrate reads only AVRO"),
            });
        }
        // NOTE: schema references (a schema that imports named types registered under
        // other subjects) are not fetched, so such a schema fails to parse here.
        let schema = parse_writer_schema(&response.schema).map_err(|error: AvroCodecError| {
            RegistryError::UnusableSchema {
                id,
                problem: error.to_string(),
            }
        })?;

        let schema = Arc::new(schema);
        self.schemas
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(id, Arc::clone(&schema));
        tracing::debug!(schema_id = id, registry = %self.base_url, "Fetched writer schema.");
        Ok(schema)
    }

    /// Registers `schema_json` (an Avro schema as JSON text) under `subject` and returns
    /// its id. Registering a schema the subject already has returns the existing id.
    pub fn register(&self, subject: &str, schema_json: &str) -> Result<u32, RegistryError> {
        let path = format!(
            "/subjects/{}/versions",
            utf8_percent_encode(subject, NON_ALPHANUMERIC)
        );
        let request_body = serde_json::json!({ "schema": schema_json }).to_string();
        let body = self.send("POST", &path, Some(&request_body))?;
        let response: RegisterResponse = self.parse_body("POST", &path, &body)?;
        tracing::info!(subject, schema_id = response.id, registry = %self.base_url, "Registered schema.");
        Ok(response.id)
    }

    fn cached(&self, id: u32) -> Option<Arc<Schema>> {
        self.schemas
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(&id)
            .cloned()
    }

    /// Sends one request and returns the body of a 2xx response.
    ///
    /// An error status becomes [`RegistryError::Status`] with the registry's
    /// `error_code` when the body has one, so callers can tell a missing schema from a
    /// wrong URL.
    fn send(&self, method: &str, path: &str, body: Option<&str>) -> Result<String, RegistryError> {
        let url = format!("{}{path}", self.base_url);
        let unreachable = |error: ureq::Error| RegistryError::Unreachable {
            url: self.base_url.clone(),
            message: error.to_string(),
        };

        let result = match body {
            Some(body) => {
                let mut request = self
                    .agent
                    .post(&url)
                    .header("Content-Type", REGISTRY_CONTENT_TYPE);
                request = request.header("Accept", REGISTRY_CONTENT_TYPE);
                if let Some(authorization) = &self.authorization {
                    request = request.header("Authorization", authorization);
                }
                request.send(body)
            }
            None => {
                let mut request = self.agent.get(&url).header("Accept", REGISTRY_CONTENT_TYPE);
                if let Some(authorization) = &self.authorization {
                    request = request.header("Authorization", authorization);
                }
                request.call()
            }
        };
        let mut response = result.map_err(unreachable)?;
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().map_err(unreachable)?;

        if !(200..300).contains(&status) {
            let (error_code, message) = match serde_json::from_str::<ErrorBody>(&text) {
                Ok(ErrorBody {
                    error_code,
                    message: Some(message),
                }) => (error_code, message),
                Ok(ErrorBody {
                    error_code,
                    message: None,
                }) => (error_code, String::new()),
                Err(_) => (None, text.chars().take(200).collect()),
            };
            return Err(RegistryError::Status {
                url: self.base_url.clone(),
                request: format!("{method} {path}"),
                status,
                error_code,
                message,
            });
        }
        Ok(text)
    }

    fn parse_body<'a, T: Deserialize<'a>>(
        &self,
        method: &str,
        path: &str,
        body: &'a str,
    ) -> Result<T, RegistryError> {
        serde_json::from_str(body).map_err(|error| RegistryError::InvalidResponse {
            url: self.base_url.clone(),
            request: format!("{method} {path}"),
            message: error.to_string(),
        })
    }
}

/// Splits `url` into the URL without userinfo and the percent-decoded username and
/// password, if the URL has userinfo.
fn split_userinfo(url: &str) -> Result<(String, Option<(String, String)>), RegistryError> {
    let invalid = |problem: &str| RegistryError::InvalidUrl {
        url: redact(url),
        problem: problem.to_owned(),
    };

    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(invalid(
            "it has no scheme; write it as http://host:port or https://host:port",
        ));
    };
    if scheme != "http" && scheme != "https" {
        return Err(invalid("the scheme must be http or https"));
    }
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);

    let (host, credentials) = match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let (username, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
            let decode = |text: &str| {
                percent_decode_str(text)
                    .decode_utf8()
                    .map(|decoded| decoded.into_owned())
                    .map_err(|_| invalid("the credentials are not valid percent-encoded UTF-8"))
            };
            (host, Some((decode(username)?, decode(password)?)))
        }
        None => (authority, None),
    };
    if host.is_empty() {
        return Err(invalid("it has no host"));
    }

    let base_url = format!("{scheme}://{host}{}", path.trim_end_matches('/'));
    Ok((base_url, credentials))
}

/// Returns `url` with the password of its userinfo replaced by `***`.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let username = userinfo
                .split_once(':')
                .map_or(userinfo, |(username, _)| username);
            format!("{scheme}://{username}:***@{host}{path}")
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;

    use burnrate_codec::avro::USAGE_EVENT_SCHEMA_JSON;

    use super::*;
    use crate::registry_stub::RegistryStub;

    const TIMEOUT: Duration = Duration::from_secs(5);

    #[test]
    fn writer_schema_is_fetched_once() {
        let stub = RegistryStub::start(1);
        stub.add_schema(42, USAGE_EVENT_SCHEMA_JSON);
        let registry = SchemaRegistry::new(&stub.url(), TIMEOUT).unwrap();

        let first = registry.writer_schema(42).unwrap();
        let second = registry.writer_schema(42).unwrap();
        assert!(Arc::ptr_eq(&first, &second));
        assert_eq!(*first, *burnrate_codec::avro::usage_event_schema());
        assert_eq!(stub.request_count(), 1);

        let request = &stub.requests.lock().unwrap()[0];
        assert_eq!(request.method, "GET");
        assert_eq!(request.path, "/schemas/ids/42");
        assert!(!request.headers.contains_key("authorization"));
    }

    #[test]
    fn unknown_id_is_permanent() {
        let stub = RegistryStub::start(1);
        let registry = SchemaRegistry::new(&stub.url(), TIMEOUT).unwrap();

        let error = registry.writer_schema(7).unwrap_err();
        assert!(
            matches!(error, RegistryError::SchemaNotFound { id: 7, .. }),
            "{error}"
        );
        assert_eq!(error.kind(), FailureKind::Permanent);
        assert!(
            error.to_string().contains("schema id 7 not found"),
            "{error}"
        );
    }

    #[test]
    fn wrong_path_404_is_transient() {
        let stub = RegistryStub::start(1);
        let registry =
            SchemaRegistry::new(&format!("{}/not-a-registry", stub.url()), TIMEOUT).unwrap();

        let error = registry.writer_schema(7).unwrap_err();
        assert!(
            matches!(error, RegistryError::Status { status: 404, .. }),
            "{error}"
        );
        assert_eq!(error.kind(), FailureKind::Transient);
    }

    #[test]
    fn invalid_schema_is_permanent() {
        let stub = RegistryStub::start(1);
        stub.add_schema(3, r#"{"type": "record", "name": "X"}"#);
        let registry = SchemaRegistry::new(&stub.url(), TIMEOUT).unwrap();

        let error = registry.writer_schema(3).unwrap_err();
        assert!(
            matches!(error, RegistryError::UnusableSchema { id: 3, .. }),
            "{error}"
        );
        assert_eq!(error.kind(), FailureKind::Permanent);
    }

    #[test]
    fn refused_connection_is_transient() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        drop(listener);
        let registry = SchemaRegistry::new(&format!("http://{address}"), TIMEOUT).unwrap();

        let error = registry.writer_schema(1).unwrap_err();
        assert!(
            matches!(error, RegistryError::Unreachable { .. }),
            "{error}"
        );
        assert_eq!(error.kind(), FailureKind::Transient);
    }

    #[test]
    fn silent_registry_times_out() {
        // Accepts connections but never responds.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let registry =
            SchemaRegistry::new(&format!("http://{address}"), Duration::from_millis(200)).unwrap();

        let error = registry.writer_schema(1).unwrap_err();
        assert_eq!(error.kind(), FailureKind::Transient, "{error}");
        drop(listener);
    }

    #[test]
    fn register_posts_schema_and_returns_id() {
        let stub = RegistryStub::start(17);
        let registry = SchemaRegistry::new(&stub.url(), TIMEOUT).unwrap();

        let id = registry
            .register("burnrate.alerts-value", USAGE_EVENT_SCHEMA_JSON)
            .unwrap();
        assert_eq!(id, 17);

        let request = &stub.requests.lock().unwrap()[0];
        assert_eq!(request.method, "POST");
        assert_eq!(request.path, "/subjects/burnrate%2Ealerts%2Dvalue/versions");
        assert_eq!(request.headers["content-type"], REGISTRY_CONTENT_TYPE);
        let body: serde_json::Value = serde_json::from_str(&request.body).unwrap();
        assert_eq!(body["schema"], USAGE_EVENT_SCHEMA_JSON);
    }

    #[test]
    fn url_credentials_become_basic_auth() {
        let stub = RegistryStub::start(1);
        stub.add_schema(1, USAGE_EVENT_SCHEMA_JSON);
        let url = format!("http://key:s%40cret@{}/", stub.address);
        let registry = SchemaRegistry::new(&url, TIMEOUT).unwrap();

        registry.writer_schema(1).unwrap();
        let request = &stub.requests.lock().unwrap()[0];
        let expected = base64::engine::general_purpose::STANDARD.encode("key:s@cret");
        assert_eq!(
            request.headers["authorization"],
            format!("Basic {expected}")
        );
        assert_eq!(request.path, "/schemas/ids/1");
    }

    #[test]
    fn credentials_never_appear_in_text() {
        let registry =
            SchemaRegistry::new("https://key:hunter2@registry.invalid:8081", TIMEOUT).unwrap();
        assert_eq!(registry.url(), "https://registry.invalid:8081");
        assert!(!format!("{registry:?}").contains("hunter2"));

        let explicit = registry.with_credentials("key", "hunter3");
        assert!(!format!("{explicit:?}").contains("hunter3"));

        let error = SchemaRegistry::new("ftp://key:hunter2@registry", TIMEOUT).unwrap_err();
        assert!(!error.to_string().contains("hunter2"), "{error}");
        assert!(error.to_string().contains("http or https"), "{error}");
    }

    #[test]
    fn explicit_credentials_replace_url_ones() {
        let stub = RegistryStub::start(1);
        stub.add_schema(1, USAGE_EVENT_SCHEMA_JSON);
        let url = format!("http://old:old@{}", stub.address);
        let registry = SchemaRegistry::new(&url, TIMEOUT)
            .unwrap()
            .with_credentials("new", "pass");

        registry.writer_schema(1).unwrap();
        let request = &stub.requests.lock().unwrap()[0];
        let expected = base64::engine::general_purpose::STANDARD.encode("new:pass");
        assert_eq!(
            request.headers["authorization"],
            format!("Basic {expected}")
        );
    }
}
