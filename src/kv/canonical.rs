//! One text for one stored value, whichever lane wrote it: keys sorted at
//! every level (a Struct is a map) and whole numbers without a fraction (as
//! JavaScript prints them), so the window, the diff and both lanes agree.

/// `raw` JSON in canonical form.
pub fn canonical_json(raw: &str) -> Result<String, serde_json::Error> {
    let mut value: serde_json::Value = serde_json::from_str(raw)?;
    canonicalise(&mut value);
    serde_json::to_string(&value)
}

/// Sorts every object's keys and writes whole doubles as integers.
pub fn canonicalise(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            let mut entries: Vec<_> = std::mem::take(map).into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            for (key, mut inner) in entries {
                canonicalise(&mut inner);
                map.insert(key, inner);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(canonicalise),
        serde_json::Value::Number(number) => {
            // Up to 2^53 a double holds every whole number exactly.
            const EXACT: f64 = 9_007_199_254_740_992.0;
            if let Some(float) = number.as_f64().filter(|_| number.is_f64())
                && float.fract() == 0.0
                && float.abs() <= EXACT
            {
                #[allow(clippy::cast_possible_truncation)]
                let whole = float as i64;
                *number = serde_json::Number::from(whole);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_sorted_and_whole_doubles_lose_their_fraction() {
        assert_eq!(
            canonical_json(r#"{"z":1.0,"a":{"d":4.0,"c":2.5},"l":[{"y":1,"x":-0.0}]}"#)
                .expect("json"),
            r#"{"a":{"c":2.5,"d":4},"l":[{"x":0,"y":1}],"z":1}"#
        );
    }
}
