//! JSON Lines rows: one object per line with `ts` and the value fields.

use anyhow::{Result, anyhow, bail};

use super::numbers::TS_HINT;
use super::{Parser, SeriesKind};

impl Parser<'_> {
    pub(super) fn json_object(&self, line: &[u8]) -> Result<serde_json::Map<String, serde_json::Value>> {
        serde_json::from_slice(line).map_err(|error| {
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
