//! A schema registry for tests that speaks the subset of the Confluent Schema
//! Registry REST API that Avro serializers and deserializers use, and keeps its
//! schemas in memory.
//!
//! Endpoints:
//! - `POST /subjects/{subject}/versions` registers a schema and returns `{"id": N}`.
//!   The same schema gets the same id under every subject, and registering it
//!   again under a subject adds no version.
//! - `POST /subjects/{subject}` looks a schema up under a subject (what a client
//!   with automatic registration turned off calls).
//! - `GET /schemas/ids/{id}` returns `{"schema": "..."}`.
//! - `GET /subjects/{subject}/versions/{version}` with a number or `latest`.
//! - `GET /subjects` lists the subjects.
//!
//! NOTE: schema references, compatibility checks, modes and deletes are not
//! implemented. Two schemas are the same when their JSON is equal, which is
//! stricter than Confluent's canonical form because field order and docs count.
//! Other paths, such as the `GET /associations/...` request that confluent-kafka
//! 2.16.1 sends before registering, get a 404 that the client ignores.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};
use tokio::sync::oneshot;

/// The media type of Schema Registry responses.
const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

/// A registered schema.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegisteredSchema {
    pub id: u32,
    /// The schema text as registered.
    pub schema: String,
    /// `AVRO`, `JSON` or `PROTOBUF`.
    pub schema_type: String,
}

#[derive(Default)]
struct Store {
    /// Schemas by id; id N is at index N - 1.
    schemas: Vec<RegisteredSchema>,
    /// The schema id of each version of each subject; version N is at index N - 1.
    subjects: BTreeMap<String, Vec<u32>>,
    /// Each request as `METHOD path?query`, in arrival order.
    requests: Vec<String>,
}

impl Store {
    fn find(&self, schema: &str, schema_type: &str) -> Option<u32> {
        self.schemas
            .iter()
            .find(|candidate| {
                candidate.schema_type == schema_type && same_schema(&candidate.schema, schema)
            })
            .map(|candidate| candidate.id)
    }

    fn register(&mut self, subject: &str, schema: &str, schema_type: &str) -> u32 {
        let id = match self.find(schema, schema_type) {
            Some(id) => id,
            None => {
                let id = self.schemas.len() as u32 + 1;
                self.schemas.push(RegisteredSchema {
                    id,
                    schema: schema.to_owned(),
                    schema_type: schema_type.to_owned(),
                });
                id
            }
        };
        let versions = self.subjects.entry(subject.to_owned()).or_default();
        if !versions.contains(&id) {
            versions.push(id);
        }
        id
    }

    fn schema(&self, id: u32) -> Option<&RegisteredSchema> {
        self.schemas.get((id as usize).checked_sub(1)?)
    }
}

fn same_schema(left: &str, right: &str) -> bool {
    match (
        serde_json::from_str::<Value>(left),
        serde_json::from_str::<Value>(right),
    ) {
        (Ok(left), Ok(right)) => left == right,
        _ => left == right,
    }
}

type Shared = Arc<Mutex<Store>>;

/// A running registry. Dropping it stops the server.
pub struct SchemaRegistry {
    address: SocketAddr,
    store: Shared,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
}

impl SchemaRegistry {
    /// Starts a registry on a free loopback port.
    pub fn start() -> SchemaRegistry {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free loopback port can be bound");
        listener
            .set_nonblocking(true)
            .expect("the registry socket can be made non-blocking");
        let address = listener
            .local_addr()
            .expect("a bound socket has an address");
        let store = Shared::default();
        let (shutdown, shutdown_signal) = oneshot::channel::<()>();

        let app = router(store.clone());
        let server = thread::Builder::new()
            .name("schema-registry".to_owned())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("the registry runtime starts");
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener)
                        .expect("tokio accepts the socket");
                    axum::serve(listener, app)
                        .with_graceful_shutdown(async move {
                            let _ = shutdown_signal.await;
                        })
                        .await
                        .expect("the registry serves until shutdown");
                });
            })
            .expect("the registry thread starts");

        SchemaRegistry {
            address,
            store,
            shutdown: Some(shutdown),
            server: Some(server),
        }
    }

    /// Returns the base URL, such as `http://127.0.0.1:40125`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Registers a schema under `subject` directly, as a producer would over HTTP,
    /// and returns its id.
    pub fn register(&self, subject: &str, schema: &str) -> u32 {
        self.store.lock().unwrap().register(subject, schema, "AVRO")
    }

    /// Returns the schema with this id, if any.
    pub fn schema(&self, id: u32) -> Option<RegisteredSchema> {
        self.store.lock().unwrap().schema(id).cloned()
    }

    /// Returns each request received so far as `METHOD path?query`, in arrival order.
    pub fn requests(&self) -> Vec<String> {
        self.store.lock().unwrap().requests.clone()
    }
}

impl Drop for SchemaRegistry {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.join();
        }
    }
}

fn router(store: Shared) -> Router {
    Router::new()
        .route("/subjects", get(list_subjects))
        .route("/subjects/{subject}", post(lookup))
        .route("/subjects/{subject}/versions", post(register))
        .route("/subjects/{subject}/versions/{version}", get(version))
        .route("/schemas/ids/{id}", get(schema_by_id))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            store.clone(),
            record_request,
        ))
        .with_state(store)
}

async fn record_request(
    State(store): State<Shared>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    store
        .lock()
        .unwrap()
        .requests
        .push(format!("{} {}", request.method(), request.uri()));
    next.run(request).await
}

fn reply(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, CONTENT_TYPE)],
        body.to_string(),
    )
        .into_response()
}

/// Returns an error in the registry's format: an `error_code` such as 40403 and a message.
fn error(status: StatusCode, error_code: u32, message: String) -> Response {
    reply(
        status,
        json!({"error_code": error_code, "message": message}),
    )
}

/// Parses a registration or lookup body into (schema, schema type), or returns
/// the 422 response that rejects it.
fn schema_request(body: &Bytes) -> Result<(String, String), Box<Response>> {
    let invalid =
        |problem: String| Box::new(error(StatusCode::UNPROCESSABLE_ENTITY, 42201, problem));
    let request: Value = serde_json::from_slice(body)
        .map_err(|problem| invalid(format!("Invalid JSON request body: {problem}")))?;
    let schema = request
        .get("schema")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("The request body has no \"schema\" string.".to_owned()))?;
    let schema_type = request
        .get("schemaType")
        .and_then(Value::as_str)
        .unwrap_or("AVRO");
    if schema_type == "AVRO" {
        serde_json::from_str::<Value>(schema)
            .map_err(|problem| invalid(format!("Invalid Avro schema: {problem}")))?;
    }
    Ok((schema.to_owned(), schema_type.to_owned()))
}

/// Returns a subject version in the registry's format.
fn version_body(subject: &str, version: usize, schema: &RegisteredSchema) -> Value {
    let mut body =
        json!({"subject": subject, "version": version, "id": schema.id, "schema": schema.schema});
    if schema.schema_type != "AVRO" {
        body["schemaType"] = json!(schema.schema_type);
    }
    body
}

async fn register(
    State(store): State<Shared>,
    Path(subject): Path<String>,
    body: Bytes,
) -> Response {
    let (schema, schema_type) = match schema_request(&body) {
        Ok(request) => request,
        Err(response) => return *response,
    };
    let id = store
        .lock()
        .unwrap()
        .register(&subject, &schema, &schema_type);
    reply(StatusCode::OK, json!({"id": id}))
}

async fn lookup(State(store): State<Shared>, Path(subject): Path<String>, body: Bytes) -> Response {
    let (schema, schema_type) = match schema_request(&body) {
        Ok(request) => request,
        Err(response) => return *response,
    };
    let store = store.lock().unwrap();
    let Some(versions) = store.subjects.get(&subject) else {
        return error(
            StatusCode::NOT_FOUND,
            40401,
            format!("Subject '{subject}' not found."),
        );
    };
    let found = store.find(&schema, &schema_type).and_then(|id| {
        let index = versions.iter().position(|version_id| *version_id == id)?;
        Some((index + 1, store.schema(id)?))
    });
    match found {
        Some((version, registered)) => {
            reply(StatusCode::OK, version_body(&subject, version, registered))
        }
        None => error(
            StatusCode::NOT_FOUND,
            40403,
            format!("Schema not found under subject '{subject}'."),
        ),
    }
}

async fn version(
    State(store): State<Shared>,
    Path((subject, version)): Path<(String, String)>,
) -> Response {
    let store = store.lock().unwrap();
    let Some(versions) = store.subjects.get(&subject) else {
        return error(
            StatusCode::NOT_FOUND,
            40401,
            format!("Subject '{subject}' not found."),
        );
    };
    let number = match version.as_str() {
        "latest" | "-1" => versions.len(),
        text => match text.parse::<usize>() {
            Ok(number) => number,
            Err(_) => {
                return error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    42202,
                    format!("Invalid version '{version}'; use a positive number or 'latest'."),
                )
            }
        },
    };
    let registered = number
        .checked_sub(1)
        .and_then(|index| versions.get(index))
        .and_then(|id| store.schema(*id));
    match registered {
        Some(registered) => reply(StatusCode::OK, version_body(&subject, number, registered)),
        None => error(
            StatusCode::NOT_FOUND,
            40402,
            format!("Version {version} of subject '{subject}' not found."),
        ),
    }
}

async fn schema_by_id(State(store): State<Shared>, Path(id): Path<String>) -> Response {
    let store = store.lock().unwrap();
    match id.parse::<u32>().ok().and_then(|id| store.schema(id)) {
        Some(registered) => {
            let mut body = json!({"schema": registered.schema});
            if registered.schema_type != "AVRO" {
                body["schemaType"] = json!(registered.schema_type);
            }
            reply(StatusCode::OK, body)
        }
        None => error(
            StatusCode::NOT_FOUND,
            40403,
            format!("Schema {id} not found."),
        ),
    }
}

async fn list_subjects(State(store): State<Shared>) -> Response {
    let subjects: Vec<String> = store.lock().unwrap().subjects.keys().cloned().collect();
    reply(StatusCode::OK, json!(subjects))
}

async fn not_found(method: Method, uri: Uri) -> Response {
    error(
        StatusCode::NOT_FOUND,
        404,
        format!("The test registry does not implement {method} {uri}."),
    )
}
