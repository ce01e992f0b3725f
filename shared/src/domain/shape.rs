//! The size and depth of a JSON value, measured without recursion.
//!
//! User documents (flow node data, tool `parameters` schemas, MCP tool schemas) are
//! measured before anything recursive reads them (the schema compiler, template checks),
//! so a deeply nested or huge document is refused with a message instead of overflowing
//! a worker thread's stack.

use serde_json::Value;

/// How big a JSON value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct JsonShape {
    /// Nesting depth: 1 for a scalar, 2 for `[1]` or `{"a": 1}`.
    pub depth: usize,
    /// Values in the tree, containers included.
    pub values: usize,
    /// Bytes of every string and object key, a lower bound of the serialized size.
    pub text_bytes: usize,
    /// Length in characters of the longest string (keys included).
    pub longest_string: usize,
}

impl JsonShape {
    /// Measures `value` with an explicit stack. Stops early once `depth` exceeds
    /// `max_depth`, so a hostile value costs no more than the walk up to the limit.
    pub fn measure(value: &Value, max_depth: usize) -> JsonShape {
        let mut shape = JsonShape::default();
        let mut stack: Vec<(&Value, usize)> = vec![(value, 1)];
        while let Some((v, depth)) = stack.pop() {
            shape.values += 1;
            shape.depth = shape.depth.max(depth);
            if depth > max_depth {
                break;
            }
            match v {
                Value::String(s) => shape.note_string(s),
                Value::Array(items) => stack.extend(items.iter().map(|i| (i, depth + 1))),
                Value::Object(map) => {
                    for (k, item) in map {
                        shape.note_string(k);
                        stack.push((item, depth + 1));
                    }
                }
                Value::Null | Value::Bool(_) | Value::Number(_) => {}
            }
        }
        shape
    }

    fn note_string(&mut self, s: &str) {
        self.text_bytes += s.len();
        // Characters, not bytes: limits are stated to users in characters.
        if s.len() > self.longest_string {
            self.longest_string = self.longest_string.max(s.chars().count());
        }
    }
}

/// Why a document is refused before it is read further.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonLimits {
    /// Deepest nesting accepted.
    pub max_depth: usize,
    /// Most values accepted.
    pub max_values: usize,
    /// Most string bytes accepted.
    pub max_text_bytes: usize,
}

impl JsonLimits {
    /// The first limit `value` breaks, as a sentence for a 422 (`None` when it fits).
    pub fn check(&self, value: &Value) -> Option<String> {
        let shape = JsonShape::measure(value, self.max_depth);
        if shape.depth > self.max_depth {
            return Some(format!(
                "is nested too deeply (at most {} levels)",
                self.max_depth
            ));
        }
        if shape.values > self.max_values {
            return Some(format!(
                "has too many values ({}; at most {})",
                shape.values, self.max_values
            ));
        }
        if shape.text_bytes > self.max_text_bytes {
            return Some(format!(
                "holds too much text ({} bytes; at most {})",
                shape.text_bytes, self.max_text_bytes
            ));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// `[[[...]]]` `depth` levels deep, built without recursion.
    fn nested(depth: usize) -> Value {
        let mut v = json!(1);
        for _ in 1..depth {
            v = Value::Array(vec![v]);
        }
        v
    }

    #[test]
    fn measures_depth_values_and_text() {
        let shape = JsonShape::measure(&json!({"ab": ["cde", 1, {"f": null}]}), 64);
        assert_eq!(shape.depth, 4);
        assert_eq!(shape.values, 6);
        assert_eq!(shape.text_bytes, 2 + 3 + 1);
        assert_eq!(shape.longest_string, 3);
    }

    #[test]
    fn deep_values_are_measured_on_a_small_stack() {
        let value = nested(100_000);
        let limits = JsonLimits {
            max_depth: 32,
            max_values: 1_000_000,
            max_text_bytes: 1 << 20,
        };
        let message = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || {
                let m = limits.check(&value);
                // Dropping a 100,000-deep value recurses in serde_json; keep it out of the
                // small stack, since only the measurement is under test.
                std::mem::forget(value);
                m
            })
            .expect("thread")
            .join()
            .expect("no stack overflow");
        assert_eq!(
            message.as_deref(),
            Some("is nested too deeply (at most 32 levels)")
        );
    }
}
