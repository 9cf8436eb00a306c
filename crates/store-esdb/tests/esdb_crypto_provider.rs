//! The client installs rustls's crypto provider with `expect` in its connection task, so a
//! provider installed earlier by anything else would make that task panic and leave a dead
//! client. The store refuses to start in that case, with an error that says why. (Its own
//! test binary: the installed provider is process-wide.)

use packhooks_store_esdb::{EsdbError, EsdbStore};

#[tokio::test]
async fn a_crypto_provider_installed_first_is_refused_with_a_clear_error() {
    rustls::crypto::aws_lc_rs::default_provider().install_default().expect("the first provider of this process");
    let refused = EsdbStore::connect("esdb://127.0.0.1:1?tls=false");
    assert!(matches!(refused, Err(EsdbError::CryptoProviderAlreadyInstalled)), "got {:?}", refused.as_ref().err());
}
