//! `subscriptions/listen` (docs/2026-07-28/basic/patterns/subscriptions.mdx): the modern
//! long-lived request that carries opted-in change notifications.
//!
//! The core acknowledges a subscription with `notifications/subscriptions/acknowledged`
//! (always the first message for it), records it in the [`Session`](super::Session), and
//! sends no response until the subscription ends: on `notifications/cancelled` silently,
//! on server shutdown with a completion result ([`completion`]). The acknowledged filter is
//! the subset of the request this server can honour; kinds of change it never makes are
//! left out, as the spec requires.

use serde_json::{json, Map, Value};

use crate::jsonrpc::{Id, Notification};
use crate::mcp::error::McpError;
use crate::mcp::meta::KEY_SERVER_INFO;

pub const KEY_SUBSCRIPTION_ID: &str = "io.modelcontextprotocol/subscriptionId";

/// The boolean filter fields of the revision, and whether this server ever emits them.
/// Tool and prompt lists are fixed for the life of the process; the resource list changes
/// when a spec is created.
const BOOLEAN_FILTERS: [(&str, bool); 3] = [
    ("toolsListChanged", false),
    ("promptsListChanged", false),
    ("resourcesListChanged", true),
];

/// What one subscription agreed to deliver.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Filter {
    pub agreed: Map<String, Value>,
}

impl Filter {
    pub fn wants_resource_list(&self) -> bool {
        self.agreed.get("resourcesListChanged") == Some(&Value::Bool(true))
    }
}

/// `notifications/resources/list_changed` on subscription `id`.
pub fn resource_list_changed(id: &Id) -> Notification {
    Notification::new(
        "notifications/resources/list_changed",
        json!({ "_meta": subscription_meta(id) }),
    )
}

/// Validates the request's `notifications` filter and keeps the part we honour.
pub fn agree(params: &Map<String, Value>) -> Result<Filter, McpError> {
    let requested = match params.get("notifications") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => map.clone(),
        Some(_) => {
            return Err(McpError::invalid_params(
                "subscriptions/listen: 'notifications' must be an object",
            ))
        }
    };
    let mut agreed = Map::new();
    for (field, supported) in BOOLEAN_FILTERS {
        match requested.get(field) {
            None | Some(Value::Bool(false)) => {}
            Some(Value::Bool(true)) if supported => {
                agreed.insert(field.to_string(), json!(true));
            }
            Some(Value::Bool(true)) => {}
            Some(_) => {
                return Err(McpError::invalid_params(format!(
                    "subscriptions/listen: notifications.{field} must be a boolean"
                )))
            }
        }
    }
    match requested.get("resourceSubscriptions") {
        None => {}
        Some(Value::Array(uris)) if uris.iter().all(Value::is_string) => {}
        Some(_) => return Err(McpError::invalid_params(
            "subscriptions/listen: notifications.resourceSubscriptions must be an array of strings",
        )),
    }
    Ok(Filter { agreed })
}

fn subscription_meta(id: &Id) -> Value {
    json!({ KEY_SUBSCRIPTION_ID: id })
}

/// The acknowledgement, first message of every subscription.
pub fn acknowledgement(id: &Id, filter: &Filter) -> Notification {
    Notification::new(
        "notifications/subscriptions/acknowledged",
        json!({ "_meta": subscription_meta(id), "notifications": filter.agreed }),
    )
}

/// The result that ends a subscription gracefully (server shutdown).
pub fn completion(id: &Id) -> Value {
    let mut meta = subscription_meta(id);
    meta[KEY_SERVER_INFO] = super::meta::server_info(super::version::ProtocolVersion::V2026_07_28);
    json!({ "resultType": "complete", "_meta": meta })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jsonrpc::encode;

    fn params(v: Value) -> Map<String, Value> {
        v.as_object().cloned().expect("object")
    }

    #[test]
    fn unsupported_kinds_are_left_out_of_the_acknowledgement() {
        let filter = agree(&params(json!({"notifications": {"toolsListChanged": true, "resourceSubscriptions": ["file:///x"]}})))
            .expect("valid");
        assert_eq!(
            encode(&acknowledgement(&Id::Str("listen-1".into()), &filter)),
            r#"{"jsonrpc":"2.0","method":"notifications/subscriptions/acknowledged","params":{"_meta":{"io.modelcontextprotocol/subscriptionId":"listen-1"},"notifications":{}}}"#
        );
    }

    #[test]
    fn malformed_filters_are_invalid_params() {
        for bad in [
            json!({"notifications": 1}),
            json!({"notifications": {"toolsListChanged": "yes"}}),
            json!({"notifications": {"resourceSubscriptions": [1]}}),
        ] {
            assert!(
                matches!(agree(&params(bad.clone())), Err(McpError::InvalidParams(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn completion_carries_the_subscription_id() {
        let r = completion(&Id::Int(4));
        assert_eq!(r["resultType"], "complete");
        assert_eq!(r["_meta"][KEY_SUBSCRIPTION_ID], 4);
    }
}
