//! Serves a SQLite store over the wire test server, for trying packhooks with `esdb://`
//! by hand (tests start the server in-process instead):
//!
//! ```sh
//! cargo run -p packhooks-store-esdb --features wire-server --example wire_server -- /tmp/esdb.sqlite 127.0.0.1:2113
//! PACKHOOKS_STORE='esdb://127.0.0.1:2113?tls=false' cargo run -- serve
//! ```

use std::net::SocketAddr;
use std::sync::Arc;

use packhooks_store::sqlite::SqliteStore;
use packhooks_store_esdb::wire_server::WireServer;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().unwrap_or_else(|| "wire-server.sqlite".into());
    let address: SocketAddr = args.next().unwrap_or_else(|| "127.0.0.1:2113".into()).parse()?;
    if !address.ip().is_loopback() {
        return Err("the wire test server listens on loopback addresses only".into());
    }
    let store = Arc::new(SqliteStore::open(&path)?);
    let server = WireServer::start_on(address, store).await?;
    println!("wire test server over {path} on {}: {}", server.address(), server.connection_string());
    tokio::signal::ctrl_c().await?;
    server.stop().await;
    Ok(())
}
