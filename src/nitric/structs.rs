//! kv values cross the gRPC contract as `google.protobuf.Struct` and live in
//! the store as JSON text (the embedded lane's format): conversions both ways.

use prost_types::value::Kind;
use prost_types::{ListValue, Struct, Value};

/// A Struct as JSON text. NaN and infinities, which JSON cannot hold, are
/// refused (as `nitric start`'s store refuses them).
pub(crate) fn struct_to_json(content: &Struct) -> Result<String, String> {
    let mut value = struct_to_value(content)?;
    crate::kv::canonicalise(&mut value);
    serde_json::to_string(&value).map_err(|error| error.to_string())
}

fn struct_to_value(content: &Struct) -> Result<serde_json::Value, String> {
    let mut object = serde_json::Map::new();
    for (key, value) in &content.fields {
        object.insert(key.clone(), value_to_json(value)?);
    }
    Ok(serde_json::Value::Object(object))
}

fn value_to_json(value: &Value) -> Result<serde_json::Value, String> {
    Ok(match &value.kind {
        None | Some(Kind::NullValue(_)) => serde_json::Value::Null,
        Some(Kind::NumberValue(number)) => serde_json::Number::from_f64(*number)
            .map(serde_json::Value::Number)
            .ok_or_else(|| format!("{number} cannot be stored (JSON has no NaN or infinity)"))?,
        Some(Kind::StringValue(text)) => serde_json::Value::String(text.clone()),
        Some(Kind::BoolValue(flag)) => serde_json::Value::Bool(*flag),
        Some(Kind::StructValue(inner)) => struct_to_value(inner)?,
        Some(Kind::ListValue(list)) => serde_json::Value::Array(
            list.values
                .iter()
                .map(value_to_json)
                .collect::<Result<_, _>>()?,
        ),
    })
}

/// Stored JSON text as a Struct. A stored value that is not an object (the
/// embedded lane may hold one) comes back under the key `value`, so a
/// service always gets a Struct.
pub(crate) fn json_to_struct(json: &str) -> Result<Struct, String> {
    let parsed: serde_json::Value =
        serde_json::from_str(json).map_err(|error| error.to_string())?;
    Ok(match parsed {
        serde_json::Value::Object(object) => object_to_struct(object),
        other => Struct {
            fields: [("value".to_owned(), json_to_value(other))].into(),
        },
    })
}

fn object_to_struct(object: serde_json::Map<String, serde_json::Value>) -> Struct {
    Struct {
        fields: object
            .into_iter()
            .map(|(key, value)| (key, json_to_value(value)))
            .collect(),
    }
}

fn json_to_value(value: serde_json::Value) -> Value {
    let kind = match value {
        serde_json::Value::Null => Kind::NullValue(0),
        serde_json::Value::Bool(flag) => Kind::BoolValue(flag),
        // Numbers are doubles on this contract, as under `nitric start`.
        serde_json::Value::Number(number) => Kind::NumberValue(number.as_f64().unwrap_or(f64::NAN)),
        serde_json::Value::String(text) => Kind::StringValue(text),
        serde_json::Value::Array(items) => Kind::ListValue(ListValue {
            values: items.into_iter().map(json_to_value).collect(),
        }),
        serde_json::Value::Object(object) => Kind::StructValue(object_to_struct(object)),
    };
    Value { kind: Some(kind) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_struct_survives_the_round_trip_with_whole_numbers_written_as_javascript_does() {
        let json = r#"{"a":1,"b":[true,null,"x",{"c":2.5}],"d":{}}"#;
        let content = json_to_struct(json).expect("valid JSON");
        let back: serde_json::Value =
            serde_json::from_str(&struct_to_json(&content).expect("storable")).expect("JSON");
        assert_eq!(
            back,
            serde_json::json!({"a": 1, "b": [true, null, "x", {"c": 2.5}], "d": {}})
        );
    }

    #[test]
    fn nan_is_refused_and_a_non_object_comes_back_under_value() {
        let nan = Struct {
            fields: [(
                "n".to_owned(),
                Value {
                    kind: Some(Kind::NumberValue(f64::NAN)),
                },
            )]
            .into(),
        };
        assert!(struct_to_json(&nan).is_err());
        let wrapped = json_to_struct("[1,2]").expect("valid JSON");
        assert!(wrapped.fields.contains_key("value"));
    }
}
