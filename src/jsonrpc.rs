//! The JSON-RPC 2.0 envelope only: ids, requests, notifications, responses, batches.
//!
//! Decoding keeps `params` as a raw [`Value`]; the MCP layer routes on the method name
//! first and decodes params afterwards, which is what separates -32601 from -32602.
//! A [`Response`] holds a Rust `Result`, so it can never carry both `result` and `error`.
//! `"jsonrpc": "2.0"` is added in exactly one place, [`encode`].

use std::sync::Arc;

use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// JSON-RPC 2.0 standard error codes.
pub mod code {
    pub const PARSE_ERROR: i64 = -32700;
    pub const INVALID_REQUEST: i64 = -32600;
    pub const METHOD_NOT_FOUND: i64 = -32601;
    pub const INVALID_PARAMS: i64 = -32602;
    pub const INTERNAL_ERROR: i64 = -32603;
}

/// A request id. MCP allows strings and integers only; `null` is rejected at decode.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Id {
    Int(i64),
    Str(String),
}

impl std::fmt::Display for Id {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Id::Int(n) => write!(f, "{n}"),
            Id::Str(s) => write!(f, "{s:?}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub id: Id,
    pub method: String,
    pub params: Option<Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    pub method: String,
    pub params: Option<Value>,
}

impl Notification {
    pub fn new(method: &str, params: Value) -> Notification {
        Notification {
            method: method.to_string(),
            params: Some(params),
        }
    }
}

/// The `error` member of a response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorObject {
    pub code: i64,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

impl ErrorObject {
    pub fn new(code: i64, message: impl Into<String>) -> ErrorObject {
        ErrorObject {
            code,
            message: message.into(),
            data: None,
        }
    }

    pub fn with_data(mut self, data: Value) -> ErrorObject {
        self.data = Some(data);
        self
    }
}

/// A response; `id` is `None` (serialized as `null`) only when the request's id could
/// not be read.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub id: Option<Id>,
    pub outcome: Result<Payload, ErrorObject>,
}

impl Response {
    pub fn ok(id: Id, result: impl Into<Payload>) -> Response {
        Response {
            id: Some(id),
            outcome: Ok(result.into()),
        }
    }

    pub fn err(id: Option<Id>, error: ErrorObject) -> Response {
        Response {
            id,
            outcome: Err(error),
        }
    }
}

/// The `result` of a response. Reads as a [`Value`] either way (`Deref`).
#[derive(Debug, Clone)]
pub enum Payload {
    /// Built for this request.
    Built(Value),
    /// The same for every caller (a list's first page, `server/discover`): serialized once
    /// and copied into each response, instead of cloning and re-serializing a tree of a
    /// few hundred nodes per call.
    Shared(SharedJson),
}

/// A value together with its JSON text, both immutable and cheap to clone.
#[derive(Debug, Clone)]
pub struct SharedJson {
    value: Arc<Value>,
    text: Arc<RawValue>,
}

impl SharedJson {
    pub fn new(value: Value) -> SharedJson {
        let text = serde_json::value::to_raw_value(&value).expect("a Value serializes");
        SharedJson {
            value: Arc::new(value),
            text: Arc::from(text),
        }
    }
}

impl Payload {
    pub fn into_value(self) -> Value {
        match self {
            Payload::Built(v) => v,
            Payload::Shared(s) => Arc::unwrap_or_clone(s.value),
        }
    }
}

impl From<Value> for Payload {
    fn from(value: Value) -> Payload {
        Payload::Built(value)
    }
}

impl From<SharedJson> for Payload {
    fn from(shared: SharedJson) -> Payload {
        Payload::Shared(shared)
    }
}

impl std::ops::Deref for Payload {
    type Target = Value;
    fn deref(&self) -> &Value {
        match self {
            Payload::Built(v) => v,
            Payload::Shared(s) => &s.value,
        }
    }
}

/// Equal when the JSON is: how a payload was produced does not matter.
impl PartialEq for Payload {
    fn eq(&self, other: &Payload) -> bool {
        **self == **other
    }
}

impl Serialize for Payload {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Payload::Built(v) => v.serialize(s),
            Payload::Shared(shared) => shared.text.serialize(s),
        }
    }
}

/// Any single message a peer can send.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    Request(Request),
    Notification(Notification),
    /// A response from the client (to a server-initiated request).
    Response(Response),
}

/// One decoded line or body.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    Single(Message),
    /// A JSON-RPC batch: each element decoded on its own, failures kept as error responses
    /// in their position.
    Batch(Vec<Result<Message, Response>>),
}

/// Decodes one line or body. An `Err` is the response to send back as-is (parse error,
/// or an envelope so malformed that no message can be recovered).
pub fn decode(bytes: &[u8]) -> Result<Incoming, Response> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        Response::err(
            None,
            ErrorObject::new(code::PARSE_ERROR, format!("parse error: {e}")),
        )
    })?;
    match value {
        Value::Array(items) if items.is_empty() => {
            Err(invalid(None, "invalid request: empty batch"))
        }
        Value::Array(items) => Ok(Incoming::Batch(
            items.into_iter().map(decode_value).collect(),
        )),
        other => decode_value(other).map(Incoming::Single),
    }
}

/// Decodes one JSON value that should be a single message.
pub fn decode_value(value: Value) -> Result<Message, Response> {
    let Value::Object(mut obj) = value else {
        return Err(invalid(
            None,
            "invalid request: a message must be a JSON object",
        ));
    };
    let id = take_id(&mut obj);
    if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err(invalid(
            id.ok().flatten(),
            "invalid request: \"jsonrpc\" must be \"2.0\"",
        ));
    }
    let params = obj.remove("params");
    if let Some(p) = &params {
        if !p.is_object() && !p.is_array() {
            let msg = "invalid request: \"params\" must be an object or an array";
            return Err(invalid(id.ok().flatten(), msg));
        }
    }
    match obj.remove("method") {
        Some(Value::String(method)) => match id {
            Ok(Some(id)) => Ok(Message::Request(Request { id, method, params })),
            Ok(None) => Ok(Message::Notification(Notification { method, params })),
            Err(why) => Err(invalid(None, why)),
        },
        Some(_) => Err(invalid(
            id.ok().flatten(),
            "invalid request: \"method\" must be a string",
        )),
        None => decode_response(obj, id),
    }
}

/// A client message without `method` must be a response to one of our requests.
fn decode_response(
    mut obj: Map<String, Value>,
    id: Result<Option<Id>, &'static str>,
) -> Result<Message, Response> {
    let id = id.ok().flatten();
    let outcome = match (obj.remove("result"), obj.remove("error")) {
        (Some(result), None) => Ok(Payload::Built(result)),
        (None, Some(error)) => Err(serde_json::from_value(error)
            .map_err(|_| invalid(id.clone(), "invalid response: malformed \"error\""))?),
        _ => return Err(invalid(id, "invalid request: missing \"method\"")),
    };
    Ok(Message::Response(Response { id, outcome }))
}

/// Reads `id`: absent is `Ok(None)` (a notification); `null` and other types are errors,
/// because MCP requires string or integer ids and forbids `null`.
fn take_id(obj: &mut Map<String, Value>) -> Result<Option<Id>, &'static str> {
    match obj.remove("id") {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(Id::Str(s))),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(|n| Some(Id::Int(n)))
            .ok_or("invalid request: \"id\" must be a string or an integer"),
        Some(Value::Null) => Err("invalid request: \"id\" must not be null"),
        Some(_) => Err("invalid request: \"id\" must be a string or an integer"),
    }
}

fn invalid(id: Option<Id>, message: &str) -> Response {
    Response::err(id, ErrorObject::new(code::INVALID_REQUEST, message))
}

impl Serialize for Response {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(3))?;
        map.serialize_entry("jsonrpc", "2.0")?;
        map.serialize_entry("id", &self.id)?;
        match &self.outcome {
            Ok(result) => map.serialize_entry("result", result)?,
            Err(error) => map.serialize_entry("error", error)?,
        }
        map.end()
    }
}

impl Serialize for Notification {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("jsonrpc", "2.0")?;
        map.serialize_entry("method", &self.method)?;
        if let Some(params) = &self.params {
            map.serialize_entry("params", params)?;
        }
        map.end()
    }
}

impl Serialize for Request {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("jsonrpc", "2.0")?;
        map.serialize_entry("id", &self.id)?;
        map.serialize_entry("method", &self.method)?;
        if let Some(params) = &self.params {
            map.serialize_entry("params", params)?;
        }
        map.end()
    }
}

/// Serializes any outgoing message as one line of JSON (no embedded newlines, as stdio
/// framing requires: serde_json escapes control characters inside strings).
pub fn encode<T: Serialize + ?Sized>(message: &T) -> String {
    // Serializing our own types to a String cannot fail: every map key is a string.
    serde_json::to_string(message).expect("outgoing messages serialize")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn single(text: &str) -> Result<Message, Response> {
        match decode(text.as_bytes()) {
            Ok(Incoming::Single(m)) => Ok(m),
            Ok(Incoming::Batch(_)) => panic!("unexpected batch"),
            Err(r) => Err(r),
        }
    }

    fn error_code(r: &Response) -> i64 {
        r.outcome.as_ref().expect_err("an error response").code
    }

    #[test]
    fn request_ids_string_and_integer() {
        let m = single(r#"{"jsonrpc":"2.0","id":"a","method":"ping"}"#).expect("valid");
        assert_eq!(
            m,
            Message::Request(Request {
                id: Id::Str("a".into()),
                method: "ping".into(),
                params: None
            })
        );
        let m = single(r#"{"jsonrpc":"2.0","id":-7,"method":"ping","params":{}}"#).expect("valid");
        assert!(matches!(
            m,
            Message::Request(Request {
                id: Id::Int(-7),
                ..
            })
        ));
    }

    #[test]
    fn absent_id_is_a_notification_null_id_is_invalid() {
        let m = single(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#).expect("valid");
        assert!(matches!(m, Message::Notification(_)));
        let r = single(r#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#).expect_err("null id");
        assert_eq!(error_code(&r), code::INVALID_REQUEST);
        assert_eq!(r.id, None);
        let r = single(r#"{"jsonrpc":"2.0","id":1.5,"method":"ping"}"#).expect_err("float id");
        assert_eq!(error_code(&r), code::INVALID_REQUEST);
    }

    #[test]
    fn envelope_errors_keep_the_id_when_readable() {
        let r = single(r#"{"jsonrpc":"1.0","id":3,"method":"ping"}"#).expect_err("bad version");
        assert_eq!(
            (r.id.clone(), error_code(&r)),
            (Some(Id::Int(3)), code::INVALID_REQUEST)
        );
        let r = single(r#"{"jsonrpc":"2.0","id":4,"method":7}"#).expect_err("bad method");
        assert_eq!(r.id, Some(Id::Int(4)));
        let r =
            single(r#"{"jsonrpc":"2.0","id":5,"method":"x","params":3}"#).expect_err("bad params");
        assert_eq!(r.id, Some(Id::Int(5)));
        let r = single(r#"{"jsonrpc":"2.0","id":6}"#).expect_err("no method");
        assert_eq!(error_code(&r), code::INVALID_REQUEST);
        let r = single("42").expect_err("not an object");
        assert_eq!(error_code(&r), code::INVALID_REQUEST);
    }

    #[test]
    fn parse_error_has_null_id() {
        let r = single("{not json").expect_err("parse error");
        assert_eq!((r.id.clone(), error_code(&r)), (None, code::PARSE_ERROR));
        assert!(encode(&r).starts_with(r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"#));
    }

    #[test]
    fn batches() {
        let b = decode(br#"[{"jsonrpc":"2.0","id":1,"method":"ping"}, 5]"#).expect("batch");
        let Incoming::Batch(items) = b else {
            panic!("expected batch")
        };
        assert!(items[0].is_ok());
        assert!(items[1].is_err());
        let r = decode(b"[]").expect_err("empty batch");
        assert_eq!(error_code(&r), code::INVALID_REQUEST);
    }

    #[test]
    fn client_responses_decode() {
        let m = single(r#"{"jsonrpc":"2.0","id":9,"result":{"action":"accept"}}"#).expect("valid");
        assert_eq!(
            m,
            Message::Response(Response::ok(Id::Int(9), json!({"action":"accept"})))
        );
    }

    #[test]
    fn exact_wire_strings() {
        assert_eq!(
            encode(&Response::ok(Id::Int(1), json!({}))),
            r#"{"jsonrpc":"2.0","id":1,"result":{}}"#
        );
        let err = ErrorObject::new(code::METHOD_NOT_FOUND, "method not found: x");
        assert_eq!(
            encode(&Response::err(Some(Id::Str("q".into())), err)),
            r#"{"jsonrpc":"2.0","id":"q","error":{"code":-32601,"message":"method not found: x"}}"#
        );
        assert_eq!(
            encode(&Notification::new(
                "notifications/progress",
                json!({"progress":1})
            )),
            r#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}}"#
        );
        let line = encode(&Response::ok(Id::Int(2), json!({"text":"a\nb"})));
        assert!(!line.contains('\n'));
    }

    #[test]
    fn shared_payloads_encode_and_compare_like_built_ones() {
        let value = json!({"tools":[{"name":"a","description":"x\ny \"q\""}],"n":1});
        let shared = Response::ok(Id::Int(3), SharedJson::new(value.clone()));
        let built = Response::ok(Id::Int(3), value.clone());
        assert_eq!(encode(&shared), encode(&built));
        assert_eq!(shared, built);
        let Ok(payload) = shared.outcome else {
            panic!("a result")
        };
        assert_eq!(payload["tools"][0]["name"], "a");
        assert_eq!(payload.into_value(), value);
    }
}
