//! Generates the wire test server's gRPC code from packhooks' own .proto subset (proto/),
//! only with the `wire-server` feature. protox compiles the files in pure Rust, so no
//! `protoc` is needed on the machine.
//!
//! It also sets the `packhooks_test_esdb` cfg when `PACKHOOKS_TEST_ESDB` is set at build
//! time: without it the real-EventStoreDB tests (tests/esdb_conformance_real.rs) are
//! `#[ignore]`d, so the runner reports them skipped instead of counting them as passes.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=PACKHOOKS_TEST_ESDB");
    println!("cargo::rustc-check-cfg=cfg(packhooks_test_esdb)");
    if std::env::var("PACKHOOKS_TEST_ESDB").is_ok_and(|target| !target.trim().is_empty()) {
        println!("cargo:rustc-cfg=packhooks_test_esdb");
    }
    #[cfg(feature = "wire-server")]
    wire_server::generate();
}

#[cfg(feature = "wire-server")]
mod wire_server {
    pub fn generate() {
        const PROTOS: [&str; 3] = ["proto/shared.proto", "proto/serverfeatures.proto", "proto/streams.proto"];
        for proto in PROTOS {
            println!("cargo:rerun-if-changed={proto}");
        }
        let descriptors = protox::compile(PROTOS, ["proto"]).expect("compile the wire server's .proto subset");
        tonic_build::configure()
            .build_client(false)
            .build_server(true)
            .compile_fds(descriptors)
            .expect("generate the wire server's gRPC code");
    }
}
