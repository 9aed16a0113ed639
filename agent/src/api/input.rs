//! Reading request members: typed accessors that answer CloudTrail's exceptions for missing or
//! mistyped parameters, and the trail lookup by name or ARN.

use serde_json::Value;

use crate::trails::TrailError;

/// A required string member.
pub fn required<'a>(input: &'a Value, field: &str) -> Result<&'a str, TrailError> {
    optional_str(input, field)?
        .ok_or_else(|| TrailError::new("InvalidParameterException", format!("{field} is required")))
}

/// An optional string member.
pub fn optional_str<'a>(input: &'a Value, field: &str) -> Result<Option<&'a str>, TrailError> {
    match input.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(TrailError::new(
            "SerializationException",
            format!("{field} must be a string"),
        )),
    }
}

/// An optional boolean member.
pub fn optional_bool(input: &Value, field: &str) -> Result<Option<bool>, TrailError> {
    match input.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(TrailError::new(
            "SerializationException",
            format!("{field} must be a boolean"),
        )),
    }
}

/// An optional list member.
pub fn optional_list<'a>(input: &'a Value, field: &str) -> Result<Option<&'a [Value]>, TrailError> {
    match input.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) => Ok(Some(a)),
        Some(_) => Err(TrailError::new(
            "SerializationException",
            format!("{field} must be a list"),
        )),
    }
}

/// `TagsList` entries as (key, value).
pub fn tags(input: &Value, field: &str) -> Result<Vec<(String, Option<String>)>, TrailError> {
    let mut out = Vec::new();
    for t in optional_list(input, field)?.unwrap_or_default() {
        let key = required(t, "Key")?;
        let value = optional_str(t, "Value")?;
        out.push((key.to_string(), value.map(str::to_string)));
    }
    Ok(out)
}

/// The trail name in a `Name`/`TrailName` member that may hold a trail ARN
/// (`arn:aws:cloudtrail:<region>:<account>:trail/<name>`), and the ARN's region if it was one.
pub fn trail_name(value: &str) -> Result<(&str, Option<&str>), TrailError> {
    if let Some(rest) = value.strip_prefix("arn:") {
        let parts: Vec<&str> = rest.splitn(5, ':').collect();
        if let [_, "cloudtrail", region, _, resource] = parts.as_slice() {
            if let Some(name) = resource.strip_prefix("trail/") {
                return Ok((name, Some(region)));
            }
        }
        return Err(TrailError::new(
            "InvalidTrailNameException",
            format!("{value} is not a trail ARN"),
        ));
    }
    Ok((value, None))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn members_and_names() {
        let v = json!({"Name": "t", "Flag": true, "Bad": 3, "TagsList": [{"Key": "k"}]});
        assert_eq!(required(&v, "Name").expect("name"), "t");
        assert_eq!(
            required(&v, "Missing").expect_err("missing").exception,
            "InvalidParameterException"
        );
        assert_eq!(
            optional_str(&v, "Bad").expect_err("type").exception,
            "SerializationException"
        );
        assert_eq!(optional_bool(&v, "Flag").expect("bool"), Some(true));
        assert_eq!(
            tags(&v, "TagsList").expect("tags"),
            vec![("k".into(), None)]
        );
        assert_eq!(
            trail_name("arn:aws:cloudtrail:eu-west-1:123456789012:trail/main").expect("arn"),
            ("main", Some("eu-west-1"))
        );
        assert_eq!(trail_name("main").expect("name"), ("main", None));
        assert!(trail_name("arn:aws:s3:::bucket").is_err());
    }
}
