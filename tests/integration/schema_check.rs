//! A test-only JSON Schema checker for the official MCP schemas in
//! `../shared/mcp-spec/schema/<revision>/schema.json`, so every result the binary sends
//! can be validated against the revision it claims to speak.
//!
//! It implements the keywords those schemas use: `$ref` (local JSON pointers), `type`,
//! `properties`, `required`, `additionalProperties`, `items`, `const`, `enum`, `anyOf`,
//! `oneOf`, `allOf`, `minimum`, `maximum`, `minItems`, `maxItems`. Annotations such as
//! `description` and `format` are ignored.
#![allow(dead_code)]

use std::path::PathBuf;

use serde_json::Value;

/// The official schema of one revision.
pub struct Schema {
    root: Value,
    revision: String,
}

impl Schema {
    /// Loads `../shared/mcp-spec/schema/<revision>/schema.json` relative to the crate.
    pub fn load(revision: &str) -> Schema {
        let path = spec_dir().join("schema").join(revision).join("schema.json");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        Schema {
            root: serde_json::from_str(&text).expect("schema is JSON"),
            revision: revision.to_string(),
        }
    }

    /// The definition named `name` (in `$defs` or `definitions`).
    pub fn definition(&self, name: &str) -> &Value {
        self.root
            .get("$defs")
            .or_else(|| self.root.get("definitions"))
            .and_then(|d| d.get(name))
            .unwrap_or_else(|| panic!("{} has no definition {name}", self.revision))
    }

    /// Checks `value` against definition `name`; `Err` lists the first problem and its path.
    pub fn check(&self, name: &str, value: &Value) -> Result<(), String> {
        self.check_at(value, self.definition(name), "$", 0)
            .map_err(|e| format!("{} {name}: {e}", self.revision))
    }

    /// Panics with the problem if `value` is not a valid `name`.
    pub fn assert_valid(&self, name: &str, value: &Value) {
        if let Err(e) = self.check(name, value) {
            panic!("{e}\nvalue: {value}");
        }
    }

    fn resolve(&self, reference: &str) -> &Value {
        let pointer = reference
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("non-local $ref {reference}"));
        self.root
            .pointer(pointer)
            .unwrap_or_else(|| panic!("unresolvable $ref {reference}"))
    }

    fn check_at(
        &self,
        value: &Value,
        schema: &Value,
        at: &str,
        depth: usize,
    ) -> Result<(), String> {
        assert!(depth < 64, "schema recursion too deep at {at}");
        let Some(schema) = schema.as_object() else {
            return Ok(());
        };
        if let Some(Value::String(r)) = schema.get("$ref") {
            self.check_at(value, self.resolve(r), at, depth + 1)?;
        }
        if let Some(t) = schema.get("type") {
            let ok = match t {
                Value::String(t) => has_type(value, t),
                Value::Array(ts) => ts
                    .iter()
                    .filter_map(Value::as_str)
                    .any(|t| has_type(value, t)),
                _ => true,
            };
            if !ok {
                return Err(format!("{at}: expected type {t}, got {value}"));
            }
        }
        if let Some(c) = schema.get("const") {
            if c != value {
                return Err(format!("{at}: expected const {c}, got {value}"));
            }
        }
        if let Some(Value::Array(options)) = schema.get("enum") {
            if !options.contains(value) {
                return Err(format!("{at}: {value} not in enum {options:?}"));
            }
        }
        self.check_numbers(value, schema, at)?;
        self.check_combinators(value, schema, at, depth)?;
        match value {
            Value::Object(map) => self.check_object(map, schema, at, depth),
            Value::Array(items) => self.check_array(items, schema, at, depth),
            _ => Ok(()),
        }
    }

    fn check_numbers(
        &self,
        value: &Value,
        schema: &serde_json::Map<String, Value>,
        at: &str,
    ) -> Result<(), String> {
        let Some(n) = value.as_f64() else {
            return Ok(());
        };
        if let Some(min) = schema.get("minimum").and_then(Value::as_f64) {
            if n < min {
                return Err(format!("{at}: {n} < minimum {min}"));
            }
        }
        if let Some(max) = schema.get("maximum").and_then(Value::as_f64) {
            if n > max {
                return Err(format!("{at}: {n} > maximum {max}"));
            }
        }
        Ok(())
    }

    fn check_combinators(
        &self,
        value: &Value,
        schema: &serde_json::Map<String, Value>,
        at: &str,
        depth: usize,
    ) -> Result<(), String> {
        if let Some(Value::Array(all)) = schema.get("allOf") {
            for s in all {
                self.check_at(value, s, at, depth + 1)?;
            }
        }
        if let Some(Value::Array(any)) = schema.get("anyOf") {
            let errors: Vec<String> = any
                .iter()
                .filter_map(|s| self.check_at(value, s, at, depth + 1).err())
                .collect();
            if errors.len() == any.len() {
                return Err(format!(
                    "{at}: matches no anyOf branch: [{}]",
                    errors.join(" | ")
                ));
            }
        }
        if let Some(Value::Array(one)) = schema.get("oneOf") {
            let matches = one
                .iter()
                .filter(|s| self.check_at(value, s, at, depth + 1).is_ok())
                .count();
            if matches != 1 {
                return Err(format!(
                    "{at}: matches {matches} oneOf branches, expected exactly 1"
                ));
            }
        }
        Ok(())
    }

    fn check_object(
        &self,
        map: &serde_json::Map<String, Value>,
        schema: &serde_json::Map<String, Value>,
        at: &str,
        depth: usize,
    ) -> Result<(), String> {
        for name in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = name.as_str().unwrap_or_default();
            if !map.contains_key(name) {
                return Err(format!("{at}: missing required property '{name}'"));
            }
        }
        let properties = schema.get("properties").and_then(Value::as_object);
        for (key, item) in map {
            let path = format!("{at}.{key}");
            match (
                properties.and_then(|p| p.get(key)),
                schema.get("additionalProperties"),
            ) {
                (Some(sub), _) => self.check_at(item, sub, &path, depth + 1)?,
                (None, Some(Value::Bool(false))) => {
                    return Err(format!("{at}: unexpected property '{key}'"))
                }
                (None, Some(extra @ Value::Object(_))) => {
                    self.check_at(item, extra, &path, depth + 1)?
                }
                (None, _) => {}
            }
        }
        Ok(())
    }

    fn check_array(
        &self,
        items: &[Value],
        schema: &serde_json::Map<String, Value>,
        at: &str,
        depth: usize,
    ) -> Result<(), String> {
        if let Some(min) = schema.get("minItems").and_then(Value::as_u64) {
            if (items.len() as u64) < min {
                return Err(format!("{at}: fewer than {min} items"));
            }
        }
        if let Some(max) = schema.get("maxItems").and_then(Value::as_u64) {
            if (items.len() as u64) > max {
                return Err(format!("{at}: more than {max} items"));
            }
        }
        if let Some(item_schema) = schema.get("items") {
            for (i, item) in items.iter().enumerate() {
                self.check_at(item, item_schema, &format!("{at}[{i}]"), depth + 1)?;
            }
        }
        Ok(())
    }
}

fn has_type(value: &Value, t: &str) -> bool {
    match t {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "number" => value.is_number(),
        "integer" => {
            value.is_i64() || value.is_u64() || value.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        "null" => value.is_null(),
        _ => true,
    }
}

/// `../shared/mcp-spec`, beside the repository.
pub fn spec_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/mcp-spec")
}

/// Every official example of one message type for 2026-07-28, as (file name, JSON).
pub fn examples(type_name: &str) -> Vec<(String, Value)> {
    let dir = spec_dir()
        .join("schema/2026-07-28/examples")
        .join(type_name);
    let mut out: Vec<(String, Value)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|entry| {
            let text = std::fs::read_to_string(entry.path()).expect("read example");
            (
                entry.file_name().to_string_lossy().into_owned(),
                serde_json::from_str(&text).expect("example is JSON"),
            )
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The checker must accept the official examples and reject broken copies of them,
    /// or the schema assertions elsewhere prove nothing.
    #[test]
    fn checker_accepts_official_examples_and_rejects_broken_ones() {
        let schema = Schema::load("2026-07-28");
        for type_name in [
            "DiscoverResult",
            "ListToolsResult",
            "CallToolResult",
            "GetPromptResult",
            "ListPromptsResult",
        ] {
            for (file, example) in examples(type_name) {
                schema
                    .check(type_name, &example)
                    .unwrap_or_else(|e| panic!("{file}: {e}"));
                let mut broken = example.clone();
                broken.as_object_mut().expect("object").remove("resultType");
                assert!(
                    schema.check(type_name, &broken).is_err(),
                    "{file} without resultType must fail"
                );
            }
        }
        assert!(schema
            .check("TextContent", &json!({"type": "text", "text": 5}))
            .is_err());
        assert!(schema
            .check("TextContent", &json!({"type": "text", "text": "x"}))
            .is_ok());
    }
}
