//! Deserializers that never fail: a field of the wrong type (a newer or older record, a
//! hand-edited file) reads as absent instead of rejecting the whole record.
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// The field as `T`, or `None` when it is null or of another shape.
pub fn opt<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    let v = Value::deserialize(d)?;
    Ok(serde_json::from_value(v).ok())
}

/// A list whose elements of the wrong shape are dropped (the others kept); anything that is
/// not a list reads as empty.
pub fn vec<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    let v = Value::deserialize(d)?;
    Ok(match v {
        Value::Array(items) => items
            .into_iter()
            .filter_map(|i| serde_json::from_value(i).ok())
            .collect(),
        _ => Vec::new(),
    })
}

/// A boolean, `false` when absent or not a boolean.
pub fn flag<'de, D>(d: D) -> Result<bool, D::Error>
where
    D: Deserializer<'de>,
{
    let v = Value::deserialize(d)?;
    Ok(v.as_bool().unwrap_or(false))
}

/// A 32-bit AS number: accepts `64500`, `"64500"` and `"AS64500"`.
pub fn asn<'de, D>(d: D) -> Result<Option<u32>, D::Error>
where
    D: Deserializer<'de>,
{
    let v = Value::deserialize(d)?;
    Ok(asn_of(&v))
}

/// A list of AS numbers, in any of the forms [`asn`] accepts.
pub fn asns<'de, D>(d: D) -> Result<Vec<u32>, D::Error>
where
    D: Deserializer<'de>,
{
    let v = Value::deserialize(d)?;
    Ok(match v {
        Value::Array(items) => items.iter().filter_map(asn_of).collect(),
        other => asn_of(&other).into_iter().collect(),
    })
}

fn asn_of(v: &Value) -> Option<u32> {
    match v {
        Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        Value::String(s) => {
            let digits = s
                .strip_prefix("AS")
                .or_else(|| s.strip_prefix("as"))
                .unwrap_or(s);
            digits.trim().parse().ok()
        }
        _ => None,
    }
}

/// Text: strings as they are, numbers and booleans written out, anything else absent.
pub fn text<'de, D>(d: D) -> Result<Option<String>, D::Error>
where
    D: Deserializer<'de>,
{
    let v = Value::deserialize(d)?;
    Ok(text_of(v))
}

/// A list of texts (each element as [`text`] reads it).
pub fn texts<'de, D>(d: D) -> Result<Vec<String>, D::Error>
where
    D: Deserializer<'de>,
{
    let v = Value::deserialize(d)?;
    Ok(match v {
        Value::Array(items) => items.into_iter().filter_map(text_of).collect(),
        Value::Null => Vec::new(),
        other => text_of(other).into_iter().collect(),
    })
}

fn text_of(v: Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A non-negative number as `f64`.
pub fn num<'de, D>(d: D) -> Result<Option<f64>, D::Error>
where
    D: Deserializer<'de>,
{
    let v = Value::deserialize(d)?;
    Ok(v.as_f64().filter(|f| f.is_finite()))
}

/// An unsigned integer that fits `u32`.
pub fn uint<'de, D>(d: D) -> Result<Option<u32>, D::Error>
where
    D: Deserializer<'de>,
{
    let v = Value::deserialize(d)?;
    Ok(v.as_u64().and_then(|n| u32::try_from(n).ok()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize, Debug, Default)]
    #[serde(default)]
    struct Probe {
        #[serde(deserialize_with = "asn")]
        a: Option<u32>,
        #[serde(deserialize_with = "asns")]
        list: Vec<u32>,
        #[serde(deserialize_with = "text")]
        t: Option<String>,
        #[serde(deserialize_with = "vec")]
        v: Vec<u8>,
        #[serde(deserialize_with = "flag")]
        f: bool,
        #[serde(deserialize_with = "uint")]
        u: Option<u32>,
    }

    #[test]
    fn test_wrong_types_read_as_absent() {
        let p: Probe =
            serde_json::from_str(r#"{"a":{"x":1},"list":"no","t":[1],"v":7,"f":"yes","u":-3}"#)
                .unwrap();
        assert_eq!(p.a, None);
        assert!(p.list.is_empty());
        assert_eq!(p.t, None);
        assert!(p.v.is_empty());
        assert!(!p.f);
        assert_eq!(p.u, None);
    }

    #[test]
    fn test_accepted_forms() {
        let p: Probe = serde_json::from_str(
            r#"{"a":"AS64500","list":[64501,"AS64502",null,"x"],"t":42,"v":[1,"bad",300,2],"f":true,"u":7}"#,
        )
        .unwrap();
        assert_eq!(p.a, Some(64500));
        assert_eq!(p.list, vec![64501, 64502]);
        assert_eq!(p.t.as_deref(), Some("42"));
        assert_eq!(p.v, vec![1, 2]);
        assert!(p.f);
        assert_eq!(p.u, Some(7));
    }

    #[test]
    fn test_absent_fields_default() {
        let p: Probe = serde_json::from_str("{}").unwrap();
        assert_eq!(p.a, None);
        assert!(p.v.is_empty());
    }
}
