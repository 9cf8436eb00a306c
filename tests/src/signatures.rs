//! Checks signatures with the Standard Webhooks reference library (Python, PyPI
//! `standardwebhooks`, installed by scripts/test into ./.venv): the delivery tests and the
//! EventStoreDB end-to-end test hand it what a `TestReceiver` got.
//!
//! A case is a JSON object: `secret` (`whsec_…`), `id`, `timestamp`, `signature` (the three
//! `webhook-*` headers) and `body` (the exact text received).

/// The Python the tests run: `PACKHOOKS_TEST_PYTHON`, else the repository's `.venv`.
pub fn test_python() -> String {
    std::env::var("PACKHOOKS_TEST_PYTHON").unwrap_or_else(|_| {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("repo root").to_owned();
        root.join(".venv/bin/python").to_string_lossy().into_owned()
    })
}

/// One verification case: a request a `TestReceiver` got, checked with `secret`.
pub fn case(secret: &str, received: &crate::receiver::Received) -> serde_json::Value {
    serde_json::json!({
        "secret": secret,
        "id": received.header("webhook-id"),
        "timestamp": received.header("webhook-timestamp"),
        "signature": received.header("webhook-signature"),
        "body": String::from_utf8(received.body.to_vec()).expect("a UTF-8 body"),
    })
}

/// Verifies signatures with the Standard Webhooks reference library (Python); panics
/// naming each case it refused.
pub fn verify_with_reference_library(cases: &[serde_json::Value]) {
    let verdicts = reference_library_verdicts(cases);
    let refused: Vec<_> = cases.iter().zip(&verdicts).filter(|(_, ok)| !**ok).map(|(case, _)| &case["id"]).collect();
    assert!(refused.is_empty(), "the reference library refused the signatures of {refused:?}");
}

/// Whether the Standard Webhooks reference library (Python) accepts each case, in order:
/// for tests that a signature is refused too (a secret no longer signing).
pub fn reference_library_verdicts(cases: &[serde_json::Value]) -> Vec<bool> {
    let python = test_python();
    let script = r#"
import json, sys
from standardwebhooks.webhooks import Webhook
verdicts = []
for c in json.load(sys.stdin):
    try:
        Webhook(c["secret"]).verify(c["body"], {"webhook-id": c["id"], "webhook-timestamp": c["timestamp"], "webhook-signature": c["signature"]})
        verdicts.append(True)
    except Exception as e:
        print("refused", c["id"], repr(e), file=sys.stderr)
        verdicts.append(False)
print(json.dumps(verdicts))
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
    assert!(output.status.success(), "the reference library did not run: {text}");
    let verdicts: Vec<bool> = serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("verdicts {text:?}: {e}"));
    assert_eq!(verdicts.len(), cases.len());
    verdicts
}
