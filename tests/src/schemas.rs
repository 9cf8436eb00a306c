//! Validates JSON documents against JSON Schemas with the `jsonschema` Python library (the
//! reference implementation of the JSON Schema test suite, installed by scripts/test into
//! ./.venv), so the catalogue's schemas are checked by code we did not write.

use serde_json::Value;

use crate::signatures::test_python;

/// For each `(schema, instance)` pair, the validation errors (empty when it is valid), by the
/// dialect the schema names in `$schema` (draft 2020-12 when it names none).
pub fn schema_errors(cases: &[(Value, Value)]) -> Vec<Vec<String>> {
    let python = test_python();
    let script = r#"
import json, sys
from jsonschema.validators import validator_for
from jsonschema import Draft202012Validator
results = []
for schema, instance in json.load(sys.stdin):
    cls = validator_for(schema, default=Draft202012Validator)
    cls.check_schema(schema)
    results.append([f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in cls(schema).iter_errors(instance)])
print(json.dumps(results))
"#;
    let mut child = std::process::Command::new(&python)
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run {python} (create the venv with scripts/test): {e}"));
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        let pairs: Vec<[&Value; 2]> = cases.iter().map(|(schema, instance)| [schema, instance]).collect();
        stdin.write_all(&serde_json::to_vec(&pairs).expect("cases")).expect("write cases");
    }
    let output = child.wait_with_output().expect("python finishes");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "jsonschema did not run: {text}");
    let results: Vec<Vec<String>> =
        serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("results {text:?}: {e}"));
    assert_eq!(results.len(), cases.len());
    results
}
