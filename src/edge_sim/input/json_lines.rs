//! JSON Lines rows: one object per line with `ts` and the value fields.

use anyhow::{Result, anyhow, bail};

use super::numbers::TS_HINT;
use super::{Parser, SeriesKind};

impl Parser<'_> {
    pub(super) fn json_object(&self, line: &[u8]) -> Result<serde_json::Map<String, serde_json::Value>> {
        serde_json::from_slice::<UniqueKeys>(line).map(|object| object.0).map_err(|error| {
            let message = error.to_string();
            let message = message.split(" at line ").next().unwrap_or(&message).to_string();
            anyhow!("{}:{}:{}: not a JSON object: {message}", self.origin, self.line, error.column())
        })
    }

    pub(super) fn json_row(&self, line: &[u8]) -> Result<(i64, f64, f64)> {
        let header = self.header.as_ref().expect("header read before rows");
        let object = self.json_object(line)?;
        let field = |which: usize| -> Result<&serde_json::Value> {
            let name = &header.names[header.columns[which]];
            match object.get(name) {
                None => bail!("{}:{}: {} is missing", self.origin, self.line, self.column_label(which)),
                Some(serde_json::Value::Null) => {
                    bail!("{}:{}: {} is empty (null)", self.origin, self.line, self.column_label(which))
                }
                Some(value) => Ok(value),
            }
        };
        let ts = match field(0)? {
            serde_json::Value::String(text) => self.timestamp(text.trim().as_bytes())?,
            serde_json::Value::Number(number) => self.timestamp(number.to_string().as_bytes())?,
            other => bail!(
                "{}:{}: {}: {other} is not a timestamp; {TS_HINT}",
                self.origin,
                self.line,
                self.column_label(0)
            ),
        };
        let number = |which: usize| -> Result<f64> {
            match field(which)? {
                serde_json::Value::Number(number) => {
                    number.as_f64().filter(|value| value.is_finite()).ok_or_else(|| {
                        anyhow!(
                            "{}:{}: {}: {number} is not a finite number",
                            self.origin,
                            self.line,
                            self.column_label(which)
                        )
                    })
                }
                other => bail!(
                    "{}:{}: {}: {other} is not a number",
                    self.origin,
                    self.line,
                    self.column_label(which)
                ),
            }
        };
        let first = number(1)?;
        let second = if header.kind == SeriesKind::Emas { number(2)? } else { first };
        Ok((ts, first, second))
    }
}

/// A JSON object whose keys are all different. serde_json keeps the last of a repeated key, so
/// `{"ema1h": 1, "ema1h": -5}` was read as -5 while other readers take 1; a CSV header naming a
/// column twice is refused, and so is this.
struct UniqueKeys(serde_json::Map<String, serde_json::Value>);

impl<'de> serde::Deserialize<'de> for UniqueKeys {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<UniqueKeys, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = UniqueKeys;
            fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                formatter.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<UniqueKeys, A::Error> {
                let mut object = serde_json::Map::new();
                while let Some(key) = map.next_key::<String>()? {
                    if object.contains_key(&key) {
                        return Err(serde::de::Error::custom(format!(
                            "key {:?} appears twice (each key may appear only once)",
                            crate::sanitize::display_text(&key, false)
                        )));
                    }
                    let value = map.next_value()?;
                    object.insert(key, value);
                }
                Ok(UniqueKeys(object))
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}
