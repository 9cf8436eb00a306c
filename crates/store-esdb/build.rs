//! Generates the wire test server's gRPC code from packhooks' own .proto subset (proto/),
//! only with the `wire-server` feature. protox compiles the files in pure Rust, so no
//! `protoc` is needed on the machine.

fn main() {
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
