//! Reading one JSON object of the file field by field. Each read removes the field, so what is left at the end is
//! exactly what engram did not read (kept for a later export); each type error names the field's JSON path. A JSON
//! `null` counts as absent everywhere, which is how the format writes unset fields.

use serde_json::{Map, Value};

use crate::error::{AgentFileError, index, join};

/// An object of the file being read, with its path.
#[derive(Debug)]
pub(crate) struct Obj {
    map: Map<String, Value>,
    path: String,
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

impl Obj {
    /// `value` as an object at `path`.
    pub fn new(value: Value, path: &str) -> Result<Self, AgentFileError> {
        match value {
            Value::Object(map) => Ok(Self { map, path: path.to_owned() }),
            other => Err(AgentFileError::invalid(
                if path.is_empty() { "body" } else { path },
                format!("must be an object, not {}", kind(&other)),
            )),
        }
    }

    /// The path of `key` in this object.
    pub fn field(&self, key: &str) -> String {
        join(&self.path, key)
    }

    fn wrong(&self, key: &str, expected: &str, got: &Value) -> AgentFileError {
        AgentFileError::invalid(self.field(key), format!("must be {expected}, not {}", kind(got)))
    }

    /// Removes `key`, treating `null` as absent.
    pub fn take(&mut self, key: &str) -> Option<Value> {
        self.map.remove(key).filter(|v| !v.is_null())
    }

    pub fn string(&mut self, key: &str) -> Result<Option<String>, AgentFileError> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(self.wrong(key, "a string", &other)),
        }
    }

    /// An integer; a float without a fraction (`32000.0`) counts as one.
    pub fn int(&mut self, key: &str) -> Result<Option<i64>, AgentFileError> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Number(n)) => match n.as_i64() {
                Some(i) => Ok(Some(i)),
                None => match n.as_f64() {
                    Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(Some(f as i64)),
                    _ => Err(AgentFileError::invalid(self.field(key), format!("must be an integer, not {n}"))),
                },
            },
            Some(other) => Err(self.wrong(key, "an integer", &other)),
        }
    }

    pub fn bool(&mut self, key: &str) -> Result<Option<bool>, AgentFileError> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(b)),
            Some(other) => Err(self.wrong(key, "true or false", &other)),
        }
    }

    /// An array; absent is empty.
    pub fn list(&mut self, key: &str) -> Result<Vec<Value>, AgentFileError> {
        match self.take(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => Ok(items),
            Some(other) => Err(self.wrong(key, "an array", &other)),
        }
    }

    /// An array of strings; absent is empty.
    pub fn strings(&mut self, key: &str) -> Result<Vec<String>, AgentFileError> {
        let field = self.field(key);
        self.list(key)?
            .into_iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(s) => Ok(s),
                other => {
                    Err(AgentFileError::invalid(index(&field, i), format!("must be a string, not {}", kind(&other))))
                }
            })
            .collect()
    }

    /// A nested object.
    pub fn object(&mut self, key: &str) -> Result<Option<Obj>, AgentFileError> {
        let field = self.field(key);
        self.take(key).map(|value| Obj::new(value, &field)).transpose()
    }

    /// What was not read.
    pub fn into_rest(self) -> Map<String, Value> {
        self.map
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn reads_remove_fields_and_name_their_path() {
        let value = json!({"a": "x", "n": 3.0, "b": null, "l": ["p", 1], "o": {"k": true}, "rest": 1});
        let mut obj = Obj::new(value, "agents[0]").unwrap();
        assert_eq!(obj.string("a").unwrap().as_deref(), Some("x"));
        assert_eq!(obj.int("n").unwrap(), Some(3));
        assert_eq!(obj.string("b").unwrap(), None);
        assert_eq!(obj.strings("l").unwrap_err().field(), Some("agents[0].l[1]"));
        let mut inner = obj.object("o").unwrap().unwrap();
        assert_eq!(inner.field("k"), "agents[0].o.k");
        assert_eq!(inner.string("k").unwrap_err().field(), Some("agents[0].o.k"));
        assert_eq!(obj.into_rest(), *json!({"rest": 1}).as_object().unwrap());
        assert_eq!(Obj::new(json!([1]), "").unwrap_err().field(), Some("body"));
    }
}
