//! Checks signatures with the Standard Webhooks reference library (Python, PyPI
//! `standardwebhooks`, installed by scripts/test into ./.venv): the delivery tests and the
//! EventStoreDB end-to-end test hand it what a `TestReceiver` got.

/// Verifies signatures with the Standard Webhooks reference library (Python).
pub fn verify_with_reference_library(cases: &[serde_json::Value]) {
    let python = std::env::var("PACKHOOKS_TEST_PYTHON").unwrap_or_else(|_| {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("repo root").to_owned();
        root.join(".venv/bin/python").to_string_lossy().into_owned()
    });
    let script = r#"
import json, sys
from standardwebhooks.webhooks import Webhook
cases = json.load(sys.stdin)
bad = 0
for c in cases:
    try:
        Webhook(c["secret"]).verify(c["body"], {"webhook-id": c["id"], "webhook-timestamp": c["timestamp"], "webhook-signature": c["signature"]})
    except Exception as e:
        bad += 1
        print("FAILED", c["id"], repr(e), file=sys.stderr)
print(len(cases) - bad, bad)
sys.exit(1 if bad else 0)
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
        stdin.write_all(&serde_json::to_vec(cases).expect("cases")).expect("write cases");
    }
    let output = child.wait_with_output().expect("python finishes");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "reference library refused signatures: {text}");
    assert_eq!(text.trim(), format!("{} 0", cases.len()));
}
