//! Strict parsing of a tool call's JSON arguments. Every failure is a sentence the model can act on: which argument
//! is missing, unknown or of the wrong type, and what the call should look like.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Map, Value};

/// A tool call's arguments, checked to be a JSON object with only known keys.
#[derive(Debug)]
pub(crate) struct Args {
    tool: &'static str,
    map: Map<String, Value>,
}

impl Args {
    /// Parses `raw` as a JSON object whose keys are all in `allowed`.
    pub(crate) fn parse(tool: &'static str, raw: &str, allowed: &[&str]) -> Result<Self, String> {
        let trimmed = raw.trim();
        let value: Value = if trimmed.is_empty() {
            Value::Object(Map::new())
        } else {
            serde_json::from_str(trimmed).map_err(|e| {
                format!("the arguments of {tool} are not valid JSON ({e}); send one JSON object with the arguments")
            })?
        };
        let Value::Object(map) = value else {
            return Err(format!("the arguments of {tool} must be a JSON object, e.g. {{\"{}\": …}}", allowed[0]));
        };
        if let Some(unknown) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(format!("{tool} has no argument `{unknown}`; its arguments are: {}", allowed.join(", ")));
        }
        Ok(Self { tool, map })
    }

    fn wrong_type(&self, name: &str, expected: &str) -> String {
        format!("argument `{name}` of {} must be {expected}", self.tool)
    }

    /// A required string.
    pub(crate) fn string(&self, name: &str) -> Result<String, String> {
        self.opt_string(name)?.ok_or_else(|| format!("{} needs the argument `{name}` (a string)", self.tool))
    }

    pub(crate) fn opt_string(&self, name: &str) -> Result<Option<String>, String> {
        match self.map.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(self.wrong_type(name, "a string")),
        }
    }

    /// A non-negative integer (models sometimes send `"3"`; that is accepted).
    pub(crate) fn opt_u64(&self, name: &str) -> Result<Option<u64>, String> {
        match self.map.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n.as_u64().map(Some).ok_or_else(|| self.wrong_type(name, "a whole number ≥ 0")),
            Some(Value::String(s)) => {
                s.trim().parse::<u64>().map(Some).map_err(|_| self.wrong_type(name, "a whole number ≥ 0"))
            }
            Some(_) => Err(self.wrong_type(name, "a whole number ≥ 0")),
        }
    }

    /// A list of strings (a single string is taken as a one-item list).
    pub(crate) fn opt_strings(&self, name: &str) -> Result<Vec<String>, String> {
        match self.map.get(name) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::String(s)) => Ok(vec![s.clone()]),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| item.as_str().map(str::to_owned).ok_or_else(|| self.wrong_type(name, "a list of strings")))
                .collect(),
            Some(_) => Err(self.wrong_type(name, "a list of strings")),
        }
    }

    /// A time: RFC 3339 (`2026-05-01T12:00:00Z`) or a date (`2026-05-01`, midnight UTC; as an upper bound, the end
    /// of that day).
    pub(crate) fn opt_time(&self, name: &str, end_of_day: bool) -> Result<Option<DateTime<Utc>>, String> {
        let Some(text) = self.opt_string(name)? else {
            return Ok(None);
        };
        let text = text.trim();
        if let Ok(at) = DateTime::parse_from_rfc3339(text) {
            return Ok(Some(at.with_timezone(&Utc)));
        }
        if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
            let day = if end_of_day { date.and_hms_opt(23, 59, 59) } else { date.and_hms_opt(0, 0, 0) };
            if let Some(day) = day {
                return Ok(Some(day.and_utc()));
            }
        }
        Err(format!(
            "argument `{name}` of {} must be a date (2026-05-01) or a time (2026-05-01T12:00:00Z), got {text:?}",
            self.tool
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_what_a_model_gets_wrong() {
        let allowed = ["label", "content"];
        assert!(Args::parse("t", "{\"label\": \"h\"", &allowed).unwrap_err().contains("not valid JSON"));
        assert!(Args::parse("t", "[1]", &allowed).unwrap_err().contains("must be a JSON object"));
        assert!(Args::parse("t", "{\"lable\": \"h\"}", &allowed).unwrap_err().contains("no argument `lable`"));
        let args = Args::parse("t", "{\"label\": 3}", &allowed).unwrap();
        assert!(args.string("label").unwrap_err().contains("must be a string"));
        assert!(args.string("content").unwrap_err().contains("needs the argument `content`"));
    }

    #[test]
    fn accepts_lenient_numbers_and_dates() {
        let args =
            Args::parse("t", r#"{"n": "4", "from": "2026-05-01", "to": "2026-05-01"}"#, &["n", "from", "to"]).unwrap();
        assert_eq!(args.opt_u64("n").unwrap(), Some(4));
        let from = args.opt_time("from", false).unwrap().unwrap();
        let to = args.opt_time("to", true).unwrap().unwrap();
        assert_eq!(from.to_rfc3339(), "2026-05-01T00:00:00+00:00");
        assert_eq!(to.to_rfc3339(), "2026-05-01T23:59:59+00:00");
        assert_eq!(Args::parse("t", "", &["n"]).unwrap().opt_u64("n").unwrap(), None);
    }
}
