//! A small JSON Schema checker for our own tool input schemas.
//!
//! It understands exactly the keywords our schemas use (`type`, `properties`, `required`,
//! `additionalProperties: false`, `enum`, `items`, `minLength`, `minItems`) and reports the
//! first problem as a sentence a model can act on. It is not a general validator, and it
//! never sees client-supplied schemas.

use serde_json::{Map, Value};

/// Checks `value` against `schema`; `Err` says what is wrong and where.
pub fn check(value: &Value, schema: &Value) -> Result<(), String> {
    check_at(value, schema, "arguments")
}

fn check_at(value: &Value, schema: &Value, at: &str) -> Result<(), String> {
    if let Some(expected) = schema.get("type").and_then(Value::as_str) {
        if !has_type(value, expected) {
            return Err(format!(
                "{at} must be {}, got {}",
                article(expected),
                kind(value)
            ));
        }
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
        if !allowed.contains(value) {
            let list: Vec<String> = allowed.iter().map(Value::to_string).collect();
            return Err(format!("{at} must be one of {}", list.join(", ")));
        }
    }
    match value {
        Value::Object(map) => check_object(map, schema, at),
        Value::Array(items) => check_array(items, schema, at),
        Value::String(s) => match schema.get("minLength").and_then(Value::as_u64) {
            Some(min) if (s.chars().count() as u64) < min => {
                Err(format!("{at} must be at least {min} character(s) long"))
            }
            _ => Ok(()),
        },
        _ => Ok(()),
    }
}

fn check_object(map: &Map<String, Value>, schema: &Value, at: &str) -> Result<(), String> {
    let properties = schema.get("properties").and_then(Value::as_object);
    for name in schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(name) = name.as_str() {
            if !map.contains_key(name) {
                return Err(format!("{at} is missing required property '{name}'"));
            }
        }
    }
    for (name, item) in map {
        match properties.and_then(|p| p.get(name)) {
            Some(sub) => check_at(item, sub, &format!("{at}.{name}"))?,
            None if schema.get("additionalProperties") == Some(&Value::Bool(false)) => {
                return Err(format!("{at} has unknown property '{name}'"));
            }
            None => {}
        }
    }
    Ok(())
}

fn check_array(items: &[Value], schema: &Value, at: &str) -> Result<(), String> {
    if let Some(min) = schema.get("minItems").and_then(Value::as_u64) {
        if (items.len() as u64) < min {
            return Err(format!("{at} must have at least {min} item(s)"));
        }
    }
    if let Some(item_schema) = schema.get("items") {
        for (i, item) in items.iter().enumerate() {
            check_at(item, item_schema, &format!("{at}[{i}]"))?;
        }
    }
    Ok(())
}

fn has_type(value: &Value, expected: &str) -> bool {
    match expected {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "number" => value.is_number(),
        "integer" => value.is_i64() || value.is_u64(),
        "null" => value.is_null(),
        _ => true,
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn article(type_name: &str) -> String {
    match type_name {
        "object" | "array" | "integer" => format!("an {type_name}"),
        _ => format!("a {type_name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "path": {"type": "string", "minLength": 1},
                "mode": {"type": "string", "enum": ["a", "b"]},
                "ids": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                "n": {"type": "integer"}
            },
            "required": ["path"],
            "additionalProperties": false
        })
    }

    #[test]
    fn accepts_valid() {
        assert_eq!(
            check(
                &json!({"path": "a", "mode": "b", "ids": ["x"], "n": 3}),
                &schema()
            ),
            Ok(())
        );
    }

    #[test]
    fn rejects_with_a_clear_message() {
        let cases = [
            (json!([]), "arguments must be an object, got an array"),
            (json!({}), "arguments is missing required property 'path'"),
            (
                json!({"path": 5}),
                "arguments.path must be a string, got a number",
            ),
            (
                json!({"path": ""}),
                "arguments.path must be at least 1 character(s) long",
            ),
            (
                json!({"path": "a", "x": 1}),
                "arguments has unknown property 'x'",
            ),
            (
                json!({"path": "a", "mode": "c"}),
                "arguments.mode must be one of \"a\", \"b\"",
            ),
            (
                json!({"path": "a", "ids": []}),
                "arguments.ids must have at least 1 item(s)",
            ),
            (
                json!({"path": "a", "ids": [1]}),
                "arguments.ids[0] must be a string, got a number",
            ),
            (
                json!({"path": "a", "n": 1.5}),
                "arguments.n must be an integer, got a number",
            ),
        ];
        for (value, expected) in cases {
            assert_eq!(
                check(&value, &schema()),
                Err(expected.to_string()),
                "{value}"
            );
        }
    }
}
